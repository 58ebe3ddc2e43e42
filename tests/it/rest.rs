//! Integration tests: document REST (REFERENCE §6.11.3) and WebDAV — every
//! command and status with the exact JSON bodies, confinement of targets
//! and arguments, atomic and streamed uploads, and a real WebDAV client.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::http::{Client, Resp, Running, conf, exchange, run};
use crate::support::TestServer;

fn rest(document_keys: &str) -> Running {
    run(&conf(
        "keepalivetimeout = 5; maxclients = 50;",
        &format!("options = \"rest\"; {document_keys}"),
    ))
}

/// Send `method path` with `headers` and `body` (Content-Length set).
fn send(server: &TestServer, method: &str, path: &str, headers: &[&str], body: &[u8]) -> Resp {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut c = Client::new(server);
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    c.send(bytes);
    c.response()
}

fn ok(method: &str, name: &str) -> String {
    format!("{{\"method\":\"{method}\",\"result\":\"OK\",\"name\":\"{name}\"}}\n")
}

fn ko(method: &str, error: &str, name: &str) -> String {
    format!(
        "{{\"method\":\"{method}\",\"result\":\"KO\",\"error\":\"{error}\",\"name\":\"{name}\"}}\n"
    )
}

fn assert_json(r: &Resp, status: u16, body: &str) {
    assert_eq!((r.status, r.text().as_str()), (status, body));
    assert_eq!(r.header("content-type"), Some("text/json"));
}

fn htdocs(r: &Running) -> std::path::PathBuf {
    r.dir.path().join("htdocs")
}

// ---------------------------------------------------------------------------
// PUT
// ---------------------------------------------------------------------------

#[test]
fn rest_put_creates_a_file_exclusively() {
    let r = rest("");
    let p = send(
        &r.server,
        "PUT",
        "/new.txt",
        &["Content-Type: text/plain"],
        b"hello",
    );
    assert_json(&p, 201, &ok("PUT", "/new.txt"));
    let f = htdocs(&r).join("new.txt");
    assert_eq!(std::fs::read(&f).unwrap(), b"hello");
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o640
    );
    let again = send(&r.server, "PUT", "/new.txt", &[], b"other");
    assert_json(&again, 400, &ko("PUT", "File exists", "/new.txt"));
    assert_eq!(std::fs::read(&f).unwrap(), b"hello");
    let orphan = send(&r.server, "PUT", "/none/x.txt", &[], b"x");
    assert_json(
        &orphan,
        404,
        &ko("PUT", "No such file or directory", "/none/x.txt"),
    );
    let empty = send(&r.server, "PUT", "/empty-new", &[], b"");
    assert_json(&empty, 201, &ok("PUT", "/empty-new"));
    assert_eq!(std::fs::read(htdocs(&r).join("empty-new")).unwrap(), b"");
}

#[test]
fn rest_put_makes_directories() {
    let r = rest("");
    let p = send(&r.server, "PUT", "/dir/", &[], b"");
    assert_json(&p, 201, &ok("PUT", "/dir/"));
    let p = send(
        &r.server,
        "PUT",
        "/dir2",
        &["Content-Type: inode/directory"],
        b"",
    );
    assert_json(&p, 201, &ok("PUT", "/dir2"));
    let meta = std::fs::metadata(htdocs(&r).join("dir2")).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o777, 0o755);
    let p = send(&r.server, "PUT", "/dir/", &[], b"");
    assert_json(&p, 400, &ko("PUT", "File exists", "/dir/"));
    let p = send(&r.server, "PUT", "/a/b/", &[], b"");
    assert_json(&p, 404, &ko("PUT", "No such file or directory", "/a/b/"));
}

