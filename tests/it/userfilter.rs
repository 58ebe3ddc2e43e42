//! Integration tests: userfilter rules and their REST API (issue 9), behind
//! Basic authentication with a password file.

use crate::support::{TestServer, site};

const PASSWD: &str = "root:rootpw:root:/root\nfoo:foopw:users:/foo\nbar:barpw:users:/bar\n";

fn server(extra: &str) -> (crate::support::TempDir, TestServer) {
    server_with(extra, "")
}

/// As [`server`], with `document` keys (options).
fn server_with(extra: &str, document: &str) -> (crate::support::TempDir, TestServer) {
    let dir = site();
    std::fs::write(dir.path().join("passwd"), PASSWD).unwrap();
    for d in ["users/foo", "users/bar", "public", "filter"] {
        std::fs::create_dir_all(dir.path().join("htdocs").join(d)).unwrap();
    }
    std::fs::write(dir.path().join("htdocs/users/foo/a.txt"), "foo's file\n").unwrap();
    std::fs::write(dir.path().join("htdocs/users/bar/a.txt"), "bar's file\n").unwrap();
    std::fs::write(dir.path().join("htdocs/public/p.txt"), "public\n").unwrap();
    let conf = format!(
        "servers = ({{ port = 0; addr = \"127.0.0.1\"; keepalivetimeout = 5;\n\
         auth = {{ type = \"Basic\"; authz = \"file\"; file = \"passwd\"; realm = \"test\"; unprotect = \"^/public/*\"; }};\n\
         userfilter = {{ dbname = \"filter.db\"; superuser = \"root\"; configuri = \"^/filter/config*\"; {extra} }};\n\
         document = {{ docroot = \"htdocs\"; {document} }}; }});\n"
    );
    let s = TestServer::start(dir.path(), &conf, &[]);
    (dir, s)
}

