//! Handler-level tests: a built `Document` on a temporary docroot, called
//! through `Module::handle` with real requests.

use std::path::Path;
use std::sync::Arc;

use http::header::HeaderMap;
use http_body_util::BodyExt;

use super::*;
use crate::config::value::Span;
use crate::config::{Diagnostics, Section};
use crate::pipeline::User;
use crate::request_body::RequestBody;
use crate::server_info::ServerInfo;

fn span() -> Span {
    Span {
        file: Path::new("<test>").into(),
        line: 1,
        col: 1,
    }
}

fn env() -> BuildEnv {
    BuildEnv {
        mime: Arc::new(MimeTable::default()),
        server: Arc::new(ServerInfo::for_tests()),
    }
}

fn config(root: &Path, options: &str) -> DocumentConfig {
    DocumentConfig {
        span: span(),
        path: "servers[0].document".into(),
        docroot: root.to_path_buf(),
        docroot_span: span(),
        dochome: None,
        allow: None,
        deny: None,
        denylast: None,
        defaultpage: Some("index.html".into()),
        options: DocumentOptions {
            dirlisting: options.contains("dirlisting"),
            range: options.contains("range"),
            rest: options.contains("rest") || options.contains("webdav"),
            webdav: options.contains("webdav"),
            home: options.contains("home"),
            ..DocumentOptions::default()
        },
        max_upload: config::DEFAULT_MAX_UPLOAD,
    }
}

/// A docroot with `index.html`, `a.txt` (26 letters), `empty`, `sub/`
/// (without index) and `sub/b.css`.
fn docroot() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::write(p.join("index.html"), "<h1>home</h1>").unwrap();
    std::fs::write(p.join("a.txt"), "abcdefghijklmnopqrstuvwxyz").unwrap();
    std::fs::write(p.join("empty"), "").unwrap();
    std::fs::create_dir(p.join("sub")).unwrap();
    std::fs::write(p.join("sub/b.css"), "b{}").unwrap();
    d
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

/// `None` when declined.
async fn call(
    doc: &Document,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Option<Answer> {
    call_as(doc, None, method, target, headers).await
}

/// As [`call`], with `ctx.user` set (what the auth module does).
async fn call_as(
    doc: &Document,
    user: Option<&User>,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Option<Answer> {
    let mut b = http::Request::builder().method(method).uri(target);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(RequestBody::empty()).unwrap();
    let addr = "127.0.0.1:1".parse().unwrap();
    let mut ctx = RequestCtx::new(Arc::new(ServerInfo::for_tests()), addr, addr);
    ctx.path = crate::path::normalize(req.uri().path()).unwrap();
    ctx.user = user.cloned().map(Arc::new);
    match doc.handle(req, &mut ctx).await {
        Ok(Handled::Served(resp)) => {
            let (parts, body) = resp.into_parts();
            let bytes = body.collect().await.unwrap().to_bytes();
            Some(Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        }
        Ok(Handled::Declined(_)) => None,
        Err(e) => Some(Answer {
            status: e.status().as_u16(),
            headers: HeaderMap::new(),
            body: String::new(),
        }),
    }
}

async fn get(doc: &Document, target: &str) -> Option<Answer> {
    call(doc, "GET", target, &[]).await
}

fn build(root: &Path, options: &str) -> Document {
    Document::build(&config(root, options), &env()).unwrap()
}

#[tokio::test]
async fn file_get_and_head() {
    let d = docroot();
    let doc = build(d.path(), "");
    let a = get(&doc, "/a.txt").await.unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.body, "abcdefghijklmnopqrstuvwxyz");
    assert_eq!(a.header("content-type"), "text/plain");
    assert_eq!(a.header("accept-ranges"), "none");
    assert!(a.header("etag").starts_with('"'));
    assert!(a.header("last-modified").ends_with("GMT"));
    assert_eq!(a.header("content-location"), "");

    let h = call(&doc, "HEAD", "/a.txt", &[]).await.unwrap();
    assert_eq!(h.status, 200);
    assert_eq!(h.body, "");
    assert_eq!(h.header("content-length"), "26");
    assert_eq!(h.header("content-location"), "a.txt");
    assert_eq!(h.header("etag"), a.header("etag"));
}

#[tokio::test]
async fn empty_file_is_204() {
    let d = docroot();
    let a = get(&build(d.path(), "range"), "/empty").await.unwrap();
    assert_eq!(a.status, 204);
    assert_eq!(a.body, "");
    assert_eq!(a.header("content-type"), "");
}

#[tokio::test]
async fn declines_missing_other_methods_and_escapes() {
    let d = docroot();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), "s").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), d.path().join("link")).unwrap();
    let doc = build(d.path(), "dirlisting");
    assert!(get(&doc, "/nope.txt").await.is_none());
    assert!(get(&doc, "/nope/").await.is_none());
    assert!(get(&doc, "/a.txt/").await.is_none());
    assert!(get(&doc, "/link").await.is_none());
    assert!(call(&doc, "POST", "/a.txt", &[]).await.is_none());
    assert!(call(&doc, "PUT", "/new.txt", &[]).await.is_none());
    assert!(call(&doc, "DELETE", "/a.txt", &[]).await.is_none());
}

