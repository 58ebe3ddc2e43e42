//! The original's file API (option `rest`, REFERENCE §6.11.3): PUT, POST
//! with `X-POST-CMD`, DELETE, each answered with a one-line JSON body
//! (`Content-Type: text/json`):
//!
//! ```text
//! {"method":"PUT","result":"OK","name":"/upload/new.txt"}
//! {"method":"PUT","result":"KO","error":"File exists","name":"/upload/new.txt"}
//! ```
//!
//! Failures carry the C library's message and map `EACCES` → 403,
//! `ENOENT` → 404, anything else → 400 (the original's table), except a
//! body over `maxuploadsize` (413, `File too large`) and a failed write
//! (500).
//!
//! Differences from the original, all on the safe side (REFERENCE §8.1.7):
//! every path — target, `X-POST-ARG`, link targets — is confined to the
//! root (403 `Permission denied` otherwise), and the other paths a request
//! acts on pass the same authentication and authorization as the request's
//! own (`permitted`: a link's target must be readable and writable by the
//! user, both as written and where it leads on disk; a move's or a link's
//! new path writable; a moved file deletable); `chmod` keeps only the
//! permission bits (`0777`); uploads are atomic ([`super::upload`]). With
//! option `webdav`, PUT replaces an existing file (204) and DELETE removes
//! whole directories, as WebDAV clients expect.

use std::io;
use std::os::unix::fs::{PermissionsExt, symlink};

use http::header::{CONTENT_LENGTH, CONTENT_LOCATION, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};

use super::Document;
use super::home::Scope;
use super::listing::json_escape;
use super::upload::{self, Mode, Stored, UploadError};
use super::write_path::{WritePath, confine, errno, existing, parent_of};
use crate::body::Body;
use crate::error::HttpError;
use crate::pipeline::{Handled, Request, RequestCtx, Response};
use crate::request_body::BodyError;

/// Serve a PUT, POST or DELETE.
pub async fn handle(
    doc: &Document,
    req: Request,
    uri: &str,
    scope: &Scope<'_>,
    ctx: &RequestCtx,
) -> Result<Handled, HttpError> {
    if !doc.filter.accepts(uri) {
        return Ok(Handled::Declined(req));
    }
    let rel = scope.rel(uri);
    let method = req.method().clone();
    let reply = Reply {
        method: &method,
        uri,
    };
    let resp = match method {
        Method::PUT => {
            let ctype = content_type(&req);
            if ctype.starts_with("multipart/form-data") {
                return Ok(Handled::Declined(req));
            }
            put(doc, req, rel, scope, &ctype, reply, ctx).await
        }
        Method::POST => post(doc, req, rel, scope, reply, ctx).await,
        _ => {
            let Ok(target) = WritePath::new(&scope.root, rel) else {
                return match std::fs::symlink_metadata(scope.root.dir().join(&rel[1..])) {
                    Ok(_) => Ok(Handled::Served(reply.ko(&errno(libc::EACCES)))),
                    Err(_) => Ok(Handled::Declined(req)),
                };
            };
            if std::fs::symlink_metadata(target.full()).is_err() {
                return Ok(Handled::Declined(req));
            }
            delete(&target, doc.options.webdav, reply)
        }
    };
    Ok(Handled::Served(resp))
}

/// The JSON answers of one request.
#[derive(Clone, Copy)]
pub struct Reply<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The request path.
    pub uri: &'a str,
}

