//! The API in its surroundings: parallel writers, tokens, self-registration,
//! Digest, process mode, userfilter, configuration errors.

use super::*;

#[test]
fn auth_mngt_concurrent_updates_lose_nothing() {
    let (_d, s, db) = basic();
    let s = std::sync::Arc::new(s);
    // Meanwhile `marmoset-passwd` changes alice: it queues on the lock too.
    let db = db.to_str().unwrap().to_string();
    let tool_thread = std::thread::spawn(move || {
        for step in 1..=5 {
            let home = format!("/home/alice/{step}");
            tool(&["-D", &db, "--change", "-u", "alice", "-H", &home]);
        }
    });
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
    tool_thread.join().unwrap();
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
    let alice = users.iter().find(|u| u["user"] == "alice").unwrap();
    assert_eq!(alice["home"], "/home/alice/5");
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
        "",
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

#[test]
fn auth_mngt_behind_userfilter_rules() {
    // The recipe of docs/user-management.md: users see and change their
    // own record only, reapproving users can only change their password.
    let (_d, s, _) = start_with(
        r#"type = "Basic"; options = "management";"#,
        r#"userfilter = { dbname = "filter.db"; superuser = "root"; configuri = "^/filter/config*"; };"#,
        &[],
    );
    let rules = [
        ("root", "PUT", "^/auth/mngt*"),
        ("root", "POST", "^/auth/mngt*"),
        ("root", "DELETE", "^/auth/mngt*"),
        ("users", "GET", "^/auth/mngt/%u$"),
        ("users", "POST", "^/auth/mngt/%u$"),
        ("reapproving", "POST", "^/auth/mngt/%u$"),
    ];
    for (role, method, exp) in rules {
        let body = format!("role={role}&method={method}&pathexp={exp}");
        let r = call(
            &s,
            "PUT",
            "/filter/config",
            Some(ROOT),
            &["--data-raw", &body],
        );
        assert_eq!(r.code, 204, "{body}: {r:?}");
    }
    assert_eq!(get(&s, "/auth/mngt/alice", ALICE).code, 200);
    // Stopped by the rules before the API: no DELETE rule for users.
    let r = call(&s, "DELETE", "/auth/mngt/alice", Some(ALICE), &[]);
    assert_eq!(r.code, 403);
    assert_eq!(get(&s, "/auth/mngt/alice", ROOT).code, 200);
    let r = form(
        &s,
        "POST",
        "/auth/mngt/alice",
        Some(ROOT),
        "status=reapproving",
    );
    assert_eq!(r.code, 200, "{r:?}");
    // Reapproving: only the password change is reachable.
    assert_eq!(get(&s, "/auth/mngt/alice", ALICE).code, 403);
    let r = form(&s, "POST", "/auth/mngt/alice", Some(ALICE), "passwd=fresh");
    assert_eq!(r.code, 200, "{r:?}");
    assert_eq!(r.json()["status"], "activated");
    assert_eq!(get(&s, "/auth/mngt/alice", "alice:fresh").code, 200);
    assert_eq!(get(&s, "/auth/mngt/alice", ALICE).code, 401);
}
