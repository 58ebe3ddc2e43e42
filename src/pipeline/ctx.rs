//! Facts about one request that modules share, typed.

use std::net::SocketAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use http::Method;

use crate::engine::transport::TlsInfo;
use crate::pipeline::Module;
use crate::server_info::ServerInfo;

/// The authenticated user, set by the authentication phase.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Group (role) of the user.
    pub group: String,
    /// Home directory, relative to the document module's `dochome`.
    pub home: String,
    /// Account status (`activated`, `approving`, …).
    pub status: String,
    /// The authentication scheme that established the user (`Basic`, …).
    pub auth_type: &'static str,
}

/// Per-request context passed through the pipeline.
pub struct RequestCtx {
    /// The client's address.
    pub peer: SocketAddr,
    /// The local address the connection arrived on.
    pub local: SocketAddr,
    /// The TLS session, on HTTPS connections.
    pub tls: Option<Arc<TlsInfo>>,
    /// The server (or virtual host) serving the request.
    pub server: Arc<ServerInfo>,
    /// The request path, percent-decoded and normalised (always starts with
    /// `/`, has no `.`/`..` segments and no empty segments). Modules use this,
    /// never the raw URI, to find files.
    pub path: String,
    /// The authenticated user, if any. Shared: the auth module hands the
    /// same `User` to every request of an unchanged account instead of
    /// building one per request.
    pub user: Option<Arc<User>>,
    /// Name of the module that served the request (for the access log).
    pub served_by: &'static str,
    /// Module-private data.
    pub extensions: http::Extensions,
    /// The pipeline's authentication and authorization modules, for
    /// [`RequestCtx::permits`]; set for the content phase of requests
    /// other than GET and HEAD.
    pub gate: Option<Gate>,
}

/// The authentication and authorization modules of a pipeline, asked
/// about another path than the request's (see [`Module::permits`]).
#[derive(Clone)]
pub struct Gate(Arc<[Arc<dyn Module>]>);

impl Gate {
    /// The gate of `modules` (those of the authenticate and authorize
    /// phases).
    pub fn new(modules: impl IntoIterator<Item = Arc<dyn Module>>) -> Gate {
        Gate(modules.into_iter().collect())
    }
}

impl RequestCtx {
    /// A context for a request on `server` from `peer`.
    pub fn new(server: Arc<ServerInfo>, peer: SocketAddr, local: SocketAddr) -> Self {
        RequestCtx {
            peer,
            local,
            tls: None,
            server,
            path: String::new(),
            user: None,
            served_by: "",
            extensions: http::Extensions::new(),
            gate: None,
        }
    }

    /// Whether the request's user may do `method` on `path` (a normalised
    /// request path other than the request's own: a link's target, a
    /// move's destination), by every authentication and authorization
    /// module of the pipeline. A module that panics says no.
    pub fn permits(&self, method: &Method, path: &str) -> bool {
        let Some(Gate(modules)) = &self.gate else {
            return true;
        };
        modules.iter().all(|m| {
            catch_unwind(AssertUnwindSafe(|| m.permits(method, path, self))).unwrap_or(false)
        })
    }
}
