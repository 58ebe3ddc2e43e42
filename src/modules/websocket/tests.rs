use super::*;
use crate::request_body::RequestBody;

fn req(b: http::request::Builder) -> Request {
    b.body(RequestBody::empty()).unwrap()
}

fn upgrade_get() -> http::request::Builder {
    http::Request::get("/chat")
        .header("Connection", "keep-alive, Upgrade")
        .header("Upgrade", "WebSocket")
}

#[test]
fn handshake_needs_get_connection_and_upgrade() {
    assert_eq!(handshake(&req(upgrade_get())), Some(Handshake::Http1));
    let post = http::Request::post("/chat")
        .header("Connection", "upgrade")
        .header("Upgrade", "websocket");
    assert_eq!(handshake(&req(post)), None);
    let no_conn = http::Request::get("/chat").header("Upgrade", "websocket");
    assert_eq!(handshake(&req(no_conn)), None);
    let old = upgrade_get().version(Version::HTTP_10);
    assert_eq!(handshake(&req(old)), None);
    let other = http::Request::get("/chat")
        .header("Connection", "upgrade")
        .header("Upgrade", "h2c");
    assert_eq!(handshake(&req(other)), None);
}

#[cfg(feature = "http2")]
#[test]
fn http2_extended_connect() {
    let mut r = req(http::Request::connect("/chat").version(Version::HTTP_2));
    assert_eq!(handshake(&r), None);
    r.extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    assert_eq!(handshake(&r), Some(Handshake::Http2));
}

#[test]
fn accept_key_of_rfc_6455() {
    let r = req(upgrade_get().header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="));
    assert_eq!(accept_key(&r).unwrap(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    let none = req(upgrade_get());
    assert_eq!(
        accept_key(&none).unwrap_err().status(),
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn version_other_than_13_is_refused() {
    assert!(version_ok(&req(upgrade_get())));
    assert!(version_ok(&req(
        upgrade_get().header("Sec-WebSocket-Version", "13")
    )));
    assert!(!version_ok(&req(
        upgrade_get().header("Sec-WebSocket-Version", "8")
    )));
}

#[test]
fn offered_protocols_in_order() {
    let r = req(upgrade_get()
        .header("Sec-WebSocket-Protocol", "chat, superchat")
        .header("Sec-WebSocket-Protocol", "json"));
    assert_eq!(protocols(&r), ["chat", "superchat", "json"]);
}
