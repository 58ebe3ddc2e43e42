//! Integration tests: the TOTP factor and password + TOTP chains (issue 6),
//! against the real server with curl. Codes are computed by
//! `tests/fixtures/auth/totp.py` (Python's hmac, RFC 6238) from the key in
//! the enrolment URL, not by the server's code.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::support::curl::curl;
use crate::support::{TempDir, TestServer, doc_conf, site};

const SECRET: &str = "a very shared secret";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/auth")
        .join(name)
}

fn python(args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(fixture("totp.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The 6-digit SHA1 code of base32 `key` for time step `step`.
fn code(key: &str, step: u64) -> String {
    python(&["code", key, "6", "SHA1", &step.to_string()])
}

/// The current 30-second step, waiting (once, at most 7 s) for the next
/// one when fewer than 7 seconds are left, so a test's codes all fall in
/// the server's window.
fn step_with_margin() -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let into = now.as_secs_f64() % 30.0;
    if into > 23.0 {
        std::thread::sleep(Duration::from_secs_f64(30.0 - into + 0.2));
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 30
}

/// A site with user foo/bar in `users.db`, served with `auth = <auth>`
/// (`$DB` replaced by the database path) and `top` before `servers`.
fn start(auth: &str, top: &str) -> (TempDir, TestServer) {
    let dir = site();
    let db = dir.path().join("users.db");
    let out = Command::new(env!("CARGO_BIN_EXE_marmoset-passwd"))
        .args([
            "-D",
            db.to_str().unwrap(),
            "-u",
            "foo",
            "-p",
            "bar",
            "-g",
            "admin",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    std::fs::write(dir.path().join("htdocs/totp.html"), "<form>code</form>\n").unwrap();
    std::fs::write(
        dir.path().join("htdocs/signin.html"),
        "<form>password</form>\n",
    )
    .unwrap();
    let auth = auth
        .replace("$DB", db.to_str().unwrap())
        .replace("$SECRET", SECRET);
    let conf = format!("{top}{}", doc_conf(&format!("auth = {auth};"), ""));
    let server = TestServer::start(dir.path(), &conf, &[]);
    (dir, server)
}

/// `Cookie: X-Auth-Token=<t>`.
fn cookie(t: &str) -> String {
    format!("X-Auth-Token={t}")
}

/// A claim of a JWT (decoded here, not verified).
fn claim(token: &str, name: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    json[name].as_str().unwrap_or("").to_string()
}

/// The `iss` claim of a JWT.
fn iss(token: &str) -> String {
    claim(token, "iss")
}

/// The base32 key of an `otpauth://` URL, after checking its shape.
fn key_of(url: &str, issuer: &str, user: &str) -> String {
    let prefix = format!("otpauth://totp/{issuer}:{user}?secret=");
    assert!(url.starts_with(&prefix), "{url}");
    assert!(
        url.contains(&format!("&issuer={issuer}&digits=6&period=30")),
        "{url}"
    );
    let key = url[prefix.len()..].split('&').next().unwrap().to_string();
    // At least 160 bits.
    assert!(key.len() >= 32, "{key}");
    key
}

const CHAIN: &str = r#"(
    { type = "Basic"; dbname = "$DB"; issuer = "sqlite"; options = "jwt,cookie"; secret = "$SECRET"; },
    { type = "Basic"; authz = "totp"; dbname = "$DB"; issuer = "totp"; token_ep = "/totp"; options = "jwt,cookie"; secret = "$SECRET"; }
)"#;

/// Sign in with the password: the first factor's token (iss `sqlite`).
fn password_token(s: &TestServer) -> String {
    let r = curl(s, "/hello.txt", &["-u", "foo:bar"]);
    // The second factor is missing: its challenge.
    assert_eq!(r.code, 401, "{}", r.head);
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Basic realm=\"totp\"")
    );
    let t = r.token().expect("first factor token");
    assert_eq!(iss(&t), "sqlite");
    t
}

#[test]
fn auth_totp_chain_enrolment_codes_replay_and_downstream() {
    let (_d, s) = start(CHAIN, "");
    // Nothing, or the enrolment URL, without credentials.
    assert_eq!(curl(&s, "/hello.txt", &[]).code, 401);
    assert_eq!(curl(&s, "/totp", &[]).code, 401);
    assert_eq!(curl(&s, "/totp", &["-u", "foo:wrong"]).code, 401);
    let t1 = password_token(&s);
    // The password alone does not reach a page.
    let r = curl(&s, "/hello.txt", &["-b", &cookie(&t1)]);
    assert_eq!((r.code, r.body.contains("hello")), (401, false));
    // First enrolment: a fresh key, once.
    let r = curl(&s, "/totp", &["-b", &cookie(&t1)]);
    assert_eq!(r.code, 200, "{}", r.body);
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let url = r.body.trim().to_string();
    let key = key_of(&url, "totp", "foo");
    // Enrolled: the password alone cannot read the key again; a code is
    // asked for.
    let r = curl(&s, "/totp", &["-b", &cookie(&t1)]);
    assert_eq!(r.code, 401);
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Basic realm=\"totp\"")
    );
    assert!(!r.body.contains(&key));

    let step = step_with_margin();
    let now = code(&key, step);
    let wrong = format!("{:06}", (now.parse::<u32>().unwrap() + 1) % 1_000_000);
    let r = curl(
        &s,
        "/hello.txt",
        &["-b", &cookie(&t1), "-u", &format!("foo:{wrong}")],
    );
    assert_eq!(r.code, 401, "a wrong code");
    let r = curl(
        &s,
        "/hello.txt",
        &["-b", &cookie(&t1), "-u", &format!("foo:{now}")],
    );
    assert_eq!(r.code, 200, "{}", r.head);
    assert_eq!(r.body, "hello world\n");
    let t2 = r.token().expect("two-factor token");
    assert_eq!(iss(&t2), "sqlite+totp");
    // The user of the first factor, with its group.
    assert_eq!(
        (claim(&t2, "user"), claim(&t2, "roles")),
        ("foo".into(), "admin".into())
    );
    // The same code again (another request, the password-only token).
    let r = curl(
        &s,
        "/hello.txt",
        &["-b", &cookie(&t1), "-u", &format!("foo:{now}")],
    );
    assert_eq!(r.code, 401, "a replayed code");
    assert!(s.wait_log("replayed"), "{}", s.log());
    // The two-factor token reaches pages and shows the key again.
    assert_eq!(curl(&s, "/hello.txt", &["-b", &cookie(&t2)]).code, 200);
    let r = curl(&s, "/totp", &["-b", &cookie(&t2)]);
    assert_eq!((r.code, r.body.trim()), (200, url.as_str()));
    // A code on the enrolment request itself shows the key (what a
    // browser does after the 401 pop-up).
    let next = code(&key, step + 1);
    let r = curl(
        &s,
        "/totp",
        &["-b", &cookie(&t1), "-u", &format!("foo:{next}")],
    );
    assert_eq!((r.code, r.body.trim()), (200, url.as_str()));
    // A code with another user's name is no sign-in for foo's session.
    let r = curl(
        &s,
        "/hello.txt",
        &["-b", &cookie(&t1), "-u", &format!("bob:{now}")],
    );
    assert_ne!(r.code, 200);

    // A downstream server demanding both factors.
    let dir2 = site();
    let s2 = TestServer::start(
        dir2.path(),
        &doc_conf(
            &format!(
                r#"auth = {{ type = "Bearer"; authz = "jwt"; issuer = "sqlite+totp"; secret = "{SECRET}"; }};"#
            ),
            "",
        ),
        &[],
    );
    let bearer = |t: &str| format!("Authorization: Bearer {t}");
    assert_eq!(curl(&s2, "/hello.txt", &["-H", &bearer(&t1)]).code, 401);
    assert_eq!(curl(&s2, "/hello.txt", &["-b", &cookie(&t1)]).code, 401);
    let r = curl(&s2, "/hello.txt", &["-H", &bearer(&t2)]);
    assert_eq!((r.code, r.body.as_str()), (200, "hello world\n"));
}

