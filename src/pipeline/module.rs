//! The one contract every module implements.
//!
//! A module says which phases it takes part in ([`Phases`]); the pipeline
//! only calls it there, so the "pass" defaults below are never paid for.
//! Phases before `handle` see the request head only; `handle` gets the
//! whole request (with its streaming body) and either serves it or gives it
//! back for the next content module.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Method;

use crate::body::Body;
use crate::error::HttpError;
use crate::pipeline::ctx::RequestCtx;
use crate::request_body::RequestBody;

/// A request as modules receive it.
pub type Request = http::Request<RequestBody>;
/// The head of a request (method, URI, version, headers, extensions).
pub type RequestHead = http::request::Parts;
/// A response as modules produce it.
pub type Response = http::Response<Body>;
/// A boxed future at the `dyn Module` boundary.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a phase answers: decided at once ([`Step::now`], nothing
/// allocated: most requests pass most modules this way), or after waiting
/// ([`Step::later`], a boxed future). Await it either way.
///
/// ```
/// use marmoset::pipeline::Step;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let known: Step<'_, u32> = Step::now(1);
/// let waited: Step<'_, u32> = Step::later(async { 2 });
/// assert_eq!(known.await + waited.await, 3);
/// # });
/// ```
#[must_use = "a Step does nothing unless awaited"]
pub struct Step<'a, T>(Answer<'a, T>);

enum Answer<'a, T> {
    Now(std::future::Ready<T>),
    Later(BoxFuture<'a, T>),
}

impl<'a, T> Step<'a, T> {
    /// The answer, known now.
    pub fn now(value: T) -> Self {
        Step(Answer::Now(std::future::ready(value)))
    }

    /// The answer `future` will give.
    pub fn later(future: impl Future<Output = T> + Send + 'a) -> Self {
        Step(Answer::Later(Box::pin(future)))
    }

    /// The answer if it is known now, else the future that gives it. The
    /// pipeline awaits only the latter: its own future then keeps room for
    /// a pointer across that wait, not for the whole answer (a request or
    /// a response), and a known answer is not moved in and out of it.
    pub(crate) fn known(self) -> Result<T, BoxFuture<'a, T>> {
        match self.0 {
            Answer::Now(ready) => Ok(ready.into_inner()),
            Answer::Later(future) => Err(future),
        }
    }
}

impl<T> Future for Step<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match &mut self.get_mut().0 {
            Answer::Now(ready) => Pin::new(ready).poll(cx),
            Answer::Later(future) => future.as_mut().poll(cx),
        }
    }
}

/// The phases a module takes part in (a small bit set).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Phases(u8);

impl Phases {
    /// CORS preflight.
    pub const PREFLIGHT: Phases = Phases(1);
    /// Authentication: sets the user or answers a challenge.
    pub const AUTHENTICATE: Phases = Phases(2);
    /// Authorization: rules on user × method × URI.
    pub const AUTHORIZE: Phases = Phases(4);
    /// Routing: redirects.
    pub const ROUTE: Phases = Phases(8);
    /// Content: serve the request or decline it.
    pub const HANDLE: Phases = Phases(16);
    /// Rewrite the final response (error pages).
    pub const REWRITE: Phases = Phases(32);

    /// Whether all phases of `other` are in `self`.
    pub fn contains(self, other: Phases) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Phases {
    type Output = Phases;
    fn bitor(self, rhs: Phases) -> Phases {
        Phases(self.0 | rhs.0)
    }
}

/// Continue with the next module, or answer now.
pub enum Flow {
    /// Pass to the next module / phase.
    Continue,
    /// Stop the chain and send this response.
    Respond(Response),
}

/// The result of the content phase.
pub enum Handled {
    /// The module produced the response.
    Served(Response),
    /// The module does not serve this request; the next one may.
    Declined(Request),
}

/// A pluggable part of the request pipeline.
///
/// Implement the methods of the phases returned by [`Module::phases`]; the
/// others are never called.
pub trait Module: Send + Sync {
    /// The module's name, as in the configuration (for logs).
    fn name(&self) -> &'static str;

    /// The phases this module takes part in.
    fn phases(&self) -> Phases;

    /// Phase 1: answer CORS preflights, refuse origins.
    fn preflight(&self, _req: &RequestHead, _ctx: &mut RequestCtx) -> Result<Flow, HttpError> {
        Ok(Flow::Continue)
    }

    /// Phase 2: establish `ctx.user` or answer a challenge.
    fn authenticate<'a>(
        &'a self,
        _req: &'a RequestHead,
        _ctx: &'a mut RequestCtx,
    ) -> Step<'a, Result<Flow, HttpError>> {
        Step::now(Ok(Flow::Continue))
    }

    /// Phase 3: allow or refuse the authenticated request.
    fn authorize<'a>(
        &'a self,
        _req: &'a RequestHead,
        _ctx: &'a mut RequestCtx,
    ) -> Step<'a, Result<Flow, HttpError>> {
        Step::now(Ok(Flow::Continue))
    }

    /// Whether this authentication or authorization module would let the
    /// request's user (`ctx.user`, `None`: anonymous) do `method` on
    /// `path`, another path than the request's that the request acts on:
    /// a link's target, the destination of a move. Content modules ask
    /// through [`RequestCtx::permits`] before they act on it, so that a
    /// link or a move cannot reach a path the user could not have asked
    /// for. Default: yes.
    fn permits(&self, _method: &Method, _path: &str, _ctx: &RequestCtx) -> bool {
        true
    }

    /// Phase 4: redirects.
    fn route(&self, _req: &RequestHead, _ctx: &mut RequestCtx) -> Result<Flow, HttpError> {
        Ok(Flow::Continue)
    }

    /// Phase 5: serve the request, or give it back.
    fn handle<'a>(
        &'a self,
        req: Request,
        _ctx: &'a mut RequestCtx,
    ) -> Step<'a, Result<Handled, HttpError>> {
        Step::now(Ok(Handled::Declined(req)))
    }

    /// Phase 6: rewrite the response (runs for every response of the chain).
    fn rewrite(&self, resp: Response, _ctx: &RequestCtx) -> Response {
        resp
    }

    /// The URI roots this module serves, for `--list-roots` and
    /// [`crate::embed::Builder::root_paths`].
    fn roots(&self) -> Vec<RootPath> {
        Vec::new()
    }
}

/// A URI root served by a module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootPath {
    /// The module that serves it (its configuration name, or the name an
    /// application gave when registering).
    pub module: String,
    /// The root: starts with `/`, no trailing `/` (except `/` itself).
    pub root: String,
}
