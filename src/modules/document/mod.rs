//! `document` (alias `filestorage`, `static_file`): serve files from a
//! directory (REFERENCE §6.11). Content phase only.
//!
//! # Keys
//!
//! | key | meaning |
//! |-----|---------|
//! | `docroot` | directory served (required; must exist at start-up) |
//! | `dochome` | parent of user homes (option `home`) |
//! | `allow`, `deny`, `denylast` | URI filter, see [`filter`] |
//! | `defaultpage` | file served for a directory URI, default `index.html` (`""`: none) |
//! | `options` | `dirlisting`, `sendfile`, `range`, `rest`, `home` |
//! | `transfer_type` | accepted and ignored, as by the original |
//!
//! # Requests
//!
//! Only GET and HEAD are served; other methods are declined, so another
//! content module or the final 404 answers. The options `rest` (PUT, POST,
//! DELETE) and `home` (`/~` user homes) are read and recorded but not
//! implemented by this version: start-up warns about them. `sendfile` is
//! accepted and changes nothing on the wire: file bodies are streamed in
//! bounded chunks either way (zero-copy is an engine concern).
//!
//! For a path (`ctx.path`, already decoded and normalised):
//!
//! - refused by the filter, missing, or not a file or directory → declined;
//! - permission denied → 403;
//! - a directory without trailing `/` → 301 to the path with `/` (query
//!   kept);
//! - a directory with `/`: with `dirlisting` and an `X-Requested-With`
//!   containing `XMLHttpRequest`, the original's JSON listing; else the
//!   default page inside it when it is a file; else with `dirlisting` an
//!   HTML listing ([`listing`]); else declined. For a directory the filter
//!   is applied to what is served: the default page by its own path (so
//!   `allow = ".html"` serves `/` as `/index.html`), listings by the
//!   directory's path;
//! - a regular file → [`file::respond`]: validators and conditional
//!   requests, 204 for an empty file, ranges with option `range`.
//!
//! Files are opened and stat'ed synchronously in the handler — a deliberate
//! choice for local device storage, where a thread hop costs more than the
//! call; the body is read lazily.
//!
//! # Security
//!
//! The path cannot leave `docroot` lexically (normalised before any module
//! runs); symbolic links resolving outside it are treated as missing
//! ([`resolve`]). Listings escape names for HTML and JSON.

pub mod conditional;
pub mod config;
pub mod file;
pub mod filter;
pub mod listing;
pub mod range;
pub mod resolve;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

pub use config::{DocumentConfig, DocumentOptions};

use self::filter::UriFilter;
use self::resolve::{Root, Target};
use crate::body::Body;
use crate::config::{Diagnostic, Problem, Severity};
use crate::error::HttpError;
use crate::mime::MimeTable;
use crate::modules::BuildEnv;
use crate::pipeline::{
    BoxFuture, Handled, Module, Phases, Request, RequestCtx, Response, RootPath,
};

/// Characters percent-encoded in a path put in a header: all but RFC 3986
/// unreserved characters and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Percent-encode a decoded path for `Location` / `Content-Location`.
pub fn encode_path(path: &str) -> String {
    utf8_percent_encode(path, PATH).to_string()
}

/// A running `document` instance.
pub struct Document {
    root: Root,
    filter: UriFilter,
    defaultpage: Option<String>,
    options: DocumentOptions,
    mime: Arc<MimeTable>,
}

impl Document {
    /// Build the instance: canonicalise `docroot` (which must be a
    /// directory) and compile the filter.
    pub fn build(cfg: &DocumentConfig, env: &BuildEnv) -> Result<Document, Diagnostic> {
        let root = Root::open(&cfg.docroot).map_err(|e| Diagnostic {
            severity: Severity::Error,
            span: cfg.docroot_span.clone(),
            path: format!("{}.docroot", cfg.path),
            problem: Problem::Io(format!("{}: {e}", cfg.docroot.display())),
        })?;
        Ok(Document {
            root,
            filter: UriFilter::new(cfg.allow.as_deref(), cfg.deny.as_deref(), cfg.denylast),
            defaultpage: cfg.defaultpage.clone(),
            options: cfg.options,
            mime: env.mime.clone(),
        })
    }