#[test]
fn rest_put_makes_symlinks_inside_the_root_only() {
    let r = rest("");
    let p = send(
        &r.server,
        "PUT",
        "/link",
        &[
            "Content-Type: inode/symlink",
            "Content-Location: /hello.txt",
        ],
        b"",
    );
    assert_json(&p, 201, &ok("PUT", "/link"));
    assert_eq!(
        std::fs::read_link(htdocs(&r).join("link")).unwrap(),
        Path::new("hello.txt")
    );
    let g = exchange(
        &r.server,
        "GET /link HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(g.text(), "hello world\n");
    let p = send(
        &r.server,
        "PUT",
        "/nolink",
        &["Content-Type: inode/symlink"],
        b"",
    );
    assert_json(&p, 400, &ko("PUT", "Invalid argument", "/nolink"));
    for target in ["../../../../etc/passwd", "/../../etc", "../sub/../../x"] {
        let p = send(
            &r.server,
            "PUT",
            "/sub/evil",
            &[
                "Content-Type: inode/symlink",
                &format!("Content-Location: {target}"),
            ],
            b"",
        );
        assert_json(&p, 403, &ko("PUT", "Permission denied", "/sub/evil"));
        assert!(std::fs::symlink_metadata(htdocs(&r).join("sub/evil")).is_err());
    }
}

#[test]
fn rest_put_multipart_is_not_handled() {
    let r = rest("");
    let p = send(
        &r.server,
        "PUT",
        "/m.txt",
        &["Content-Type: multipart/form-data; boundary=x"],
        b"--x--\r\n",
    );
    assert_eq!(p.status, 404);
    assert!(!htdocs(&r).join("m.txt").exists());
}

// ---------------------------------------------------------------------------
// POST
// ---------------------------------------------------------------------------

#[test]
fn rest_post_replaces_content() {
    let r = rest("");
    let f = htdocs(&r).join("hello.txt");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o604)).unwrap();
    let p = send(
        &r.server,
        "POST",
        "/hello.txt",
        &["Content-Type: text/plain"],
        b"new!",
    );
    assert_json(&p, 201, &ok("POST", "/hello.txt"));
    assert_eq!(std::fs::read(&f).unwrap(), b"new!");
    assert_eq!(
        std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
        0o604
    );
    let p = send(&r.server, "POST", "/missing.txt", &[], b"x");
    assert_json(
        &p,
        404,
        &ko("POST", "No such file or directory", "/missing.txt"),
    );
    assert!(!htdocs(&r).join("missing.txt").exists());
}

/// A file the server keeps open (and trusts until a change is reported)
/// is replaced, then deleted, each time with a GET pipelined behind, read
/// in the same write as the request that changed the file: the GET sees
/// the change.
#[test]
fn rest_changes_are_seen_by_a_get_pipelined_behind_them() {
    let r = rest("");
    let old = std::fs::read(htdocs(&r).join("hello.txt")).unwrap();
    let mut c = Client::new(&r.server);
    let get = "GET /hello.txt HTTP/1.1\r\nHost: test\r\n\r\n";
    for _ in 0..3 {
        c.send(get);
        assert_eq!(c.response().body, old);
    }
    c.send(format!(
        "POST /hello.txt HTTP/1.1\r\nHost: test\r\nContent-Length: 4\r\n\r\nnew!{get}"
    ));
    assert_json(&c.response(), 201, &ok("POST", "/hello.txt"));
    let g = c.response();
    assert_eq!((g.status, g.text().as_str()), (200, "new!"));
    c.send(format!(
        "DELETE /hello.txt HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\n\r\n{get}"
    ));
    assert_eq!(c.response().status, 200);
    assert_eq!(c.response().status, 404);
}

