//! The request pipeline: the one place where phases are sequenced.
//!
//! ```text
//!  normalise path (400 / 414)
//!  1 preflight     cors
//!  2 authenticate  auth             sets ctx.user or answers 401 / 302
//!  3 authorize     userfilter
//!  4 route         redirect
//!  5 handle        embedder roots, websocket, upgrade, webstream, cgi,
//!                  python, document — first one that serves wins; none → 404
//!  6 rewrite       error pages, redirect on error
//!  finish          default headers, Date, error bodies, version cap
//! ```
//!
//! [`Pipeline::serve`] is also the single place where an [`HttpError`]
//! becomes a response and is logged.

pub mod ctx;
pub mod module;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use futures_util::FutureExt;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, DATE, HeaderValue};
use http::{Method, StatusCode, Version};
use http_body::Body as _;

pub use ctx::{Gate, RequestCtx, User};
pub use module::{
    BoxFuture, Flow, Handled, Module, Phases, Request, RequestHead, Response, RootPath, Step,
};

use crate::access_log::{self, RequestLine};
use crate::body::Body;
use crate::error::{HttpError, short_body};
use crate::server_info::{HttpVersion, ServerInfo};

/// Run a module's [`Step`]: `settle!(m, ctx, |ctx| m.handle(req, ctx))`.
/// Its answer is taken as it is when known, awaited otherwise (see
/// [`Step::known`]); a panic in the module, while it makes the step or
/// while the step runs, becomes a 500 naming it. A macro, as an
/// `async fn` would hold the step again.
macro_rules! settle {
    ($m:expr, $ctx:expr, |$c:ident| $call:expr) => {
        'settled: {
            // The match ends before the await, so that the answer it holds
            // (up to a whole request, given back) is not kept across it.
            let later = match start($m.name(), $ctx, |$c| $call) {
                Ok(answer) => break 'settled answer,
                Err(later) => later,
            };
            match AssertUnwindSafe(later).catch_unwind().await {
                Ok(answer) => answer,
                Err(_) => Err(panicked($m.name())),
            }
        }
    };
}

/// Modules sorted by phase, built once.
#[derive(Default, Clone)]
pub struct Chain {
    preflight: Vec<Arc<dyn Module>>,
    authenticate: Vec<Arc<dyn Module>>,
    authorize: Vec<Arc<dyn Module>>,
    route: Vec<Arc<dyn Module>>,
    handle: Vec<Arc<dyn Module>>,
    rewrite: Vec<Arc<dyn Module>>,
}

impl Chain {
    /// Sort `modules` (in registry order) into their phases.
    pub fn new(modules: Vec<Arc<dyn Module>>) -> Self {
        let mut chain = Chain::default();
        for m in modules {
            let p = m.phases();
            let lists = [
                (Phases::PREFLIGHT, &mut chain.preflight),
                (Phases::AUTHENTICATE, &mut chain.authenticate),
                (Phases::AUTHORIZE, &mut chain.authorize),
                (Phases::ROUTE, &mut chain.route),
                (Phases::HANDLE, &mut chain.handle),
                (Phases::REWRITE, &mut chain.rewrite),
            ];
            for (phase, list) in lists {
                if p.contains(phase) {
                    list.push(m.clone());
                }
            }
        }
        chain
    }
}

/// The pipeline of one server (or virtual host).
pub struct Pipeline {
    info: Arc<ServerInfo>,
    chain: Chain,
    gate: Gate,
    max_uri: usize,
    max_headers: usize,
}

impl Pipeline {
    /// A pipeline for `info` running `chain`; request targets longer than
    /// `max_uri` bytes get 414, header blocks larger than `max_headers`
    /// bytes get 431.
    pub fn new(info: Arc<ServerInfo>, chain: Chain, max_uri: usize, max_headers: usize) -> Self {
        let gate = Gate::new(chain.authenticate.iter().chain(&chain.authorize).cloned());
        Pipeline {
            info,
            gate,
            chain,
            max_uri,
            max_headers,
        }
    }

    /// Every root the modules of this pipeline serve, in phase order.
    pub fn roots(&self) -> Vec<RootPath> {
        self.chain.handle.iter().flat_map(|m| m.roots()).collect()
    }

    /// The server this pipeline serves.
    pub fn info(&self) -> &Arc<ServerInfo> {
        &self.info
    }

