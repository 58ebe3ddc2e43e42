//! Integration tests: the user management REST API (`options =
//! "management"`, issue 6), driven with curl against the real server and
//! a real sqlite database made by `marmoset-passwd`.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::{TempDir, TestServer, doc_conf, site};

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
    start_with(auth, &[])
}

/// As [`start`], with extra command-line `args`.
fn start_with(auth: &str, args: &[&str]) -> (TempDir, TestServer, PathBuf) {
    let dir = site();
    let db = dir.path().join("users.db");
    let d = db.to_str().unwrap();
    tool(&["-D", d, "-u", "root", "-p", "rootpw", "-g", "root"]);
    tool(&["-D", d, "-u", "alice", "-p", "alicepw", "-H", "/home/alice"]);
    let conf = doc_conf(&format!(r#"auth = {{ dbname = "users.db"; {auth} }};"#), "");
    let s = TestServer::start(dir.path(), &conf, args);
    (dir, s, db)
}

fn basic() -> (TempDir, TestServer, PathBuf) {
    start(r#"type = "Basic"; options = "management";"#)
}

/// A response as curl saw it.
#[derive(Debug)]
struct Resp {
    code: u16,
    head: String,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<String> {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .rfind(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// `method path` as `user` (`None`: anonymous) with extra curl `args`.
fn call(s: &TestServer, method: &str, path: &str, user: Option<&str>, args: &[&str]) -> Resp {
    let body = tempfile::NamedTempFile::new().unwrap();
    let mut all = vec!["-X", method];
    if let Some(u) = user {
        all.extend(["-u", u]);
    }
    all.extend(args);
    all.extend([
        "-D",
        "-",
        "-o",
        body.path().to_str().unwrap(),
        "-w",
        "\n%{http_code}",
    ]);
    let out = s.curl(path, &all);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    assert!(
        out.status.success(),
        "curl {method} {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Resp {
        code: code.trim().parse().unwrap_or(0),
        head: head.to_string(),
        body: std::fs::read_to_string(body.path()).unwrap_or_default(),
    }
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

#[test]
fn auth_mngt_create_approve_then_sign_in() {
    let (_d, s, _) = basic();
    let r = form(
        &s,
        "PUT",
        "/auth/mngt",
        Some(ROOT),
        "user=bob&passwd=bob%20pw",
    );
    assert_eq!(r.code, 201, "{r:?}");
    assert_eq!(r.header("content-type").as_deref(), Some("text/json"));
    assert_eq!(
        r.body,
        r#"{"user":"bob","group":"users","status":"approving","passwdchanged":true}"#
    );
    assert_no_secret(&r);
    // Not approved yet.
    assert_eq!(sign_in(&s, "bob:bob pw"), 401);
    // Only the root group approves.
    let r = form(
        &s,
        "POST",
        "/auth/mngt/bob",
        Some(ALICE),
        "status=activated",
    );
    assert_eq!(r.code, 403);
    assert_eq!(r.json()["error"], "access denied");
    let r = form(&s, "POST", "/auth/mngt/bob", Some(ROOT), "status=activated");
    assert_eq!(r.code, 200, "{r:?}");
    assert_eq!(r.json()["status"], "activated");
    assert!(r.json().get("passwdchanged").is_none());
    assert_eq!(sign_in(&s, "bob:bob pw"), 200);
    assert_eq!(sign_in(&s, "bob:bob"), 401);
    // Creating it again: 409, Ouistiti's error shape.
    let r = form(&s, "PUT", "/auth/mngt", Some(ROOT), "user=bob&passwd=other");
    assert_eq!(r.code, 409);
    assert_eq!(
        r.body,
        r#"{"method":"PUT","user":"bob","error":"user existing"}"#
    );
    assert_eq!(sign_in(&s, "bob:bob pw"), 200);
    // Without Accept: a form answer.
    let r = call(&s, "GET", "/auth/mngt/bob", Some(ROOT), &[]);
    assert_eq!(r.code, 200);
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(r.body, "user=bob&group=users&status=activated");
    // application/json when asked; the user named in the path.
    let r = call(
        &s,
        "PUT",
        "/auth/mngt/carol",
        Some(ROOT),
        &[
            "-H",
            "Accept: application/json",
            "--data-raw",
            "passwd=carolpw&group=staff&home=/home/carol&status=activated&issuers=totp",
        ],
    );
    assert_eq!(r.code, 201, "{r:?}");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        r.json(),
        serde_json::json!({"user":"carol","group":"staff","status":"activated",
            "home":"/home/carol","passwdchanged":true,"issuers":{"totp":false}})
    );
    assert_eq!(sign_in(&s, "carol:carolpw"), 200);
    // The log names who did what, never a password.
    let log = s.log();
    assert!(log.contains("root created bob"), "{log}");
    assert!(!log.contains("bob pw") && !log.contains("carolpw"), "{log}");
}

#[test]
fn auth_mngt_rights_root_self_other_anonymous() {
    let (_d, s, _) = basic();
    // Anonymous: the authenticator's challenge, on every route.
    for m in ["GET", "PUT", "POST", "DELETE"] {
        let r = call(&s, m, "/auth/mngt/alice", None, &[]);
        assert_eq!(r.code, 401, "{m}");
        assert!(r.header("www-authenticate").is_some(), "{m}");
    }
    // Listing is for the root group only (Ouistiti lists to anyone).
    assert_eq!(get(&s, "/auth/mngt", ALICE).code, 403);
    let r = get(&s, "/auth/mngt", ROOT);
    assert_eq!(r.code, 200);
    let names: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["user"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["alice", "root"]);
    assert_no_secret(&r);
    // A record: the user himself or root; others learn nothing, not even
    // whether the name exists.
    let r = get(&s, "/auth/mngt/alice", ALICE);
    assert_eq!(r.code, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"user":"alice","group":"users","status":"activated","home":"/home/alice"})
    );
    assert_eq!(get(&s, "/auth/mngt/alice", ROOT).code, 200);
    assert_eq!(get(&s, "/auth/mngt/root", ALICE).code, 403);
    assert_eq!(get(&s, "/auth/mngt/nobody", ALICE).code, 403);
    let r = get(&s, "/auth/mngt/nobody", ROOT);
    assert_eq!(r.code, 404);
    assert_eq!(
        r.body,
        r#"{"method":"GET","user":"nobody","error":"user not found"}"#
    );
    // Group, home and status are for root; a user changes only his own
    // password and issuers.
    for field in ["group=root", "home=/", "status=activated"] {
        let r = form(&s, "POST", "/auth/mngt/alice", Some(ALICE), field);
        assert_eq!(r.code, 403, "{field}");
        assert!(r.json()["message"].as_str().unwrap().contains("root group"));
    }
    let r = form(&s, "POST", "/auth/mngt/root", Some(ALICE), "passwd=x");
    assert_eq!(r.code, 403);
    assert_eq!(sign_in(&s, ROOT), 200);
    let r = form(&s, "POST", "/auth/mngt/alice", Some(ALICE), "issuers=totp");
    assert_eq!(r.code, 200);
    assert_eq!(r.json()["issuers"], serde_json::json!({"totp": false}));
    // Root changes anything of anyone.
    let r = form(
        &s,
        "POST",
        "/auth/mngt/alice",
        Some(ROOT),
        "group=staff&home=/srv/alice&issuers=",
    );
    assert_eq!(r.code, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"user":"alice","group":"staff","status":"activated","home":"/srv/alice"})
    );
    // Anyone authenticated may ask for an account, which root approves;
    // it is in group `users` whatever was asked.
    let r = form(
        &s,
        "PUT",
        "/auth/mngt",
        Some(ALICE),
        "user=eve&passwd=evepw&group=root",
    );
    assert_eq!(r.code, 201, "{r:?}");
    assert_eq!(r.json()["group"], "users");
    assert_eq!(r.json()["status"], "approving");
    for field in ["home=/root", "status=activated"] {
        let body = format!("user=mallory&passwd=pw&{field}");
        assert_eq!(form(&s, "PUT", "/auth/mngt", Some(ALICE), &body).code, 403);
    }
    // Nobody deletes another user but root.
    assert_eq!(
        form(&s, "DELETE", "/auth/mngt/root", Some(ALICE), "").code,
        403
    );
    assert_eq!(
        form(&s, "DELETE", "/auth/mngt/eve", Some(ALICE), "").code,
        403
    );
    assert_eq!(
        form(&s, "DELETE", "/auth/mngt/eve", Some(ROOT), "").code,
        200
    );
    // Other methods: 405 with the allowed ones.
    let r = call(&s, "PATCH", "/auth/mngt/alice", Some(ROOT), &[]);
    assert_eq!(r.code, 405);
    assert!(r.header("allow").unwrap().contains("DELETE"));
    // A root who must change his password is not root until he does.
    let r = form(
        &s,
        "POST",
        "/auth/mngt/root",
        Some(ROOT),
        "status=reapproving",
    );
    assert_eq!(r.code, 200);
    assert_eq!(get(&s, "/auth/mngt", ROOT).code, 403);
    let r = form(&s, "POST", "/auth/mngt/root", Some(ROOT), "passwd=rootpw2");
    assert_eq!(r.code, 200, "{r:?}");
    assert_eq!(r.json()["status"], "activated");
    assert_eq!(get(&s, "/auth/mngt", "root:rootpw2").code, 200);
    // The last root who can sign in cannot delete, demote or lock himself
    // out; with a second root he can.
    let root2 = Some("root:rootpw2");
    let r = form(&s, "DELETE", "/auth/mngt/root", root2, "");
    assert_eq!(r.code, 409);
    assert_eq!(r.json()["error"], "last root");
    for field in ["group=users", "status=repudiated"] {
        assert_eq!(form(&s, "POST", "/auth/mngt/root", root2, field).code, 409);
    }
    let body = "user=admin&passwd=adminpw&group=root&status=activated";
    assert_eq!(form(&s, "PUT", "/auth/mngt", root2, body).code, 201);
    assert_eq!(form(&s, "DELETE", "/auth/mngt/root", root2, "").code, 200);
    assert_eq!(get(&s, "/auth/mngt", "admin:adminpw").code, 200);
}

#[test]
fn auth_mngt_password_change_reapproving_and_delete() {
    let (_d, s, _) = basic();
    assert_eq!(sign_in(&s, ALICE), 200);
    // A JSON body; the answer is JSON too.
    let r = json(
        &s,
        "POST",
        "/auth/mngt/alice",
        Some(ALICE),
        r#"{"passwd":"new pw"}"#,
    );
    assert_eq!(r.code, 200, "{r:?}");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(r.json()["passwdchanged"], true);
    // The next request already uses the new password.
    assert_eq!(sign_in(&s, ALICE), 401);
    assert_eq!(sign_in(&s, "alice:new pw"), 200);
    // Asked to change her password, alice may still reach her record and
    // change it, which activates her again.
    let r = json(
        &s,
        "POST",
        "/auth/mngt/alice",
        Some(ROOT),
        r#"{"status":"reapproving"}"#,
    );
    assert_eq!(r.json()["status"], "reapproving");
    let r = get(&s, "/auth/mngt/alice", "alice:new pw");
    assert_eq!(r.code, 200);
    assert_eq!(r.json()["status"], "reapproving");
    let r = json(
        &s,
        "POST",
        "/auth/mngt",
        Some("alice:new pw"),
        r#"{"user":"alice","passwd":"third"}"#,
    );
    assert_eq!(r.code, 200, "{r:?}");
    assert_eq!(r.json()["status"], "activated");
    assert_eq!(sign_in(&s, "alice:third"), 200);
    // Repudiated: refused.
    json(
        &s,
        "POST",
        "/auth/mngt/alice",
        Some(ROOT),
        r#"{"status":"repudiated"}"#,
    );
    assert_eq!(sign_in(&s, "alice:third"), 401);
    json(
        &s,
        "POST",
        "/auth/mngt/alice",
        Some(ROOT),
        r#"{"status":"activated"}"#,
    );
    // She deletes herself; then she cannot sign in.
    let r = call(
        &s,
        "DELETE",
        "/auth/mngt/alice",
        Some("alice:third"),
        &["-H", "Accept: text/json"],
    );
    assert_eq!(r.code, 200, "{r:?}");
    assert_eq!(r.json()["user"], "alice");
    assert_eq!(sign_in(&s, "alice:third"), 401);
    let r = form(&s, "DELETE", "/auth/mngt/alice", Some(ROOT), "");
    assert_eq!(r.code, 404);
}

#[test]
fn auth_mngt_bad_bodies_get_400_with_a_message() {
    let (_d, s, _) = basic();
    let cases: &[(&str, &str, &str, &str, u16, &str)] = &[
        // method, path, content type, body, status, message part
        (
            "PUT",
            "/auth/mngt",
            "application/x-www-form-urlencoded",
            "user=x&passwd=y&colour=red",
            400,
            "unknown field `colour`",
        ),
        (
            "PUT",
            "/auth/mngt",
            "application/json",
            r#"{"user":"x","passwd":5}"#,
            400,
            "`passwd` must be a string",
        ),
        (
            "PUT",
            "/auth/mngt",
            "application/json",
            r#"{"user":"x","#,
            400,
            "not JSON",
        ),
        (
            "PUT",
            "/auth/mngt",
            "application/json",
            r#"["x"]"#,
            400,
            "object",
        ),
        (
            "PUT",
            "/auth/mngt",
            "application/x-www-form-urlencoded",
            "user=x",
            400,
            "needs `passwd`",
        ),
        (
            "PUT",
            "/auth/mngt",
            "application/x-www-form-urlencoded",
            "passwd=x",
            400,
            "needs `user`",
        ),
        (
            "PUT",
            "/auth/mngt",
            "application/x-www-form-urlencoded",
            "user=a%2Fb&passwd=x",
            400,
            "`user`",
        ),
        (
            "PUT",
            "/auth/mngt",
            "application/x-www-form-urlencoded",
            "user=x&passwd=x&passwd=y",
            400,
            "given twice",
        ),
        (
            "POST",
            "/auth/mngt/alice",
            "application/x-www-form-urlencoded",
            "status=boss",
            400,
            "`status`: one of",
        ),
        (
            "POST",
            "/auth/mngt/alice",
            "application/x-www-form-urlencoded",
            "home=../../etc",
            400,
            "`home`",
        ),
        (
            "POST",
            "/auth/mngt/alice",
            "application/x-www-form-urlencoded",
            "user=root&passwd=x",
            400,
            "differ",
        ),
        (
            "POST",
            "/auth/mngt/alice",
            "application/x-www-form-urlencoded",
            "",
            400,
            "nothing to change",
        ),
        (
            "POST",
            "/auth/mngt/alice",
            "text/plain",
            "passwd=x",
            415,
            "application/json",
        ),
    ];
    for (method, path, ctype, body, code, part) in cases {
        let r = call(
            &s,
            method,
            path,
            Some(ROOT),
            &[
                "-H",
                "Accept: text/json",
                "-H",
                &format!("Content-Type: {ctype}"),
                "--data-raw",
                body,
            ],
        );
        assert_eq!(r.code, *code, "{body}: {r:?}");
        let v = r.json();
        assert_eq!(v["method"], *method, "{body}");
        assert_eq!(v["error"], "bad value", "{body}");
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains(part), "{body}: {msg}");
    }
    // Form answers carry the message too.
    let r = call(
        &s,
        "POST",
        "/auth/mngt/alice",
        Some(ROOT),
        &["--data-raw", "status=boss"],
    );
    assert_eq!(r.code, 400);
    assert!(
        r.body
            .starts_with("method=POST&user=alice&error=bad%20value&message="),
        "{}",
        r.body
    );
    // Bodies are small: 413 beyond 4 KiB, declared or not.
    let big = format!("passwd={}", "x".repeat(5000));
    let r = form(&s, "POST", "/auth/mngt/alice", Some(ROOT), &big);
    assert_eq!(r.code, 413);
    let r = call(
        &s,
        "POST",
        "/auth/mngt/alice",
        Some(ROOT),
        &[
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "Content-Type: application/x-www-form-urlencoded",
            "--data-raw",
            &big,
        ],
    );
    assert_eq!(r.code, 413);
    // Nothing changed.
    assert_eq!(sign_in(&s, ALICE), 200);
}

#[test]
fn auth_mngt_concurrent_updates_lose_nothing() {
    let (_d, s, _) = basic();
    let s = std::sync::Arc::new(s);
    let threads: Vec<_> = (0..20)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                let path = format!("/auth/mngt/u{i}");
                let r = form(&s, "PUT", &path, Some(ROOT), &format!("passwd=pw{i}"));
                assert_eq!(r.code, 201, "{r:?}");
                for step in 1..=3 {
                    let body = format!("home=/home/u{i}/{step}");
                    let r = form(&s, "POST", &path, Some(ROOT), &body);
                    assert_eq!(r.code, 200, "{r:?}");
                }
                let r = form(&s, "POST", &path, Some(ROOT), "status=activated");
                assert_eq!(r.code, 200, "{r:?}");
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let r = get(&s, "/auth/mngt", ROOT);
    let list = r.json();
    let users = list.as_array().unwrap();
    assert_eq!(users.len(), 22);
    for i in 0..20 {
        let name = format!("u{i}");
        let u = users.iter().find(|u| u["user"] == name.as_str()).unwrap();
        assert_eq!(u["home"], format!("/home/u{i}/3"));
        assert_eq!(u["status"], "activated");
        assert_eq!(u["group"], "users");
    }
    assert_eq!(sign_in(&s, "u7:pw7"), 200);
    assert!(!s.log().contains("database is locked"), "{}", s.log());
}

#[test]
fn auth_mngt_tokens_follow_the_database() {
    let (_d, s, _) = start(&format!(
        r#"type = "Basic"; options = "management,jwt,header"; secret = "{SECRET}";"#
    ));
    let r = call(&s, "GET", "/hello.txt", Some(ALICE), &[]);
    assert_eq!(r.code, 200);
    let token = r.header("x-auth-token").unwrap();
    let bearer = format!("Authorization: Bearer {token}");
    let with_token = || call(&s, "GET", "/hello.txt", None, &["-H", &bearer]);
    let r = with_token();
    assert_eq!(r.code, 200);
    assert_eq!(r.header("x-remote-group").as_deref(), Some("users"));
    // A new group shows at once, not when the token expires.
    form(&s, "POST", "/auth/mngt/alice", Some(ROOT), "group=staff");
    assert_eq!(
        with_token().header("x-remote-group").as_deref(),
        Some("staff")
    );
    // Repudiated or deleted: the token is refused.
    form(
        &s,
        "POST",
        "/auth/mngt/alice",
        Some(ROOT),
        "status=repudiated",
    );
    assert_eq!(with_token().code, 401);
    form(
        &s,
        "POST",
        "/auth/mngt/alice",
        Some(ROOT),
        "status=activated",
    );
    assert_eq!(with_token().code, 200);
    form(&s, "DELETE", "/auth/mngt/alice", Some(ROOT), "");
    assert_eq!(with_token().code, 401);
}

#[test]
fn auth_mngt_self_registration_only_where_unprotected() {
    let (_d, s, _) =
        start(r#"type = "Basic"; options = "management"; unprotect = "^/auth/mngt*";"#);
    let r = form(
        &s,
        "PUT",
        "/auth/mngt",
        None,
        "user=newbie&passwd=newbiepw&group=root",
    );
    assert_eq!(r.code, 201, "{r:?}");
    assert_eq!(r.json()["group"], "users");
    assert_eq!(r.json()["status"], "approving");
    assert_eq!(sign_in(&s, "newbie:newbiepw"), 401);
    let r = form(
        &s,
        "PUT",
        "/auth/mngt",
        None,
        "user=other&passwd=pw&status=activated",
    );
    assert_eq!(r.code, 403);
    // Anything else still needs credentials.
    for m in ["GET", "POST", "DELETE"] {
        let r = form(&s, m, "/auth/mngt/newbie", None, "passwd=x");
        assert_eq!(r.code, 401, "{m}");
    }
    assert_eq!(get(&s, "/auth/mngt", ALICE).code, 403);
    form(
        &s,
        "POST",
        "/auth/mngt/newbie",
        Some(ROOT),
        "status=activated",
    );
    assert_eq!(sign_in(&s, "newbie:newbiepw"), 200);
}

fn digest<'a>(user: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["--digest", "-u", user, "-H", "Accept: text/json"];
    all.extend(args);
    all
}

/// The status of `GET /hello.txt` signed with Digest SHA-256 (realm
/// `device`) as `user`, with nonce count `nc` on a fresh challenge's nonce.
fn digest_get(s: &TestServer, user: &str, password: &str, nc: u32) -> u16 {
    use marmoset::modules::auth::digest::{self, Algorithm, Params};
    let challenge = call(s, "GET", "/hello.txt", None, &[]);
    let line = challenge.header("www-authenticate").unwrap();
    let c = digest::parse_params(line.strip_prefix("Digest ").unwrap()).unwrap();
    let alg = Algorithm::parse("SHA-256").unwrap();
    let mut p = Params {
        username: user.into(),
        realm: "device".into(),
        nonce: c.nonce,
        uri: "/hello.txt".into(),
        cnonce: "c0ffee".into(),
        qop: "auth".into(),
        nc: format!("{nc:08x}"),
        algorithm: Some("SHA-256".into()),
        ..Params::default()
    };
    let ha1 = alg.hash.hex(format!("{user}:device:{password}").as_bytes());
    p.response = digest::response(alg, &ha1, &p, "GET");
    let header = format!(
        "Authorization: Digest username=\"{user}\", realm=\"device\", nonce=\"{}\", \
         uri=\"/hello.txt\", algorithm=SHA-256, qop=auth, nc={}, cnonce=\"c0ffee\", \
         response=\"{}\"",
        p.nonce, p.nc, p.response
    );
    call(s, "GET", "/hello.txt", None, &["-H", &header]).code
}

#[test]
fn auth_mngt_digest_accounts_get_realm_bound_hashes() {
    let (_d, s, db) = start(
        r#"type = "Digest"; realm = "device"; options = "management"; secret = "a digest secret key";"#,
    );
    // The accounts made by the tool are argon2: Digest cannot use them.
    // Make root a Digest account first.
    tool(&[
        "-D",
        db.to_str().unwrap(),
        "--change",
        "-u",
        "root",
        "-p",
        "rootpw",
        "-T",
        "Digest",
        "-R",
        "device",
    ]);
    let r = call(
        &s,
        "PUT",
        "/auth/mngt",
        None,
        &digest(
            ROOT,
            &["--data-raw", "user=dora&passwd=dorapw&status=activated"],
        ),
    );
    assert_eq!(r.code, 201, "{r:?}");
    // Signed in by hand: curl processes started in the same second get the
    // same (time-based) nonce, and a second nonce count 1 is a replay.
    assert_eq!(digest_get(&s, "dora", "dorapw", 0x100), 200);
    assert_eq!(digest_get(&s, "dora", "wrong", 0x101), 401);
    let stored = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\
             \"select passwd from passwds p join users u on u.id=p.userid where u.name='dora'\"\
             ).fetchone()[0])",
            db.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stored = String::from_utf8_lossy(&stored.stdout);
    assert!(stored.starts_with("$a5$realm=device$"), "{stored}");
}

#[test]
fn auth_mngt_needs_the_sqlite_storage() {
    let dir = site();
    let conf = doc_conf(
        "auth = { type = \"Basic\"; user = \"a\"; passwd = \"b\";\n options = \"management\"; };",
        "",
    );
    let Err(log) = TestServer::try_start(dir.path(), &conf, &[]) else {
        panic!("started with management on a simple storage");
    };
    assert!(
        log.contains("marmoset.conf:2:")
            && log.contains("option `management` needs the sqlite storage"),
        "{log}"
    );
}

#[test]
fn auth_mngt_in_process_mode_and_listed_as_a_root() {
    // One process per connection: each request's changes are seen by the
    // next connection's process.
    let (d, s, _) = start_with(
        &format!(r#"type = "Basic"; options = "management,jwt,header"; secret = "{SECRET}";"#),
        &["--mode", "process"],
    );
    let r = form(
        &s,
        "PUT",
        "/auth/mngt",
        Some(ROOT),
        "user=pat&passwd=patpw&status=activated",
    );
    assert_eq!(r.code, 201, "{r:?}");
    let r = call(&s, "GET", "/hello.txt", Some("pat:patpw"), &[]);
    assert_eq!(r.code, 200);
    let bearer = format!(
        "Authorization: Bearer {}",
        r.header("x-auth-token").unwrap()
    );
    let r = json(
        &s,
        "POST",
        "/auth/mngt/pat",
        Some("pat:patpw"),
        r#"{"passwd":"pat2"}"#,
    );
    assert_eq!(r.code, 200, "{r:?}");
    assert_eq!(sign_in(&s, "pat:patpw"), 401);
    assert_eq!(sign_in(&s, "pat:pat2"), 200);
    assert_eq!(
        form(&s, "DELETE", "/auth/mngt/pat", Some(ROOT), "").code,
        200
    );
    assert_eq!(sign_in(&s, "pat:pat2"), 401);
    assert_eq!(
        call(&s, "GET", "/hello.txt", None, &["-H", &bearer]).code,
        401
    );
    // `--list-roots` shows the API.
    let out = crate::support::marmoset()
        .arg("-W")
        .arg(d.path())
        .args(["--list-roots", "-f", "marmoset.conf"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("  /auth/mngt\tauth\n"), "{text}");
}
