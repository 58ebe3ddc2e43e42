//! What clients send to the smaller modules' own parsers: the CORS
//! `Origin`, the redirect module's `redirect_uri` parameter, the WebSocket
//! handshake headers, and the userfilter rule expressions and REST bodies.

#![no_main]

use libfuzzer_sys::fuzz_target;
use marmoset::modules::{cors, redirect, userfilter, websocket};
use marmoset::request_body::RequestBody;
use marmoset_fuzz::{fields, text};

fuzz_target!(|data: &[u8]| {
    let [origin, query, key, protocol, version, rule, body] = fields::<7>(data);

    // CORS: only `scheme://host[:port]` names a host, and only its host.
    let origin = text(origin);
    if let Some(host) = cors::origin_host(&origin) {
        assert!(!host.is_empty());
        assert!(origin.contains(host));
        assert!(
            !host.contains(['/', '?', '#', '@', '\\']),
            "origin {origin:?} gave host {host:?}"
        );
        let bracketed = origin.contains(&format!("[{host}]"));
        assert!(
            bracketed || !host.contains(':'),
            "host {host:?} keeps a port"
        );
    }

    // Redirect: a present parameter is never empty.
    if let Some(uri) = redirect::redirect_uri(&text(query)) {
        assert!(!uri.is_empty());
    }

    // WebSocket handshake over the headers as sent.
    let mut req = http::Request::builder().method("GET").uri("/ws");
    for (name, value) in [
        ("connection", b"Upgrade".as_slice()),
        ("upgrade", b"websocket".as_slice()),
        ("sec-websocket-key", key),
        ("sec-websocket-protocol", protocol),
        ("sec-websocket-version", version),
    ] {
        if let Ok(v) = http::HeaderValue::from_bytes(value) {
            req = req.header(name, v);
        }
    }
    let req = req.body(RequestBody::empty()).unwrap();
    assert_eq!(
        websocket::handshake(&req),
        Some(websocket::Handshake::Http1)
    );
    for p in websocket::protocols(&req) {
        assert!(
            !p.is_empty() && p.trim() == p && !p.contains(','),
            "protocol {p:?}"
        );
    }
    let _ = websocket::version_ok(&req);
    if let Ok(accept) = websocket::accept_key(&req) {
        assert_eq!(accept.len(), 28, "accept {accept:?}");
    }

    // Userfilter: `%u %g %h` substituted, nothing else survives a `%`.
    let rule = text(rule);
    if let Some(exp) = userfilter::expand(&rule, "user", "group", "/home/user/") {
        assert!(!exp.contains('%'), "{rule:?} expanded to {exp:?}");
    }
    for ctype in ["application/json", "application/x-www-form-urlencoded"] {
        if let Some((method, role, pathexp)) = userfilter::api::fields(ctype, body) {
            let _ = (method.len(), role.len(), pathexp.len());
        }
    }
});