#[tokio::test]
async fn directories() {
    let d = docroot();
    std::fs::write(d.path().join("sub/.hidden"), "h").unwrap();
    let plain = build(d.path(), "");
    let r = get(&plain, "/sub?x=1&y").await.unwrap();
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), "/sub/?x=1&y");
    assert_eq!(r.body, "");
    let home = get(&plain, "/").await.unwrap();
    assert_eq!((home.status, home.body.as_str()), (200, "<h1>home</h1>"));
    assert_eq!(home.header("content-type"), "text/html");
    assert!(get(&plain, "/sub/").await.is_none(), "no index, no listing");

    let listing = build(d.path(), "dirlisting");
    let html = get(&listing, "/sub/").await.unwrap();
    assert_eq!(html.status, 200);
    assert!(html.header("content-type").starts_with("text/html"));
    assert!(html.body.contains("<a href=\"b.css\">b.css</a>"));
    assert!(html.body.contains("<a href=\"../\">"));
    assert!(!html.body.contains("hidden"));
    let xhr = [("x-requested-with", "XMLHttpRequest")];
    let json = call(&listing, "GET", "/sub/", &xhr).await.unwrap();
    assert_eq!(json.header("content-type"), "text/json");
    assert_eq!(
        json.body,
        "{\"method\":\"GET\",\"name\":\"/sub/\",\"content\":[\
         {\"name\":\"b.css\",\"size\":\"3 B\",\"type\":8,\"mime\":\"text/css\"}],\"result\":\"OK\"}"
    );
    // XHR listing wins over the default page, as in the original.
    let root = call(&listing, "GET", "/", &xhr).await.unwrap();
    assert!(root.body.starts_with("{\"method\":\"GET\",\"name\":\"/\""));
    let head = call(&listing, "HEAD", "/sub/", &[]).await.unwrap();
    assert_eq!(head.body, "");
    assert_eq!(head.header("content-length"), html.body.len().to_string());
}

#[tokio::test]
async fn redirect_encodes_the_path() {
    let d = docroot();
    std::fs::create_dir(d.path().join("a dir")).unwrap();
    let r = get(&build(d.path(), ""), "/a%20dir").await.unwrap();
    assert_eq!(r.header("location"), "/a%20dir/");
}

