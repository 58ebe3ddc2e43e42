//! Integration tests: OpenID Connect sign-in (issue 6) against a real
//! provider, npm's `oidc-provider` (`tests/oidc/provider.js`, installed by
//! `./test.sh` with `npm ci --prefix tests/oidc`), driven browser-less by
//! curl with a cookie jar: the redirect to the provider, its login form,
//! the code coming back, the session cookie, then the protected pages.
//!
//! The refusal cases the real provider never produces (a tampered,
//! wrongly addressed, expired, foreign-nonce, foreign-issuer or unsigned
//! ID token) are made by the same provider: its `mangle` command alters
//! the ID token of its token responses and re-signs it with its own
//! signing key (see the header of provider.js). Everything else — state,
//! PKCE, code, client authentication, keys — is the provider's own.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use crate::support::{TempDir, TestServer, doc_conf, site};

const SECRET: &str = "a very shared secret";
const CLIENT_SECRET: &str = "marmoset-test-secret";

/// The test provider, running; stopped when dropped.
struct Op {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    port: u16,
}

impl Op {
    fn start() -> Op {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "the test provider is not installed: run ./test.sh (npm ci --prefix tests/oidc)"
        );
        let mut child = Command::new("node")
            .arg(dir.join("provider.js"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run node");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut op = Op {
            child,
            stdin,
            lines,
            port: 0,
        };
        let first = op.expect("listening");
        op.port = first.trim_start_matches("listening ").parse().unwrap();
        op
    }

    /// The next output line starting with `prefix` (bounded wait).
    fn expect(&self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("the provider did not say `{prefix}`"));
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    /// Send a command and wait for its answer.
    fn cmd(&mut self, line: &str, answer: &str) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        self.expect(answer)
    }

    fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A site with a protected CGI script printing the user, a protected
/// page, a public page; marmoset started with an `oAuth2` section
/// (`extra` appended) for `op`, and `op` told about the callback.
fn start(op: &mut Op, extra: &str, args: &[&str]) -> (TempDir, TestServer) {
    start_as(op, "marmoset", extra, args)
}

/// As [`start`], for the provider's client `client_id`.
fn start_as(op: &mut Op, client_id: &str, extra: &str, args: &[&str]) -> (TempDir, TestServer) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = site();
    let htdocs = dir.path().join("htdocs");
    std::fs::create_dir_all(htdocs.join("private")).unwrap();
    std::fs::create_dir_all(htdocs.join("public")).unwrap();
    std::fs::write(
        htdocs.join("private/secret.html"),
        "<p>secret content</p>\n",
    )
    .unwrap();
    std::fs::write(htdocs.join("private/other.html"), "<p>other secret</p>\n").unwrap();
    std::fs::write(htdocs.join("public/a.txt"), "public\n").unwrap();
    std::fs::create_dir_all(dir.path().join("cgi")).unwrap();
    let script = dir.path().join("cgi/who.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nuser=%s\\n' \"$REMOTE_USER\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let auth = format!(
        r#"auth = {{ type = "oAuth2"; issuer_url = "{}"; client_id = "{client_id}"; client_secret = "{CLIENT_SECRET}"; redirect_uri = "/auth/callback"; secret = "{SECRET}"; unprotect = "^/public/*"; group_claim = "groups"; {extra} }};
           cgi = {{ docroot = "cgi"; allow = ".sh*"; deny = "*"; denylast = true; }};"#,
        op.issuer()
    );
    let s = TestServer::start(dir.path(), &doc_conf(&auth, ""), args);
    op.cmd(
        &format!("redirect http://{}/auth/callback", s.addr),
        "ready",
    );
    (dir, s)
}

/// The server's whole log (info lines are buffered until exit): stop it,
/// then wait (bounded) for `needle`.
fn log_after_stop(s: &mut TestServer, needle: &str) -> String {
    s.stop();
    for _ in 0..100 {
        if s.log().contains(needle) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    s.log()
}

/// One curl response.
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

    fn cookies(&self) -> Vec<String> {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }
}

/// A browser-less browser: curl with a cookie jar.
struct Browser {
    _dir: TempDir,
    jar: PathBuf,
}

impl Browser {
    fn new() -> Browser {
        let dir = tempfile::tempdir().unwrap();
        let jar = dir.path().join("jar");
        Browser { _dir: dir, jar }
    }

