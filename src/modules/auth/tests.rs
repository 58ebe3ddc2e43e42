//! Unit tests of the module as a whole: configurations to start-up errors,
//! and requests to decisions (without sockets).

use std::net::SocketAddr;
use std::sync::Arc;

use http::StatusCode;

use crate::config::load_str;
use crate::modules::BuildEnv;
use crate::pipeline::{Flow, Module, RequestCtx, RequestHead};
use crate::server_info::{HttpVersion, ServerInfo};

use super::Auth;

fn server(auth: &str) -> String {
    format!("servers = ({{ port = 8080; hostname = \"dev.example.org\"; auth = {auth}; }});")
}

/// The error messages of a configuration, as `path: message` lines.
fn errors(auth: &str) -> String {
    match load_str(&server(auth)) {
        Ok(_) => String::new(),
        Err(e) => e
            .diagnostics
            .iter()
            .map(|d| format!("{}: {}", d.path, d.problem))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn misconfigurations_are_start_up_errors() {
    let cases = [
        (
            r#"{ type = "Basic"; }"#,
            "servers[0].auth.authz: no password storage",
        ),
        (
            r#"{ user = "a"; }"#,
            "servers[0].auth.type: missing key `type`",
        ),
        (
            r#"{ type = "Kerberos"; user = "a"; }"#,
            "servers[0].auth.type: unknown type `Kerberos`",
        ),
        (
            r#"{ type = "Bearer"; authz = "jwt"; }"#,
            "servers[0].auth.secret: tokens (options `jwt`/`token`, type Bearer) need a `secret`",
        ),
        (
            r#"{ type = "Basic"; user = "a"; options = "jwt,cookie"; }"#,
            "servers[0].auth.secret: tokens",
        ),
        (
            r#"{ type = "wwwform"; user = "a"; secret = "0123456789abcdef"; }"#,
            "servers[0].auth.token_ep: type wwwform needs `token_ep`",
        ),
        (
            r#"{ type = "Digest"; authz = "jwt"; secret = "0123456789abcdef"; }"#,
            "servers[0].auth.authz: the `jwt` storage has no passwords",
        ),
        (
            r#"{ type = "Digest"; authz = "totp"; secret = "x"; }"#,
            "servers[0].auth.type: a `totp` authenticator reads codes from Basic",
        ),
        (
            r#"{ type = "Basic"; authz = "sqlite"; }"#,
            "servers[0].auth.dbname: missing key `dbname`",
        ),
        (
            r#"{ type = "Digest"; user = "a"; algorithm = "SHA-3"; }"#,
            "servers[0].auth.algorithm: unknown algorithm `SHA-3`",
        ),
        (
            r#"({ type = "Basic"; user = "a"; }, { type = "Basic"; })"#,
            "servers[0].auth[1].authz: no password storage",
        ),
    ];
    for (auth, want) in cases {
        let got = errors(auth);
        assert!(got.contains(want), "{auth}\n  want: {want}\n  got: {got}");
    }
    assert_eq!(
        errors(r#"{ type = "Basic"; user = "a"; passwd = "b"; }"#),
        ""
    );
    assert_eq!(
        errors(r#"{ type = "Bearer"; secret = "0123456789abcdef"; }"#),
        ""
    );
}

#[test]
fn storage_that_cannot_be_opened_stops_the_server() {
    for auth in [
        r#"{ type = "Basic"; dbname = "/nonexistent-dir/auth.db"; }"#,
        r#"{ type = "Basic"; file = "/nonexistent-dir/passwd"; }"#,
        r#"{ type = "Basic"; file = "/nonexistent-dir/shadow"; }"#,
    ] {
        let loaded = load_str(&server(auth)).unwrap();
        let err = match crate::Server::from_config(&loaded.config, None) {
            Ok(_) => panic!("{auth} started"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("auth storage"), "{err}");
    }
}

#[test]
fn effective_configuration_prints_back() {
    let loaded = load_str(&server(
        r#"({ type = "Digest"; user = "a"; passwd = "b"; realm = "r"; opaque = "o"; },
             { type = "Bearer"; secret = "0123456789abcdef"; issuer = "x"; options = "cookie"; })"#,
    ))
    .unwrap();
    let printed = loaded.config.servers[0].modules.print();
    let auth = &printed.iter().find(|(k, _)| *k == "auth").unwrap().1;
    assert!(
        auth.starts_with("( { type = \"Digest\"; authz = \"simple\"; user = \"a\";"),
        "{auth}"
    );
    assert!(auth.contains("algorithm = \"SHA-256\"; options = \"\"; expire = 1800; maxfailures = 10; lockout = 60; }"), "{auth}");
    assert!(
        auth.contains("{ type = \"Bearer\"; authz = \"jwt\";"),
        "{auth}"
    );
    // What -C prints loads again, unchanged.
    let again = load_str(&server(auth)).unwrap();
    let reprinted = again.config.servers[0].modules.print();
    assert_eq!(
        &reprinted.iter().find(|(k, _)| *k == "auth").unwrap().1,
        auth
    );
}

fn build(auth: &str) -> Auth {
    let loaded = load_str(&server(auth)).unwrap();
    let info = Arc::new(ServerInfo {
        hostname: "dev.example.org".into(),
        service: "dev".into(),
        port: 8080,
        tls: false,
        version: HttpVersion::Http11,
        default_headers: Default::default(),
    });
    let env = BuildEnv {
        mime: Arc::new(crate::mime::MimeTable::new(&[])),
        server: info,
    };
    Auth::build(&loaded.config.servers[0].modules.auth, &env).unwrap()
}

fn ctx(path: &str) -> RequestCtx {
    let a: SocketAddr = "192.0.2.7:4000".parse().unwrap();
    let info = Arc::new(ServerInfo {
        hostname: "dev.example.org".into(),
        service: "dev".into(),
        port: 8080,
        tls: false,
        version: HttpVersion::Http11,
        default_headers: Default::default(),
    });
    let mut c = RequestCtx::new(info, a, a);
    c.path = path.to_string();
    c
}

fn head(uri: &str, headers: &[(&str, &str)]) -> RequestHead {
    let mut b = http::Request::builder()
        .uri(uri)
        .header("host", "dev.example.org:8080");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

/// Run the authentication phase: `Ok(user name or "")` or `Err(response)`.
fn decide(auth: &Auth, uri: &str, headers: &[(&str, &str)]) -> Result<String, http::Response<()>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let h = head(uri, headers);
    let mut c = ctx(uri.split('?').next().unwrap());
    match rt.block_on(auth.authenticate(&h, &mut c)).unwrap() {
        Flow::Continue => Ok(c.user.map(|u| u.name.clone()).unwrap_or_default()),
        Flow::Respond(r) => Err(r.map(|_| ())),
    }
}

const FOO_BAR: (&str, &str) = ("authorization", "Basic Zm9vOmJhcg==");

#[test]
fn protect_unprotect_and_tilde() {
    let a = build(
        r#"{ type = "Basic"; user = "foo"; passwd = "bar"; unprotect = "^/public/*,^/~x*"; protect = "^/public/secret*"; }"#,
    );
    assert_eq!(decide(&a, "/public/a.html", &[]).unwrap(), "");
    assert_eq!(decide(&a, "/public/a.html", &[FOO_BAR]).unwrap(), "foo");
    let r = decide(&a, "/public/secret/x", &[]).unwrap_err();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"dev.example.org\""
    );
    // `~` always needs credentials, even where unprotected.
    assert_eq!(
        decide(&a, "/~x/a", &[]).unwrap_err().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(decide(&a, "/private", &[FOO_BAR]).unwrap(), "foo");
    // Wrong credentials on an unprotected page: anonymous, as the original.
    assert_eq!(
        decide(&a, "/public/a", &[("authorization", "Basic Zm9vOmJheg==")]).unwrap(),
        ""
    );
}

#[test]
fn signin_redirects_xhr_forbidden_and_logout() {
    let a = build(r#"{ type = "Bearer"; secret = "0123456789abcdef"; signin = "/signin.html"; }"#);
    let r = decide(&a, "/app/x?a=1", &[]).unwrap_err();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        r.headers()["location"],
        "/signin.html?redirect_uri=http%3A%2F%2Fdev%2Eexample%2Eorg%3A8080%2Fapp%2Fx%3Fa%3D1"
    );
    assert_eq!(decide(&a, "/signin.html", &[]).unwrap(), "");
    assert_eq!(decide(&a, "/signin.html?x=1", &[]).unwrap(), "");
    let r = decide(&a, "/app/x?noredirect", &[]).unwrap_err();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert!(r.headers().get("location").is_none());
    let r = decide(&a, "/app", &[("x-requested-with", "XMLHttpRequest")]).unwrap_err();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = decide(&a, "/app", &[("authorization", "Bearer x.y.z")]).unwrap_err();
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"dev.example.org\", error=\"invalid_token\""
    );
    let basic = build(r#"{ type = "Basic"; user = "foo"; passwd = "bar"; }"#);
    let r = decide(&basic, "/", &[FOO_BAR, ("www-authenticate", "Basic")]).unwrap_err();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn status_reapproving_and_refused() {
    let a = build(
        r#"{ type = "Basic"; user = "foo"; passwd = "bar"; group = "admin"; status = "reapproving"; }"#,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let h = head("/", &[FOO_BAR]);
    let mut c = ctx("/");
    assert!(matches!(
        rt.block_on(a.authenticate(&h, &mut c)).unwrap(),
        Flow::Continue
    ));
    assert_eq!(c.user.unwrap().group, "reapproving");
    let a = build(r#"{ type = "Basic"; user = "foo"; passwd = "bar"; status = "approving"; }"#);
    assert_eq!(
        decide(&a, "/", &[FOO_BAR]).unwrap_err().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn none_asserts_its_user_only_when_asked() {
    let a = build(r#"{ type = "None"; user = "guest"; }"#);
    assert_eq!(decide(&a, "/", &[]).unwrap(), "");
    assert_eq!(
        decide(&a, "/", &[("authorization", "None")]).unwrap(),
        "guest"
    );
}

#[test]
fn multi_factor_chain_needs_every_factor() {
    let a = build(
        r#"({ type = "Basic"; user = "foo"; passwd = "bar"; issuer = "one"; },
             { type = "Bearer"; secret = "0123456789abcdef"; issuer = "two"; })"#,
    );
    // Basic alone does not satisfy the second factor.
    assert_eq!(
        decide(&a, "/", &[FOO_BAR]).unwrap_err().status(),
        StatusCode::UNAUTHORIZED
    );
    // A token carrying both issuers satisfies both.
    let t = super::token::Tokens::new("0123456789abcdef", 60);
    let user = crate::User {
        name: "foo".into(),
        ..Default::default()
    };
    let both = t.issue(&user, &["one".into(), "two".into()]).unwrap();
    let cookie = format!("X-Auth-Token={both}");
    // Factor one has no token keys, so Basic is still needed for it.
    assert_eq!(
        decide(&a, "/", &[FOO_BAR, ("cookie", &cookie)]).unwrap(),
        "foo"
    );
    let other = crate::User {
        name: "bar".into(),
        ..Default::default()
    };
    let bar = t.issue(&other, &["two".into()]).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let h = head("/", &[FOO_BAR, ("cookie", &format!("X-Auth-Token={bar}"))]);
    let mut c = ctx("/");
    let r = rt
        .block_on(a.authenticate(&h, &mut c))
        .map(|_| ())
        .map_err(|e| e.status());
    // Two factors naming different users: 500, as the original.
    assert_eq!(r, Err(StatusCode::INTERNAL_SERVER_ERROR));
}

#[test]
fn satisfied_issuers_list_as_names_would() {
    use super::satisfied::Satisfied;
    let a = build(
        r#"({ type = "Basic"; user = "foo"; passwd = "bar"; issuer = "one"; },
             { type = "Basic"; user = "foo"; passwd = "bar"; issuer = "two"; },
             { type = "Basic"; user = "foo"; passwd = "bar"; issuer = "three"; })"#,
    );
    let f = &a.factors;
    // The list as `run` used to build it: carried, then the factor's own,
    // each name once.
    let model = |steps: &[(usize, &[&str])]| {
        let mut names: Vec<String> = Vec::new();
        for (i, carried) in steps {
            for n in carried
                .iter()
                .map(|c| c.to_string())
                .chain([f[*i].issuer.clone()])
            {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        names
    };
    let cases: [&[(usize, &[&str])]; 5] = [
        &[],
        &[(0, &[])],
        &[(1, &[]), (2, &[])],
        &[(0, &[]), (1, &[]), (2, &[])],
        &[(0, &[]), (1, &["x", "one"]), (2, &["three"])],
    ];
    for steps in cases {
        let mut s = Satisfied::default();
        for (i, carried) in steps {
            s.add(f, *i, carried.iter().map(|c| c.to_string()).collect());
        }
        let want = model(steps);
        assert_eq!(s.names(f), want, "{steps:?}");
        for issuer in ["one", "two", "x", "three"] {
            assert_eq!(s.contains(f, issuer), want.iter().any(|n| n == issuer));
        }
    }
    assert!(matches!(
        {
            let mut s = Satisfied::default();
            s.add(f, 2, Vec::new());
            s
        },
        Satisfied::Factors(0b100)
    ));
}

/// The user of a request, with the phase's answer.
fn user_of(auth: &Auth, headers: &[(&str, &str)]) -> Option<Arc<crate::User>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut c = ctx("/");
    rt.block_on(auth.authenticate(&head("/", headers), &mut c))
        .unwrap();
    c.user
}

#[test]
fn shared_user_follows_the_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("passwd");
    std::fs::write(&file, "foo:bar:g1\n").unwrap();
    let a = build(&format!(
        r#"{{ type = "Basic"; file = "{}"; }}"#,
        file.display()
    ));
    let first = user_of(&a, &[FOO_BAR]).unwrap();
    assert_eq!(first.group, "g1");
    // The same account: the same user, not a copy.
    assert!(Arc::ptr_eq(&first, &user_of(&a, &[FOO_BAR]).unwrap()));
    // The password is still checked every time.
    assert!(user_of(&a, &[("authorization", "Basic Zm9vOmJheg==")]).is_none());
    // An edited file takes effect on the next request.
    std::fs::write(&file, "foo:bar:group2\n").unwrap();
    assert_eq!(user_of(&a, &[FOO_BAR]).unwrap().group, "group2");
    std::fs::write(&file, "foo:other:group2\n").unwrap();
    assert!(user_of(&a, &[FOO_BAR]).is_none());
}

#[test]
fn the_quick_basic_path_decides_as_the_full_one() {
    let a = build(
        r#"{ type = "Basic"; user = "foo"; passwd = "bar"; home = "foo"; unprotect = "^/public/*"; }"#,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let cases: [(&str, &[(&str, &str)]); 6] = [
        ("/", &[FOO_BAR]),
        ("/public/a", &[FOO_BAR]),
        ("/", &[("authorization", "Basic Zm9vOmJheg==")]),
        ("/", &[]),
        ("/", &[FOO_BAR, ("www-authenticate", "Basic")]),
        ("/~", &[FOO_BAR]),
    ];
    let mut quick = 0;
    for (uri, headers) in cases {
        let h = head(uri, headers);
        let (mut now, mut full) = (ctx(uri), ctx(uri));
        if a.run_now(&h, &mut ctx(uri)).is_some() {
            quick += 1;
        }
        let by_phase = rt.block_on(a.authenticate(&h, &mut now)).unwrap();
        let by_run = rt.block_on(a.run(&h, &mut full)).unwrap();
        let status = |f: &Flow| match f {
            Flow::Continue => 0,
            Flow::Respond(r) => r.status().as_u16(),
        };
        assert_eq!(status(&by_phase), status(&by_run), "{uri} {headers:?}");
        assert_eq!(now.user, full.user, "{uri} {headers:?}");
    }
    // Valid credentials (three of the cases) take the quick path.
    assert_eq!(quick, 3);
}
