//! Integration tests: python (cargo feature `python`) — a Flask application
//! and a minimal Django project from PyPI, and the original's script API,
//! served by the embedded interpreter: GET, POST (form and streamed
//! bodies), streamed responses, exceptions (500, traceback in the log, the
//! server lives on), start-up errors.
//!
//! The packages come from a virtual environment made by `./test.sh`
//! (`target/pyenv`, or `$MARMOSET_PYENV`).

use std::path::{Path, PathBuf};

use crate::http::{Client, Resp, Running, exchange, request_text, run_in};
use crate::support::{TestServer, site};

/// The virtual environment with flask and django.
fn venv() -> PathBuf {
    let dir = std::env::var_os("MARMOSET_PYENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv"),
        PathBuf::from,
    );
    assert!(
        dir.join("bin/python3").exists(),
        "no virtual environment at {} (./test.sh makes it: python3 -m venv + pip install flask django)",
        dir.display()
    );
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() == "__pycache__" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A site with the fixture `app` copied to `app/`, served by `python`
/// with `keys`, in front of `document`.
fn python(app: &str, keys: &str) -> Running {
    python_with("", app, keys)
}

/// As [`python`], with more server keys.
fn python_with(server_keys: &str, app: &str, keys: &str) -> Running {
    let dir = site();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/python");
    copy_tree(&fixtures.join(app), &dir.path().join("app"));
    let conf = format!(
        "servers = ({{ port = 0; addr = \"127.0.0.1\"; keepalivetimeout = 5; maxclients = 50; maxbodysize = 33554432; {server_keys}\n\
           python = {{ docroot = \"app\"; virtualenv = \"{}\"; {keys} }};\n\
           document = {{ docroot = \"htdocs\"; }}; }});\n",
        venv().display()
    );
    run_in(dir, &conf)
}

fn post_form(r: &Running, path: &str, form: &str) -> Resp {
    exchange(
        &r.server,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    )
}

fn json(resp: &Resp) -> serde_json::Value {
    serde_json::from_slice(&resp.body)
        .unwrap_or_else(|e| panic!("{e}: {:?} {}", resp.status_line, resp.text()))
}

/// Stream 10 MiB with chunked encoding through curl; the app counts it.
fn count_upload(r: &Running, path: &str) -> serde_json::Value {
    let file = r.dir.path().join("up.bin");
    std::fs::write(&file, vec![b'u'; 10 << 20]).unwrap();
    let out = r.server.curl(
        path,
        &[
            "--data-binary",
            &format!("@{}", file.display()),
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "Content-Type: application/octet-stream",
        ],
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} {}",
            String::from_utf8_lossy(&out.stdout),
            r.server.log()
        )
    })
}

fn assert_exception_survived(r: &Running, path: &str, text: &str, good: &str) {
    let boom = exchange(&r.server, &request_text("GET", path, &[]));
    assert_eq!(boom.status, 500);
    r.server.wait_log(text);
    let log = r.server.log();
    assert!(log.contains("Traceback") && log.contains(text), "{log}");
    // The server lives on.
    for _ in 0..3 {
        assert_eq!(
            exchange(&r.server, &request_text("GET", good, &[])).status,
            200
        );
    }
}

#[test]
fn python_flask_get_post_stream_and_errors() {
    let r = python(
        "flaskapp",
        "application = \"app:app\"; env = [\"MARKER=m1\"];",
    );
    let g = exchange(&r.server, &request_text("GET", "/", &[]));
    assert_eq!(
        (g.status, g.text().as_str()),
        (200, "hello from flask\n"),
        "{}",
        r.server.log()
    );

    let w = json(&exchange(
        &r.server,
        &request_text("GET", "/whoami?x=1&y=%2F", &[]),
    ));
    assert_eq!(w["script_name"], "");
    assert_eq!(w["path_info"], "/whoami");
    assert_eq!(w["query"], "x=1&y=%2F");
    assert_eq!(w["marker"], "m1");
    assert_eq!(w["multithread"], true);
    assert_eq!(w["remote_user"], serde_json::Value::Null);

    let f = json(&post_form(&r, "/form", "name=marmoset&n=42"));
    assert_eq!(
        (f["name"].as_str(), f["n"].as_str()),
        (Some("marmoset"), Some("42"))
    );
    assert_eq!(count_upload(&r, "/count")["bytes"], 10 << 20);

    let s = exchange(&r.server, &request_text("GET", "/stream", &[]));
    assert_eq!(s.status, 200);
    assert_eq!(s.text(), "line 0\nline 1\nline 2\nline 3\nline 4\n");

    let mut c = Client::new(&r.server);
    c.send(request_text("GET", "/big", &[]));
    let big = c.response();
    assert_eq!(big.body.len(), 64 << 20);

    assert_exception_survived(&r, "/boom", "RuntimeError: kaboom from flask", "/");
    // Not under the application's filter: unchanged.
    let missing = exchange(&r.server, &request_text("GET", "/nope", &[]));
    assert_eq!(missing.status, 404);
}