impl Reply<'_> {
    /// `{"method":…,"result":"OK","name":…}` with `status`.
    pub fn ok(self, status: StatusCode) -> Response {
        let mut s = String::with_capacity(64);
        s.push_str("{\"method\":\"");
        json_escape(self.method.as_str(), &mut s);
        s.push_str("\",\"result\":\"OK\",\"name\":\"");
        json_escape(self.uri, &mut s);
        s.push_str("\"}\n");
        json(status, s)
    }

    /// The KO answer for `e`, status from its errno.
    pub fn ko(self, e: &io::Error) -> Response {
        self.ko_with(status_of(e), e)
    }

    /// The KO answer for `e` with an explicit status.
    pub fn ko_with(self, status: StatusCode, e: &io::Error) -> Response {
        let mut s = String::with_capacity(96);
        s.push_str("{\"method\":\"");
        json_escape(self.method.as_str(), &mut s);
        s.push_str("\",\"result\":\"KO\",\"error\":\"");
        json_escape(&strerror(e), &mut s);
        s.push_str("\",\"name\":\"");
        json_escape(self.uri, &mut s);
        s.push_str("\"}\n");
        json(status, s)
    }

    fn upload_failed(self, e: &UploadError) -> Response {
        match e {
            UploadError::Body(BodyError::TooLarge { .. }) => {
                self.ko_with(StatusCode::PAYLOAD_TOO_LARGE, &errno(libc::EFBIG))
            }
            UploadError::Body(BodyError::Transport(_)) => {
                self.ko_with(StatusCode::BAD_REQUEST, &errno(libc::EIO))
            }
            UploadError::Io(e) if e.raw_os_error() == Some(libc::EEXIST) => self.ko(e),
            UploadError::Io(e) if matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)) => {
                self.ko_with(StatusCode::INSUFFICIENT_STORAGE, e)
            }
            UploadError::Io(e) => self.ko_with(StatusCode::INTERNAL_SERVER_ERROR, e),
        }
    }
}

fn json(status: StatusCode, body: String) -> Response {
    let len = body.len();
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/json"));
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

/// The original's errno → status table (plus 507 for a full disk, 413
/// for a file past the size limit, which the original answered 400).
pub fn status_of(e: &io::Error) -> StatusCode {
    match e.raw_os_error() {
        Some(libc::EACCES | libc::EPERM) => StatusCode::FORBIDDEN,
        Some(libc::ENOENT) => StatusCode::NOT_FOUND,
        // A full disk or quota is the server's condition, not a bad request.
        Some(libc::ENOSPC | libc::EDQUOT) => StatusCode::INSUFFICIENT_STORAGE,
        Some(libc::EFBIG) => StatusCode::PAYLOAD_TOO_LARGE,
        _ => match e.kind() {
            io::ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            io::ErrorKind::NotFound => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        },
    }
}

/// The C library's message for `e` (`File exists`), without Rust's
/// ` (os error 17)` suffix.
pub fn strerror(e: &io::Error) -> String {
    let text = match e.raw_os_error() {
        Some(n) => io::Error::from_raw_os_error(n).to_string(),
        None => e.to_string(),
    };
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// The media type of the request, lower case, without parameters.
fn content_type(req: &Request) -> String {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default()
}

/// A header value as text (`None` when absent or not text).
fn header<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Refuse early a declared length over the limit, then raise the body's
/// limit to `maxuploadsize`.
fn upload_limit(doc: &Document, req: &mut Request) -> Result<(), BodyError> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > doc.max_upload) {
        return Err(BodyError::TooLarge {
            limit: doc.max_upload,
        });
    }
    req.body_mut().set_limit(doc.max_upload);
    Ok(())
}

async fn put(
    doc: &Document,
    mut req: Request,
    rel: &str,
    scope: &Scope<'_>,
    ctype: &str,
    reply: Reply<'_>,
    ctx: &RequestCtx,
) -> Response {
    if rel.ends_with('/') || ctype == "inode/directory" {
        return match mkdir(scope, rel) {
            Ok(()) => reply.ok(StatusCode::CREATED),
            Err(e) => reply.ko(&e),
        };
    }
    if ctype == "inode/symlink" {
        let Some(target) = header(&req, CONTENT_LOCATION.as_str()) else {
            return reply.ko(&errno(libc::EINVAL));
        };
        return match link(scope, rel, target.trim_start_matches('/'), ctx) {
            Ok(()) => reply.ok(StatusCode::CREATED),
            Err(e) => reply.ko(&e),
        };
    }
    let target = match WritePath::new(&scope.root, rel) {
        Ok(t) => t,
        Err(e) => return reply.ko(&e),
    };
    let mode = if doc.options.webdav {
        Mode::Replace
    } else {
        Mode::CreateNew
    };
    let mut perm = 0o640;
    match std::fs::symlink_metadata(target.full()) {
        Ok(_) if mode == Mode::CreateNew => return reply.ko(&errno(libc::EEXIST)),
        Ok(m) if m.is_dir() => return reply.ko(&errno(libc::EISDIR)),
        Ok(m) if m.is_file() => perm = m.permissions().mode() & 0o777,
        _ => {}
    }
    if let Err(e) = upload_limit(doc, &mut req) {
        return reply.upload_failed(&UploadError::Body(e));
    }
    match upload::store(req.body_mut(), &target.parent, &target.name, mode, perm).await {
        Ok(Stored::Created) => reply.ok(StatusCode::CREATED),
        Ok(Stored::Replaced) => {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::NO_CONTENT;
            resp
        }
        Err(e) => reply.upload_failed(&e),
    }
}