fn code(s: &TestServer, user: Option<&str>, args: &[&str], path: &str) -> String {
    let mut a: Vec<String> = vec![
        "-o".into(),
        "/dev/null".into(),
        "-w".into(),
        "%{http_code}".into(),
    ];
    if let Some(u) = user {
        a.push("-u".into());
        a.push(u.into());
    }
    a.extend(args.iter().map(|s| s.to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    String::from_utf8_lossy(&s.curl(path, &a).stdout).into_owned()
}

fn body(s: &TestServer, user: &str, path: &str) -> String {
    String::from_utf8_lossy(&s.curl(path, &["-u", user]).stdout).into_owned()
}

fn add_rule(s: &TestServer, user: &str, form: &str) -> String {
    code(
        s,
        Some(user),
        &["-X", "PUT", "--data", form],
        "/filter/config",
    )
}

#[test]
fn userfilter_default_rules_give_the_superuser_everything() {
    let (dir, s) = server("");
    assert!(dir.path().join("filter.db").exists());
    assert_eq!(code(&s, Some("root:rootpw"), &[], "/hello.txt"), "200");
    assert_eq!(code(&s, Some("foo:foopw"), &[], "/hello.txt"), "403");
    // Unauthenticated on an unprotected URI with no rule: 401.
    assert_eq!(code(&s, None, &[], "/public/p.txt"), "401");
}

/// The other paths a write names — a link's target, a move's or a new
/// link's path — pass the rules as the request's own path does.
#[test]
fn userfilter_links_and_moves_cannot_reach_refused_paths() {
    let (dir, s) = server_with("", "options = \"rest,webdav\";");
    std::fs::create_dir_all(dir.path().join("htdocs/drop")).unwrap();
    for m in ["GET", "PUT", "POST", "DELETE", "MOVE"] {
        for exp in ["%5E%2Fdrop%2F*", "%5E%2Fusers%2F%25u*"] {
            let form = format!("role=users&method={m}&pathexp={exp}");
            assert_eq!(add_rule(&s, "root:rootpw", &form), "204");
        }
    }
    let foo = Some("foo:foopw");
    let link = |at: &str, target: &str| {
        let to = format!("Content-Location: {target}");
        let args = ["-X", "PUT", "-H", "Content-Type: inode/symlink", "-H", &to];
        code(&s, foo, &args, at)
    };
    assert_eq!(code(&s, foo, &[], "/users/bar/a.txt"), "403");
    // A link inside foo's area works; one to bar's file does not.
    assert_eq!(
        code(
            &s,
            foo,
            &["-X", "PUT", "--data-binary", "data"],
            "/drop/f.txt"
        ),
        "201"
    );
    assert_eq!(link("/drop/ok", "f.txt"), "201");
    assert_eq!(code(&s, foo, &[], "/drop/ok"), "200");
    assert_eq!(link("/drop/l1", "../users/bar/a.txt"), "403");
    assert_eq!(code(&s, foo, &[], "/drop/l1"), "404");
    // Through a link to foo's own directory, `..` leads to /users on
    // disk, not to /drop as the text reads.
    assert_eq!(link("/drop/mine", "../users/foo"), "201");
    assert_eq!(link("/drop/l2", "mine/../bar/a.txt"), "403");
    assert!(!dir.path().join("htdocs/drop/l2").exists());
    // Moves and new links into bar's directory.
    let mv = [
        "-X",
        "POST",
        "-H",
        "X-POST-CMD: mv",
        "-H",
        "X-POST-ARG: /users/bar/b.txt",
    ];
    assert_eq!(code(&s, foo, &mv, "/drop/f.txt"), "403");
    let ln = [
        "-X",
        "POST",
        "-H",
        "X-POST-CMD: ln",
        "-H",
        "X-POST-ARG: /users/bar/lnk",
    ];
    assert_eq!(code(&s, foo, &ln, "/drop/f.txt"), "403");
    let dest = format!("Destination: http://{}/users/bar/c.txt", s.addr);
    assert_eq!(
        code(&s, foo, &["-X", "MOVE", "-H", &dest], "/drop/f.txt"),
        "403"
    );
    for name in ["b.txt", "lnk", "c.txt"] {
        assert!(
            !dir.path().join("htdocs/users/bar").join(name).exists(),
            "{name}"
        );
    }
    // Within foo's own paths, the same requests work.
    let dest = format!("Destination: http://{}/drop/g.txt", s.addr);
    assert_eq!(
        code(&s, foo, &["-X", "MOVE", "-H", &dest], "/drop/f.txt"),
        "201"
    );
    assert!(dir.path().join("htdocs/drop/g.txt").exists());
}

#[test]
fn userfilter_allow_list_bypasses_the_rules() {
    let (_d, s) = server("allow = \"^/public/*\";");
    assert_eq!(code(&s, None, &[], "/public/p.txt"), "200");
}

#[test]
fn userfilter_rules_added_and_deleted_through_the_api() {
    let (_d, s) = server("");
    assert_eq!(code(&s, Some("foo:foopw"), &[], "/users/foo/a.txt"), "403");
    assert_eq!(
        add_rule(
            &s,
            "root:rootpw",
            "role=users&method=GET&pathexp=%5E%2Fusers%2F%25u%2F*"
        ),
        "204"
    );
    // Applied on the next request.
    assert_eq!(body(&s, "foo:foopw", "/users/foo/a.txt"), "foo's file\n");
    assert_eq!(code(&s, Some("foo:foopw"), &[], "/users/bar/a.txt"), "403");
    assert_eq!(body(&s, "bar:barpw", "/users/bar/a.txt"), "bar's file\n");
    let list = body(&s, "root:rootpw", "/filter/config");
    let rules: serde_json::Value = serde_json::from_str(&list).unwrap();
    let added = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pathexp"] == "^/users/%u/*")
        .expect("rule listed")
        .clone();
    assert_eq!(added["role"], "users");
    assert_eq!(added["method"], "GET");
    let id = added["id"].as_i64().unwrap();
    assert_eq!(
        code(
            &s,
            Some("root:rootpw"),
            &["-X", "DELETE"],
            &format!("/filter/config/{id}")
        ),
        "204"
    );
    assert_eq!(code(&s, Some("foo:foopw"), &[], "/users/foo/a.txt"), "403");
    assert_eq!(
        code(
            &s,
            Some("root:rootpw"),
            &["-X", "DELETE"],
            &format!("/filter/config/{id}")
        ),
        "404"
    );
}

#[test]
fn userfilter_api_refused_to_others_and_bad_bodies_rejected() {
    let (_d, s) = server("");
    assert_eq!(
        add_rule(&s, "foo:foopw", "role=users&method=GET&pathexp=%5E%2F*"),
        "403"
    );
    assert_eq!(code(&s, Some("foo:foopw"), &[], "/filter/config"), "403");
    assert_eq!(add_rule(&s, "root:rootpw", "role=users&method=GET"), "400");
    assert_eq!(add_rule(&s, "root:rootpw", "garbage"), "400");
    assert_eq!(
        code(
            &s,
            Some("root:rootpw"),
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "--data",
                "{\"role\":1}"
            ],
            "/filter/config"
        ),
        "400"
    );
    assert_eq!(
        code(
            &s,
            Some("root:rootpw"),
            &["-X", "DELETE"],
            "/filter/config/abc"
        ),
        "400"
    );
    // JSON bodies work too.
    assert_eq!(
        code(
            &s,
            Some("root:rootpw"),
            &[
                "-X",
                "POST",
                "-H",
                "Content-Type: application/json",
                "--data",
                r#"{"method":"GET","role":"foo","pathexp":"^/hello.txt$"}"#
            ],
            "/filter/config"
        ),
        "204"
    );
    assert_eq!(code(&s, Some("foo:foopw"), &[], "/hello.txt"), "200");
    assert_eq!(code(&s, Some("bar:barpw"), &[], "/hello.txt"), "403");
}

#[test]
fn userfilter_group_home_and_everyone_roles() {
    let (_d, s) = server("");
    assert_eq!(
        add_rule(
            &s,
            "root:rootpw",
            "role=*&method=GET&pathexp=%5E%2Fhello.txt%24"
        ),
        "204"
    );
    assert_eq!(code(&s, Some("bar:barpw"), &[], "/hello.txt"), "200");
    assert_eq!(
        add_rule(
            &s,
            "root:rootpw",
            "role=users&method=GET&pathexp=%5E%2F%25g%2F%25h%2F*"
        ),
        "204"
    );
    assert_eq!(body(&s, "foo:foopw", "/users/foo/a.txt"), "foo's file\n");
    assert_eq!(code(&s, Some("foo:foopw"), &[], "/users/bar/a.txt"), "403");
    // HEAD follows GET rules.
    assert_eq!(
        code(&s, Some("foo:foopw"), &["-I"], "/users/foo/a.txt"),
        "200"
    );
}

#[test]
fn userfilter_anonymous_role() {
    let (_d, s) = server("");
    assert_eq!(code(&s, None, &[], "/public/p.txt"), "401");
    assert_eq!(
        add_rule(
            &s,
            "root:rootpw",
            "role=anonymous&method=GET&pathexp=%5E%2Fpublic%2F*"
        ),
        "204"
    );
    assert_eq!(code(&s, None, &[], "/public/p.txt"), "200");
}

#[test]
fn userfilter_missing_or_corrupt_database_is_a_startup_error() {
    let dir = site();
    std::fs::write(dir.path().join("passwd"), PASSWD).unwrap();
    let conf = |db: &str, configuri: &str| {
        format!(
            "servers = ({{ port = 0; addr = \"127.0.0.1\";\n auth = {{ type = \"Basic\"; authz = \"file\"; file = \"passwd\"; }};\n userfilter = {{ dbname = \"{db}\"; {configuri} }};\n document = {{ docroot = \"htdocs\"; }}; }});\n"
        )
    };
    let err = TestServer::try_start(dir.path(), &conf("none.db", ""), &[])
        .err()
        .expect("started");
    assert!(
        err.contains("marmoset.conf:3:") && err.contains("no such database"),
        "{err}"
    );
    std::fs::write(dir.path().join("bad.db"), "this is not sqlite").unwrap();
    let err = TestServer::try_start(dir.path(), &conf("bad.db", "configuri = \"^/f*\";"), &[])
        .err()
        .expect("started");
    assert!(err.contains("bad.db"), "{err}");
    let err = TestServer::try_start(dir.path(), &conf("x.db", "configuri = \"/f*\";"), &[])
        .err()
        .expect("started");
    assert!(err.contains("must start with `^`"), "{err}");
}