#[tokio::test]
async fn ranges() {
    let d = docroot();
    let doc = build(d.path(), "range");
    let range = |v: &'static str| [("range", v)];
    let one = call(&doc, "GET", "/a.txt", &range("bytes=2-4"))
        .await
        .unwrap();
    assert_eq!((one.status, one.body.as_str()), (206, "cde"));
    assert_eq!(one.header("content-range"), "bytes 2-4/26");
    assert_eq!(one.header("accept-ranges"), "bytes");
    let tail = call(&doc, "GET", "/a.txt", &range("bytes=-3"))
        .await
        .unwrap();
    assert_eq!(tail.body, "xyz");
    let bad = call(&doc, "GET", "/a.txt", &range("bytes=30-"))
        .await
        .unwrap();
    assert_eq!(bad.status, 416);
    assert_eq!(bad.header("content-range"), "bytes */26");
    let ignored = call(&doc, "GET", "/a.txt", &range("lines=1-2"))
        .await
        .unwrap();
    assert_eq!(ignored.status, 200);
    let head = call(&doc, "HEAD", "/a.txt", &range("bytes=0-1"))
        .await
        .unwrap();
    assert_eq!((head.status, head.header("content-length")), (200, "26"));

    let multi = call(&doc, "GET", "/a.txt", &range("bytes=0-1,24-"))
        .await
        .unwrap();
    assert_eq!(multi.status, 206);
    let ctype = multi.header("content-type");
    let boundary = ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap();
    assert_eq!(
        multi.body,
        format!(
            "--{boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/26\r\n\r\nab\
             \r\n--{boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 24-25/26\r\n\r\nyz\
             \r\n--{boundary}--\r\n"
        )
    );

    let off = build(d.path(), "");
    let full = call(&off, "GET", "/a.txt", &range("bytes=0-1"))
        .await
        .unwrap();
    assert_eq!((full.status, full.body.len()), (200, 26));
}

#[tokio::test]
async fn conditional_requests() {
    let d = docroot();
    let doc = build(d.path(), "range");
    let first = get(&doc, "/a.txt").await.unwrap();
    let etag = first.header("etag").to_string();
    let lm = first.header("last-modified").to_string();
    let nm = call(&doc, "GET", "/a.txt", &[("if-none-match", &etag)])
        .await
        .unwrap();
    assert_eq!((nm.status, nm.body.as_str()), (304, ""));
    assert_eq!(nm.header("etag"), etag);
    assert_eq!(nm.header("content-type"), "");
    let ims = call(&doc, "HEAD", "/a.txt", &[("if-modified-since", &lm)])
        .await
        .unwrap();
    assert_eq!(ims.status, 304);
    let changed = call(&doc, "GET", "/a.txt", &[("if-none-match", "\"old\"")])
        .await
        .unwrap();
    assert_eq!(changed.status, 200);

    let hit = [("range", "bytes=0-0"), ("if-range", etag.as_str())];
    let hit = call(&doc, "GET", "/a.txt", &hit).await.unwrap();
    assert_eq!((hit.status, hit.body.as_str()), (206, "a"));
    let miss = [("range", "bytes=0-0"), ("if-range", "\"old\"")];
    let miss = call(&doc, "GET", "/a.txt", &miss).await.unwrap();
    assert_eq!((miss.status, miss.body.len()), (200, 26));
}

#[tokio::test]
async fn filters() {
    let d = docroot();
    let mut cfg = config(d.path(), "");
    cfg.allow = Some(".html".into());
    let white = Document::build(&cfg, &env()).unwrap();
    assert_eq!(
        get(&white, "/").await.unwrap().status,
        200,
        "served as /index.html"
    );
    assert_eq!(get(&white, "/index.html").await.unwrap().status, 200);
    assert!(get(&white, "/a.txt").await.is_none());

    cfg.allow = None;
    cfg.deny = Some("^/sub/*".into());
    let black = Document::build(&cfg, &env()).unwrap();
    assert!(get(&black, "/sub/b.css").await.is_none());
    assert!(get(&black, "/sub/").await.is_none());
    // `/sub` itself is not denied: it only redirects to the denied `/sub/`.
    assert_eq!(get(&black, "/sub").await.unwrap().status, 301);
    assert_eq!(get(&black, "/a.txt").await.unwrap().status, 200);
}

#[tokio::test]
async fn permission_denied_is_403() {
    use std::os::unix::fs::PermissionsExt;
    let d = docroot();
    let f = d.path().join("locked");
    std::fs::write(&f, "x").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read(&f).is_ok() {
        return; // running as root: permissions are not enforced
    }
    assert_eq!(
        get(&build(d.path(), ""), "/locked").await.unwrap().status,
        403
    );
}