fn mkdir(scope: &Scope<'_>, rel: &str) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let target = WritePath::new(&scope.root, rel).map_err(|e| match e.raw_os_error() {
        // `PUT /` : the root exists.
        Some(libc::EACCES) if rel.trim_matches('/').is_empty() => errno(libc::EEXIST),
        _ => e,
    })?;
    std::fs::DirBuilder::new().mode(0o755).create(target.full())
}

/// Create the link `rel` → `target` (text stored as is; relative to the
/// link's directory), refused when the target leaves the root or when the
/// user could not read and write it, or write `rel`, by their own paths.
fn link(scope: &Scope<'_>, rel: &str, target: &str, ctx: &RequestCtx) -> io::Result<()> {
    if target.is_empty() {
        return Err(errno(libc::EINVAL));
    }
    let written = confine(parent_of(rel), target).ok_or_else(|| errno(libc::EACCES))?;
    let readable_writable = [Method::GET, Method::PUT];
    if !permitted(ctx, scope, rel, &[Method::PUT])
        || !permitted(ctx, scope, &written, &readable_writable)
    {
        return Err(errno(libc::EACCES));
    }
    // Where it leads on disk: `a/../b` through a link `a` is not `b`.
    let leads = on_disk(scope, parent_of(rel), target)?;
    if !permitted(ctx, scope, &leads, &readable_writable) {
        return Err(errno(libc::EACCES));
    }
    let at = WritePath::new(&scope.root, rel)?;
    symlink(target, at.full())
}

/// The path inside the root that `target`, relative to the directory
/// `dir` (a path inside the root), names on disk: the text is not
/// normalised first, so [`WritePath`] resolves its directory through the
/// links on the way, as the system will. That directory must exist (a
/// link through a directory made later would not have been checked).
fn on_disk(scope: &Scope<'_>, dir: &str, target: &str) -> io::Result<String> {
    let at = WritePath::new(&scope.root, &format!("{dir}/{target}"))?.full();
    let inside = at
        .strip_prefix(scope.root.dir())
        .ok()
        .and_then(|p| p.to_str());
    inside
        .and_then(|p| confine("/", p))
        .ok_or_else(|| errno(libc::EACCES))
}

/// Whether the request's user may do each of `methods` on `rel` (a path
/// inside `scope`), as if they had asked for it (see
/// [`RequestCtx::permits`]).
fn permitted(ctx: &RequestCtx, scope: &Scope<'_>, rel: &str, methods: &[Method]) -> bool {
    let uri = scope.uri(rel);
    methods.iter().all(|m| ctx.permits(m, &uri))
}

async fn post(
    doc: &Document,
    req: Request,
    rel: &str,
    scope: &Scope<'_>,
    reply: Reply<'_>,
    ctx: &RequestCtx,
) -> Response {
    let cmd = header(&req, "x-post-cmd").map(str::trim).map(str::to_owned);
    let arg = header(&req, "x-post-arg")
        .map(str::trim)
        .unwrap_or("")
        .to_owned();
    let result = match cmd.as_deref() {
        None => return replace(doc, req, rel, scope, reply).await,
        Some("mv") if arg.is_empty() => Ok(()),
        Some("mv") => rename(doc, scope, rel, &arg, ctx),
        Some("chmod") => chmod(scope, rel, &arg),
        Some("ln") if arg.is_empty() => Ok(()),
        Some("ln") => {
            let target = rel.trim_start_matches('/');
            match confine("/", arg.trim_start_matches('/')) {
                Some(at) if doc.filter.accepts(&scope.uri(&at)) => link(scope, &at, target, ctx),
                _ => Err(errno(libc::EACCES)),
            }
        }
        Some(_) => {
            // The original's quirk: 200 with a KO body.
            return reply.ko_with(StatusCode::OK, &errno(libc::EINVAL));
        }
    };
    match result {
        Ok(()) => reply.ok(StatusCode::OK),
        Err(e) => reply.ko(&e),
    }
}

