//! The WebDAV verbs a file manager needs to mount the docroot (RFC 4918,
//! class 1, no locks), served with option `rest`:
//!
//! | verb | answer |
//! |------|--------|
//! | OPTIONS | 200, `DAV: 1`, `Allow` |
//! | PROPFIND | 207 with `resourcetype`, `getcontentlength`, `getlastmodified`, `getetag`, `getcontenttype`, `displayname` for the resource (`Depth: 0`) and its children (`Depth: 1`); `Depth: infinity` → 403 `propfind-finite-depth` |
//! | MKCOL | 201; exists → 405; parent missing → 409; with a body → 415 |
//! | MOVE, COPY | 201 (new) or 204 (replaced); `Overwrite: F` and an existing destination → 412; parent missing → 409; onto itself or into itself → 403 |
//!
//! GET, HEAD, PUT and DELETE are the document module's own; with option
//! `webdav` PUT replaces existing files and DELETE removes trees, which
//! clients expect. `Destination` must stay in the same root (the docroot,
//! or the user's home), pass the `allow`/`deny` filter and be writable
//! (PUT) by the user under the authorization rules, else 403.
//! Locking (class 2) is not offered: clients that insist on it (Windows'
//! and macOS's built-in ones) mount read-only or not at all.

use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};
use http_body::Body as _;

use super::Document;
use super::conditional::Validators;
use super::encode_path;
use super::home::Scope;
use super::upload::TEMP_PREFIX;
use super::write_path::WritePath;
use crate::body::Body;
use crate::error::HttpError;
use crate::pipeline::{Handled, Request, RequestCtx, Response};

/// The methods a docroot with option `rest` answers.
pub const ALLOWED: &str = "OPTIONS, GET, HEAD, PUT, POST, DELETE, PROPFIND, MKCOL, MOVE, COPY";

/// Serve OPTIONS, PROPFIND, MKCOL, MOVE or COPY.
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
    let resp = match req.method().as_str() {
        "OPTIONS" => options(),
        "PROPFIND" => propfind(doc, req, uri, rel, scope).await?,
        "MKCOL" => mkcol(&req, rel, scope),
        "MOVE" => transfer(doc, &req, rel, scope, false, ctx).await?,
        _ => transfer(doc, &req, rel, scope, true, ctx).await?,
    };
    Ok(Handled::Served(resp))
}

fn status(code: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = code;
    resp
}

