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

mod harness;

use std::path::Path;
use std::process::Command;

use crate::support::{TestServer, doc_conf, site};

use self::harness::{
    Browser, CLIENT_SECRET, Op, SECRET, log_after_stop, sign_in, sign_in_until_callback, start,
    start_as,
};

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
    for q in [
        "code=abc&state=made-up",
        "code=abc",
        "code=abc&state=x%3B%20Domain%3Devil",
    ] {
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

    // A callback naming another issuer (RFC 9207 mix-up): refused before
    // the code is used.
    let b = Browser::new();
    let cb = sign_in_until_callback(&b, &s, &op, "/private/secret.html", "alice");
    assert!(cb.contains("&iss="), "{cb}");
    let (before, _) = cb.split_once("&iss=").unwrap();
    let r = b.get(&format!("{before}&iss=http%3A%2F%2Fevil.example"));
    assert_eq!(r.code, 401, "{}", r.body);
    assert!(r.body.contains("another issuer"), "{}", r.body);
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

/// A provider over HTTPS with a certificate of its own: trusted through
/// `cafile` (the login works), not trusted without it (`502`, nothing
/// sent to an unverified party).
#[test]
fn auth_oidc_https_provider_needs_its_ca() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("cert.pem"), certs.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        // A server certificate, not a CA (webpki refuses CA certificates
        // as end entities).
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut op = Op::start_tls(&cert, &key);
    assert!(op.issuer().starts_with("https://"));
    let (_d, s) = start(&mut op, &format!("cafile = \"{}\";", cert.display()), &[]);
    let b = Browser::new();
    let r = sign_in(&b, &s, &op, "/who.sh", "alice");
    assert_eq!(r.code, 302, "{}\n{}", r.body, s.log());
    assert_eq!(
        b.get(&format!("http://{}/who.sh", s.addr)).body,
        "user=alice\n"
    );

    let (_d2, s2) = start(&mut op, "", &[]);
    let r = Browser::new().get(&format!("http://{}/who.sh", s2.addr));
    assert_eq!(r.code, 502, "{}", r.body);
    assert!(s2.wait_log("certificate"), "{}", s2.log());
}

/// Refused callbacks count as failed sign-ins: after `maxfailures` the
/// address is locked out (429) without the provider being asked again.
#[test]
fn auth_oidc_refused_callbacks_lock_out() {
    let mut op = Op::start();
    let (_d, s) = start(&mut op, "maxfailures = 2; lockout = 60;", &[]);
    let b = Browser::new();
    let bogus = format!("http://{}/auth/callback?code=x&state=bogus", s.addr);
    assert_eq!(b.get(&bogus).code, 400);
    assert_eq!(b.get(&bogus).code, 400);
    let r = b.get(&bogus);
    assert_eq!(r.code, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    // Even a genuine callback waits for the lock-out to end.
    let cb = sign_in_until_callback(&b, &s, &op, "/private/secret.html", "alice");
    assert_eq!(b.get(&cb).code, 429);
}

/// A hostile or broken "provider" — something no real provider does on
/// purpose, so a raw TCP stand-in: a discovery document larger than the
/// 1 MiB cap, and a server that accepts and never answers. Both end in a
/// `502` (the second after the 15 s exchange limit), not in a stuck login.
#[test]
fn auth_oidc_oversized_or_silent_provider_is_502() {
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    let huge = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let (huge_port, silent_port) = (
        huge.local_addr().unwrap().port(),
        silent.local_addr().unwrap().port(),
    );
    std::thread::spawn(move || {
        if let Ok((mut c, _)) = huge.accept() {
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let body = format!("{{\"issuer\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let held = std::thread::spawn(move || {
        // Accept, read the request, say nothing (dropped at test end).
        let conn = silent.accept().ok();
        std::thread::sleep(Duration::from_secs(20));
        drop(conn);
    });
    let dir = site();
    for (port, why) in [(huge_port, "length limit"), (silent_port, "timed out")] {
        let conf = doc_conf(
            &format!(
                r#"auth = {{ type = "oAuth2"; issuer_url = "http://127.0.0.1:{port}"; client_id = "marmoset"; redirect_uri = "/cb"; secret = "{SECRET}"; }};"#
            ),
            "",
        );
        let s = TestServer::start(dir.path(), &conf, &[]);
        let t = Instant::now();
        let r = Browser::new().get(&format!("http://{}/hello.txt", s.addr));
        assert_eq!(r.code, 502, "{why}: {}", r.body);
        assert!(
            t.elapsed() < Duration::from_secs(19),
            "{why}: {:?}",
            t.elapsed()
        );
        assert!(s.wait_log(why), "{why}: {}", s.log());
    }
    drop(held);
}
