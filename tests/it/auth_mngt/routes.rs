//! Every route and rights rule, form and JSON bodies, the error answers.

use super::*;

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
    // Each issuer shows whether this request passed it (`sqlite` is the
    // authenticator's own issuer).
    let r = form(
        &s,
        "POST",
        "/auth/mngt/alice",
        Some(ALICE),
        "issuers=totp+sqlite",
    );
    assert_eq!(r.code, 200);
    assert_eq!(
        r.json()["issuers"],
        serde_json::json!({"totp": false, "sqlite": true})
    );
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
    let (_d, s, db) = basic();
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
    // A name the API would not create (the tool allows it) can still be
    // managed.
    tool(&["-D", db.to_str().unwrap(), "-u", "john doe", "-p", "johnpw"]);
    let r = get(&s, "/auth/mngt/john%20doe", ROOT);
    assert_eq!(r.json()["user"], "john doe");
    let r = form(
        &s,
        "PUT",
        "/auth/mngt",
        Some(ROOT),
        "user=jane+doe&passwd=x",
    );
    assert_eq!(r.code, 400);
    let r = form(&s, "DELETE", "/auth/mngt", Some(ROOT), "user=john+doe");
    assert_eq!(r.code, 200, "{r:?}");
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
        (
            "PUT",
            "/auth/mngt?user=x&passwd=y",
            "application/x-www-form-urlencoded",
            "",
            400,
            "in the body",
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