#[test]
fn build_reports_a_bad_docroot() {
    let d = docroot();
    let missing = Document::build(&config(&d.path().join("none"), ""), &env());
    let e = missing.err().unwrap();
    assert_eq!(e.path, "servers[0].document.docroot");
    assert_eq!(e.severity, Severity::Error);
    assert!(matches!(e.problem, Problem::Io(ref m) if m.contains("none")));
    assert!(Document::build(&config(&d.path().join("a.txt"), ""), &env()).is_err());
}

fn read_sections(
    text: &str,
    key: &str,
    filestorage: bool,
) -> (Vec<DocumentConfig>, Vec<Diagnostic>) {
    let top = crate::config::syntax::parse_str(text, Path::new("<t>"), Path::new(".")).unwrap();
    let diag = Diagnostics::default();
    let sec = Section::new(&top, String::new(), span(), &diag);
    let cfgs = sec
        .groups(key)
        .iter()
        .filter_map(|g| DocumentConfig::from_section(g, filestorage))
        .collect();
    drop(sec);
    (cfgs, diag.into_sorted())
}

#[test]
fn config_keys() {
    let (cfgs, diags) = read_sections(
        "document = { docroot = \"/srv\"; options = \"dirlisting,range\"; allow = \".html\"; transfer_type = 1; };",
        "document",
        false,
    );
    assert!(diags.is_empty(), "{diags:?}");
    let c = &cfgs[0];
    assert_eq!(c.docroot, Path::new("/srv"));
    assert_eq!(c.path, "document");
    assert_eq!(c.defaultpage.as_deref(), Some("index.html"));
    assert!(c.options.dirlisting && c.options.range && !c.options.rest);
    assert_eq!(c.allow.as_deref(), Some(".html"));
    assert_eq!(c.deny, None);

    assert_eq!(
        c.print(),
        "{ docroot = \"/srv\"; allow = \".html\"; deny = \"*\"; denylast = true; \
         defaultpage = \"index.html\"; options = \"dirlisting,range\"; }"
    );

    let (cfgs, _) = read_sections(
        "document = { docroot = \"x\"; defaultpage = \"\"; };",
        "document",
        false,
    );
    assert_eq!(cfgs[0].defaultpage, None);
    assert_eq!(
        cfgs[0].print(),
        "{ docroot = \"x\"; deny = \"\"; denylast = false; defaultpage = \"\"; options = \"\"; }"
    );
}

#[test]
fn config_errors_and_warnings() {
    let (cfgs, diags) = read_sections("document = { options = \"range\"; };", "document", false);
    assert!(cfgs.is_empty());
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].problem, Problem::MissingKey("docroot"));
    assert_eq!(diags[0].path, "document.docroot");

    let (cfgs, diags) = read_sections("document = { docroot = 3; };", "document", false);
    assert!(cfgs.is_empty());
    assert!(matches!(
        diags[0].problem,
        Problem::WrongType {
            expected: "string",
            ..
        }
    ));

    let (cfgs, diags) = read_sections("filestorage = { docroot = \"x\"; };", "filestorage", true);
    assert!(cfgs[0].options.rest);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(cfgs[0].max_upload, config::DEFAULT_MAX_UPLOAD);

    let (cfgs, diags) = read_sections(
        "document = { docroot = \"x\"; options = \"webdav,home\"; maxuploadsize = 8589934592L; };",
        "document",
        false,
    );
    assert!(diags.is_empty(), "{diags:?}");
    let o = cfgs[0].options;
    assert!(o.rest && o.webdav && o.home);
    assert_eq!(cfgs[0].max_upload, 8 << 30);
    assert!(
        cfgs[0]
            .print()
            .contains("options = \"rest,webdav,home\"; maxuploadsize = 8589934592L;")
    );

    let (_, diags) = read_sections(
        "document = { docroot = \"x\"; maxuploadsize = -1; };",
        "document",
        false,
    );
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].severity, Severity::Error);
}