#[test]
fn rest_post_commands() {
    let r = rest("");
    let d = htdocs(&r);
    let mv = send(
        &r.server,
        "POST",
        "/hello.txt",
        &["X-POST-CMD: mv", "X-POST-ARG: /sub/moved.txt"],
        b"",
    );
    assert_json(&mv, 200, &ok("POST", "/hello.txt"));
    assert!(!d.join("hello.txt").exists());
    assert_eq!(
        std::fs::read(d.join("sub/moved.txt")).unwrap(),
        b"hello world\n"
    );

    let chmod = send(
        &r.server,
        "POST",
        "/sub/moved.txt",
        &["X-POST-CMD: chmod", "X-POST-ARG: 0600"],
        b"",
    );
    assert_json(&chmod, 200, &ok("POST", "/sub/moved.txt"));
    let mode = std::fs::metadata(d.join("sub/moved.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o600);
    // Only permission bits: set-uid is dropped.
    let chmod = send(
        &r.server,
        "POST",
        "/sub/moved.txt",
        &["X-POST-CMD: chmod", "X-POST-ARG: 4755"],
        b"",
    );
    assert_eq!(chmod.status, 200);
    let mode = std::fs::metadata(d.join("sub/moved.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o755);
    let bad = send(
        &r.server,
        "POST",
        "/sub/moved.txt",
        &["X-POST-CMD: chmod", "X-POST-ARG: rwx"],
        b"",
    );
    assert_json(&bad, 400, &ko("POST", "Invalid argument", "/sub/moved.txt"));

    // ln: a link named by the argument, whose text is the request path.
    let ln = send(
        &r.server,
        "POST",
        "/index.html",
        &["X-POST-CMD: ln", "X-POST-ARG: /start.html"],
        b"",
    );
    assert_json(&ln, 200, &ok("POST", "/index.html"));
    assert_eq!(
        std::fs::read_link(d.join("start.html")).unwrap(),
        Path::new("index.html")
    );

    let unknown = send(
        &r.server,
        "POST",
        "/index.html",
        &["X-POST-CMD: frobnicate"],
        b"",
    );
    assert_json(
        &unknown,
        200,
        &ko("POST", "Invalid argument", "/index.html"),
    );
    for cmd in ["mv", "ln"] {
        let nothing = send(
            &r.server,
            "POST",
            "/index.html",
            &[&format!("X-POST-CMD: {cmd}")],
            b"",
        );
        assert_json(&nothing, 200, &ok("POST", "/index.html"));
    }
    assert!(d.join("index.html").exists());
    let missing = send(
        &r.server,
        "POST",
        "/nope",
        &["X-POST-CMD: mv", "X-POST-ARG: /nope2"],
        b"",
    );
    assert_json(
        &missing,
        404,
        &ko("POST", "No such file or directory", "/nope"),
    );
}

// ---------------------------------------------------------------------------
// DELETE
// ---------------------------------------------------------------------------

#[test]
fn rest_delete() {
    let r = rest("");
    let d = htdocs(&r);
    let del = send(&r.server, "DELETE", "/hello.txt", &[], b"");
    assert_json(&del, 200, &ok("DELETE", "/hello.txt"));
    assert!(!d.join("hello.txt").exists());
    let missing = send(&r.server, "DELETE", "/hello.txt", &[], b"");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.text(), " 404 File Not Found\r\n");
    let full = send(&r.server, "DELETE", "/sub", &[], b"");
    assert_json(&full, 400, &ko("DELETE", "Directory not empty", "/sub"));
    std::fs::create_dir(d.join("emptydir")).unwrap();
    let dir = send(&r.server, "DELETE", "/emptydir/", &[], b"");
    assert_json(&dir, 200, &ok("DELETE", "/emptydir/"));
    assert!(!d.join("emptydir").exists());
    // A link is removed, never its target.
    std::os::unix::fs::symlink("index.html", d.join("l")).unwrap();
    let l = send(&r.server, "DELETE", "/l", &[], b"");
    assert_eq!(l.status, 200);
    assert!(d.join("index.html").exists());
    let root = send(&r.server, "DELETE", "/", &[], b"");
    assert_json(&root, 403, &ko("DELETE", "Permission denied", "/"));
}

#[test]
fn rest_delete_unwritable_is_403() {
    if unsafe_is_root() {
        return; // root ignores permissions
    }
    let r = rest("");
    let d = htdocs(&r);
    std::fs::set_permissions(d.join("sub"), std::fs::Permissions::from_mode(0o555)).unwrap();
    let del = send(&r.server, "DELETE", "/sub/page.html", &[], b"");
    std::fs::set_permissions(d.join("sub"), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_json(
        &del,
        403,
        &ko("DELETE", "Permission denied", "/sub/page.html"),
    );
}

fn unsafe_is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

#[test]
fn rest_without_option_is_not_handled() {
    let r = run(&conf("", ""));
    for m in ["PUT", "POST", "DELETE", "PROPFIND", "MKCOL"] {
        let p = send(&r.server, m, "/hello.txt", &[], b"x");
        assert_eq!(p.status, 404, "{m}");
    }
    assert_eq!(
        std::fs::read(htdocs(&r).join("hello.txt")).unwrap(),
        b"hello world\n"
    );
}

// ---------------------------------------------------------------------------
// Confinement
// ---------------------------------------------------------------------------

#[test]
fn rest_traversal_in_target_and_arguments() {
    let r = rest("");
    let outside = r.dir.path().join("outside.txt");
    std::fs::write(&outside, "outside").unwrap();
    // Encoded `..` in the target is refused before any module runs.
    for target in [
        "/%2e%2e/outside.txt",
        "/sub/%2E%2E/%2e%2e/outside.txt",
        "/../outside.txt",
    ] {
        let p = send(&r.server, "DELETE", target, &[], b"");
        assert!(p.status == 400 || p.status == 404, "{target}: {}", p.status);
        let p = send(&r.server, "PUT", target, &[], b"pwned");
        assert!(p.status == 400 || p.status == 404, "{target}: {}", p.status);
    }
    assert_eq!(std::fs::read(&outside).unwrap(), b"outside");
    // Arguments climbing out: mv, ln.
    for arg in [
        "../outside2.txt",
        "/../../outside2.txt",
        "sub/../../outside2.txt",
    ] {
        let mv = send(
            &r.server,
            "POST",
            "/hello.txt",
            &["X-POST-CMD: mv", &format!("X-POST-ARG: {arg}")],
            b"",
        );
        assert_json(&mv, 403, &ko("POST", "Permission denied", "/hello.txt"));
        let ln = send(
            &r.server,
            "POST",
            "/hello.txt",
            &["X-POST-CMD: ln", &format!("X-POST-ARG: {arg}")],
            b"",
        );
        assert_json(&ln, 403, &ko("POST", "Permission denied", "/hello.txt"));
    }
    assert!(!r.dir.path().join("outside2.txt").exists());
    assert!(htdocs(&r).join("hello.txt").exists());
    // ln whose text would resolve outside from the link's directory.
    let ln = send(
        &r.server,
        "POST",
        "/hello.txt",
        &["X-POST-CMD: ln", "X-POST-ARG: /l"],
        b"",
    );
    assert_eq!(ln.status, 200);
    // A directory link pointing out of the root cannot be written through.
    std::os::unix::fs::symlink(r.dir.path(), htdocs(&r).join("escape")).unwrap();
    let p = send(&r.server, "PUT", "/escape/x.txt", &[], b"pwned");
    assert_json(&p, 403, &ko("PUT", "Permission denied", "/escape/x.txt"));
    let p = send(&r.server, "POST", "/escape/outside.txt", &[], b"pwned");
    assert_json(
        &p,
        403,
        &ko("POST", "Permission denied", "/escape/outside.txt"),
    );
    let p = send(&r.server, "DELETE", "/escape/outside.txt", &[], b"");
    assert_eq!(p.status, 403);
    let p = send(
        &r.server,
        "POST",
        "/escape/outside.txt",
        &["X-POST-CMD: chmod", "X-POST-ARG: 777"],
        b"",
    );
    assert_eq!(p.status, 403);
    assert_eq!(std::fs::read(&outside).unwrap(), b"outside");
    assert!(!r.dir.path().join("x.txt").exists());
}

// ---------------------------------------------------------------------------
// Uploads: atomic, concurrent, bounded, streamed
// ---------------------------------------------------------------------------

/// No temporary upload file left in `dir` (waits a little for the server
/// to notice a cut connection).
fn no_temp_files(dir: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".marmoset-upload-")
            });
        if !left {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn rest_cut_upload_keeps_the_old_file() {
    let r = rest("");
    let d = htdocs(&r);
    for (method, path) in [("POST", "/hello.txt"), ("PUT", "/fresh.bin")] {
        let mut c = Client::new(&r.server);
        c.send(format!(
            "{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n"
        ));
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..16 {
            c.send(&chunk);
        }
        // Wait until the server has started writing the temporary file.
        let deadline = Instant::now() + Duration::from_secs(10);
        while no_temp_now(&d) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(c); // the client dies half-way
        assert!(no_temp_files(&d), "{method}: temporary file left behind");
    }
    assert_eq!(
        std::fs::read(d.join("hello.txt")).unwrap(),
        b"hello world\n"
    );
    assert!(!d.join("fresh.bin").exists());
    assert!(r.server.log().contains("listening"), "server alive");
    let again = send(&r.server, "PUT", "/fresh.bin", &[], b"ok");
    assert_eq!(again.status, 201);
}

fn no_temp_now(dir: &Path) -> bool {
    !std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".marmoset-upload-")
        })
}

