//! Integration tests: the user management REST API (`options =
//! "management"`, issue 6), driven with curl against the real server and
//! a real sqlite database made by `marmoset-passwd`.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::curl::{Resp, curl};
use crate::support::{TempDir, TestServer, doc_conf, site};

mod routes;
mod setups;

const ROOT: &str = "root:rootpw";
const ALICE: &str = "alice:alicepw";
const SECRET: &str = "a very shared secret";

fn tool(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_marmoset-passwd"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A site with `users.db` holding `root` (group root) and `alice` (group
/// users), both activated, and a server whose auth section is
/// `{ dbname = "users.db"; options = "management…"; <auth> }`.
fn start(auth: &str) -> (TempDir, TestServer, PathBuf) {
    start_with(auth, "", &[])
}

/// As [`start`], with `extra` in the server section and extra
/// command-line `args`.
fn start_with(auth: &str, extra: &str, args: &[&str]) -> (TempDir, TestServer, PathBuf) {
    let dir = site();
    let db = dir.path().join("users.db");
    let d = db.to_str().unwrap();
    tool(&["-D", d, "-u", "root", "-p", "rootpw", "-g", "root"]);
    tool(&["-D", d, "-u", "alice", "-p", "alicepw", "-H", "/home/alice"]);
    let conf = doc_conf(
        &format!(r#"auth = {{ dbname = "users.db"; {auth} }}; {extra}"#),
        "",
    );
    let s = TestServer::start(dir.path(), &conf, args);
    (dir, s, db)
}

fn basic() -> (TempDir, TestServer, PathBuf) {
    start(r#"type = "Basic"; options = "management";"#)
}

/// The body as JSON.
trait Json {
    fn json(&self) -> Value;
}

impl Json for Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// `method path` as `user` (`None`: anonymous) with extra curl `args`.
fn call(s: &TestServer, method: &str, path: &str, user: Option<&str>, args: &[&str]) -> Resp {
    let mut all = vec!["-X", method];
    if let Some(u) = user {
        all.extend(["-u", u]);
    }
    all.extend(args);
    let r = curl(s, path, &all);
    assert!(r.curl_ok, "curl {method} {path}: {}", r.stderr);
    r
}

/// A call asking for JSON, with a form body.
fn form(s: &TestServer, method: &str, path: &str, user: Option<&str>, body: &str) -> Resp {
    call(
        s,
        method,
        path,
        user,
        &["-H", "Accept: text/json", "--data-raw", body],
    )
}

/// A call with a JSON body (and no Accept preference).
fn json(s: &TestServer, method: &str, path: &str, user: Option<&str>, body: &str) -> Resp {
    call(
        s,
        method,
        path,
        user,
        &["-H", "Content-Type: application/json", "--data-raw", body],
    )
}

fn get(s: &TestServer, path: &str, user: &str) -> Resp {
    call(s, "GET", path, Some(user), &["-H", "Accept: text/json"])
}

/// The status of `GET /hello.txt` as `user`.
fn sign_in(s: &TestServer, user: &str) -> u16 {
    call(s, "GET", "/hello.txt", Some(user), &[]).code
}

fn assert_no_secret(r: &Resp) {
    for leak in ["passwd\"", "pw\"", "$argon2", "$a5$", "bobpw", "alicepw"] {
        assert!(!r.body.contains(leak), "{leak} in {}", r.body);
    }
}