fn options() -> Response {
    let mut resp = status(StatusCode::OK);
    let h = resp.headers_mut();
    h.insert("dav", HeaderValue::from_static("1"));
    h.insert("ms-author-via", HeaderValue::from_static("DAV"));
    h.insert(ALLOW, HeaderValue::from_static(ALLOWED));
    h.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

fn xml(code: StatusCode, body: String) -> Response {
    let len = body.len();
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = code;
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

/// Escape text for XML content.
pub fn xml_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

async fn propfind(
    doc: &Document,
    mut req: Request,
    uri: &str,
    rel: &str,
    scope: &Scope<'_>,
) -> Result<Response, HttpError> {
    let depth = req
        .headers()
        .get("depth")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("infinity")
        .trim()
        .to_ascii_lowercase();
    if depth != "0" && depth != "1" {
        let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n\
            <D:error xmlns:D=\"DAV:\"><D:propfind-finite-depth/></D:error>\n";
        return Ok(xml(StatusCode::FORBIDDEN, body.to_string()));
    }
    // The request body names properties; every client accepts the full set,
    // so it is read (bounded by maxbodysize) and ignored.
    while req.body_mut().chunk().await?.is_some() {}
    let real = match scope
        .root
        .dir()
        .join(rel.trim_start_matches('/'))
        .canonicalize()
    {
        Ok(p) if p.starts_with(scope.root.dir()) => p,
        _ => return Err(HttpError::not_found()),
    };
    let meta = std::fs::metadata(&real)?;
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">\n",
    );
    let base = if meta.is_dir() && !uri.ends_with('/') {
        format!("{uri}/")
    } else {
        uri.to_string()
    };
    let name = rel.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    entry(doc, &base, name, &meta, &mut out);
    if depth == "1" && meta.is_dir() {
        for child in std::fs::read_dir(&real)? {
            let Ok(child) = child else { continue };
            let name = child.file_name();
            let Ok(name) = std::str::from_utf8(name.as_bytes()).map(str::to_owned) else {
                continue;
            };
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            let Some(meta) = child_meta(scope.root.dir(), &child.path()) else {
                continue;
            };
            let child_uri = format!("{base}{name}");
            if !doc.filter.accepts(&child_uri) {
                continue;
            }
            let href = if meta.is_dir() {
                format!("{child_uri}/")
            } else {
                child_uri
            };
            entry(doc, &href, &name, &meta, &mut out);
        }
    }
    out.push_str("</D:multistatus>\n");
    Ok(xml(StatusCode::MULTI_STATUS, out))
}

/// Metadata of a directory entry, links followed; `None` for links out of
/// the root, dangling links, and what is neither file nor directory.
fn child_meta(root: &Path, path: &Path) -> Option<Metadata> {
    let lmeta = std::fs::symlink_metadata(path).ok()?;
    if lmeta.file_type().is_symlink() {
        let real = path.canonicalize().ok()?;
        if !real.starts_with(root) {
            return None;
        }
    }
    let meta = std::fs::metadata(path).ok()?;
    (meta.is_dir() || meta.is_file()).then_some(meta)
}

fn entry(doc: &Document, href: &str, name: &str, meta: &Metadata, out: &mut String) {
    out.push_str("<D:response><D:href>");
    xml_escape(&encode_path(href), out);
    out.push_str("</D:href><D:propstat><D:prop><D:displayname>");
    xml_escape(name, out);
    out.push_str("</D:displayname>");
    let v = Validators::of(meta);
    if meta.is_dir() {
        out.push_str("<D:resourcetype><D:collection/></D:resourcetype>");
    } else {
        out.push_str("<D:resourcetype/><D:getcontentlength>");
        out.push_str(&meta.len().to_string());
        out.push_str("</D:getcontentlength><D:getcontenttype>");
        let ctype = doc.mime.lookup(name);
        xml_escape(ctype.to_str().unwrap_or("application/octet-stream"), out);
        out.push_str("</D:getcontenttype><D:getetag>");
        xml_escape(v.etag_str(), out);
        out.push_str("</D:getetag>");
    }
    if let Some(m) = v.modified {
        out.push_str("<D:getlastmodified>");
        out.push_str(&httpdate::fmt_http_date(m));
        out.push_str("</D:getlastmodified>");
    }
    out.push_str("</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n");
}

fn mkcol(req: &Request, rel: &str, scope: &Scope<'_>) -> Response {
    if req.body().size_hint().lower() > 0 {
        return status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let target = match WritePath::new(&scope.root, rel) {
        Ok(t) => t,
        Err(e) => return status(conflict_status(&e)),
    };
    if std::fs::symlink_metadata(target.full()).is_ok() {
        return status(StatusCode::METHOD_NOT_ALLOWED);
    }
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o755).create(target.full()) {
        Ok(()) => status(StatusCode::CREATED),
        Err(e) => status(conflict_status(&e)),
    }
}

/// A missing or non-directory parent is a conflict (409); refusals 403.
fn conflict_status(e: &io::Error) -> StatusCode {
    match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => StatusCode::CONFLICT,
        Some(libc::EACCES | libc::EPERM) => StatusCode::FORBIDDEN,
        Some(libc::EEXIST) => StatusCode::METHOD_NOT_ALLOWED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The request path named by `Destination` (an absolute URL or a path).
fn destination(req: &Request) -> Option<String> {
    let text = req.headers().get("destination")?.to_str().ok()?.trim();
    let path = match text.find("://") {
        Some(i) => {
            let after = &text[i + 3..];
            &after[after.find('/').unwrap_or(after.len())..]
        }
        None => text,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = if path.is_empty() { "/" } else { path };
    crate::path::normalize(path).ok()
}

async fn transfer(
    doc: &Document,
    req: &Request,
    rel: &str,
    scope: &Scope<'_>,
    copy: bool,
    ctx: &RequestCtx,
) -> Result<Response, HttpError> {
    let Some(dest_uri) = destination(req) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    // Same root only: a docroot path may not name a home and back.
    let in_scope = match dest_uri.strip_prefix(scope.prefix.as_str()) {
        Some(rest) if scope.prefix.is_empty() => !(doc.homes.is_some() && rest.starts_with("/~")),
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    };
    if !in_scope || !doc.filter.accepts(&dest_uri) || !ctx.permits(&Method::PUT, &dest_uri) {
        return Ok(status(StatusCode::FORBIDDEN));
    }
    let dest_rel = scope.rel(&dest_uri).to_string();
    let (src_t, dst_t) = (rel.trim_end_matches('/'), dest_rel.trim_end_matches('/'));
    if src_t == dst_t || dst_t.starts_with(&format!("{src_t}/")) {
        return Ok(status(StatusCode::FORBIDDEN));
    }
    let src = match WritePath::new(&scope.root, rel) {
        Ok(s) => s.full(),
        Err(e) => return Ok(status(conflict_status(&e))),
    };
    if std::fs::symlink_metadata(&src).is_err() {
        return Err(HttpError::not_found());
    }
    let dst = match WritePath::new(&scope.root, &dest_rel) {
        Ok(d) => d.full(),
        Err(e) => return Ok(status(conflict_status(&e))),
    };
    let overwrite = req
        .headers()
        .get("overwrite")
        .is_none_or(|v| !v.as_bytes().eq_ignore_ascii_case(b"F"));
    let shallow = req
        .headers()
        .get("depth")
        .is_some_and(|v| v.as_bytes() == b"0");
    let existed = std::fs::symlink_metadata(&dst).is_ok();
    if existed && !overwrite {
        return Ok(status(StatusCode::PRECONDITION_FAILED));
    }
    let done = tokio::task::spawn_blocking(move || -> io::Result<()> {
        if existed {
            remove(&dst)?;
        }
        if copy {
            copy_tree(&src, &dst, shallow)
        } else {
            std::fs::rename(&src, &dst)
        }
    })
    .await
    .map_err(HttpError::internal)?;
    match done {
        Ok(()) if existed => Ok(status(StatusCode::NO_CONTENT)),
        Ok(()) => Ok(status(StatusCode::CREATED)),
        Err(e) => Ok(status(conflict_status(&e))),
    }
}

fn remove(path: &Path) -> io::Result<()> {
    if std::fs::symlink_metadata(path)?.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    }
}

/// Copy a file, link or directory tree (`shallow`: a directory without its
/// content). Links are copied as links.
fn copy_tree(src: &Path, dst: &Path, shallow: bool) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(src)?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        return std::os::unix::fs::symlink(std::fs::read_link(src)?, dst);
    }
    if ft.is_file() {
        return std::fs::copy(src, dst).map(|_| ());
    }
    if !ft.is_dir() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    std::fs::create_dir(dst)?;
    std::fs::set_permissions(dst, meta.permissions())?;
    if shallow {
        return Ok(());
    }
    for child in std::fs::read_dir(src)? {
        let child = child?;
        if child
            .file_name()
            .as_bytes()
            .starts_with(TEMP_PREFIX.as_bytes())
        {
            continue;
        }
        copy_tree(&child.path(), &dst.join(child.file_name()), false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_dest(d: &str) -> Request {
        http::Request::builder()
            .method("MOVE")
            .uri("/a")
            .header("destination", d)
            .body(crate::request_body::RequestBody::empty())
            .unwrap()
    }

    #[test]
    fn destinations() {
        assert_eq!(
            destination(&with_dest("http://h:8080/x/y%20z")).as_deref(),
            Some("/x/y z")
        );
        assert_eq!(destination(&with_dest("/x/../y/")).as_deref(), Some("/y/"));
        assert_eq!(destination(&with_dest("http://h")).as_deref(), Some("/"));
        assert_eq!(destination(&with_dest("/../etc")), None);
    }

    #[test]
    fn escapes() {
        let mut s = String::new();
        xml_escape("a<b>&\"'", &mut s);
        assert_eq!(s, "a&lt;b&gt;&amp;&quot;&apos;");
    }
}