#[test]
fn python_flask_under_a_mount_point() {
    let r = python("flaskapp", "application = \"app:app\"; mount = \"/app\";");
    let w = json(&exchange(
        &r.server,
        &request_text("GET", "/app/whoami", &[]),
    ));
    assert_eq!(w["script_name"], "/app");
    assert_eq!(w["path_info"], "/whoami");
    // Outside the mount point the document module answers.
    let d = exchange(&r.server, &request_text("GET", "/hello.txt", &[]));
    assert_eq!(d.text(), "hello world\n");
}

#[test]
fn python_django_get_post_stream_and_errors() {
    let r = python(
        "djproject",
        "application = \"mysite.wsgi:application\"; env = [\"DJANGO_SETTINGS_MODULE=mysite.settings\"];",
    );
    let g = exchange(&r.server, &request_text("GET", "/", &[]));
    assert_eq!(
        (g.status, g.text().as_str()),
        (200, "hello from django\n"),
        "{}",
        r.server.log()
    );
    let e = json(&post_form(&r, "/echo", "name=dj&x=1"));
    assert_eq!(e["method"], "POST");
    assert_eq!(e["name"], "dj");
    assert_eq!(e["body_len"], 11);
    assert_eq!(e["path"], "/echo");
    let s = exchange(&r.server, &request_text("GET", "/stream", &[]));
    assert_eq!(s.text(), "chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
    let nf = exchange(&r.server, &request_text("GET", "/no-such-view", &[]));
    assert_eq!(nf.status, 404);
    assert_exception_survived(&r, "/boom", "ValueError: kaboom from django", "/");
}

#[test]
fn python_script_api_of_the_original() {
    let r = python(
        "scripts",
        "scripts = [\"hello.py\"]; allow = \".py*\"; deny = \"*\"; denylast = true;",
    );
    let i = exchange(&r.server, &request_text("GET", "/hello.py/index", &[]));
    assert_eq!(
        (i.status, i.text().as_str()),
        (200, "index of hello\n"),
        "{}",
        r.server.log()
    );
    assert_eq!(i.header("x-script"), Some("hello"));
    assert_eq!(i.header("content-type"), Some("text/plain"));
    let e = exchange(
        &r.server,
        "POST /hello.py/echo?q=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(e.status, 201);
    assert_eq!(e.text(), "method=POST query=q=1 body=abc loaded=True\n");
    assert_eq!(
        exchange(&r.server, &request_text("GET", "/hello.py/nothing", &[])).status,
        404
    );
    assert_eq!(
        exchange(&r.server, &request_text("GET", "/hello.txt", &[])).text(),
        "hello world\n"
    );
}

#[test]
fn python_broken_application_is_a_startup_error() {
    let dir = site();
    let conf = format!(
        "servers = ({{ port = 0; addr = \"127.0.0.1\"; python = {{ docroot = \"htdocs\"; virtualenv = \"{}\"; application = \"nosuchmodule:app\"; }}; }});\n",
        venv().display()
    );
    let log = TestServer::try_start(dir.path(), &conf, &[])
        .err()
        .expect("must not start");
    assert!(
        log.contains("ModuleNotFoundError") && log.contains("nosuchmodule"),
        "{log}"
    );
}

#[cfg(feature = "auth")]
#[test]
fn python_environ_has_the_authenticated_user() {
    let r = python_with(
        "auth = { type = \"Basic\"; user = \"foo\"; passwd = \"bar\"; };",
        "flaskapp",
        "application = \"app:app\";",
    );
    let w = exchange(
        &r.server,
        &request_text("GET", "/whoami", &["Authorization: Basic Zm9vOmJhcg=="]),
    );
    assert_eq!(json(&w)["remote_user"], "foo");
    assert_eq!(
        exchange(&r.server, &request_text("GET", "/whoami", &[])).status,
        401
    );
}
