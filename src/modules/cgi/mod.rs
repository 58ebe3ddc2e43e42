//! `cgi`: run CGI/1.1 scripts (RFC 3875, REFERENCE §6.12). Content phase
//! only, before `python` and `document`.
//!
//! # Keys
//!
//! | key | meaning |
//! |-----|---------|
//! | `docroot` | script directory (required; must exist at start-up) |
//! | `allow`, `deny`, `denylast` | URI filter, shared with `document` ([`crate::uri_filter`]) |
//! | `env` | extra `NAME=value` strings for every script |
//! | server `timeout` | seconds a script may stay silent (default 3) |
//! | `maxtime` | seconds a script may run at all (marmoset, default 300) |
//! | `maxscripts` | scripts running at once, more get 503 (marmoset, default 16) |
//!
//! # Requests
//!
//! Any method. The path must pass the filter; its segments are walked
//! under `docroot` (with the resolver `document` uses, so links out of the
//! root are not followed) until a regular file: that is the script, the
//! rest of the path is `PATH_INFO` (`/app.cgi/x/y` → `app.cgi`, `/x/y`).
//! Nothing found, or a directory → declined. A script without an execute
//! bit → 403. The script runs with `docroot` as working directory,
//! `argv[0]` its path relative to `docroot`, the environment of
//! [`crate::cgi_env`] only, the request body streamed to its stdin (bodies
//! are bounded by the server's `maxbodysize`), its stderr logged line by
//! line, and its stdout parsed and streamed back ([`output`]).
//!
//! `Location` with a path (and no `Status`) is a local redirect (RFC 3875
//! §6.2.2): when the path is itself a script of this module it is run at
//! once with GET (at most 5 hops), otherwise the client gets a 302.
//! `Location` with a URL is a 302 unless `Status` says otherwise.
//!
//! Failures: no slot → 503; silent past `timeout` before the headers →
//! 504; output ending before the headers, or bad headers → 500. After the
//! headers, a timeout or `maxtime` ends the body abruptly (the client sees
//! an incomplete message). Whenever the response ends early — client
//! gone, timeout — the script's process group is stopped.
//!
//! # Security
//!
//! The environment is an allow-list (no server variables, no
//! `Authorization`, no `HTTP_PROXY`). Scripts run as the server's user
//! (after the privilege drop of `user`), in their own process group.

pub mod config;
pub mod output;

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::{HeaderValue, Method, StatusCode};
use http_body::Body as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::sync::Semaphore;

pub use config::CgiConfig;

use self::output::{HeadError, Output, Proc, ScriptHead};
use crate::body::Body;
pub use crate::cgi_env as env;
use crate::config::{Diagnostic, Problem, Severity};
use crate::error::HttpError;
use crate::modules::BuildEnv;
use crate::pipeline::{Handled, Module, Phases, Request, RequestCtx, RequestHead, Response, Step};
use crate::request_body::{BodyError, RequestBody};
use crate::resolve::{Root, Target};
use crate::uri_filter::UriFilter;

/// Local redirects followed for one request.
const MAX_HOPS: usize = 5;

/// A running `cgi` instance.
pub struct Cgi {
    root: Root,
    filter: UriFilter,
    env: Vec<String>,
    timeout: Duration,
    max_time: Duration,
    slots: Arc<Semaphore>,
}

/// A script found for a path.
#[derive(Debug)]
struct Script {
    /// Request path of the script.
    name: String,
    /// The rest of the path.
    path_info: String,
    /// Its file (under the canonical root).
    file: PathBuf,
    /// Its permission bits.
    mode: u32,
}

/// What running a script gave.
enum Outcome {
    Response(Response),
    LocalRedirect(String),
}

impl Cgi {
    /// Build the instance: `docroot` must be a directory.
    pub fn build(cfg: &CgiConfig, _env: &BuildEnv) -> Result<Cgi, Diagnostic> {
        let root = Root::open(&cfg.docroot).map_err(|e| Diagnostic {
            severity: Severity::Error,
            span: cfg.docroot_span.clone(),
            path: format!("{}.docroot", cfg.path),
            problem: Problem::Io(format!("{}: {e}", cfg.docroot.display())),
        })?;
        Ok(Cgi {
            root,
            filter: cfg.filter.build(),
            env: cfg.env.clone(),
            timeout: cfg.timeout,
            max_time: cfg.max_time,
            slots: Arc::new(Semaphore::new(cfg.max_scripts)),
        })
    }

