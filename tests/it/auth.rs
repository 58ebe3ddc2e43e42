//! Integration tests: authentication (issue 5), against the real server
//! with curl, raw TCP, Python-made JWTs and crypt hashes, and the
//! `marmoset-passwd` tool.

use std::path::{Path, PathBuf};
use std::process::Command;

use marmoset::modules::auth::digest::{self, Algorithm, Nonces, Params};

use crate::support::curl::curl;
use crate::support::{TempDir, TestServer, doc_conf, site};

const SECRET: &str = "a very shared secret";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/auth")
        .join(name)
}

/// A site whose server has `auth = <auth>;`.
fn start(auth: &str) -> (TempDir, TestServer) {
    let dir = site();
    std::fs::write(
        dir.path().join("htdocs/signin.html"),
        "<form>sign in</form>\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("htdocs/public")).unwrap();
    std::fs::write(dir.path().join("htdocs/public/a.txt"), "public\n").unwrap();
    let server = TestServer::start(dir.path(), &doc_conf(&format!("auth = {auth};"), ""), &[]);
    (dir, server)
}

/// The status of a raw request (sent with `Connection: close`).
fn raw_status(s: &TestServer, path: &str, headers: &[String]) -> (u16, String) {
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        s.addr
    );
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    let resp = s.raw(req.as_bytes());
    let code = resp.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, resp)
}

fn passwd_tool() -> Command {
    Command::new(env!("CARGO_BIN_EXE_marmoset-passwd"))
}