/// POST without command: replace an existing file's content.
async fn replace(
    doc: &Document,
    mut req: Request,
    rel: &str,
    scope: &Scope<'_>,
    reply: Reply<'_>,
) -> Response {
    let real = match existing(&scope.root, rel) {
        Ok(p) => p,
        Err(e) => return reply.ko(&e),
    };
    let meta = match std::fs::metadata(&real) {
        Ok(m) => m,
        Err(e) => return reply.ko(&e),
    };
    if meta.is_dir() {
        return reply.ko(&errno(libc::EISDIR));
    }
    let (Some(dir), Some(name)) = (real.parent(), real.file_name()) else {
        return reply.ko(&errno(libc::EINVAL));
    };
    if let Err(e) = upload_limit(doc, &mut req) {
        return reply.upload_failed(&UploadError::Body(e));
    }
    let perm = meta.permissions().mode() & 0o777;
    match upload::store(req.body_mut(), dir, name, Mode::Replace, perm).await {
        Ok(_) => reply.ok(StatusCode::CREATED),
        Err(e) => reply.upload_failed(&e),
    }
}

fn rename(
    doc: &Document,
    scope: &Scope<'_>,
    rel: &str,
    arg: &str,
    ctx: &RequestCtx,
) -> io::Result<()> {
    let dest = confine("/", arg.trim_start_matches('/')).ok_or_else(|| errno(libc::EACCES))?;
    if !doc.filter.accepts(&scope.uri(&dest))
        || !permitted(ctx, scope, &dest, &[Method::PUT])
        || !permitted(ctx, scope, rel, &[Method::DELETE])
    {
        return Err(errno(libc::EACCES));
    }
    let from = WritePath::new(&scope.root, rel)?;
    let to = WritePath::new(&scope.root, &dest)?;
    std::fs::rename(from.full(), to.full())
}

fn chmod(scope: &Scope<'_>, rel: &str, arg: &str) -> io::Result<()> {
    let mode = u32::from_str_radix(arg, 8).map_err(|_| errno(libc::EINVAL))?;
    let real = existing(&scope.root, rel)?;
    std::fs::set_permissions(real, std::fs::Permissions::from_mode(mode & 0o777))
}

fn delete(target: &WritePath, recursive: bool, reply: Reply<'_>) -> Response {
    let path = target.full();
    let result = match std::fs::symlink_metadata(&path) {
        Ok(m) if m.is_dir() && recursive => std::fs::remove_dir_all(&path),
        Ok(m) if m.is_dir() => std::fs::remove_dir(&path),
        Ok(_) => std::fs::remove_file(&path),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => reply.ok(StatusCode::OK),
        Err(e) => reply.ko(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_statuses() {
        assert_eq!(strerror(&errno(libc::EEXIST)), "File exists");
        assert_eq!(strerror(&errno(libc::ENOENT)), "No such file or directory");
        assert_eq!(strerror(&errno(libc::ENOTEMPTY)), "Directory not empty");
        assert_eq!(status_of(&errno(libc::EACCES)), StatusCode::FORBIDDEN);
        assert_eq!(status_of(&errno(libc::ENOENT)), StatusCode::NOT_FOUND);
        assert_eq!(status_of(&errno(libc::EEXIST)), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn json_bodies() {
        let m = Method::PUT;
        let r = Reply {
            method: &m,
            uri: "/a \"b\".txt",
        };
        let resp = r.ko(&errno(libc::EEXIST));
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers()[CONTENT_TYPE], "text/json");
    }
}