fn user(name: &str, home: &str) -> User {
    User {
        name: name.into(),
        group: "users".into(),
        home: home.into(),
        status: "activated".into(),
        auth_type: "Basic",
    }
}

/// A docroot with homes under `<docroot>/home`: `foo` has `notes.txt`.
fn homes_site() -> (tempfile::TempDir, Document) {
    let d = docroot();
    std::fs::create_dir_all(d.path().join("home/foo")).unwrap();
    std::fs::write(d.path().join("home/foo/notes.txt"), "foo's notes").unwrap();
    let mut cfg = config(d.path(), "home,rest");
    cfg.dochome = Some(d.path().join("home"));
    let doc = Document::build(&cfg, &env()).unwrap();
    (d, doc)
}

#[tokio::test]
async fn home_serves_the_users_own_home() {
    let (d, doc) = homes_site();
    let foo = user("foo", "/foo");
    let a = call_as(&doc, Some(&foo), "GET", "/~/notes.txt", &[])
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    assert_eq!(a.body, "foo's notes");
    let a = call_as(&doc, Some(&foo), "GET", "/~foo/notes.txt", &[])
        .await
        .unwrap();
    assert_eq!(a.body, "foo's notes");
    // Outside `/~` the docroot is served as usual.
    let a = call_as(&doc, Some(&foo), "GET", "/a.txt", &[])
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    // `/~` alone is the home directory: redirected to `/~/`.
    let a = call_as(&doc, Some(&foo), "GET", "/~", &[]).await.unwrap();
    assert_eq!(a.status, 301);
    assert_eq!(a.header("location"), "/~/");

    // A new user's home is created on first use, and REST works in it.
    let bar = user("bar", "");
    let a = call_as(&doc, Some(&bar), "PUT", "/~/docs/", &[])
        .await
        .unwrap();
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(
        a.body,
        "{\"method\":\"PUT\",\"result\":\"OK\",\"name\":\"/~/docs/\"}\n"
    );
    assert!(d.path().join("home/bar/docs").is_dir());
    let a = call_as(&doc, Some(&bar), "DELETE", "/~/docs", &[])
        .await
        .unwrap();
    assert_eq!(a.status, 200);
    assert!(!d.path().join("home/bar/docs").exists());
}

#[tokio::test]
async fn home_of_another_user_is_refused() {
    let (d, doc) = homes_site();
    let bar = user("bar", "/bar");
    let a = call_as(&doc, Some(&bar), "GET", "/~/notes.txt", &[]).await;
    assert!(a.is_none(), "bar has no notes.txt: declined (404)");
    let a = call_as(&doc, Some(&bar), "GET", "/~foo/notes.txt", &[])
        .await
        .unwrap();
    assert_eq!(a.status, 403);
    let a = call_as(&doc, Some(&bar), "DELETE", "/~foo/notes.txt", &[])
        .await
        .unwrap();
    assert_eq!(a.status, 403);
    // A home that climbs out of dochome.
    let evil = user("evil", "/../foo");
    let a = call_as(&doc, Some(&evil), "GET", "/~/notes.txt", &[])
        .await
        .unwrap();
    assert_eq!(a.status, 403);
    // X-POST-ARG cannot leave the home either.
    let a = call_as(
        &doc,
        Some(&bar),
        "POST",
        "/~/x",
        &[("x-post-cmd", "mv"), ("x-post-arg", "/../foo/stolen")],
    )
    .await
    .unwrap();
    assert_eq!(a.status, 403);
    // Nobody authenticated: no home at all.
    let a = call(&doc, "GET", "/~/notes.txt", &[]).await.unwrap();
    assert_eq!(a.status, 403);
    assert!(d.path().join("home/foo/notes.txt").exists());
}

#[tokio::test]
async fn rest_without_option_declines_writes() {
    let d = docroot();
    let doc = build(d.path(), "");
    assert!(call(&doc, "DELETE", "/a.txt", &[]).await.is_none());
    assert!(call(&doc, "PROPFIND", "/", &[]).await.is_none());
    assert!(d.path().join("a.txt").exists());
}