    fn curl(&self, url: &str, args: &[&str]) -> Resp {
        let body = tempfile::NamedTempFile::new().unwrap();
        let jar = self.jar.to_str().unwrap();
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "20", "-c", jar, "-b", jar, "-D", "-"])
            .args(["-o", body.path().to_str().unwrap(), "-w", "\n%{http_code}"])
            .args(args)
            .arg(url)
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (head, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        Resp {
            code: code.trim().parse().unwrap_or(0),
            head: head.to_string(),
            body: std::fs::read_to_string(body.path()).unwrap_or_default(),
        }
    }

    fn get(&self, url: &str) -> Resp {
        self.curl(url, &[])
    }
}

/// `location` made absolute against `base` (`http://host:port`).
fn absolute(base: &str, location: &str) -> String {
    if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location.to_string()
    }
}

/// Ask for `path` on `s`, sign in at `op` as `login`, and stop at the
/// redirect back to marmoset: the callback URL.
fn sign_in_until_callback(b: &Browser, s: &TestServer, op: &Op, path: &str, login: &str) -> String {
    let site = format!("http://{}", s.addr);
    let r = b.get(&format!("{site}{path}"));
    assert_eq!(r.code, 302, "{}{}", r.head, s.log());
    let mut next = r.header("location").unwrap();
    assert!(
        next.starts_with(&format!("{}/auth?", op.issuer())),
        "{next}"
    );
    // Follow the provider's redirects to its login form.
    let form = loop {
        let r = b.get(&next);
        match r.code {
            302 | 303 => next = absolute(&op.issuer(), &r.header("location").unwrap()),
            200 => break r,
            c => panic!("provider answered {c}: {}", r.body),
        }
    };
    let action = form
        .body
        .split("action=\"")
        .nth(1)
        .and_then(|a| a.split('"').next())
        .expect("the provider's login form");
    let r = b.curl(
        &absolute(&op.issuer(), action),
        &[
            "--data",
            &format!("prompt=login&login={login}&password=any"),
        ],
    );
    let mut r = r;
    for _ in 0..10 {
        assert!(matches!(r.code, 302 | 303), "{}\n{}", r.head, r.body);
        let loc = absolute(&op.issuer(), &r.header("location").unwrap());
        if loc.starts_with(&site) {
            return loc;
        }
        r = b.get(&loc);
    }
    panic!("no redirect back to marmoset");
}

/// The whole flow for `path`; the callback's answer.
fn sign_in(b: &Browser, s: &TestServer, op: &Op, path: &str, login: &str) -> Resp {
    let cb = sign_in_until_callback(b, s, op, path, login);
    b.get(&cb)
}