/// `marmoset-passwd` output for `args`.
fn tool(args: &[&str]) -> String {
    let out = passwd_tool().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(fixture(script))
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

#[test]
fn auth_basic_challenge_wrong_right_and_access_log() {
    let (_d, s) = start(
        r#"{ type = "Basic"; realm = "device"; user = "foo"; passwd = "bar"; group = "admin"; options = "header"; }"#,
    );
    let r = curl(&s, "/hello.txt", &[]);
    assert_eq!(r.code, 401);
    assert!(
        r.has("www-authenticate: Basic realm=\"device\""),
        "{}",
        r.head
    );
    for wrong in ["foo:baz", "foo:ba", "foo:barr", "foo:BAR", "fo:bar", "foo:"] {
        assert_eq!(curl(&s, "/hello.txt", &["-u", wrong]).code, 401, "{wrong}");
    }
    let r = curl(&s, "/hello.txt", &["-u", "foo:bar"]);
    assert_eq!(r.code, 200);
    assert_eq!(r.body, "hello world\n");
    assert_eq!(r.header("x-remote-user").as_deref(), Some("foo"));
    assert_eq!(r.header("x-remote-group").as_deref(), Some("admin"));
    // The access log names the user (REMOTE_USER's equivalent).
    assert!(s.wait_log("- foo ["), "{}", s.log());
    // Failures are logged without the password.
    assert!(s.wait_log("failed Basic sign-in as \"foo\""));
    assert!(!s.log().contains("baz"));
}

#[test]
fn auth_basic_hashed_passwd_in_config_and_signin_redirect() {
    let hash = tool(&["-u", "foo", "-p", "bar", "-A", "SHA-256"]);
    let passwd = hash.split_once(':').unwrap().1;
    let (_d, s) = start(&format!(
        r#"{{ type = "Basic"; user = "foo"; passwd = "{passwd}"; signin = "/signin.html"; options = "redirect"; }}"#
    ));
    assert_eq!(curl(&s, "/hello.txt", &["-u", "foo:bar"]).code, 200);
    let r = curl(&s, "/sub/page.html?x=1", &[]);
    assert_eq!(r.code, 302);
    let loc = r.header("location").unwrap();
    assert!(
        loc.starts_with("/signin.html?redirect_uri=http%3A%2F%2F127%2E0%2E0%2E1%3A"),
        "{loc}"
    );
    assert!(loc.ends_with("%2Fsub%2Fpage%2Ehtml%3Fx%3D1"), "{loc}");
    // The sign-in page itself is served; XMLHttpRequests get 403.
    assert_eq!(curl(&s, "/signin.html", &[]).code, 200);
    assert_eq!(
        curl(
            &s,
            "/hello.txt",
            &["-H", "X-Requested-With: XMLHttpRequest"]
        )
        .code,
        403
    );
}

fn digest_conf(alg: &str) -> String {
    format!(
        r#"{{ type = "Digest"; realm = "device"; opaque = "0paque"; algorithm = "{alg}"; secret = "{SECRET}"; user = "foo"; passwd = "bar"; }}"#
    )
}

#[test]
fn auth_digest_curl_md5_and_sha256() {
    // curl 7.88 does MD5 and SHA-256 (SHA-512-256 came in curl 8.8; it is
    // covered by the library client below).
    for alg in ["MD5", "SHA-256", "MD5-sess", "SHA-256-sess"] {
        let (_d, s) = start(&digest_conf(alg));
        let r = curl(&s, "/hello.txt", &[]);
        assert_eq!(r.code, 401, "{alg}");
        let ch = r.header("www-authenticate").unwrap();
        assert!(
            ch.starts_with("Digest realm=\"device\",qop=\"auth\",nonce=\""),
            "{ch}"
        );
        assert!(ch.contains(",opaque=\"0paque\",stale=false"), "{ch}");
        assert_eq!(
            ch.contains(&format!("algorithm={alg}")),
            alg != "MD5",
            "{ch}"
        );
        let r = curl(&s, "/hello.txt?q=1", &["--digest", "-u", "foo:bar"]);
        assert_eq!(
            (r.code, r.body.as_str()),
            (200, "hello world\n"),
            "{alg}: {}",
            r.head
        );
        assert_eq!(
            curl(&s, "/hello.txt", &["--digest", "-u", "foo:baz"]).code,
            401,
            "{alg}"
        );
        assert_eq!(
            curl(&s, "/hello.txt", &["--digest", "-u", "fo:bar"]).code,
            401,
            "{alg}"
        );
    }
}

/// Digest computed here (the library's functions) to forge the cases
/// curl will not produce.
struct DigestClient {
    nonce: String,
    alg: Algorithm,
    user: &'static str,
    password: &'static str,
}

impl DigestClient {
    fn new(s: &TestServer, alg: &str) -> DigestClient {
        let (code, resp) = raw_status(s, "/hello.txt", &[]);
        assert_eq!(code, 401);
        let line = resp
            .lines()
            .find_map(|l| {
                l.to_lowercase()
                    .starts_with("www-authenticate:")
                    .then(|| l[17..].trim().to_string())
            })
            .unwrap();
        let params = digest::parse_params(line.strip_prefix("Digest ").unwrap()).unwrap();
        DigestClient {
            nonce: params.nonce,
            alg: Algorithm::parse(alg).unwrap(),
            user: "foo",
            password: "bar",
        }
    }

    fn header(&self, uri: &str, nc: u32, response: Option<&str>) -> String {
        let mut p = Params {
            username: self.user.into(),
            realm: "device".into(),
            nonce: self.nonce.clone(),
            uri: uri.into(),
            cnonce: "c0ffee".into(),
            qop: "auth".into(),
            nc: format!("{nc:08x}"),
            ..Params::default()
        };
        let ha1 = self
            .alg
            .hash
            .hex(format!("{}:device:{}", self.user, self.password).as_bytes());
        p.response = response.map_or_else(
            || digest::response(self.alg, &ha1, &p, "GET"),
            str::to_string,
        );
        format!(
            "Authorization: Digest username=\"{}\", realm=\"device\", nonce=\"{}\", uri=\"{uri}\", \
             algorithm={}, response=\"{}\", opaque=\"0paque\", qop=auth, nc={}, cnonce=\"c0ffee\"",
            p.username,
            p.nonce,
            self.alg.name(),
            p.response,
            p.nc
        )
    }
}

/// Clients challenged in the same second each get their own nonce: four
/// curl processes at once all sign in (with one nonce per second, the
/// later ones' `nc=1` was taken for a replay).
#[test]
fn auth_digest_parallel_clients_each_sign_in() {
    let (_d, s) = start(&digest_conf("SHA-256"));
    let s = std::sync::Arc::new(s);
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || curl(&s, "/hello.txt", &["--digest", "-u", "foo:bar"]).code)
        })
        .collect();
    let codes: Vec<u16> = runs.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(codes, [200; 4]);
}

#[test]
fn auth_digest_sha512_256_and_sess() {
    for alg in ["SHA-512-256", "SHA-512-256-sess", "SHA-512", "SHA1"] {
        let (_d, s) = start(&digest_conf(alg));
        let c = DigestClient::new(&s, alg);
        assert_eq!(
            raw_status(&s, "/hello.txt", &[c.header("/hello.txt", 1, None)]).0,
            200,
            "{alg}"
        );
        let wrong = DigestClient {
            password: "baz",
            ..DigestClient::new(&s, alg)
        };
        assert_eq!(
            raw_status(&s, "/hello.txt", &[wrong.header("/hello.txt", 1, None)]).0,
            401,
            "{alg}"
        );
    }
}