    /// Run `req` through every phase with `ctx` and return the finished
    /// response; its access line is written when `line` is given. A
    /// module's panic becomes a 500 naming the module.
    ///
    /// One future for all the phases: a nested one would hold the request
    /// (or its head) once more, and its making and its answer would be
    /// moved once more. Not an `async fn`, which stores its arguments
    /// twice (as captured and as moved into its body).
    pub fn serve(
        &self,
        req: Request,
        mut ctx: RequestCtx,
        line: Option<Box<RequestLine>>,
    ) -> impl Future<Output = Response> + '_ {
        let (head, body) = req.into_parts();
        async move {
            let ctx = &mut ctx;
            let method = head.method.clone();
            let version = head.version;
            // The response is made where the phases end: no `Result` to
            // unwrap and move it out of afterwards.
            let mut resp = 'phases: {
                if let Err(e) = self.check(&head, ctx) {
                    break 'phases self.failed(e, ctx);
                }
                for m in &self.chain.preflight {
                    if let Some(end) = self.ends(
                        contained(m.name(), || m.preflight(&head, ctx)),
                        ctx,
                        m.name(),
                    ) {
                        break 'phases end;
                    }
                }
                for m in &self.chain.authenticate {
                    let flow = settle!(m, ctx, |ctx| m.authenticate(&head, ctx));
                    if let Some(end) = self.ends(flow, ctx, m.name()) {
                        break 'phases end;
                    }
                }
                for m in &self.chain.authorize {
                    let flow = settle!(m, ctx, |ctx| m.authorize(&head, ctx));
                    if let Some(end) = self.ends(flow, ctx, m.name()) {
                        break 'phases end;
                    }
                }
                for m in &self.chain.route {
                    if let Some(end) =
                        self.ends(contained(m.name(), || m.route(&head, ctx)), ctx, m.name())
                    {
                        break 'phases end;
                    }
                }
                // Writes may name other paths (a link's target, a move's
                // destination) that the content modules check through it.
                if head.method != Method::GET && head.method != Method::HEAD {
                    ctx.gate = Some(self.gate.clone());
                }
                let mut req = Request::from_parts(head, body);
                for m in &self.chain.handle {
                    ctx.served_by = m.name();
                    match settle!(m, ctx, |ctx| m.handle(req, ctx)) {
                        Ok(Handled::Served(r)) => break 'phases r,
                        Ok(Handled::Declined(r)) => req = r,
                        Err(e) => break 'phases self.failed(e, ctx),
                    }
                }
                ctx.served_by = "";
                self.failed(HttpError::not_found(), ctx)
            };
            // Each rewrite moves the response; most chains have none.
            for m in &self.chain.rewrite {
                resp = match catch_unwind(AssertUnwindSafe(|| m.rewrite(resp, ctx))) {
                    Ok(resp) => resp,
                    Err(_) => self.failed(panicked(m.name()), ctx),
                };
            }
            self.finish(&mut resp, &method, version);
            if let Some(line) = line {
                access_log::write(&line, ctx, &resp);
            }
            resp
        }
    }

    /// What a phase's answer means for the request: `None` to go on, else
    /// its response (the module's own, or the one for its error).
    fn ends(
        &self,
        flow: Result<Flow, HttpError>,
        ctx: &mut RequestCtx,
        name: &'static str,
    ) -> Option<Response> {
        match flow {
            Ok(Flow::Continue) => None,
            Ok(Flow::Respond(resp)) => {
                ctx.served_by = name;
                Some(resp)
            }
            Err(e) => Some(self.failed(e, ctx)),
        }
    }

    /// The response for an error, logged here (server errors always,
    /// others with their cause at debug level).
    fn failed(&self, e: HttpError, ctx: &RequestCtx) -> Response {
        if e.status().is_server_error() {
            log::error!("{} {}: {} ({})", ctx.peer, ctx.path, e, ctx.served_by);
        } else if let Some(cause) = e.cause() {
            log::debug!("{} {}: {} ({cause})", ctx.peer, ctx.path, e.status());
        }
        let mut r = Response::new(Body::empty());
        *r.status_mut() = e.status();
        // A malformed request may hide another one behind it
        // (smuggling): do not read further on this connection.
        if e.status() == StatusCode::BAD_REQUEST {
            r.headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        r
    }

    /// The limits and rules every request must pass before any module
    /// runs; sets `ctx.path`. Not async: nothing in it waits, and an
    /// `async fn` would keep its own copy of the request.
    fn check(&self, req: &RequestHead, ctx: &mut RequestCtx) -> Result<(), HttpError> {
        let uri_len = req.uri.path_and_query().map_or(0, |p| p.as_str().len());
        if uri_len > self.max_uri {
            return Err(HttpError::new(StatusCode::URI_TOO_LONG));
        }
        // hyper bounds the whole head (request line included); the header
        // block has its own, smaller limit. The same walk counts the Host
        // lines (cheaper than a lookup in the map).
        let (mut headers_len, mut hosts) = (0, 0);
        for (n, v) in &req.headers {
            headers_len += n.as_str().len() + v.len() + 4;
            hosts += usize::from(n == http::header::HOST);
        }
        if headers_len > self.max_headers {
            return Err(HttpError::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE));
        }
        // RFC 9112 §3.2: an HTTP/1.1 request without Host, or with several,
        // is refused; RFC 9110 §4.2.4: userinfo in an http(s) target is an
        // error.
        match hosts {
            2.. => return Err(HttpError::bad_request("several Host headers")),
            0 if req.version == http::Version::HTTP_11 => {
                return Err(HttpError::bad_request("missing Host header"));
            }
            _ => {}
        }
        if req
            .uri
            .authority()
            .is_some_and(|a| a.as_str().contains('@'))
        {
            return Err(HttpError::bad_request("userinfo in the request target"));
        }
        ctx.path = crate::path::normalize(req.uri.path()).map_err(HttpError::bad_request)?;
        Ok(())
    }

    /// Default headers and `Date` (HTTP/2), the short body of bodiless errors and
    /// redirects, and the version cap (the HTTP/1 engine writes Ouistiti's
    /// reason phrases itself).
    fn finish(&self, resp: &mut Response, method: &Method, version: Version) {
        let status = resp.status();
        let headers = resp.headers_mut();
        // The HTTP/1 engine writes `Date` and the default headers itself,
        // after the response's own (no map insertions); hyper's HTTP/2
        // needs them here. HTTP/0.9 has no headers.
        if version == Version::HTTP_2 {
            // One growth for all of them, one hash per header.
            headers.reserve(self.info.default_headers.len() + 1);
            for (name, value) in &self.info.default_headers {
                headers.entry(name).or_insert_with(|| value.clone());
            }
            headers.insert(DATE, crate::http_date::now());
        }
        let bodiless = resp.body().size_hint().exact() == Some(0);
        if status.as_u16() >= 300
            && status != StatusCode::NOT_MODIFIED
            && bodiless
            && !resp.headers().contains_key(CONTENT_TYPE)
        {
            let text = short_body(status);
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            // The body's exact size gives the length on the wire (the
            // engines write it); a HEAD has no body to tell it.
            if method == Method::HEAD {
                h.insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
            } else {
                *resp.body_mut() = Body::from(text);
            }
        }
        if self.info.version == HttpVersion::Http10 && version == Version::HTTP_11 {
            *resp.version_mut() = Version::HTTP_10;
        }
        if method == Method::HEAD {
            strip_body(resp);
        }
    }
}