#[test]
fn auth_oidc_code_flow_signs_in() {
    let mut op = Op::start();
    let (_d, s) = start(&mut op, "", &[]);
    let site = format!("http://{}", s.addr);
    let b = Browser::new();

    // Public pages need no sign-in; scripts get 403, not a redirect.
    assert_eq!(b.get(&format!("{site}/public/a.txt")).code, 200);
    let xhr = b.curl(
        &format!("{site}/private/secret.html"),
        &["-H", "X-Requested-With: XMLHttpRequest"],
    );
    assert_eq!(xhr.code, 403);
    let image = b.curl(
        &format!("{site}/private/secret.html"),
        &["-H", "Sec-Fetch-Mode: no-cors"],
    );
    assert_eq!(image.code, 401);
    assert!(image.cookies().is_empty(), "{:?}", image.cookies());

    // The authorization request: code flow, PKCE S256, state, nonce, the
    // absolute callback; the login in flight in a signed Lax cookie.
    let r = b.get(&format!("{site}/who.sh?x=1"));
    assert_eq!(r.code, 302);
    let loc = r.header("location").unwrap();
    let enc_cb = format!(
        "http%3A%2F%2F127%2E0%2E0%2E1%3A{}%2Fauth%2Fcallback",
        s.addr.port()
    );
    for p in [
        "response_type=code",
        "client_id=marmoset",
        &format!("redirect_uri={enc_cb}"),
        "scope=openid%20profile%20email",
        "code_challenge_method=S256",
        "code_challenge=",
        "state=",
        "nonce=",
    ] {
        assert!(loc.contains(p), "{p} missing in {loc}");
    }
    let cookie = r
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("MarmosetOidc-"))
        .unwrap();
    for attr in [
        "Path=/auth/callback",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=600",
    ] {
        assert!(cookie.contains(attr), "{cookie}");
    }

    // Through the provider's login form and back: the session cookie, the
    // group from the `groups` claim, back to the page first asked for.
    let r = sign_in(&b, &s, &op, "/who.sh?x=1", "alice");
    assert_eq!(r.code, 302, "{}\n{}\n{}", r.head, r.body, s.log());
    assert_eq!(r.header("location").as_deref(), Some("/who.sh?x=1"));
    let cookies = r.cookies();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("X-Auth-Token=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("X-Remote-Group=admins")),
        "{cookies:?}"
    );
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("MarmosetOidc-") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );

    // Every later request (each curl run is a new connection) carries the
    // session: CGI sees the user, pages are served.
    let r = b.get(&format!("{site}/who.sh?x=1"));
    assert_eq!(
        (r.code, r.body.as_str()),
        (200, "user=alice\n"),
        "{}",
        s.log()
    );
    let r = b.get(&format!("{site}/private/secret.html"));
    assert_eq!((r.code, r.body.as_str()), (200, "<p>secret content</p>\n"));
    // Another browser is not signed in.
    assert_eq!(
        Browser::new()
            .get(&format!("{site}/private/secret.html"))
            .code,
        302
    );
    let mut s = s;
    let log = log_after_stop(&mut s, "signed in with OpenID");
    assert!(log.contains("signed in with OpenID as \"alice\""), "{log}");
}

/// `client_secret_post`, the user named by another claim, a home from the
/// template.
#[test]
fn auth_oidc_client_secret_post_and_claim_mapping() {
    let mut op = Op::start();
    // The provider's second client takes its secret in the body.
    let (_d, s) = start_as(
        &mut op,
        "marmoset-post",
        r#"client_auth = "client_secret_post"; user_claim = "email"; home = "/home/{user}";"#,
        &[],
    );
    let b = Browser::new();
    let r = sign_in(&b, &s, &op, "/who.sh", "bob");
    assert_eq!(r.code, 302, "{}\n{}\n{}", r.head, r.body, s.log());
    assert!(
        r.cookies()
            .iter()
            .any(|c| c.starts_with("X-Remote-Group=users"))
    );
    assert!(r.cookies().iter().any(|c| c.starts_with("X-Remote-Home=")));
    let r = b.get(&format!("http://{}/who.sh", s.addr));
    assert_eq!(r.body, "user=bob@example.test\n");
}

/// A provider that keeps the profile claims out of the ID token (OpenID
/// Connect Core §5.4): they come from its userinfo end point. The login
/// `Alice` has sub `Alice` but preferred_username `alice` and group
/// `admins`, known only there.
#[test]
fn auth_oidc_claims_from_userinfo() {
    let mut op = Op::start();
    let (_d, s) = start(&mut op, "", &[]);
    op.cmd("conform on", "ready");
    let b = Browser::new();
    let r = sign_in(&b, &s, &op, "/who.sh", "Alice");
    assert_eq!(r.code, 302, "{}\n{}", r.body, s.log());
    assert!(
        r.cookies()
            .iter()
            .any(|c| c.starts_with("X-Remote-Group=admins")),
        "{:?}",
        r.cookies()
    );
    let r = b.get(&format!("http://{}/who.sh", s.addr));
    assert_eq!(r.body, "user=alice\n");
}