#[test]
fn auth_digest_replay_stale_and_prefix_refused() {
    let (_d, s) = start(&digest_conf("SHA-256"));
    let mut c = DigestClient::new(&s, "SHA-256");
    assert_eq!(
        raw_status(&s, "/hello.txt", &[c.header("/hello.txt", 1, None)]).0,
        200
    );
    // The same nonce count again: a replay.
    let (code, resp) = raw_status(&s, "/hello.txt", &[c.header("/hello.txt", 1, None)]);
    assert_eq!(code, 401);
    assert!(resp.contains("stale=false"), "{resp}");
    assert_eq!(
        raw_status(&s, "/hello.txt", &[c.header("/hello.txt", 2, None)]).0,
        200
    );
    // The nonce works on a new connection (bound to the server, not the
    // connection), and for another URI when `uri` says so.
    assert_eq!(
        raw_status(&s, "/sub/page.html", &[c.header("/sub/page.html", 3, None)]).0,
        200
    );
    // `uri` must be the request's.
    assert_eq!(
        raw_status(&s, "/hello.txt", &[c.header("/", 4, None)]).0,
        401
    );
    // An empty or partial response is not a prefix match (REFERENCE §8.1.3).
    assert_eq!(
        raw_status(&s, "/hello.txt", &[c.header("/hello.txt", 5, Some(""))]).0,
        401
    );
    assert_eq!(
        raw_status(&s, "/hello.txt", &[c.header("/hello.txt", 6, Some("0"))]).0,
        401
    );
    // A nonce issued long ago by this server (same secret): stale=true.
    let nonces = Nonces::new(Nonces::key_from_secret(SECRET), 1800);
    let old = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 7200;
    c.nonce = nonces.issue_at(old, "device");
    let (code, resp) = raw_status(&s, "/hello.txt", &[c.header("/hello.txt", 1, None)]);
    assert_eq!(code, 401);
    assert!(resp.to_lowercase().contains("stale=true"), "{resp}");
    // A nonce not issued by this server: asked again.
    c.nonce = Nonces::new([1; 32], 60).issue("device");
    let (code, resp) = raw_status(&s, "/hello.txt", &[c.header("/hello.txt", 1, None)]);
    assert_eq!(code, 401);
    assert!(resp.contains("nonce="), "{resp}");
    // A second instance with the same secret accepts the first's nonce.
    let first = DigestClient::new(&s, "SHA-256");
    let (_d2, s2) = start(&digest_conf("SHA-256"));
    assert_eq!(
        raw_status(&s2, "/hello.txt", &[first.header("/hello.txt", 1, None)]).0,
        200
    );
}

fn jwt(header: &str, payload: &str) -> String {
    python("jwt.py", &[SECRET, header, payload])
}