/// Two clients upload different 4 MiB bodies to one path, interleaved.
fn race(r: &Running, method: &str) -> (Vec<Resp>, Vec<u8>, Vec<u8>) {
    let a = vec![b'a'; 4 << 20];
    let b = vec![b'b'; 4 << 20];
    let mut ca = Client::new(&r.server);
    let mut cb = Client::new(&r.server);
    for c in [&mut ca, &mut cb] {
        c.send(format!(
            "{method} /race.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            4 << 20
        ));
    }
    for i in 0..64 {
        let range = i * (64 << 10)..(i + 1) * (64 << 10);
        ca.send(&a[range.clone()]);
        cb.send(&b[range]);
    }
    (vec![ca.response(), cb.response()], a, b)
}

#[test]
fn rest_concurrent_puts_end_with_one_complete_file() {
    let r = rest("");
    let (resps, a, b) = race(&r, "PUT");
    let mut statuses: Vec<u16> = resps.iter().map(|r| r.status).collect();
    statuses.sort();
    assert_eq!(statuses, [201, 400], "one wins, one gets File exists");
    let got = std::fs::read(htdocs(&r).join("race.bin")).unwrap();
    assert!(got == a || got == b, "the file is one whole upload");
    assert!(no_temp_files(&htdocs(&r)));

    // WebDAV mode replaces: both succeed, the file is still one whole body.
    let w = run(&conf("", "options = \"webdav\";"));
    let (resps, a, b) = race(&w, "PUT");
    for resp in &resps {
        assert!(resp.status == 201 || resp.status == 204, "{}", resp.status);
    }
    let got = std::fs::read(htdocs(&w).join("race.bin")).unwrap();
    assert!(got == a || got == b, "the file is one whole upload");
}