#[test]
fn auth_oidc_refuses_unknown_and_replayed_state() {
    let mut op = Op::start();
    let (_d, s) = start(&mut op, "", &[]);
    let site = format!("http://{}", s.addr);
    let b = Browser::new();

    // Unknown or missing state: 400, nothing signed in.
    for q in ["code=abc&state=made-up", "code=abc"] {
        let r = b.get(&format!("{site}/auth/callback?{q}"));
        assert_eq!(r.code, 400, "{q}: {}", r.body);
        assert!(r.body.contains("state"), "{}", r.body);
    }

    let cb = sign_in_until_callback(&b, &s, &op, "/private/secret.html", "alice");
    // The state cookie as the browser holds it, for the replay below.
    let jar = std::fs::read_to_string(&b.jar).unwrap();
    let line = jar.lines().find(|l| l.contains("MarmosetOidc-")).unwrap();
    let fields: Vec<&str> = line.split('\t').collect();
    let stolen = format!("{}={}", fields[5], fields[6]);
    // The callback signs in and deletes the state cookie.
    let r = b.get(&cb);
    assert_eq!(r.code, 302);
    assert!(
        r.cookies()
            .iter()
            .any(|c| c.starts_with(&format!("{}=;", fields[5])) && c.contains("Max-Age=0")),
        "{:?}",
        r.cookies()
    );
    // The callback replayed with the state cookie (by this browser, or by
    // someone who copied both): refused, the state was used.
    let r = Browser::new().curl(&cb, &["-H", &format!("Cookie: {stolen}")]);
    assert_eq!(r.code, 400, "{}", r.body);
    assert!(r.body.contains("already used"), "{}", r.body);
    // A forged state cookie: refused.
    let forged = format!("{}={}x", fields[5], fields[6]);
    let r = Browser::new().curl(&cb, &["-H", &format!("Cookie: {forged}")]);
    assert_eq!(r.code, 400, "{}", r.body);
}

#[test]
fn auth_oidc_refuses_bad_id_tokens() {
    let mut op = Op::start();
    let (_d, s) = start(&mut op, "", &[]);
    let site = format!("http://{}", s.addr);
    for (how, reason) in [
        ("signature", "InvalidSignature"),
        ("audience", "InvalidAudience"),
        ("expired", "ExpiredSignature"),
        ("nonce", "nonce"),
        ("issuer", "InvalidIssuer"),
        ("none", "algorithm"),
    ] {
        op.cmd(&format!("mangle {how}"), "ok");
        let b = Browser::new();
        let r = sign_in(&b, &s, &op, "/private/secret.html", "alice");
        assert_eq!(r.code, 401, "{how}: {}\n{}", r.body, s.log());
        assert!(r.body.contains(reason), "{how}: {}", r.body);
        assert!(
            !r.cookies().iter().any(|c| c.starts_with("X-Auth-Token")),
            "{how}"
        );
        assert_eq!(
            b.get(&format!("{site}/private/secret.html")).code,
            302,
            "{how}"
        );
    }
    // The same flow with the provider's token untouched signs in.
    op.cmd("mangle off", "ok");
    let b = Browser::new();
    assert_eq!(
        sign_in(&b, &s, &op, "/private/secret.html", "alice").code,
        302
    );
    assert_eq!(b.get(&format!("{site}/private/secret.html")).code, 200);
}

/// A new key at the provider (RS256 → ES256, new kid): the next login's
/// ID token names a kid marmoset has not cached; the key set is fetched
/// again and the login works.
#[test]
fn auth_oidc_key_rotation_is_picked_up() {
    let mut op = Op::start();
    let (_d, s) = start(&mut op, "", &[]);
    let site = format!("http://{}", s.addr);
    let b = Browser::new();
    assert_eq!(
        sign_in(&b, &s, &op, "/private/secret.html", "alice").code,
        302
    );
    assert_eq!(b.get(&format!("{site}/private/secret.html")).code, 200);

    let kid = op.cmd("keys ES256", "ready");
    let kid = kid.trim_start_matches("ready ");
    let b = Browser::new();
    let r = sign_in(&b, &s, &op, "/private/secret.html", "carol");
    assert_eq!(r.code, 302, "{}\n{}", r.body, s.log());
    assert_eq!(b.get(&format!("{site}/private/secret.html")).code, 200);
    // Two fetches of the key set: the first login's, the rotated key's.
    let mut s = s;
    let log = log_after_stop(&mut s, &format!("looking for `{kid}`"));
    assert_eq!(log.matches("signing key(s) from").count(), 2, "{log}");
    assert!(log.contains(&format!("looking for `{kid}`")), "{log}");
}