#[test]
fn auth_bearer_only_the_good_token() {
    let (_d, s) = start(&format!(
        r#"{{ type = "Bearer"; secret = "{SECRET}"; issuer = "sqlite"; }}"#
    ));
    let r = curl(&s, "/hello.txt", &[]);
    assert_eq!(r.code, 401);
    assert!(
        r.has("www-authenticate: Bearer realm=\"sqlite\""),
        "{}",
        r.head
    );
    let hs = r#"{"alg":"HS256","typ":"JWT"}"#;
    let good = jwt(
        hs,
        r#"{"user":"foo","roles":"users","exp":$NOW+600,"iss":"sqlite"}"#,
    );
    let bearer = |t: &str| {
        curl(
            &s,
            "/hello.txt",
            &["-H", &format!("Authorization: Bearer {t}")],
        )
        .code
    };
    assert_eq!(bearer(&good), 200);
    assert_eq!(
        curl(&s, "/hello.txt", &["-H", &format!("X-Auth-Token: {good}")]).code,
        200
    );
    assert_eq!(
        curl(&s, "/hello.txt", &["-b", &format!("X-Auth-Token={good}")]).code,
        200
    );
    let other_secret = python(
        "jwt.py",
        &[
            "another secret",
            hs,
            r#"{"user":"foo","exp":$NOW+600,"iss":"sqlite"}"#,
        ],
    );
    let refused = [
        ("bad signature", other_secret),
        ("tampered", {
            let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
            parts[1] = jwt(hs, r#"{"user":"root","exp":$NOW+600,"iss":"sqlite"}"#)
                .split('.')
                .nth(1)
                .unwrap()
                .to_string();
            parts.join(".")
        }),
        (
            "expired",
            jwt(hs, r#"{"user":"foo","exp":$NOW-3600,"iss":"sqlite"}"#),
        ),
        ("no exp", jwt(hs, r#"{"user":"foo","iss":"sqlite"}"#)),
        (
            "wrong issuer",
            jwt(hs, r#"{"user":"foo","exp":$NOW+600,"iss":"other"}"#),
        ),
        (
            "alg none",
            jwt(
                r#"{"alg":"none","typ":"JWT"}"#,
                r#"{"user":"foo","exp":$NOW+600,"iss":"sqlite"}"#,
            ),
        ),
        (
            "alg HS512",
            jwt(
                r#"{"alg":"HS512","typ":"JWT"}"#,
                r#"{"user":"foo","exp":$NOW+600,"iss":"sqlite"}"#,
            ),
        ),
        ("malformed", "not.a.token".to_string()),
        ("garbage", "%%%".to_string()),
    ];
    for (what, token) in refused {
        assert_eq!(bearer(&token), 401, "{what}");
    }
    let r = curl(&s, "/hello.txt", &["-H", "Authorization: Bearer x.y.z"]);
    assert!(r.has("error=\"invalid_token\""), "{}", r.head);
}

#[test]
fn auth_token_from_one_instance_accepted_by_another() {
    let (_d1, a) = start(&format!(
        r#"{{ type = "Basic"; user = "foo"; passwd = "bar"; home = "/home/foo"; issuer = "front"; secret = "{SECRET}"; options = "jwt,header"; }}"#
    ));
    let (_d2, b) = start(&format!(
        r#"{{ type = "Bearer"; secret = "{SECRET}"; issuer = "front"; options = "jwt,cookie"; }}"#
    ));
    let r = curl(&a, "/hello.txt", &["-u", "foo:bar"]);
    assert_eq!(r.code, 200);
    let token = r.header("x-auth-token").expect("a token");
    assert_eq!(r.header("x-remote-home").as_deref(), Some("~/"));
    // The token alone opens the first server again, and the second one.
    assert_eq!(
        curl(&a, "/hello.txt", &["-H", &format!("X-Auth-Token: {token}")]).code,
        200
    );
    let r = curl(
        &b,
        "/hello.txt",
        &["-H", &format!("Authorization: Bearer {token}")],
    );
    assert_eq!(r.code, 200);
    // The second one refreshes it as a cookie (no Domain for a .local host).
    let cookie = r
        .cookie("X-Auth-Token")
        .unwrap_or_else(|| panic!("{}", r.head));
    assert!(
        cookie.ends_with("; Path=/; SameSite=Strict; HttpOnly"),
        "{cookie}"
    );
    assert!(
        r.cookie("X-Remote-User")
            .is_some_and(|c| c.starts_with("X-Remote-User=foo;"))
    );
    assert!(b.wait_log("- foo ["));
    // A server with another secret refuses it.
    let (_d3, c) =
        start(r#"{ type = "Bearer"; secret = "not the same secret"; issuer = "front"; }"#);
    assert_eq!(
        curl(
            &c,
            "/hello.txt",
            &["-H", &format!("Authorization: Bearer {token}")]
        )
        .code,
        401
    );
}

#[test]
fn auth_file_storage_with_several_hash_formats() {
    let dir = site();
    let mut lines = vec![
        "# users of the test".to_string(),
        "plain:clearpw:users".into(),
        tool(&["-u", "ouimd5", "-p", "md5pw", "-A", "MD5"]),
        tool(&[
            "-u", "ouisha", "-p", "shapw", "-A", "SHA-512", "-g", "admin", "-H", "/home/o",
        ]),
        tool(&[
            "-u", "realm", "-p", "realmpw", "-T", "Digest", "-R", "device", "-A", "MD5",
        ]),
        tool(&["-u", "argon", "-p", "argonpw"]),
        String::new(),
    ];
    for (user, prefix) in [
        ("md5crypt", "$1$"),
        ("sha256crypt", "$5$"),
        ("sha512crypt", "$6$"),
        ("yescrypt", "$y$"),
    ] {
        lines.push(format!(
            "{user}:{}",
            python("mkcrypt.py", &[&format!("{user}pw"), prefix])
        ));
    }
    std::fs::write(dir.path().join("users.txt"), lines.join("\n") + "\n").unwrap();
    let s = TestServer::start(
        dir.path(),
        &doc_conf(
            // One wrong password per user, ten users: no lock-out here.
            r#"auth = { type = "Basic"; realm = "device"; file = "users.txt"; maxfailures = 0; };"#,
            "",
        ),
        &[],
    );
    for (user, pw) in [
        ("plain", "clearpw"),
        ("ouimd5", "md5pw"),
        ("ouisha", "shapw"),
        ("realm", "realmpw"),
        ("argon", "argonpw"),
        ("md5crypt", "md5cryptpw"),
        ("sha256crypt", "sha256cryptpw"),
        ("sha512crypt", "sha512cryptpw"),
        ("yescrypt", "yescryptpw"),
    ] {
        assert_eq!(
            curl(&s, "/hello.txt", &["-u", &format!("{user}:{pw}")]).code,
            200,
            "{user}"
        );
        assert_eq!(
            curl(&s, "/hello.txt", &["-u", &format!("{user}:{pw}x")]).code,
            401,
            "{user}"
        );
    }
    // The file is re-read when it changes.
    std::fs::write(dir.path().join("users.txt"), "newuser:newpw\n").unwrap();
    assert_eq!(curl(&s, "/hello.txt", &["-u", "newuser:newpw"]).code, 200);
    assert_eq!(curl(&s, "/hello.txt", &["-u", "plain:clearpw"]).code, 401);
}

#[test]
fn auth_digest_with_realm_bound_hash_from_the_tool() {
    let dir = site();
    let line = tool(&[
        "-u", "alice", "-p", "secret", "-T", "Digest", "-R", "device", "-A", "SHA-256",
    ]);
    std::fs::write(dir.path().join("users.txt"), format!("{line}\n")).unwrap();
    let s = TestServer::start(
        dir.path(),
        &doc_conf(
            r#"auth = { type = "Digest"; realm = "device"; algorithm = "SHA-256"; file = "users.txt"; };"#,
            "",
        ),
        &[],
    );
    assert_eq!(
        curl(&s, "/hello.txt", &["--digest", "-u", "alice:secret"]).code,
        200
    );
    assert_eq!(
        curl(&s, "/hello.txt", &["--digest", "-u", "alice:secreT"]).code,
        401
    );
}

#[test]
fn auth_sqlite_storage_created_by_the_tool_and_by_the_server() {
    let dir = site();
    let db = dir.path().join("users.db");
    let db_s = db.to_str().unwrap();
    tool(&[
        "-D",
        db_s,
        "-u",
        "alice",
        "-p",
        "alicepw",
        "-g",
        "admin",
        "-H",
        "/home/alice",
    ]);
    tool(&["-D", db_s, "-u", "bob", "-p", "bobpw", "-s", "approving"]);
    tool(&[
        "-D",
        db_s,
        "-u",
        "carol",
        "-p",
        "carolpw",
        "-A",
        "sha512-crypt",
    ]);
    assert_eq!(tool(&["-D", db_s, "--list"]), "alice\nbob\ncarol");
    let s = TestServer::start(
        dir.path(),
        &doc_conf(
            r#"auth = { type = "Basic"; dbname = "users.db"; options = "header"; };"#,
            "",
        ),
        &[],
    );
    let r = curl(&s, "/hello.txt", &["-u", "alice:alicepw"]);
    assert_eq!(r.code, 200);
    assert_eq!(r.header("x-remote-group").as_deref(), Some("admin"));
    assert_eq!(curl(&s, "/hello.txt", &["-u", "carol:carolpw"]).code, 200);
    // Not yet approved.
    assert_eq!(curl(&s, "/hello.txt", &["-u", "bob:bobpw"]).code, 401);
    // Changes by the tool take effect at once.
    tool(&["-D", db_s, "-u", "bob", "--change", "-s", "activated"]);
    assert_eq!(curl(&s, "/hello.txt", &["-u", "bob:bobpw"]).code, 200);
    tool(&["-D", db_s, "-u", "alice", "--change", "-p", "newpw"]);
    assert_eq!(curl(&s, "/hello.txt", &["-u", "alice:alicepw"]).code, 401);
    assert_eq!(curl(&s, "/hello.txt", &["-u", "alice:newpw"]).code, 200);
    tool(&["-D", db_s, "-u", "alice", "--remove"]);
    assert_eq!(curl(&s, "/hello.txt", &["-u", "alice:newpw"]).code, 401);

    // A database the server creates has no users (no root/root).
    let dir2 = site();
    let s2 = TestServer::start(
        dir2.path(),
        &doc_conf(r#"auth = { type = "Basic"; dbname = "new.db"; };"#, ""),
        &[],
    );
    assert!(dir2.path().join("new.db").exists());
    assert_eq!(curl(&s2, "/hello.txt", &["-u", "root:root"]).code, 401);
    assert_eq!(
        tool(&["-D", dir2.path().join("new.db").to_str().unwrap(), "--list"]),
        ""
    );
}

#[test]
fn auth_shadow_storage_from_generated_files() {
    let dir = site();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let hash = python("mkcrypt.py", &["alicepw", "$y$"]);
    let bob = python("mkcrypt.py", &["bobpw", "$6$"]);
    std::fs::write(
        etc.join("shadow"),
        format!("alice:{hash}:19000:0:99999:7:::\nbob:!{bob}:19000:0:99999:7:::\ncarol:{bob}:19000:0:99999:7::1:\n"),
    )
    .unwrap();
    std::fs::write(
        etc.join("passwd"),
        "alice:x:1000:100:Alice:/home/alice:/bin/sh\nbob:x:1001:100::/home/bob:/bin/sh\ncarol:x:1002:100::/home/carol:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(etc.join("group"), "users:x:100:\n").unwrap();
    let s = TestServer::start(
        dir.path(),
        &doc_conf(
            r#"auth = { type = "Basic"; file = "etc/shadow"; options = "header"; };"#,
            "",
        ),
        &[],
    );
    let r = curl(&s, "/hello.txt", &["-u", "alice:alicepw"]);
    assert_eq!(r.code, 200);
    assert_eq!(r.header("x-remote-group").as_deref(), Some("users"));
    assert_eq!(curl(&s, "/hello.txt", &["-u", "alice:bobpw"]).code, 401);
    // Locked and expired accounts are refused.
    assert_eq!(curl(&s, "/hello.txt", &["-u", "bob:bobpw"]).code, 401);
    assert_eq!(curl(&s, "/hello.txt", &["-u", "carol:bobpw"]).code, 401);
}

#[test]
fn auth_bruteforce_lockout() {
    let (_d, s) = start(
        r#"{ type = "Basic"; user = "foo"; passwd = "bar"; maxfailures = 3; lockout = 60; }"#,
    );
    for _ in 0..2 {
        assert_eq!(curl(&s, "/hello.txt", &["-u", "foo:guess"]).code, 401);
    }
    // The third failure locks the address out.
    assert_eq!(curl(&s, "/hello.txt", &["-u", "foo:guess"]).code, 429);
    // Locked out: even the right password is not checked.
    let r = curl(&s, "/hello.txt", &["-u", "foo:bar"]);
    assert_eq!(r.code, 429);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    // Requests without credentials still get the challenge.
    assert_eq!(curl(&s, "/hello.txt", &[]).code, 401);
    assert!(s.wait_log("locked out after repeated failures"));
    assert!(!s.log().contains("guess"));
}

#[test]
fn auth_bruteforce_not_reset_by_another_users_sign_in() {
    let dir = site();
    let users = dir.path().join("users");
    std::fs::write(&users, "root:rootpw\nalice:alicepw\n").unwrap();
    let auth = format!(
        r#"auth = {{ type = "Basic"; file = "{}"; maxfailures = 3; lockout = 60; }};"#,
        users.display()
    );
    let s = TestServer::start(dir.path(), &doc_conf(&auth, ""), &[]);
    // An account holder guessing at root's password, signing in as
    // herself between the guesses: the guesses still add up.
    for _ in 0..2 {
        assert_eq!(curl(&s, "/hello.txt", &["-u", "root:guess"]).code, 401);
        assert_eq!(curl(&s, "/hello.txt", &["-u", "alice:alicepw"]).code, 200);
    }
    assert_eq!(curl(&s, "/hello.txt", &["-u", "root:guess"]).code, 429);
    assert_eq!(curl(&s, "/hello.txt", &["-u", "root:rootpw"]).code, 429);
}

#[test]
fn auth_unprotect_protect_and_home() {
    let (_d, s) = start(
        r#"{ type = "Basic"; user = "foo"; passwd = "bar"; home = "foo"; unprotect = "^/public/*,^/index.html$,^/~*"; protect = "^/public/secret*"; options = "home"; }"#,
    );
    assert_eq!(curl(&s, "/public/a.txt", &[]).code, 200);
    assert_eq!(curl(&s, "/index.html", &[]).code, 200);
    assert_eq!(curl(&s, "/hello.txt", &[]).code, 401);
    assert_eq!(curl(&s, "/public/secret/x", &[]).code, 401);
    // `~` URIs always need credentials; with option home, `/~` → `/~/`.
    assert_eq!(curl(&s, "/~/notes.txt", &[]).code, 401);
    let r = curl(&s, "/~", &["-u", "foo:bar"]);
    assert_eq!(r.code, 301);
    assert_eq!(r.header("location").as_deref(), Some("/~/"));
}

/// An anonymous write on an unprotected path cannot link to a protected
/// one (reading it through the link).
#[test]
fn auth_anonymous_link_cannot_reach_a_protected_path() {
    let dir = site();
    std::fs::create_dir_all(dir.path().join("htdocs/public")).unwrap();
    let auth =
        r#"auth = { type = "Basic"; user = "foo"; passwd = "bar"; unprotect = "^/public/*"; };"#;
    let s = TestServer::start(dir.path(), &doc_conf(auth, r#"options = "rest";"#), &[]);
    let link = |target: &str, user: &[&str]| {
        let to = format!("Content-Location: {target}");
        let mut args = vec!["-X", "PUT", "-H", "Content-Type: inode/symlink", "-H", &to];
        args.extend(user);
        curl(&s, "/public/link", &args).code
    };
    assert_eq!(curl(&s, "/hello.txt", &[]).code, 401);
    assert_eq!(link("../hello.txt", &[]), 403);
    assert_eq!(curl(&s, "/public/link", &[]).code, 404);
    // The user may: the path needs credentials, which they gave.
    assert_eq!(link("../hello.txt", &["-u", "foo:bar"]), 201);
    let r = curl(&s, "/public/link", &[]);
    assert_eq!((r.code, r.body.as_str()), (200, "hello world\n"));
}

#[test]
fn auth_wwwform_sign_in_then_cookie() {
    let (_d, s) = start(&format!(
        r#"{{ type = "wwwform"; user = "foo"; passwd = "bar"; secret = "{SECRET}"; token_ep = "/login"; signin = "/signin.html"; }}"#
    ));
    let r = curl(&s, "/hello.txt", &[]);
    assert_eq!(r.code, 302);
    assert_eq!(r.header("location").as_deref(), Some("/signin.html"));
    assert!(r.has("www-authenticate: WWW-Form realm="), "{}", r.head);
    assert_eq!(curl(&s, "/signin.html", &[]).code, 200);
    let post = |body: &str| curl(&s, "/login", &["--data", body]);
    assert_eq!(post("username=foo&password=baz").code, 401);
    assert_eq!(post("username=foo").code, 401);
    // Credentials in the query string are not read (they would be logged).
    let r = curl(&s, "/login?username=foo&password=bar", &["--data", "x=1"]);
    assert_eq!(r.code, 401);
    let r = post("username=foo&password=bar&redirect_uri=%2Fhello.txt");
    assert_eq!(r.code, 302);
    assert_eq!(r.header("location").as_deref(), Some("/hello.txt"));
    let cookie = r.cookie("X-Auth-Token").unwrap();
    let token = cookie
        .split(';')
        .next()
        .and_then(|c| c.strip_prefix("X-Auth-Token="))
        .unwrap_or_else(|| panic!("{}", r.head));
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    let r = curl(&s, "/hello.txt", &["-b", &format!("X-Auth-Token={token}")]);
    assert_eq!((r.code, r.body.as_str()), (200, "hello world\n"));
    // Without redirect_uri: the user as JSON.
    let r = post("username=foo&password=bar");
    assert_eq!(r.code, 200);
    assert!(r.body.contains("\"user\":\"foo\""), "{}", r.body);
    // An open redirect is not followed.
    let r = post("username=foo&password=bar&redirect_uri=https%3A%2F%2Fevil.example%2F");
    assert_eq!(r.code, 200);
    assert!(r.header("location").is_none());
}

#[test]
fn auth_none_asserts_user_on_request() {
    let (_d, s) = start(r#"{ type = "None"; user = "guest"; options = "header"; }"#);
    let r = curl(&s, "/hello.txt", &[]);
    assert_eq!(r.code, 200);
    assert!(r.header("x-remote-user").is_none());
    let r = curl(&s, "/hello.txt", &["-H", "Authorization: None"]);
    assert_eq!(r.code, 200);
    assert_eq!(r.header("x-remote-user").as_deref(), Some("guest"));
    assert!(s.wait_log("- guest ["));
}

#[test]
fn auth_misconfigured_does_not_start() {
    let dir = site();
    for auth in [
        r#"{ type = "Basic"; }"#,
        r#"{ type = "Basic"; dbname = "missing-dir/users.db"; }"#,
        r#"{ type = "Basic"; user = "a"; options = "jwt"; }"#,
    ] {
        let conf = doc_conf(&format!("auth = {auth};"), "");
        let Err(log) = TestServer::try_start(dir.path(), &conf, &[]) else {
            panic!("started with {auth}");
        };
        assert!(log.contains("auth"), "{log}");
    }
    // Two factors of a chain with one issuer: the second would count as
    // satisfied by the first, never asked for.
    let conf = doc_conf(
        r#"auth = ( { type = "Basic"; realm = "dev"; user = "a"; passwd = "b"; },
         { type = "Basic"; realm = "dev"; user = "a"; passwd = "c"; } );"#,
        "",
    );
    let Err(log) = TestServer::try_start(dir.path(), &conf, &[]) else {
        panic!("started with two factors of issuer `dev`");
    };
    assert!(
        log.contains("issuer `dev` is also an earlier factor's"),
        "{log}"
    );
    assert!(log.contains("marmoset.conf:"), "{log}");
}

#[test]
fn auth_embedded_handler_sees_the_user() {
    use marmoset::embed::Builder;
    use marmoset::{Body, Request, Response, User};
    let loaded = marmoset::config::load_str(
        r#"servers = ({ port = 0; addr = "127.0.0.1"; auth = { type = "Basic"; user = "foo"; passwd = "bar"; group = "ops"; }; });"#,
    )
    .unwrap();
    let server = Builder::from_config(&loaded.config)
        .unwrap()
        .register("whoami", "/whoami", |req: Request| async move {
            let who = req
                .extensions()
                .get::<User>()
                .map(|u| format!("{} {} {}", u.name, u.group, u.auth_type))
                .unwrap_or_default();
            Ok(Response::new(Body::from(who)))
        })
        .unwrap()
        .start()
        .unwrap();
    let addr = server.local_addrs()[0];
    let get = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "10", "-w", "\n%{http_code}"])
            .args(args)
            .arg(format!("http://{addr}/whoami"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(get(&[]).ends_with("\n401"));
    assert_eq!(get(&["-u", "foo:bar"]), "foo ops Basic\n200");
    server.shutdown().unwrap();
}

#[cfg(feature = "cgi")]
#[test]
fn auth_user_reaches_cgi_environment() {
    let dir = site();
    std::fs::create_dir_all(dir.path().join("cgi")).unwrap();
    crate::support::write_script(
        &dir.path().join("cgi/who.sh"),
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s %s\\n' \"$REMOTE_USER\" \"$AUTH_TYPE\"\n",
    );
    let s = TestServer::start(
        dir.path(),
        &doc_conf(
            r#"auth = { type = "Basic"; user = "foo"; passwd = "bar"; };
               cgi = { docroot = "cgi"; allow = ".sh*"; deny = "*"; denylast = true; };"#,
            "",
        ),
        &[],
    );
    assert_eq!(curl(&s, "/who.sh", &[]).code, 401);
    let r = curl(&s, "/who.sh", &["-u", "foo:bar"]);
    assert_eq!(
        (r.code, r.body.as_str()),
        (200, "foo Basic\n"),
        "{}",
        r.head
    );
}

/// Headless Chromium signs in through the example sign-in page
/// (`examples/htdocs/signin.html`) and then loads protected pages with the
/// token cookie.
#[test]
fn auth_browser_signs_in_through_the_example_page() {
    let found = Path::new("/usr/bin/chromium").exists();
    assert!(
        found,
        "Debian's chromium is needed for the browser tests: run ./test.sh"
    );
    let dir = site();
    let htdocs = dir.path().join("htdocs");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/htdocs");
    for f in ["signin.html", "style.css"] {
        std::fs::copy(examples.join(f), htdocs.join(f)).unwrap();
    }
    std::fs::create_dir_all(htdocs.join("private")).unwrap();
    std::fs::write(
        htdocs.join("private/secret.html"),
        "<p>secret content</p>\n",
    )
    .unwrap();
    std::fs::write(htdocs.join("private/other.html"), "<p>other secret</p>\n").unwrap();
    let conf = doc_conf(
        &format!(
            "hostname = \"localhost\"; auth = {{ type = \"wwwform\"; user = \"alice\"; passwd = \"wonderland\"; secret = \"{SECRET}\"; token_ep = \"/login\"; signin = \"/signin.html\"; unprotect = \".css\"; }};"
        ),
        "",
    );
    let s = TestServer::start(dir.path(), &conf, &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/browser.py");
    let out = Command::new("python3")
        .arg(script)
        .args([
            "signin",
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
    assert!(s.wait_log("alice"), "{}", s.log());
}