/// A HEAD response keeps the length of the body it would have had.
fn strip_body(resp: &mut Response) {
    if let Some(n) = resp.body().size_hint().exact()
        && n > 0
        && !resp.headers().contains_key(CONTENT_LENGTH)
    {
        resp.headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(n));
    }
    *resp.body_mut() = Body::empty();
}

/// Make a module's step where a panic cannot escape: its answer when it
/// is known, else the future to await.
fn start<'a, T>(
    name: &'static str,
    ctx: &'a mut RequestCtx,
    step: impl FnOnce(&'a mut RequestCtx) -> Step<'a, Result<T, HttpError>>,
) -> Result<Result<T, HttpError>, BoxFuture<'a, Result<T, HttpError>>> {
    match catch_unwind(AssertUnwindSafe(move || step(ctx))) {
        Ok(step) => step.known(),
        Err(_) => Ok(Err(panicked(name))),
    }
}

/// Call a module where it cannot wait, a panic becoming a 500 naming it.
fn contained<T>(
    name: &'static str,
    call: impl FnOnce() -> Result<T, HttpError>,
) -> Result<T, HttpError> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|_| Err(panicked(name)))
}

/// The error a module's panic becomes: a 500, logged with the module's name.
fn panicked(name: &'static str) -> HttpError {
    HttpError::internal(format!("panic in module `{name}`"))
}

#[cfg(test)]
mod tests;