/// Process mode: each connection is its own child, nothing is shared in
/// memory; the state travels in its cookie and the session in the token.
#[test]
fn auth_oidc_works_in_process_mode() {
    let mut op = Op::start();
    let dir = site();
    let conf = format!(
        "mode = \"process\";\n{}",
        doc_conf(
            &format!(
                r#"auth = {{ type = "OpenID"; issuer_url = "{}"; client_id = "marmoset"; client_secret = "{CLIENT_SECRET}"; redirect_uri = "/auth/callback"; secret = "{SECRET}"; }};"#,
                op.issuer()
            ),
            "",
        )
    );
    let s = TestServer::start(dir.path(), &conf, &[]);
    op.cmd(
        &format!("redirect http://{}/auth/callback", s.addr),
        "ready",
    );
    let b = Browser::new();
    let r = sign_in(&b, &s, &op, "/hello.txt", "alice");
    assert_eq!(r.code, 302, "{}\n{}", r.body, s.log());
    let r = b.get(&format!("http://{}/hello.txt", s.addr));
    assert_eq!((r.code, r.body.as_str()), (200, "hello world\n"));
}

#[test]
fn auth_oidc_provider_unreachable_is_502() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = site();
    let conf = doc_conf(
        &format!(
            r#"auth = {{ type = "oidc"; issuer_url = "http://127.0.0.1:{port}"; client_id = "marmoset"; redirect_uri = "/cb"; secret = "{SECRET}"; }};"#
        ),
        "",
    );
    let s = TestServer::start(dir.path(), &conf, &[]);
    let r = Browser::new().get(&format!("http://{}/hello.txt", s.addr));
    assert_eq!(r.code, 502, "{}", r.body);
    assert!(r.body.contains("cannot be reached"));
}

#[test]
fn auth_oidc_misconfigured_does_not_start() {
    let dir = site();
    let base = r#"type = "oAuth2"; secret = "a very shared secret";"#;
    for (auth, expect) in [
        (
            r#"client_id = "x"; redirect_uri = "/cb";"#,
            "auth.issuer_url: missing key `issuer_url`",
        ),
        (
            r#"issuer_url = "https://op.example"; redirect_uri = "/cb";"#,
            "auth.client_id: missing key `client_id`",
        ),
        (
            r#"issuer_url = "op.example"; client_id = "x"; redirect_uri = "/cb";"#,
            "auth.issuer_url: `op.example` is not an http(s) URL",
        ),
        (
            r#"issuer_url = "https://op.example"; client_id = "x"; redirect_uri = "cb?x";"#,
            "auth.redirect_uri:",
        ),
        (
            r#"issuer_url = "https://op.example"; client_id = "x"; redirect_uri = "/cb"; scope = "email";"#,
            "auth.scope: `email` lacks `openid`",
        ),
        (
            r#"issuer_url = "https://op.example"; client_id = "x"; redirect_uri = "/cb"; client_auth = "client_secret_post";"#,
            "auth.client_secret:",
        ),
        (
            r#"issuer_url = "https://op.example"; client_id = "x"; redirect_uri = "/cb"; cafile = "missing.pem";"#,
            "cafile missing.pem",
        ),
    ] {
        let conf = doc_conf(&format!("auth = {{ {base} {auth} }};"), "");
        let Err(log) = TestServer::try_start(dir.path(), &conf, &[]) else {
            panic!("started with {auth}");
        };
        assert!(log.contains(expect), "{auth}: {log}");
        assert!(log.contains("marmoset.conf:"), "{log}");
    }
    // Without `secret` (the session token and state cookies need it).
    let conf = doc_conf(
        r#"auth = { type = "oAuth2"; issuer_url = "https://op.example"; client_id = "x"; redirect_uri = "/cb"; };"#,
        "",
    );
    let log = TestServer::try_start(dir.path(), &conf, &[]).err().unwrap();
    assert!(log.contains("auth.secret:"), "{log}");
}

/// Headless Chromium through the same login: the provider's form filled
/// in and submitted, back on the page first asked for, the session cookie
/// HttpOnly, the state cookie gone (`tests/py/oidc_browser.py`).
#[test]
fn auth_oidc_browser_signs_in() {
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed for the browser tests: run ./test.sh"
    );
    let mut op = Op::start();
    let (_d, s) = start(&mut op, "", &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/oidc_browser.py");
    let out = Command::new("python3")
        .arg(script)
        .args([&format!("http://{}", s.addr), &op.issuer(), "alice"])
        .args(std::env::var("MARMOSET_OIDC_SCREENSHOT").ok())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("oidc signin ok"), "{stdout}");
}
