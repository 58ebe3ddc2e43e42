//! Integration tests: document — static files on the wire: types, HEAD,
//! directories, traversal, allow/deny, listings, ranges, conditional
//! requests, large files and encoded names.

use std::os::unix::fs::symlink;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::http::{Client, Resp, Running, conf, exchange, get, parse_response, request_text, run};
use crate::support::site;

fn doc(document_keys: &str) -> Running {
    run(&conf(
        "keepalivetimeout = 5; maxclients = 50;",
        document_keys,
    ))
}

fn digits() -> String {
    (0..1000)
        .map(|i| char::from(b'0' + (i % 10) as u8))
        .collect()
}

fn head(r: &Running, path: &str, headers: &[&str]) -> Resp {
    exchange(&r.server, &request_text("HEAD", path, headers))
}

// ---------------------------------------------------------------------------
// Files and directories
// ---------------------------------------------------------------------------

#[test]
fn document_get_text_file() {
    let r = doc("");
    let resp = get(&r.server, "/hello.txt", &[]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/plain"));
    assert_eq!(resp.header("content-length"), Some("12"));
    assert_eq!(resp.text(), "hello world\n");
}

#[test]
fn document_get_html_file() {
    let r = doc("");
    let resp = get(&r.server, "/sub/page.html", &[]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/html"));
    assert_eq!(resp.header("content-length"), Some("16"));
    assert_eq!(resp.text(), "<p>sub page</p>\n");
}

#[test]
fn document_head_same_headers_without_body() {
    let r = doc("");
    let g = get(&r.server, "/hello.txt", &[]);
    // On one keep-alive connection: if HEAD sent body bytes, the next
    // response would not parse.
    let mut c = Client::new(&r.server);
    c.send(
        "HEAD /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let h = c.response_for(true);
    let next = c.response();
    assert_eq!(h.status, 200);
    assert_eq!(h.header("content-length"), Some("12"));
    for name in [
        "content-type",
        "content-length",
        "etag",
        "last-modified",
        "accept-ranges",
    ] {
        assert_eq!(h.header(name), g.header(name), "{name}");
    }
    assert_eq!(next.status, 200);
    assert_eq!(next.text(), "<h1>home</h1>\n", "HEAD leaked a body");
}

#[test]
fn document_empty_file_204_without_body() {
    let r = doc("");
    let mut c = Client::new(&r.server);
    c.send("GET /empty.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let empty = c.response();
    assert_eq!(empty.status, 204, "{empty:?}");
    assert_eq!(empty.header("content-type"), None);
    assert!(empty.body.is_empty());
    let next = c.response();
    assert_eq!(next.text(), "hello world\n", "204 was followed by bytes");
}

#[test]
fn document_missing_file_404() {
    let r = doc("");
    let resp = get(&r.server, "/nope.txt", &[]);
    assert_eq!(resp.status, 404);
    assert_eq!(resp.text(), " 404 File Not Found\r\n");
    assert_eq!(get(&r.server, "/sub/nope/", &[]).status, 404);
}

#[test]
fn document_directory_without_slash_redirects() {
    let r = doc("");
    let resp = get(&r.server, "/sub", &[]);
    assert_eq!(resp.status, 301, "{resp:?}");
    assert_eq!(resp.header("location"), Some("/sub/"));
    let q = get(&r.server, "/sub?x=1", &[]);
    assert_eq!(q.status, 301);
    assert_eq!(q.header("location"), Some("/sub/?x=1"));
}

#[test]
fn document_directory_with_slash_serves_index_or_404() {
    let r = doc("");
    let root = get(&r.server, "/", &[]);
    assert_eq!(root.status, 200);
    assert_eq!(root.header("content-type"), Some("text/html"));
    assert_eq!(root.text(), "<h1>home</h1>\n");
    // No index.html in sub/, no listing.
    let sub = get(&r.server, "/sub/", &[]);
    assert_eq!(sub.status, 404, "{sub:?}");
}

#[test]
fn document_defaultpage_setting() {
    let r = doc("defaultpage = \"page.html\";");
    let sub = get(&r.server, "/sub/", &[]);
    assert_eq!(sub.status, 200);
    assert_eq!(sub.text(), "<p>sub page</p>\n");
    // No page.html at the root.
    assert_eq!(get(&r.server, "/", &[]).status, 404);
}

// ---------------------------------------------------------------------------
// Traversal
// ---------------------------------------------------------------------------

const SECRET: &str = "TOP-SECRET-CONTENT";

#[test]
fn document_traversal_never_escapes_docroot() {
    let dir = site();
    std::fs::write(dir.path().join("secret"), SECRET).unwrap();
    let r = crate::http::run_in(dir, &conf("keepalivetimeout = 5; maxclients = 50;", ""));
    let targets = [
        "/../secret",
        "/%2e%2e/secret",
        "/%2E%2E%2Fsecret",
        "/sub/..%2f..%2fsecret",
        "/..%5csecret",
        "/sub/%2e%2e/%2e%2e/secret",
        "/sub/../../secret",
        "/./../secret",
        "/.%2e/secret",
        "/%00",
        "/hello.txt%00.html",
        "/secret%00",
        "//../secret",
        "http://x/../secret",
        "http://x/%2e%2e/secret",
    ];
    let mut seen = Vec::new();
    for t in targets {
        let mut c = Client::new(&r.server);
        c.send(format!(
            "GET {t} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        let (bytes, _) = c.rest_until_close();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        assert!(!text.contains(SECRET), "{t} leaked the secret: {text:?}");
        let resp = parse_response(&bytes, false, true)
            .unwrap_or_else(|| panic!("{t}: no response in {text:?}"))
            .0;
        seen.push((t, resp.status));
        assert!(
            matches!(resp.status, 400 | 404),
            "{t} answered {}",
            resp.status_line
        );
    }
    println!("{seen:?}");
    // HTTP/0.9 goes through the same path checks.
    for t in ["/../secret", "/%2e%2e/secret"] {
        let mut c = Client::new(&r.server);
        c.send(format!("GET {t}\r\n"));
        let (bytes, _) = c.rest_until_close();
        assert!(!String::from_utf8_lossy(&bytes).contains(SECRET), "0.9 {t}");
    }
    // curl, not normalising.
    let out = r
        .server
        .curl("/%2e%2e/secret", &["--path-as-is", "-w", "\n%{http_code}"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(SECRET), "{text}");
    assert!(text.ends_with("400") || text.ends_with("404"), "{text}");
}

#[test]
fn document_symlink_outside_docroot_not_served() {
    let dir = site();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
    std::fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
    let root = dir.path().join("htdocs");
    symlink(dir.path().join("secret.txt"), root.join("link.txt")).unwrap();
    symlink(&outside, root.join("outdir")).unwrap();
    // A link that stays inside is fine.
    symlink(root.join("hello.txt"), root.join("inside.txt")).unwrap();
    let r = crate::http::run_in(
        dir,
        &conf(
            "keepalivetimeout = 5; maxclients = 50;",
            "options = \"dirlisting\";",
        ),
    );
    for path in ["/link.txt", "/outdir/secret.txt", "/outdir/", "/outdir"] {
        let resp = get(&r.server, path, &[]);
        assert!(!resp.text().contains(SECRET), "{path} leaked");
        assert_eq!(resp.status, 404, "{path}: {}", resp.status_line);
    }
    let inside = get(&r.server, "/inside.txt", &[]);
    assert_eq!(inside.status, 200);
    assert_eq!(inside.text(), "hello world\n");
    // The listing leaves out the links that lead out (it showed their
    // targets' sizes and kinds), not the one inside.
    let listing = get(&r.server, "/", &["X-Requested-With: XMLHttpRequest"]).text();
    assert!(listing.contains("inside.txt"), "{listing}");
    assert!(
        !listing.contains("link.txt") && !listing.contains("outdir"),
        "{listing}"
    );
}

// ---------------------------------------------------------------------------
// allow / deny
// ---------------------------------------------------------------------------

fn statuses(r: &Running, paths: &[&str]) -> Vec<(String, u16)> {
    paths
        .iter()
        .map(|p| (p.to_string(), get(&r.server, p, &[]).status))
        .collect()
}

fn expect(r: &Running, want: &[(&str, u16)]) {
    let paths: Vec<&str> = want.iter().map(|(p, _)| *p).collect();
    let got = statuses(r, &paths);
    let want: Vec<(String, u16)> = want.iter().map(|(p, s)| (p.to_string(), *s)).collect();
    assert_eq!(got, want);
}

#[test]
fn document_deny_hides_subtree() {
    let r = doc("deny = \"^/sub/*\";");
    expect(
        &r,
        &[
            ("/sub/page.html", 404),
            ("/hello.txt", 200),
            ("/", 200),
            ("/index.html", 200),
        ],
    );
}

#[test]
fn document_allow_alone_is_white_list() {
    let r = doc("allow = \".txt\";");
    expect(
        &r,
        &[
            ("/hello.txt", 200),
            ("/digits.txt", 200),
            ("/index.html", 404),
            ("/sub/page.html", 404),
            ("/", 404),
        ],
    );
}

#[test]
fn document_deny_all_allow_html_denylast() {
    let r = doc("deny = \"*\"; allow = \".html\"; denylast = true;");
    expect(
        &r,
        &[
            ("/index.html", 200),
            ("/sub/page.html", 200),
            ("/hello.txt", 404),
            // The default page is filtered by its own path.
            ("/", 200),
        ],
    );
}

#[test]
fn document_deny_all_first_rejects_everything() {
    // Without denylast, deny is checked first: allow cannot re-open.
    let r = doc("deny = \"*\"; allow = \".html\";");
    expect(&r, &[("/index.html", 404), ("/hello.txt", 404), ("/", 404)]);
}

// ---------------------------------------------------------------------------
// Listings
// ---------------------------------------------------------------------------

const ODD: &str = "<b>&\"x\".txt";

fn listing_site() -> Running {
    let dir = site();
    let list = dir.path().join("htdocs/list");
    std::fs::create_dir_all(list.join("c")).unwrap();
    std::fs::write(list.join("b.txt"), "bb").unwrap();
    std::fs::write(list.join("a.txt"), "a").unwrap();
    std::fs::write(list.join(ODD), "odd").unwrap();
    std::fs::write(list.join(".hidden"), "h").unwrap();
    crate::http::run_in(
        dir,
        &conf(
            "keepalivetimeout = 5; maxclients = 50;",
            "options = \"dirlisting\";",
        ),
    )
}

#[test]
fn document_dirlisting_html_sorted_and_escaped() {
    let r = listing_site();
    let resp = get(&r.server, "/list/", &[]);
    assert_eq!(resp.status, 200, "{resp:?}");
    let ctype = resp.header("content-type").unwrap_or_default();
    assert!(ctype.starts_with("text/html"), "{ctype}");
    let page = resp.text();
    assert!(!page.contains(".hidden"), "dot file listed:\n{page}");
    assert!(!page.contains(ODD), "raw name in HTML:\n{page}");
    assert!(!page.contains("<b>"), "markup injected:\n{page}");
    assert!(
        page.contains("&lt;b&gt;&amp;&quot;x&quot;.txt"),
        "escaped name missing:\n{page}"
    );
    let at = |needle: &str| {
        page.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing:\n{page}"))
    };
    assert!(at(">a.txt<") < at(">b.txt<"), "not sorted:\n{page}");
    // A directory with an index is still served its index.
    assert_eq!(get(&r.server, "/", &[]).text(), "<h1>home</h1>\n");
}

/// The string values of every `"name":"…"` member, decoded (a tiny JSON
/// string decoder; enough for this document).
fn json_names(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find("\"name\":\"") {
        rest = &rest[i + 8..];
        let mut s = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let (at, c) = chars.next().expect("unterminated JSON string");
            match c {
                '"' => break at,
                '\\' => {
                    let (_, e) = chars.next().expect("escape");
                    match e {
                        'n' => s.push('\n'),
                        't' => s.push('\t'),
                        'r' => s.push('\r'),
                        'b' => s.push('\u{8}'),
                        'f' => s.push('\u{c}'),
                        'u' => {
                            let hex: String = (0..4).map(|_| chars.next().unwrap().1).collect();
                            let code = u32::from_str_radix(&hex, 16).expect("hex");
                            s.push(char::from_u32(code).expect("BMP scalar"));
                        }
                        other => s.push(other),
                    }
                }
                c => s.push(c),
            }
        };
        out.push(s);
        rest = &rest[end + 1..];
    }
    out
}

#[test]
fn document_dirlisting_json_for_xhr() {
    let r = listing_site();
    let resp = get(&r.server, "/list/", &["X-Requested-With: XMLHttpRequest"]);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/json"));
    let body = resp.text();
    // The first "name" is the directory, then the entries in reverse byte
    // order (the original's order), dot files hidden.
    assert_eq!(
        json_names(&body),
        ["/list/", "c", "b.txt", "a.txt", ODD],
        "{body}"
    );
    assert!(!body.contains("<b>"), "{body}");
    assert!(body.contains("\"result\":\"OK\""), "{body}");
    // A real JSON parser agrees, when one is available.
    let py = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import json,sys; d=json.loads(sys.argv[1]); \
             print('\\n'.join([d['name']] + [e['name'] for e in d['content']]))",
        )
        .arg(&body)
        .output();
    if let Ok(out) = py {
        if out.status.success() {
            let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string)
                .collect();
            assert_eq!(names, ["/list/", "c", "b.txt", "a.txt", ODD]);
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !err.contains("JSONDecodeError"),
                "listing is not valid JSON: {err}\n{body}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------

fn range(r: &Running, value: &str) -> Resp {
    get(&r.server, "/digits.txt", &[&format!("Range: {value}")])
}

#[test]
fn document_range_single_forms() {
    let r = doc("options = \"range\";");
    let d = digits();
    for (value, from, to) in [
        ("bytes=0-9", 0usize, 9usize),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
        ("bytes=995-2000", 995, 999),
        ("bytes=123-123", 123, 123),
    ] {
        let resp = range(&r, value);
        assert_eq!(resp.status, 206, "{value}: {resp:?}");
        let cr = format!("bytes {from}-{to}/1000");
        assert_eq!(resp.header("content-range"), Some(cr.as_str()), "{value}");
        let len = (to - from + 1).to_string();
        assert_eq!(resp.header("content-length"), Some(len.as_str()), "{value}");
        assert_eq!(resp.text(), d[from..=to], "{value}");
        assert_eq!(resp.header("accept-ranges"), Some("bytes"));
    }
    assert_eq!(range(&r, "bytes=0-9").text(), "0123456789");
}

#[test]
fn document_range_unsatisfiable_416() {
    let r = doc("options = \"range\";");
    let resp = range(&r, "bytes=2000-");
    assert_eq!(resp.status, 416, "{resp:?}");
    assert_eq!(resp.header("content-range"), Some("bytes */1000"));
    assert!(!resp.text().contains("0123456789"));
}

/// One part of a `multipart/byteranges` body: (headers, content).
type Part = (Vec<(String, String)>, Vec<u8>);

/// The parts of a `multipart/byteranges` body.
fn multipart_parts(body: &[u8], boundary: &str) -> Vec<Part> {
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    let delim = format!("--{boundary}");
    let mut pos = find(body, delim.as_bytes()).expect("first boundary");
    let mut parts = Vec::new();
    loop {
        pos += delim.len();
        if body[pos..].starts_with(b"--") {
            break;
        }
        assert!(body[pos..].starts_with(b"\r\n"), "CRLF after boundary");
        pos += 2;
        let hend = pos + find(&body[pos..], b"\r\n\r\n").expect("part head end");
        let headers = String::from_utf8_lossy(&body[pos..hend])
            .split("\r\n")
            .map(|l| {
                let (n, v) = l.split_once(':').expect("part header");
                (n.trim().to_ascii_lowercase(), v.trim().to_string())
            })
            .collect();
        let start = hend + 4;
        let next_delim = format!("\r\n{delim}");
        let end = start + find(&body[start..], next_delim.as_bytes()).expect("next boundary");
        parts.push((headers, body[start..end].to_vec()));
        pos = end + 2;
    }
    parts
}

#[test]
fn document_range_multiple_multipart() {
    let r = doc("options = \"range\";");
    let resp = range(&r, "bytes=0-4,500-509,-3");
    assert_eq!(resp.status, 206, "{resp:?}");
    let ctype = resp.header("content-type").unwrap_or_default().to_string();
    let boundary = ctype
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("Content-Type {ctype}"))
        .trim_matches('"')
        .to_string();
    assert_eq!(resp.header("content-range"), None);
    let parts = multipart_parts(&resp.body, &boundary);
    let want = [
        ("bytes 0-4/1000", "01234"),
        ("bytes 500-509/1000", "0123456789"),
        ("bytes 997-999/1000", "789"),
    ];
    assert_eq!(parts.len(), want.len(), "{}", resp.text());
    for ((headers, content), (cr, text)) in parts.iter().zip(want) {
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("content-range"), Some(cr));
        assert_eq!(get("content-type"), Some("text/plain"));
        assert_eq!(String::from_utf8_lossy(content), text);
    }
}

#[test]
fn document_range_malformed_sends_whole_file() {
    let r = doc("options = \"range\";");
    for value in ["bytes=abc", "bytes=9-2", "items=0-9", "bytes="] {
        let resp = range(&r, value);
        assert_eq!(resp.status, 200, "{value}");
        assert_eq!(resp.text(), digits(), "{value}");
    }
}

#[test]
fn document_range_if_range() {
    let r = doc("options = \"range\";");
    let full = get(&r.server, "/digits.txt", &[]);
    let etag = full.header("etag").expect("ETag").to_string();
    let lm = full
        .header("last-modified")
        .expect("Last-Modified")
        .to_string();

    let hit = get(
        &r.server,
        "/digits.txt",
        &["Range: bytes=0-9", &format!("If-Range: {etag}")],
    );
    assert_eq!(hit.status, 206);
    assert_eq!(hit.text(), "0123456789");

    let by_date = get(
        &r.server,
        "/digits.txt",
        &["Range: bytes=0-9", &format!("If-Range: {lm}")],
    );
    assert_eq!(by_date.status, 206);

    let stale = get(
        &r.server,
        "/digits.txt",
        &["Range: bytes=0-9", "If-Range: \"stale-etag\""],
    );
    assert_eq!(stale.status, 200);
    assert_eq!(stale.text(), digits());
}

#[test]
fn document_range_ignored_without_option() {
    let r = doc("");
    let resp = range(&r, "bytes=0-9");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), digits());
    assert_eq!(resp.header("accept-ranges"), Some("none"));
    assert_eq!(resp.header("content-range"), None);
}

// ---------------------------------------------------------------------------
// Conditional requests
// ---------------------------------------------------------------------------

#[test]
fn document_validators_present() {
    let r = doc("");
    let resp = get(&r.server, "/hello.txt", &[]);
    let etag = resp.header("etag").expect("ETag");
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "{etag}"
    );
    let lm = resp.header("last-modified").expect("Last-Modified");
    httpdate::parse_http_date(lm).unwrap_or_else(|e| panic!("{lm}: {e}"));
}

#[test]
fn document_conditional_304s() {
    let r = doc("");
    let full = get(&r.server, "/hello.txt", &[]);
    let etag = full.header("etag").unwrap().to_string();
    let lm = full.header("last-modified").unwrap().to_string();
    for h in [
        format!("If-None-Match: {etag}"),
        "If-None-Match: *".to_string(),
        format!("If-None-Match: \"other\", {etag}"),
        format!("If-Modified-Since: {lm}"),
    ] {
        // Keep-alive: a body after the 304 would break the next response.
        let mut c = Client::new(&r.server);
        c.send(format!(
            "GET /hello.txt HTTP/1.1\r\nHost: x\r\n{h}\r\n\r\nGET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"
        ));
        let resp = c.response();
        assert_eq!(resp.status, 304, "{h}: {resp:?}");
        assert!(resp.body.is_empty());
        assert_eq!(resp.header("etag"), Some(etag.as_str()), "{h}");
        let next = c.response();
        assert_eq!(next.text(), "<h1>home</h1>\n", "{h}: 304 had a body");
    }
    for h in [
        "If-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT".to_string(),
        "If-None-Match: \"other\"".to_string(),
    ] {
        let resp = get(&r.server, "/hello.txt", &[&h]);
        assert_eq!(resp.status, 200, "{h}");
        assert_eq!(resp.text(), "hello world\n");
    }
}

#[test]
fn document_etag_changes_when_file_changes() {
    let r = doc("");
    let before = get(&r.server, "/hello.txt", &[]);
    let old = before.header("etag").unwrap().to_string();
    std::fs::write(
        r.dir.path().join("htdocs/hello.txt"),
        "a different, longer content\n",
    )
    .unwrap();
    let after = get(&r.server, "/hello.txt", &[&format!("If-None-Match: {old}")]);
    assert_eq!(after.status, 200, "stale ETag still matched");
    assert_eq!(after.text(), "a different, longer content\n");
    assert_ne!(after.header("etag"), Some(old.as_str()));
}

#[test]
fn document_a_missing_file_is_served_once_created() {
    let r = doc("");
    let htdocs = r.dir.path().join("htdocs");
    for (path, dir) in [("/late.html", ""), ("/made/later/x.html", "made/later")] {
        // Twice: the second 404 makes the server remember the absence,
        // which the file's creation must end.
        for _ in 0..2 {
            assert_eq!(get(&r.server, path, &[]).status, 404, "{path}");
        }
        std::fs::create_dir_all(htdocs.join(dir)).unwrap();
        std::fs::write(htdocs.join(&path[1..]), "here now\n").unwrap();
        let resp = get(&r.server, path, &[]);
        assert_eq!(resp.status, 200, "{path} created after its 404");
        assert_eq!(resp.text(), "here now\n");
        std::fs::remove_file(htdocs.join(&path[1..])).unwrap();
        assert_eq!(get(&r.server, path, &[]).status, 404, "{path} deleted");
    }
}

// ---------------------------------------------------------------------------
// Large files and names
// ---------------------------------------------------------------------------

fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn document_large_file_streams_in_bounded_memory() {
    const SIZE: u64 = 100 * 1024 * 1024;
    const LIMIT_KIB: u64 = 40 * 1024;
    let dir = site();
    let f = std::fs::File::create(dir.path().join("htdocs/big.bin")).unwrap();
    f.set_len(SIZE).unwrap();
    drop(f);
    let r = crate::http::run_in(dir, &conf("keepalivetimeout = 5; maxclients = 50;", ""));
    let pid = r.server.pid();
    let idle = vm_rss_kib(pid).expect("VmRSS");

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            let mut samples = 0;
            while !stop.load(Ordering::Relaxed) {
                if let Some(kib) = vm_rss_kib(pid) {
                    peak = peak.max(kib);
                    samples += 1;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (peak, samples)
        })
    };
    let t = Instant::now();
    // Rate-limited: a server that reads ahead of its client would buffer.
    let out = r.server.curl(
        "/big.bin",
        &[
            "-o",
            "/dev/null",
            "--limit-rate",
            "50M",
            "-w",
            "%{size_download} %{http_code}",
        ],
    );
    let took = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (peak, samples) = sampler.join().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    println!(
        "100 MiB download: curl {report:?} in {took:?}; server VmRSS idle {idle} KiB, \
         peak {peak} KiB over {samples} samples"
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(report, format!("{SIZE} 200"));
    assert!(samples >= 3, "too few RSS samples ({samples})");
    assert!(
        peak < LIMIT_KIB,
        "server RSS peaked at {peak} KiB (idle {idle} KiB) serving a 100 MiB file"
    );
}

#[test]
fn document_percent_encoded_names() {
    let dir = site();
    let root = dir.path().join("htdocs");
    std::fs::write(root.join("a b.txt"), "space file\n").unwrap();
    std::fs::write(root.join("café.txt"), "cafe file\n").unwrap();
    let r = crate::http::run_in(dir, &conf("keepalivetimeout = 5; maxclients = 50;", ""));
    let a = get(&r.server, "/a%20b.txt", &[]);
    assert_eq!(a.status, 200);
    assert_eq!(a.text(), "space file\n");
    let c = get(&r.server, "/caf%C3%A9.txt", &[]);
    assert_eq!(c.status, 200);
    assert_eq!(c.text(), "cafe file\n");
    assert_eq!(c.header("content-type"), Some("text/plain"));
    // Lower-case escapes are the same name.
    assert_eq!(get(&r.server, "/caf%c3%a9.txt", &[]).text(), "cafe file\n");
}

#[test]
fn document_head_on_missing_and_directory() {
    let r = doc("");
    let missing = head(&r, "/nope.txt", &[]);
    assert_eq!(missing.status, 404);
    let dir = head(&r, "/sub", &[]);
    assert_eq!(dir.status, 301);
    assert_eq!(dir.header("location"), Some("/sub/"));
}