#[test]
fn rest_upload_limit_is_413() {
    let r = rest("maxuploadsize = 1000;");
    let big = vec![b'z'; 1001];
    let p = send(&r.server, "PUT", "/big", &[], &big);
    assert_json(&p, 413, &ko("PUT", "File too large", "/big"));
    // Without a declared length (chunked), the limit cuts the stream.
    let mut c = Client::new(&r.server);
    c.send(
        "PUT /big2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
    c.send(format!("{:x}\r\n", big.len()));
    c.send(&big);
    c.send("\r\n0\r\n\r\n");
    let p = c.response();
    assert_json(&p, 413, &ko("PUT", "File too large", "/big2"));
    assert!(!htdocs(&r).join("big").exists() && !htdocs(&r).join("big2").exists());
    assert!(no_temp_files(&htdocs(&r)));
    // maxuploadsize, not maxbodysize (1 MiB by default), bounds uploads.
    let r = rest("maxuploadsize = 4000000;");
    let p = send(&r.server, "PUT", "/two-mib", &[], &vec![b'y'; 2 << 20]);
    assert_eq!(p.status, 201);
}

fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn rest_one_gib_upload_with_flat_memory() {
    const SIZE: u64 = 1 << 30;
    let r = rest("maxuploadsize = 2147483648L;");
    let pid = r.server.pid();
    // Warm up, then take the baseline.
    assert_eq!(send(&r.server, "PUT", "/warm", &[], b"w").status, 201);
    let base = vm_rss_kib(pid);
    let mut c = Client::new(&r.server);
    c.stream
        .set_write_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    c.send(format!(
        "PUT /huge.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {SIZE}\r\n\r\n"
    ));
    let mut chunk = vec![0u8; 1 << 20];
    let mut peak = base;
    for i in 0..(SIZE >> 20) {
        chunk[..8].copy_from_slice(&i.to_le_bytes());
        c.send(&chunk);
        if i % 16 == 0 {
            peak = peak.max(vm_rss_kib(pid));
        }
    }
    c.stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let p = c.response();
    assert_json(&p, 201, &ok("PUT", "/huge.bin"));
    let f = htdocs(&r).join("huge.bin");
    let mut file = std::fs::File::open(&f).unwrap();
    assert_eq!(file.metadata().unwrap().len(), SIZE);
    let mut head = [0u8; 8];
    file.read_exact(&mut head).unwrap();
    assert_eq!(head, 0u64.to_le_bytes());
    std::fs::remove_file(&f).unwrap();
    let grew = peak.saturating_sub(base);
    eprintln!("1 GiB upload: VmRSS baseline {base} KiB, peak {peak} KiB, growth {grew} KiB");
    assert!(
        grew < 32 * 1024,
        "server memory grew by {grew} KiB during a 1 GiB upload"
    );
}

// ---------------------------------------------------------------------------
// WebDAV
// ---------------------------------------------------------------------------

#[test]
fn rest_webdav_verbs() {
    let r = run(&conf("", "options = \"webdav\";"));
    let d = htdocs(&r);
    let o = send(&r.server, "OPTIONS", "/", &[], b"");
    assert_eq!(o.status, 200);
    assert_eq!(o.header("dav"), Some("1"));
    assert!(o.header("allow").unwrap().contains("PROPFIND"));

    let p = send(&r.server, "PROPFIND", "/hello.txt", &["Depth: 0"], b"");
    assert_eq!(p.status, 207);
    let t = p.text();
    assert!(t.contains("<D:href>/hello.txt</D:href>"), "{t}");
    assert!(
        t.contains("<D:getcontentlength>12</D:getcontentlength>"),
        "{t}"
    );
    assert_eq!(t.matches("<D:response>").count(), 1);

    let p = send(
        &r.server,
        "PROPFIND",
        "/sub",
        &["Depth: 1"],
        b"<?xml version=\"1.0\"?><propfind xmlns=\"DAV:\"><allprop/></propfind>",
    );
    assert_eq!(p.status, 207);
    let t = p.text();
    assert!(t.contains("<D:href>/sub/</D:href>"), "{t}");
    assert!(t.contains("<D:collection/>"), "{t}");
    assert!(t.contains("<D:href>/sub/page.html</D:href>"), "{t}");
    assert_eq!(t.matches("<D:response>").count(), 2);
    assert_eq!(
        send(&r.server, "PROPFIND", "/", &[], b"").status,
        403,
        "Depth: infinity"
    );
    assert_eq!(
        send(&r.server, "PROPFIND", "/nope", &["Depth: 0"], b"").status,
        404
    );

    assert_eq!(send(&r.server, "MKCOL", "/col", &[], b"").status, 201);
    assert!(d.join("col").is_dir());
    assert_eq!(send(&r.server, "MKCOL", "/col", &[], b"").status, 405);
    assert_eq!(send(&r.server, "MKCOL", "/a/b", &[], b"").status, 409);

    let dest = format!("Destination: http://{}/col/copy.txt", r.server.addr);
    assert_eq!(
        send(&r.server, "COPY", "/hello.txt", &[&dest], b"").status,
        201
    );
    assert_eq!(
        std::fs::read(d.join("col/copy.txt")).unwrap(),
        b"hello world\n"
    );
    assert_eq!(
        send(
            &r.server,
            "COPY",
            "/index.html",
            &[&dest, "Overwrite: F"],
            b""
        )
        .status,
        412
    );
    assert_eq!(
        send(&r.server, "COPY", "/index.html", &[&dest], b"").status,
        204
    );
    assert_eq!(
        std::fs::read(d.join("col/copy.txt")).unwrap(),
        b"<h1>home</h1>\n"
    );
    assert_eq!(
        send(&r.server, "MOVE", "/col", &["Destination: /moved"], b"").status,
        201
    );
    assert!(d.join("moved/copy.txt").exists() && !d.join("col").exists());
    assert_eq!(
        send(
            &r.server,
            "MOVE",
            "/moved",
            &["Destination: /moved/inner"],
            b""
        )
        .status,
        403
    );
    assert_eq!(
        send(&r.server, "MOVE", "/moved", &["Destination: /../x"], b"").status,
        400
    );
    assert_eq!(
        send(&r.server, "MOVE", "/moved", &["Destination: /none/x"], b"").status,
        409
    );
    assert_eq!(
        send(&r.server, "COPY", "/sub", &["Destination: /sub2"], b"").status,
        201
    );
    assert!(d.join("sub2/page.html").exists());

    // WebDAV PUT replaces; DELETE removes trees.
    let p = send(&r.server, "PUT", "/hello.txt", &[], b"replaced");
    assert_eq!(p.status, 204);
    assert_eq!(std::fs::read(d.join("hello.txt")).unwrap(), b"replaced");
    assert_eq!(send(&r.server, "DELETE", "/sub2", &[], b"").status, 200);
    assert!(!d.join("sub2").exists());
}

/// rclone against the docroot: upload a tree, list it, move and copy on
/// the server, download and compare, delete.
#[test]
fn rest_webdav_with_rclone() {
    let rclone = std::process::Command::new("rclone").arg("version").output();
    assert!(
        rclone.is_ok_and(|o| o.status.success()),
        "rclone is needed (Debian package `rclone`; ./test.sh installs it)"
    );
    let r = run(&conf("", "options = \"webdav\";"));
    let work = tempfile::tempdir().unwrap();
    let up = work.path().join("up");
    std::fs::create_dir_all(up.join("deep/er")).unwrap();
    std::fs::write(up.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(up.join("deep/b.bin"), vec![7u8; 300_000]).unwrap();
    std::fs::write(up.join("deep/er/c with space.txt"), "gamma\n").unwrap();
    let url = format!("http://{}/", r.server.addr);
    let rc = |args: &[&str]| {
        let out = std::process::Command::new("rclone")
            .args([
                "--config",
                "/dev/null",
                "--webdav-url",
                &url,
                "--low-level-retries",
                "1",
                "--retries",
                "1",
            ])
            .args(args)
            .output()
            .expect("run rclone");
        assert!(
            out.status.success(),
            "rclone {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            r.server.log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    rc(&["copy", up.to_str().unwrap(), ":webdav:tree"]);
    let list = rc(&["lsf", "-R", ":webdav:tree"]);
    for name in ["a.txt", "deep/", "deep/b.bin", "deep/er/c with space.txt"] {
        assert!(list.lines().any(|l| l == name), "{name} in {list}");
    }
    rc(&["check", up.to_str().unwrap(), ":webdav:tree"]);
    rc(&["moveto", ":webdav:tree/a.txt", ":webdav:tree/deep/a2.txt"]);
    rc(&["copyto", ":webdav:tree/deep/b.bin", ":webdav:b-copy.bin"]);
    // Overwrite an existing file.
    std::fs::write(up.join("a.txt"), "alpha, edited\n").unwrap();
    rc(&[
        "copyto",
        up.join("a.txt").to_str().unwrap(),
        ":webdav:tree/deep/a2.txt",
    ]);
    let down = work.path().join("down");
    rc(&["copy", ":webdav:", down.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(down.join("tree/deep/a2.txt")).unwrap(),
        b"alpha, edited\n"
    );
    assert_eq!(
        std::fs::read(down.join("b-copy.bin")).unwrap(),
        vec![7u8; 300_000]
    );
    assert!(!down.join("tree/a.txt").exists());
    assert_eq!(
        std::fs::read(down.join("hello.txt")).unwrap(),
        b"hello world\n"
    );
    rc(&["purge", ":webdav:tree"]);
    assert!(!htdocs(&r).join("tree").exists());
    assert!(no_temp_files(&htdocs(&r)));
    let _ = std::io::stdout().flush();
}

// ---------------------------------------------------------------------------
// User homes (option `home`, with the auth module)
// ---------------------------------------------------------------------------

#[cfg(feature = "auth")]
#[test]
fn rest_homes_are_private() {
    let dir = crate::support::site();
    std::fs::create_dir(dir.path().join("homes")).unwrap();
    std::fs::write(
        dir.path().join("users.txt"),
        "alice:alicepw:users:/alice\nbob:bobpw:users:\n",
    )
    .unwrap();
    let r = crate::http::run_in(
        dir,
        &conf(
            "keepalivetimeout = 5; maxclients = 50; auth = { type = \"Basic\"; file = \"users.txt\"; };",
            "options = \"rest,home\"; dochome = \"homes\";",
        ),
    );
    // alice:alicepw / bob:bobpw
    let alice = "Authorization: Basic YWxpY2U6YWxpY2Vwdw==";
    let bob = "Authorization: Basic Ym9iOmJvYnB3";
    let homes = r.dir.path().join("homes");
    let p = send(&r.server, "PUT", "/~/notes.txt", &[alice], b"alice's notes");
    assert_json(&p, 201, &ok("PUT", "/~/notes.txt"));
    assert_eq!(
        std::fs::read(homes.join("alice/notes.txt")).unwrap(),
        b"alice's notes"
    );
    let g = send(&r.server, "GET", "/~/notes.txt", &[alice], b"");
    assert_eq!((g.status, g.text().as_str()), (200, "alice's notes"));
    let g = send(&r.server, "GET", "/~alice/notes.txt", &[alice], b"");
    assert_eq!(g.status, 200);
    // bob has his own home (named after him: his home is empty) …
    assert_eq!(
        send(&r.server, "GET", "/~/notes.txt", &[bob], b"").status,
        404
    );
    let p = send(&r.server, "PUT", "/~/mine.txt", &[bob], b"bob");
    assert_eq!(p.status, 201);
    assert!(homes.join("bob/mine.txt").exists());
    // … and no way into alice's.
    assert_eq!(
        send(&r.server, "GET", "/~alice/notes.txt", &[bob], b"").status,
        403
    );
    assert_eq!(
        send(&r.server, "DELETE", "/~alice/notes.txt", &[bob], b"").status,
        403
    );
    assert_eq!(
        send(&r.server, "PUT", "/~alice/evil.txt", &[bob], b"x").status,
        403
    );
    let mv = send(
        &r.server,
        "POST",
        "/~/mine.txt",
        &[bob, "X-POST-CMD: mv", "X-POST-ARG: /../alice/planted.txt"],
        b"",
    );
    assert_json(&mv, 403, &ko("POST", "Permission denied", "/~/mine.txt"));
    let dest = "Destination: /~alice/planted.txt";
    assert_eq!(
        send(&r.server, "COPY", "/~/mine.txt", &[bob, dest], b"").status,
        403
    );
    assert!(!homes.join("alice/planted.txt").exists());
    // Without credentials: the auth module asks for them.
    assert_eq!(send(&r.server, "GET", "/~/notes.txt", &[], b"").status, 401);
    // The docroot is still the docroot.
    assert_eq!(
        send(&r.server, "GET", "/hello.txt", &[alice], b"").text(),
        "hello world\n"
    );
    assert!(!r.server.log().contains("inside the docroot"));
}

/// With `dochome` left to its default (the docroot), the homes are plain
/// directories of the site too: the server says so at start-up.
#[cfg(feature = "auth")]
#[test]
fn rest_homes_inside_the_docroot_are_warned_about() {
    let dir = crate::support::site();
    let r = crate::http::run_in(
        dir,
        &conf(
            "keepalivetimeout = 5; auth = { type = \"Basic\"; user = \"a\"; passwd = \"b\"; };",
            "options = \"rest,home\";",
        ),
    );
    assert!(r.server.wait_log("are inside the docroot"));
}