#[test]
fn auth_totp_window_and_older_steps() {
    let (_d, s) = start(CHAIN, "");
    let t1 = password_token(&s);
    let r = curl(&s, "/totp", &["-b", &cookie(&t1)]);
    let key = key_of(r.body.trim(), "totp", "foo");
    let step = step_with_margin();
    let try_step = |st: u64| {
        let c = code(&key, st);
        curl(
            &s,
            "/hello.txt",
            &["-b", &cookie(&t1), "-u", &format!("foo:{c}")],
        )
        .code
    };
    // Outside the window (one step each side).
    assert_eq!(try_step(step - 3), 401);
    assert_eq!(try_step(step + 3), 401);
    // The step before now is accepted once.
    assert_eq!(try_step(step - 1), 200);
    assert_eq!(try_step(step - 1), 401);
    // Now, then an older step again: refused.
    assert_eq!(try_step(step), 200);
    assert_eq!(try_step(step - 1), 401);
    assert_eq!(try_step(step), 401);
    // The next step (a phone clock a little ahead) is still accepted.
    assert_eq!(try_step(step + 1), 200);
    assert_eq!(try_step(step), 401);
}

#[test]
fn auth_totp_replay_and_lock_across_connection_processes() {
    let chain = CHAIN.replace(
        r#"issuer = "totp";"#,
        r#"issuer = "totp"; maxfailures = 3; lockout = 600;"#,
    );
    let (_d, s) = start(&chain, "mode = \"process\";\n");
    let t1 = password_token(&s);
    let r = curl(&s, "/totp", &["-b", &cookie(&t1)]);
    let key = key_of(r.body.trim(), "totp", "foo");
    let step = step_with_margin();
    // Each curl is a new connection, so a new child process: what holds
    // across them is in the database.
    let try_code = |c: &str| {
        curl(
            &s,
            "/hello.txt",
            &["-b", &cookie(&t1), "-u", &format!("foo:{c}")],
        )
        .code
    };
    let c = code(&key, step);
    assert_eq!(try_code(&c), 200);
    assert_eq!(try_code(&c), 401, "replayed");
    // The replay and two wrong codes make three failures: the user's codes
    // are locked, the next right one too (the per-address guard of a
    // connection process would never see three).
    let wrong = format!("{:06}", (c.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert_eq!(try_code(&wrong), 401);
    assert_eq!(try_code(&wrong), 401);
    assert_eq!(try_code(&code(&key, step + 1)), 401, "locked");
    assert!(
        s.wait_log("locked after repeated wrong codes"),
        "{}",
        s.log()
    );
}

#[test]
fn auth_totp_wwwform_chain_for_browsers() {
    let (_d, s) = start(
        r#"(
            { type = "wwwform"; dbname = "$DB"; issuer = "sqlite"; token_ep = "/signin"; signin = "/signin.html"; options = "jwt,cookie"; secret = "$SECRET"; },
            { type = "wwwform"; authz = "totp"; dbname = "$DB"; issuer = "totp"; token_ep = "/totp"; signin = "/totp.html"; options = "jwt,cookie"; secret = "$SECRET"; }
        )"#,
        "",
    );
    // Each page is reachable with the factors before it: the password
    // page by anyone, the code page after the password only.
    assert_eq!(curl(&s, "/signin.html", &[]).code, 200);
    let r = curl(&s, "/totp.html", &[]);
    assert_eq!(r.code, 302);
    assert_eq!(r.header("location").as_deref(), Some("/signin.html"));
    let r = curl(&s, "/signin", &["-d", "username=foo&password=bar"]);
    assert_eq!(r.code, 200, "{}", r.head);
    let t1 = r.token().expect("first factor token");
    assert_eq!(iss(&t1), "sqlite");
    // Pages send the half-signed-in browser to the code form.
    let r = curl(&s, "/hello.txt", &["-b", &cookie(&t1)]);
    assert_eq!(r.code, 302);
    assert_eq!(r.header("location").as_deref(), Some("/totp.html"));
    assert_eq!(curl(&s, "/totp.html", &["-b", &cookie(&t1)]).code, 200);
    let r = curl(&s, "/totp", &["-b", &cookie(&t1)]);
    assert_eq!(r.code, 200);
    let key = key_of(r.body.trim(), "totp", "foo");
    // Enrolled: the code form first.
    let r = curl(&s, "/totp", &["-b", &cookie(&t1)]);
    assert_eq!(r.code, 302);
    assert_eq!(r.header("location").as_deref(), Some("/totp.html"));
    let step = step_with_margin();
    let c = code(&key, step);
    // A code without the first factor is no sign-in.
    let r = curl(&s, "/totp", &["-d", &format!("username=foo&password={c}")]);
    assert_ne!(r.code, 200);
    assert!(r.token().is_none());
    let form = format!("username=foo&password={c}&redirect_uri=/hello.txt");
    let r = curl(&s, "/totp", &["-b", &cookie(&t1), "-d", &form]);
    assert_eq!(r.code, 302, "{}", r.head);
    assert_eq!(r.header("location").as_deref(), Some("/hello.txt"));
    let t2 = r.token().expect("two-factor token");
    assert_eq!(iss(&t2), "sqlite+totp");
    let r = curl(&s, "/hello.txt", &["-b", &cookie(&t2)]);
    assert_eq!((r.code, r.body.as_str()), (200, "hello world\n"));
    // Replayed by form.
    let r = curl(&s, "/totp", &["-b", &cookie(&t1), "-d", &form]);
    assert_eq!(r.code, 401);
    // Without redirect_uri: the user of the chain, as JSON.
    let next = code(&key, step + 1);
    let r = curl(
        &s,
        "/totp",
        &[
            "-b",
            &cookie(&t1),
            "-d",
            &format!("username=foo&password={next}"),
        ],
    );
    assert_eq!(r.code, 200, "{}", r.head);
    let json: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        (json["user"].as_str(), json["group"].as_str()),
        (Some("foo"), Some("admin"))
    );
    // A new password sign-in starts a new session, for another user too.
    let out = Command::new(env!("CARGO_BIN_EXE_marmoset-passwd"))
        .args([
            "-D",
            s.dir.join("users.db").to_str().unwrap(),
            "-u",
            "bob",
            "-p",
            "bobpw",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let r = curl(
        &s,
        "/signin",
        &["-b", &cookie(&t2), "-d", "username=bob&password=bobpw"],
    );
    assert_eq!(r.code, 200, "{}", r.head);
    let t3 = r.token().unwrap();
    assert_eq!(
        (claim(&t3, "user"), iss(&t3)),
        ("bob".into(), "sqlite".into())
    );
}

#[test]
fn auth_totp_derived_keys_without_dbname() {
    let (_d, s) = start(
        r#"{ type = "Basic"; authz = "totp"; issuer = "totp"; token_ep = "/totp"; options = "jwt,cookie"; secret = "$SECRET"; }"#,
        "",
    );
    let key = python(&["derive", SECRET, "foo"]);
    assert_eq!(curl(&s, "/totp", &[]).code, 401);
    let c = code(&key, step_with_margin());
    let r = curl(&s, "/hello.txt", &["-u", &format!("foo:{c}")]);
    assert_eq!(r.code, 200, "{}", r.head);
    let t = r.token().unwrap();
    assert_eq!(iss(&t), "totp");
    assert_eq!(
        curl(&s, "/hello.txt", &["-u", &format!("foo:{c}")]).code,
        401
    );
    // After TOTP, the URL carries Ouistiti's derived key.
    let r = curl(&s, "/totp", &["-b", &cookie(&t)]);
    assert_eq!(r.code, 200);
    assert_eq!(key_of(r.body.trim(), "totp", "foo"), key);
}

#[test]
fn auth_totp_bad_keys_stop_the_server_with_their_place() {
    let dir = site();
    let conf = doc_conf(
        r#"auth = { type = "Basic"; authz = "totp"; dbname = "t.db";
    digits = 9; algorithm = "MD5"; };"#,
        "",
    );
    let log = TestServer::try_start(dir.path(), &conf, &[])
        .err()
        .expect("refused");
    assert!(
        log.contains("marmoset.conf:2:14: error: servers[0].auth.digits: must be 6, 7 or 8, got 9"),
        "{log}"
    );
    assert!(log.contains("marmoset.conf:2:29:"), "{log}");
    assert!(log.contains("unknown TOTP algorithm `MD5`"), "{log}");
}

/// Headless Chromium signs in with a password on the example sign-in page,
/// is sent to the example code page (`examples/htdocs/totp.html`), enrols
/// through its link, types the code, and lands on the protected page.
#[test]
fn auth_totp_browser_password_then_code() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed for the browser tests: run ./test.sh"
    );
    let dir = site();
    let htdocs = dir.path().join("htdocs");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/htdocs");
    for f in ["signin.html", "totp.html", "style.css"] {
        std::fs::copy(examples.join(f), htdocs.join(f)).unwrap();
    }
    std::fs::create_dir_all(htdocs.join("private")).unwrap();
    std::fs::write(
        htdocs.join("private/secret.html"),
        "<p>secret content</p>\n",
    )
    .unwrap();
    std::fs::write(htdocs.join("private/other.html"), "<p>other secret</p>\n").unwrap();
    let db = dir.path().join("users.db");
    let out = Command::new(env!("CARGO_BIN_EXE_marmoset-passwd"))
        .args([
            "-D",
            db.to_str().unwrap(),
            "-u",
            "alice",
            "-p",
            "wonderland",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let db = db.to_str().unwrap();
    let auth = format!(
        r#"auth = (
    {{ type = "wwwform"; dbname = "{db}"; issuer = "sqlite"; token_ep = "/login"; signin = "/signin.html"; unprotect = ".css"; options = "jwt,cookie"; secret = "{SECRET}"; }},
    {{ type = "wwwform"; authz = "totp"; dbname = "{db}"; issuer = "totp"; token_ep = "/totp"; signin = "/totp.html"; unprotect = ".css"; options = "jwt,cookie"; secret = "{SECRET}"; }}
);"#
    );
    let conf = doc_conf(&format!("hostname = \"localhost\"; {auth}"), "");
    let s = TestServer::start(dir.path(), &conf, &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/browser_totp.py");
    let out = Command::new("python3")
        .arg(script)
        .args([
            &format!("http://localhost:{}", s.addr.port()),
            "alice",
            "wonderland",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("totp ok"),
        "{out:?}"
    );
}

/// A TOTP factor alone (no earlier factor to enrol behind): the
/// administrator provisions and resets keys with `marmoset-passwd`.
#[test]
fn auth_totp_single_factor_keys_from_the_tool() {
    let (d, s) = start(
        r#"{ type = "Basic"; authz = "totp"; dbname = "$DB"; issuer = "door"; token_ep = "/totp"; }"#,
        "",
    );
    let db = d.path().join("users.db");
    let tool = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_marmoset-passwd"))
            .args(["-D", db.to_str().unwrap(), "-u", "foo"])
            .args(args)
            .output()
            .unwrap()
    };
    let out = tool(&["--totp", "-I", "door"]);
    assert!(out.status.success(), "{out:?}");
    let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let key = key_of(&url, "door", "foo");
    // Asked again: the same key.
    let again = String::from_utf8(tool(&["--totp", "-I", "door"]).stdout).unwrap();
    assert_eq!(again.trim(), url);
    // Nobody enrols over HTTP without a user; the key URL is shown for
    // a code.
    let r = curl(&s, "/totp", &[]);
    assert_eq!(r.code, 401);
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Basic realm=\"door\"")
    );
    let step = step_with_margin();
    let r = curl(
        &s,
        "/totp",
        &["-u", &format!("foo:{}", code(&key, step - 1))],
    );
    assert_eq!((r.code, r.body.trim()), (200, url.as_str()));
    let r = curl(
        &s,
        "/hello.txt",
        &["-u", &format!("foo:{}", code(&key, step))],
    );
    assert_eq!((r.code, r.body.as_str()), (200, "hello world\n"));
    // Reset (a lost phone): the old key no longer works.
    assert!(tool(&["--totp-reset"]).status.success());
    assert!(!tool(&["--totp-reset"]).status.success());
    let r = curl(
        &s,
        "/hello.txt",
        &["-u", &format!("foo:{}", code(&key, step + 1))],
    );
    assert_eq!(r.code, 401);
}
