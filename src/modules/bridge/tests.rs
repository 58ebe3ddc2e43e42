use std::os::unix::fs::symlink;
use std::os::unix::net::UnixListener;

use socket2::{Domain, SockAddr, Socket, Type};

use super::*;

fn seqpacket_listener(path: &Path) -> Socket {
    let s = Socket::new(Domain::UNIX, Type::SEQPACKET, None).unwrap();
    s.bind(&SockAddr::unix(path).unwrap()).unwrap();
    s.listen(8).unwrap();
    s
}

#[test]
fn lookup_finds_sockets_inside_only() {
    let outside = tempfile::tempdir().unwrap();
    let _out = UnixListener::bind(outside.path().join("x")).unwrap();
    let d = tempfile::tempdir().unwrap();
    let _l = UnixListener::bind(d.path().join("chat")).unwrap();
    std::fs::create_dir(d.path().join("sub")).unwrap();
    let _m = UnixListener::bind(d.path().join("sub/echo")).unwrap();
    std::fs::write(d.path().join("file"), "x").unwrap();
    symlink(d.path().join("chat"), d.path().join("alias")).unwrap();
    symlink(outside.path().join("x"), d.path().join("escape")).unwrap();
    let dir = SocketDir::new(d.path().to_path_buf());
    let root = d.path().canonicalize().unwrap();
    assert_eq!(dir.lookup("/chat"), Entry::Socket(root.join("chat")));
    assert_eq!(dir.lookup("/alias"), Entry::Socket(root.join("chat")));
    assert_eq!(dir.lookup("/escape"), Entry::Missing);
    assert_eq!(dir.lookup("/file"), Entry::Other);
    assert_eq!(dir.lookup("/nope"), Entry::Missing);
    assert_eq!(dir.lookup("/sub"), Entry::Dir(root.join("sub")));
    let sub = root.join("sub");
    assert_eq!(
        dir.lookup_name(Some(&sub), "echo"),
        Entry::Socket(sub.join("echo"))
    );
    assert_eq!(
        dir.lookup_name(None, "chat"),
        Entry::Socket(root.join("chat"))
    );
    assert_eq!(dir.lookup_name(Some(&sub), "../chat"), Entry::Missing);
    assert_eq!(dir.lookup_name(None, ".."), Entry::Missing);
    assert_eq!(dir.lookup_name(Some(outside.path()), "x"), Entry::Missing);
    // A directory that does not exist yet is simply empty.
    let later = SocketDir::new(d.path().join("later"));
    assert_eq!(later.lookup("/chat"), Entry::Missing);
}

#[test]
fn upgrade_headers_are_substrings_without_case() {
    let mut h = HeaderMap::new();
    h.insert("connection", "keep-alive, Upgrade".parse().unwrap());
    h.insert("upgrade", "WebSocket".parse().unwrap());
    assert!(wants_upgrade(&h, "websocket"));
    assert!(!wants_upgrade(&h, "PTTH/1.0"));
    h.insert("connection", "close".parse().unwrap());
    assert!(!wants_upgrade(&h, "websocket"));
}

#[test]
fn preamble_names_the_user() {
    use crate::pipeline::User;
    let info = std::sync::Arc::new(crate::server_info::ServerInfo {
        hostname: "test.local".into(),
        service: "www".into(),
        port: 80,
        tls: false,
        version: crate::server_info::HttpVersion::Http11,
        default_headers: HeaderMap::new(),
    });
    let mut ctx = RequestCtx::new(
        info,
        "192.0.2.7:5000".parse().unwrap(),
        "127.0.0.1:80".parse().unwrap(),
    );
    ctx.path = "/chat".into();
    ctx.user = Some(std::sync::Arc::new(User {
        name: "ali\r\nce".into(),
        group: "users".into(),
        ..User::default()
    }));
    let p = preamble(&ctx);
    assert_eq!(
        &p[..],
        b"X-Remote-User: alice\r\nX-Remote-Group: users\r\nX-Remote-Addr: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Request-Path: /chat\r\n\r\n"
    );
}

#[tokio::test]
async fn stream_and_packet_sockets_are_told_apart() {
    let d = tempfile::tempdir().unwrap();
    let stream_path = d.path().join("s");
    let packet_path = d.path().join("p");
    let _s = UnixListener::bind(&stream_path).unwrap();
    let _p = seqpacket_listener(&packet_path);
    let b = Backend::connect(&stream_path, Prefer::Stream)
        .await
        .unwrap();
    assert!(!b.is_packet());
    let b = Backend::connect(&packet_path, Prefer::Stream)
        .await
        .unwrap();
    assert!(b.is_packet());
    assert!(
        Backend::connect(&stream_path, Prefer::PacketOnly)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn packets_keep_their_boundaries_and_size_limit() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("p");
    let listener = seqpacket_listener(&path);
    let b = Backend::connect(&path, Prefer::PacketOnly).await.unwrap();
    let (server, _) = listener.accept().unwrap();
    let (mut r, mut w) = b.split();
    w.write(b"one").await.unwrap();
    w.write(&[7u8; 70_000]).await.unwrap();
    let mut buf = vec![0u8; 100_000];
    assert_eq!(read_packet(&server, &mut buf).unwrap(), 3);
    assert_eq!(read_packet(&server, &mut buf).unwrap(), 70_000);
    server.send(b"first").unwrap();
    server.send(&[1u8; 5000]).unwrap();
    server.send(b"last").unwrap();
    assert_eq!(r.read(1000).await.unwrap().unwrap(), &b"first"[..]);
    let e = r.read(1000).await.unwrap_err();
    assert!(e.get_ref().unwrap().is::<seqpacket::TooLarge>());
    assert_eq!(r.read(1000).await.unwrap().unwrap(), &b"last"[..]);
    drop(server);
    assert!(r.read(1000).await.unwrap().is_none());
}

/// Receive one packet into an initialised buffer (socket2's `recv` wants
/// `MaybeUninit`; `Read` does the same without `unsafe`).
fn read_packet(s: &Socket, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::io::Read;
    let mut s: &Socket = s;
    s.read(buf)
}