    /// The script `path` names, if any.
    fn find(&self, path: &str) -> Result<Option<Script>, HttpError> {
        if !self.filter.accepts(path) {
            return Ok(None);
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
                Target::File(open) => {
                    return Ok(Some(Script {
                        name: prefix.to_string(),
                        path_info: path[end..].to_string(),
                        file: self.root.dir().join(prefix.trim_start_matches('/')),
                        mode: open.meta.permissions().mode(),
                    }));
                }
            }
        }
        Ok(None)
    }

    /// Run the script and read its headers.
    async fn run(
        &self,
        head: &RequestHead,
        body: Option<RequestBody>,
        ctx: &RequestCtx,
        script: &Script,
    ) -> Result<Outcome, HttpError> {
        if script.mode & 0o111 == 0 {
            return Err(HttpError::forbidden(format!(
                "{} is not executable",
                script.file.display()
            )));
        }
        let slot = self.slots.clone().try_acquire_owned().map_err(|_| {
            HttpError::with_source(StatusCode::SERVICE_UNAVAILABLE, "maxscripts reached")
        })?;
        let info = env::ScriptInfo {
            script_name: &script.name,
            path_info: &script.path_info,
            script_filename: Some(&script.file),
            document_root: self.root.dir(),
        };
        let mut vars = env::meta(head, ctx, &info);
        env::extend(&mut vars, &self.env);
        let mut cmd = Command::new(&script.file);
        cmd.arg0(script.name.trim_start_matches('/'))
            .current_dir(self.root.dir())
            .env_clear()
            .envs(
                vars.iter()
                    .map(|(k, v)| (k, std::ffi::OsStr::from_bytes(v))),
            )
            .stdin(if body.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let mut child = cmd.spawn().map_err(|e| {
            let e = std::io::Error::new(e.kind(), format!("{}: {e}", script.file.display()));
            HttpError::from(e)
        })?;
        let name = script.name.clone();
        if let Some(stderr) = child.stderr.take() {
            let name = name.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    log::warn!("cgi {name}: {line}");
                }
            });
        }
        let too_large = Arc::new(AtomicBool::new(false));
        if let (Some(body), Some(stdin)) = (body, child.stdin.take()) {
            tokio::spawn(feed(
                body,
                stdin,
                self.timeout,
                child.id(),
                too_large.clone(),
            ));
        }
        let mut proc = Proc::new(child, name, slot);
        let mut stdout = proc
            .stdout()
            .ok_or_else(|| HttpError::internal("no stdout"))?;
        let deadline = tokio::time::Instant::now() + self.max_time;
        let (sh, first) = match output::read_head(&mut stdout, self.timeout, deadline).await {
            Ok(h) => h,
            Err(e) => {
                drop(proc);
                if too_large.load(Ordering::Relaxed) {
                    return Err(BodyError::TooLarge { limit: 0 }.into());
                }
                let status = match e {
                    HeadError::Timeout => StatusCode::GATEWAY_TIMEOUT,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                return Err(HttpError::with_source(
                    status,
                    format!("cgi {}: {e}", script.name),
                ));
            }
        };
        if let (Some(loc), None) = (&sh.location, sh.status)
            && loc.starts_with('/')
        {
            return Ok(Outcome::LocalRedirect(loc.clone()));
        }
        let body = Output::new(proc, stdout, first, self.timeout, deadline);
        Ok(Outcome::Response(response(sh, Body::wrap(body))?))
    }

    async fn serve(
        &self,
        req: Request,
        ctx: &mut RequestCtx,
        mut script: Script,
    ) -> Result<Response, HttpError> {
        let (mut head, body) = req.into_parts();
        let has_body = body.size_hint().exact() != Some(0) || !body.is_end_stream();
        let declared = head
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > body.limit()) {
            return Err(BodyError::TooLarge {
                limit: body.limit(),
            }
            .into());
        }
        let mut body = has_body.then_some(body);
        for _ in 0..=MAX_HOPS {
            let location = match self.run(&head, body.take(), ctx, &script).await? {
                Outcome::Response(r) => return Ok(r),
                Outcome::LocalRedirect(l) => l,
            };
            let (path, query) = location.split_once('?').unwrap_or((&location, ""));
            let next = crate::path::normalize(path)
                .ok()
                .map(|p| self.find(&p).map(|s| (p, s)))
                .transpose()?;
            let Some((path, Some(next))) = next else {
                return redirect(&location);
            };
            let uri = if query.is_empty() {
                path.clone()
            } else {
                format!("{path}?{query}")
            };
            head.method = Method::GET;
            head.uri = uri.parse().map_err(HttpError::internal)?;
            head.headers.remove(http::header::CONTENT_LENGTH);
            head.headers.remove(http::header::CONTENT_TYPE);
            ctx.path = path;
            script = next;
        }
        Err(HttpError::internal("too many local redirects"))
    }
}

/// Copy the request body to the script's stdin; a body over the limit
/// stops the script (its output would be a reply to a truncated request).
async fn feed(
    mut body: RequestBody,
    mut stdin: tokio::process::ChildStdin,
    timeout: Duration,
    pid: Option<u32>,
    too_large: Arc<AtomicBool>,
) {
    loop {
        match body.chunk().await {
            Ok(Some(data)) => {
                match tokio::time::timeout(timeout, stdin.write_all(&data)).await {
                    Ok(Ok(())) => {}
                    _ => return, // the script stopped reading
                }
            }
            Ok(None) => return,
            Err(BodyError::TooLarge { .. }) => {
                too_large.store(true, Ordering::Relaxed);
                if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                    let group = nix::unistd::Pid::from_raw(pid);
                    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
                }
                return;
            }
            Err(_) => return,
        }
    }
}

/// The response for a script's headers.
fn response(sh: ScriptHead, body: Body) -> Result<Response, HttpError> {
    let status = match (sh.status, &sh.location) {
        (Some(s), _) => StatusCode::from_u16(s).map_err(HttpError::internal)?,
        (None, Some(_)) => StatusCode::FOUND,
        (None, None) => StatusCode::OK,
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    for (name, value) in sh.headers {
        h.append(name, value);
    }
    if let Some(loc) = sh.location {
        let v = HeaderValue::from_str(&loc).map_err(HttpError::internal)?;
        h.insert(http::header::LOCATION, v);
    }
    Ok(resp)
}

/// A client redirect (302) to `location`.
fn redirect(location: &str) -> Result<Response, HttpError> {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::FOUND;
    let v = HeaderValue::from_str(location).map_err(HttpError::internal)?;
    resp.headers_mut().insert(http::header::LOCATION, v);
    Ok(resp)
}

impl Module for Cgi {
    fn name(&self) -> &'static str {
        "cgi"
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
            let Some(script) = self.find(&ctx.path)? else {
                return Ok(Handled::Declined(req));
            };
            self.serve(req, ctx, script).await.map(Handled::Served)
        })
    }
}
