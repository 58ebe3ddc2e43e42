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
//! GET and HEAD serve files (below). With option `rest` (implied by a
//! `filestorage` section and by `webdav`) PUT, POST and DELETE manage files
//! as the original's REST API does ([`rest`], uploads in [`upload`]), and
//! OPTIONS, PROPFIND, MKCOL, MOVE and COPY answer WebDAV clients
//! ([`webdav`]). With option `home`, `/~/…` is served from the
//! authenticated user's home ([`home`]). Other methods are declined, so
//! another content module or the final 404 answers. `sendfile` is accepted
//! and changes nothing on the wire: file bodies are streamed in bounded
//! chunks either way (zero-copy is an engine concern).
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
pub mod home;
pub mod listing;
pub mod range;
pub mod resolve;
pub mod rest;
pub mod upload;
pub mod webdav;
pub mod write_path;

#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use http::{HeaderValue, Method, StatusCode};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

pub use config::{DocumentConfig, DocumentOptions};

use self::filter::UriFilter;
use self::home::{Homes, Scope};
use self::resolve::{Root, Target};
use crate::body::Body;
use crate::config::{Diagnostic, Problem, Severity};
use crate::error::HttpError;
use crate::mime::MimeTable;
use crate::modules::BuildEnv;
use crate::pipeline::{Handled, Module, Phases, Request, RequestCtx, Response, RootPath, Step};

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
    homes: Option<Homes>,
    filter: UriFilter,
    defaultpage: Option<String>,
    options: DocumentOptions,
    max_upload: u64,
    mime: Arc<MimeTable>,
}

/// What a method asks of the document module.
enum Verb {
    /// GET, HEAD.
    Read,
    /// PUT, POST, DELETE (option `rest`).
    Rest,
    /// OPTIONS, PROPFIND, MKCOL, MOVE, COPY (option `rest`).
    Dav,
}

impl Verb {
    fn of(method: &Method, rest: bool) -> Option<Verb> {
        match method.as_str() {
            "GET" | "HEAD" => Some(Verb::Read),
            "PUT" | "POST" | "DELETE" if rest => Some(Verb::Rest),
            "OPTIONS" | "PROPFIND" | "MKCOL" | "MOVE" | "COPY" if rest => Some(Verb::Dav),
            _ => None,
        }
    }
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
        let homes = if cfg.options.home {
            let dochome = cfg.dochome.as_deref().unwrap_or(&cfg.docroot);
            Some(Homes::open(dochome).map_err(|e| Diagnostic {
                severity: Severity::Error,
                span: cfg.span.clone(),
                path: format!("{}.dochome", cfg.path),
                problem: Problem::Io(format!("{}: {e}", dochome.display())),
            })?)
        } else {
            None
        };
        if let Some(h) = &homes
            && h.dir.starts_with(root.dir())
        {
            log::warn!(
                "{}: the homes (`dochome` {}) are inside the docroot: they are also served by \
                 their plain path, without the owner check; set `dochome` outside it",
                cfg.path,
                h.dir.display()
            );
        }
        Ok(Document {
            root,
            homes,
            filter: UriFilter::new(cfg.allow.as_deref(), cfg.deny.as_deref(), cfg.denylast),
            defaultpage: cfg.defaultpage.clone(),
            options: cfg.options,
            max_upload: cfg.max_upload,
            mime: env.mime.clone(),
        })
    }

    /// The canonical document root.
    pub fn root(&self) -> &Path {
        self.root.dir()
    }

    /// Where `ctx.path` lands: the docroot, or (option `home`) the user's
    /// home for `/~…` paths.
    pub fn scope(&self, ctx: &RequestCtx) -> Result<Scope<'_>, HttpError> {
        match &self.homes {
            Some(homes) => homes.scope(&self.root, &ctx.path, ctx.user.as_deref()),
            None => Ok(Scope::docroot(&self.root)),
        }
    }

    /// Serve a GET or HEAD, or `None` to decline it.
    fn serve(
        &self,
        req: &Request,
        uri: &str,
        scope: &Scope<'_>,
    ) -> Result<Option<Response>, HttpError> {
        if uri.ends_with('/') {
            return self.directory(req, uri, scope);
        }
        if !self.filter.accepts(uri) {
            return Ok(None);
        }
        match scope.resolve(uri)? {
            Target::Missing => Ok(None),
            Target::Dir(_) => redirect_with_slash(req, uri).map(Some),
            Target::File(open) => Ok(Some(self.file(req, uri, open))),
        }
    }

    /// A path ending with `/`.
    fn directory(
        &self,
        req: &Request,
        uri: &str,
        scope: &Scope<'_>,
    ) -> Result<Option<Response>, HttpError> {
        let page = self.defaultpage.as_ref().map(|p| format!("{uri}{p}"));
        let listing = self.options.dirlisting && self.filter.accepts(uri);
        let page = page.filter(|p| self.filter.accepts(p));
        if !listing && page.is_none() {
            return Ok(None);
        }
        let Target::Dir(dir) = scope.resolve(uri)? else {
            return Ok(None);
        };
        if listing && is_xhr(req) {
            let body = listing::json(uri, listing::read(&dir, scope.root.dir())?, &self.mime);
            return Ok(Some(generated(req, body, "text/json")));
        }
        if let Some(page) = page
            && let Target::File(open) = scope.resolve(&page)?
        {
            return Ok(Some(self.file(req, &page, open)));
        }
        if listing {
            let body = listing::html(uri, listing::read(&dir, scope.root.dir())?);
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
    ) -> Step<'a, Result<Handled, HttpError>> {
        let Some(verb) = Verb::of(req.method(), self.options.rest) else {
            return Step::now(Ok(Handled::Declined(req)));
        };
        if !matches!(verb, Verb::Read) {
            // Uploads and WebDAV wait for the body and the disk.
            return Step::later(async move {
                let ctx: &RequestCtx = ctx;
                let scope = self.scope(ctx)?;
                let uri = ctx.path.as_str();
                let done = match verb {
                    Verb::Rest => rest::handle(self, req, uri, &scope, ctx).await,
                    _ => webdav::handle(self, req, uri, &scope, ctx).await,
                };
                // A request pipelined behind this one must not get a
                // cached file this one replaced.
                crate::open_cache::written();
                done
            });
        }
        // GET and HEAD are answered at once (files are opened and checked
        // without waiting; their content is read as the connection sends).
        let served = self
            .scope(ctx)
            .and_then(|scope| self.serve(&req, &ctx.path, &scope));
        Step::now(match served {
            Ok(Some(resp)) => {
                // The request is done with: its map serves the next head.
                crate::spare_map::give(req.into_parts().0.headers);
                Ok(Handled::Served(resp))
            }
            Ok(None) => Ok(Handled::Declined(req)),
            Err(e) => Err(e),
        })
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
