//! `python`: WSGI applications (PEP 3333) — Flask, Django, any framework —
//! run inside the server's process by an embedded CPython (pyo3), and the
//! original's script API (REFERENCE §6.13). Content phase only, after
//! `cgi` and before `document`. Cargo feature `python`, off by default
//! (it links libpython).
//!
//! # Keys
//!
//! | key | meaning |
//! |-----|---------|
//! | `docroot` | application directory, first on `sys.path` (required) |
//! | `allow`, `deny`, `denylast` | URI filter ([`crate::uri_filter`]) |
//! | `env` | `NAME=value` entries for `os.environ` and every `environ` |
//! | `application` | the WSGI callable, `module:name` (marmoset) |
//! | `mount` | URI prefix of the application, its `SCRIPT_NAME` (marmoset) |
//! | `virtualenv` | a virtual environment whose packages are used (marmoset) |
//! | `scripts` | script-API modules imported at start |
//! | `maxrequests` | requests running at once, more get 503 (marmoset, default 16) |
//!
//! # Requests
//!
//! With `application`: every path under `mount` that passes the filter is
//! the application's; `PATH_INFO` is the rest. Without it, the original's
//! script API: `/<script>.py/<function>` (the script found by walking the
//! path under `docroot`, as `cgi` does) calls `function(request)` in the
//! script — see `shim.py`. Both run through one WSGI bridge ([`wsgi`]):
//! the request body is streamed to `wsgi.input`, the response streamed
//! back, `REMOTE_USER`/`AUTH_TYPE` give the authenticated user.
//!
//! An exception before the response starts gives 500 and its traceback in
//! the log; after, the body is cut. The interpreter is loaded at start-up,
//! so a broken application is a start-up error with its traceback. Python
//! code cannot be interrupted: there is no time limit (the server's
//! `timeout` does not apply), only `maxrequests`.

pub mod config;
pub mod wsgi;

use std::path::PathBuf;
use std::sync::Arc;

use http::StatusCode;
use http::header::{HeaderName, HeaderValue};
use http_body::Body as _;
use tokio::sync::Semaphore;

pub use config::PythonConfig;

use self::wsgi::{App, ChannelBody, Head, Setup};
use crate::body::Body;
use crate::cgi_env;
use crate::config::{Diagnostic, Problem, Severity};
use crate::error::HttpError;
use crate::modules::BuildEnv;
use crate::pipeline::{Handled, Module, Phases, Request, RequestCtx, Response, Step};
use crate::resolve::{Root, Target};
use crate::uri_filter::UriFilter;

/// A running `python` instance.
pub struct PythonModule {
    root: Root,
    filter: UriFilter,
    env: Vec<String>,
    mount: Option<String>,
    app: Arc<App>,
    slots: Arc<Semaphore>,
}

/// Where a request lands.
struct Route {
    script_name: String,
    path_info: String,
    file: Option<PathBuf>,
}

impl PythonModule {
    /// Start the interpreter and load the application (or the scripts).
    pub fn build(cfg: &PythonConfig, _env: &BuildEnv) -> Result<PythonModule, Diagnostic> {
        let fail = |key: &str, what: String| Diagnostic {
            severity: Severity::Error,
            span: cfg.span.clone(),
            path: format!("{}.{key}", cfg.path),
            problem: Problem::Io(what),
        };
        let root = Root::open(&cfg.docroot)
            .map_err(|e| fail("docroot", format!("{}: {e}", cfg.docroot.display())))?;
        let scripts: Vec<PathBuf> = cfg.scripts.iter().map(|s| root.dir().join(s)).collect();
        let setup = Setup {
            docroot: root.dir(),
            virtualenv: cfg.virtualenv.as_deref(),
            env: &cfg.env,
            application: cfg.application.as_deref(),
            scripts: &scripts,
        };
        let key = if cfg.application.is_some() {
            "application"
        } else {
            "scripts"
        };
        let app = App::load(&setup).map_err(|tb| fail(key, tb))?;
        Ok(PythonModule {
            root,
            filter: UriFilter::new(cfg.allow.as_deref(), cfg.deny.as_deref(), cfg.denylast),
            env: cfg.env.clone(),
            mount: cfg.application.as_ref().map(|_| cfg.mount.clone()),
            app: Arc::new(app),
            slots: Arc::new(Semaphore::new(cfg.max_requests)),
        })
    }

