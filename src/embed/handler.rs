//! Root paths registered by an application, and the module that serves them.
//!
//! An application registers `(module name, root path, handler)`; the
//! [`Roots`] module answers every request under a registered root in the
//! pipeline's `handle` phase — after authentication, authorization and
//! routing — so embedded routes get the same gate as documents. The longest
//! registered root wins; a root matches itself and the paths below it
//! (`/api` matches `/api` and `/api/x`, not `/apix`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::error::HttpError;
use crate::pipeline::{
    BoxFuture, Handled, Module, Phases, Request, RequestCtx, Response, RootPath, Step,
};

/// Serves requests under a registered root path.
///
/// Implemented for every `Fn(Request) -> impl Future<Output = Result<Response,
/// HttpError>>`, so an async closure or function is a handler. The request's
/// extensions carry the [`ConnInfo`], the matched [`RootPath`] and, when the
/// request was authenticated, the [`crate::User`].
pub trait Handler: Send + Sync + 'static {
    /// Answer one request.
    fn call(&self, req: Request) -> BoxFuture<'static, Result<Response, HttpError>>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response, HttpError>> + Send + 'static,
{
    fn call(&self, req: Request) -> BoxFuture<'static, Result<Response, HttpError>> {
        Box::pin(self(req))
    }
}

/// Where a request came from (in the request's extensions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// The local address the request arrived on.
    pub local: SocketAddr,
}

/// Why a root cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The same root is already registered.
    #[error("root path `{root}` is already registered by `{owner}`")]
    Duplicate {
        /// The root.
        root: String,
        /// The module that registered it first.
        owner: String,
    },
    /// The root is not an absolute path.
    #[error("root path `{0}` must start with `/`")]
    NotAbsolute(String),
}

struct Route {
    path: RootPath,
    handler: Arc<dyn Handler>,
}

/// The registered roots of a server, as a pipeline module.
#[derive(Default, Clone)]
pub struct Roots {
    routes: Vec<Arc<Route>>,
}

impl Roots {
    /// Register `handler` for `root` on behalf of `module`.
    pub fn register(
        &mut self,
        module: &str,
        root: &str,
        handler: Arc<dyn Handler>,
    ) -> Result<(), RegisterError> {
        if !root.starts_with('/') {
            return Err(RegisterError::NotAbsolute(root.into()));
        }
        let trimmed = root.trim_end_matches('/');
        let root = if trimmed.is_empty() { "/" } else { trimmed };
        if let Some(r) = self.routes.iter().find(|r| r.path.root == root) {
            return Err(RegisterError::Duplicate {
                root: root.into(),
                owner: r.path.module.clone(),
            });
        }
        self.routes.push(Arc::new(Route {
            path: RootPath {
                module: module.into(),
                root: root.into(),
            },
            handler,
        }));
        // Longest first, so the first match is the longest prefix.
        self.routes
            .sort_by_key(|r| std::cmp::Reverse(r.path.root.len()));
        Ok(())
    }

    /// The registered roots, longest first.
    pub fn paths(&self) -> Vec<RootPath> {
        self.routes.iter().map(|r| r.path.clone()).collect()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    fn find(&self, path: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| is_under(path, &r.path.root))
    }
}

/// Whether `path` is `root` or below it.
fn is_under(path: &str, root: &str) -> bool {
    root == "/"
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

impl Module for Roots {
    fn name(&self) -> &'static str {
        "embed"
    }

    fn phases(&self) -> Phases {
        Phases::HANDLE
    }

    fn handle<'a>(
        &'a self,
        mut req: Request,
        ctx: &'a mut RequestCtx,
    ) -> Step<'a, Result<Handled, HttpError>> {
        let Some(route) = self.find(&ctx.path).cloned() else {
            return Step::now(Ok(Handled::Declined(req)));
        };
        let ext = req.extensions_mut();
        ext.insert(ConnInfo {
            peer: ctx.peer,
            local: ctx.local,
        });
        ext.insert(route.path.clone());
        if let Some(user) = &ctx.user {
            ext.insert(crate::User::clone(user));
        }
        Step::later(async move { route.handler.call(req).await.map(Handled::Served) })
    }

    fn roots(&self) -> Vec<RootPath> {
        self.paths()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::Body;

    fn noop() -> Arc<dyn Handler> {
        Arc::new(|_req: Request| async { Ok(Response::new(Body::empty())) })
    }

    #[test]
    fn longest_prefix_on_segment_boundaries() {
        let mut r = Roots::default();
        r.register("a", "/api", noop()).unwrap();
        r.register("b", "/api/v2/", noop()).unwrap();
        r.register("c", "/", noop()).unwrap();
        let owner = |p: &str| r.find(p).map(|x| x.path.module.clone());
        assert_eq!(owner("/api").as_deref(), Some("a"));
        assert_eq!(owner("/api/x").as_deref(), Some("a"));
        assert_eq!(owner("/api/v2").as_deref(), Some("b"));
        assert_eq!(owner("/api/v2/x").as_deref(), Some("b"));
        assert_eq!(owner("/apix").as_deref(), Some("c"));
    }

    #[test]
    fn duplicates_and_relative_roots_refused() {
        let mut r = Roots::default();
        r.register("a", "/x", noop()).unwrap();
        assert_eq!(
            r.register("b", "/x/", noop()),
            Err(RegisterError::Duplicate {
                root: "/x".into(),
                owner: "a".into()
            })
        );
        assert!(matches!(
            r.register("b", "x", noop()),
            Err(RegisterError::NotAbsolute(_))
        ));
    }
}