    /// The canonical document root.
    pub fn root(&self) -> &Path {
        self.root.dir()
    }

    /// Serve `req`, or `None` to decline it.
    fn serve(&self, req: &Request, ctx: &RequestCtx) -> Result<Option<Response>, HttpError> {
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return Ok(None);
        }
        let uri = ctx.path.as_str();
        if uri.ends_with('/') {
            return self.directory(req, uri);
        }
        if !self.filter.accepts(uri) {
            return Ok(None);
        }
        match self.root.resolve(uri)? {
            Target::Missing => Ok(None),
            Target::Dir(_) => redirect_with_slash(req, uri).map(Some),
            Target::File(open) => Ok(Some(self.file(req, uri, open))),
        }
    }

    /// A path ending with `/`.
    fn directory(&self, req: &Request, uri: &str) -> Result<Option<Response>, HttpError> {
        let page = self.defaultpage.as_ref().map(|p| format!("{uri}{p}"));
        let listing = self.options.dirlisting && self.filter.accepts(uri);
        let page = page.filter(|p| self.filter.accepts(p));
        if !listing && page.is_none() {
            return Ok(None);
        }
        let Target::Dir(dir) = self.root.resolve(uri)? else {
            return Ok(None);
        };
        if listing && is_xhr(req) {
            let body = listing::json(uri, listing::read(&dir)?, &self.mime);
            return Ok(Some(generated(req, body, "text/json")));
        }
        if let Some(page) = page {
            if let Target::File(open) = self.root.resolve(&page)? {
                return Ok(Some(self.file(req, &page, open)));
            }
        }
        if listing {
            let body = listing::html(uri, listing::read(&dir)?);
            return Ok(Some(generated(req, body, "text/html; charset=utf-8")));
        }
        Ok(None)
    }

    fn file(&self, req: &Request, uri: &str, open: resolve::OpenFile) -> Response {
        let served = file::Served {
            uri,
            open,
            ranges: self.options.range,
        };
        file::respond(req, served, &self.mime)
    }
}

impl Module for Document {
    fn name(&self) -> &'static str {
        "document"
    }

    fn roots(&self) -> Vec<RootPath> {
        vec![RootPath {
            module: "document".into(),
            root: "/".into(),
        }]
    }

    fn phases(&self) -> Phases {
        Phases::HANDLE
    }

    fn handle<'a>(
        &'a self,
        req: Request,
        ctx: &'a mut RequestCtx,
    ) -> BoxFuture<'a, Result<Handled, HttpError>> {
        let out = match self.serve(&req, ctx) {
            Ok(Some(resp)) => Ok(Handled::Served(resp)),
            Ok(None) => Ok(Handled::Declined(req)),
            Err(e) => Err(e),
        };
        Box::pin(std::future::ready(out))
    }
}

/// Whether the request comes from a script (`X-Requested-With` containing
/// `XMLHttpRequest`, as the original tests it).
fn is_xhr(req: &Request) -> bool {
    req.headers()
        .get_all("x-requested-with")
        .iter()
        .any(|v| v.as_bytes().windows(14).any(|w| w == b"XMLHttpRequest"))
}

/// 301 to `uri/`, keeping the query. The body is left to the pipeline.
fn redirect_with_slash(req: &Request, uri: &str) -> Result<Response, HttpError> {
    let mut location = encode_path(uri);
    location.push('/');
    if let Some(q) = req.uri().query() {
        location.push('?');
        location.push_str(q);
    }
    let location = HeaderValue::from_str(&location).map_err(HttpError::internal)?;
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
    resp.headers_mut().insert(LOCATION, location);
    Ok(resp)
}

/// A 200 with a generated body (listings); HEAD gets its length only.
fn generated(req: &Request, body: String, ctype: &'static str) -> Response {
    let len = body.len();
    let body = if req.method() == Method::HEAD {
        Body::empty()
    } else {
        Body::from(body)
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    resp
}