    fn route(&self, path: &str) -> Result<Option<Route>, HttpError> {
        if !self.filter.accepts(path) {
            return Ok(None);
        }
        if let Some(mount) = &self.mount {
            let Some(rest) = path.strip_prefix(mount.as_str()) else {
                return Ok(None);
            };
            if !(rest.is_empty() || rest.starts_with('/')) {
                return Ok(None);
            }
            return Ok(Some(Route {
                script_name: mount.clone(),
                path_info: rest.to_string(),
                file: None,
            }));
        }
        let ends = path
            .match_indices('/')
            .map(|(i, _)| i)
            .filter(|&i| i > 0)
            .chain(std::iter::once(path.len()));
        for end in ends {
            let prefix = &path[..end];
            match self.root.resolve(prefix)? {
                Target::Dir(_) => continue,
                Target::Missing => return Ok(None),
                Target::File(_) if prefix.ends_with(".py") => {
                    return Ok(Some(Route {
                        script_name: prefix.to_string(),
                        path_info: path[end..].to_string(),
                        file: Some(self.root.dir().join(prefix.trim_start_matches('/'))),
                    }));
                }
                Target::File(_) => return Ok(None),
            }
        }
        Ok(None)
    }

    async fn serve(
        &self,
        req: Request,
        ctx: &RequestCtx,
        route: Route,
    ) -> Result<Response, HttpError> {
        let permit = self.slots.clone().try_acquire_owned().map_err(|_| {
            HttpError::with_source(StatusCode::SERVICE_UNAVAILABLE, "maxrequests reached")
        })?;
        let (head, body) = req.into_parts();
        let info = cgi_env::ScriptInfo {
            script_name: &route.script_name,
            path_info: &route.path_info,
            script_filename: route.file.as_deref(),
            document_root: self.root.dir(),
        };
        let mut environ = cgi_env::meta(&head, ctx, &info);
        cgi_env::extend(&mut environ, &self.env);
        if route.path_info.is_empty() {
            environ.push(("PATH_INFO".into(), Vec::new()));
        }
        let has_body = body.size_hint().exact() != Some(0) || !body.is_end_stream();
        let (h, chunks) = self
            .app
            .clone()
            .call(environ, has_body.then_some(body), permit)
            .await
            .map_err(|e| HttpError::internal(format!("python {}: {e}", ctx.path)))?;
        response(h, chunks)
    }
}

/// The response the application started.
fn response(
    h: Head,
    chunks: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
) -> Result<Response, HttpError> {
    let code = h
        .status
        .split_whitespace()
        .next()
        .and_then(|c| c.parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| HttpError::internal(format!("bad WSGI status {:?}", h.status)))?;
    let mut resp = Response::new(Body::wrap(ChannelBody(chunks)));
    *resp.status_mut() = code;
    for (name, value) in h.headers {
        let lower = name.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "connection" | "transfer-encoding" | "keep-alive"
        ) {
            continue;
        }
        let bytes: Vec<u8> = value.chars().map(|c| c as u32 as u8).collect();
        let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(lower.as_bytes()),
            HeaderValue::from_bytes(&bytes),
        ) else {
            return Err(HttpError::internal(format!("bad WSGI header {name:?}")));
        };
        resp.headers_mut().append(n, v);
    }
    Ok(resp)
}

impl Module for PythonModule {
    fn name(&self) -> &'static str {
        "python"
    }

    fn phases(&self) -> Phases {
        Phases::HANDLE
    }

    fn handle<'a>(
        &'a self,
        req: Request,
        ctx: &'a mut RequestCtx,
    ) -> Step<'a, Result<Handled, HttpError>> {
        Step::later(async move {
            let Some(route) = self.route(&ctx.path)? else {
                return Ok(Handled::Declined(req));
            };
            self.serve(req, ctx, route).await.map(Handled::Served)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: &str, headers: &[(&str, &str)]) -> Head {
        Head {
            status: status.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn python_wsgi_head_to_response() {
        let (_tx, rx) = tokio::sync::mpsc::channel(1);
        let h = head(
            "201 Created",
            &[
                ("Content-Type", "text/plain"),
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
                ("Connection", "close"),
                ("X-Latin", "caf\u{e9}"),
            ],
        );
        let r = response(h, rx).unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
        assert!(r.headers().get("connection").is_none());
        assert_eq!(r.headers()["x-latin"].as_bytes(), b"caf\xe9");
        let (_tx, rx) = tokio::sync::mpsc::channel(1);
        assert!(response(head("OK", &[]), rx).is_err());
    }
}
