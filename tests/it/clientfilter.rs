//! Integration tests: the client filter (issue 9). A second loopback
//! address (127.0.0.2) stands for another client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::support::{TestServer, site};

/// Connect to `to` from the local address `from`, send a request, and read
/// what comes back.
fn request_from(from: &str, to: SocketAddr) -> String {
    let from = SocketAddr::new(from.parse().unwrap(), 0);
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        None,
    )
    .unwrap();
    sock.bind(&from.into()).unwrap();
    sock.connect_timeout(&to.into(), Duration::from_secs(5))
        .unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn server(addr: &str, filter: &str) -> (crate::support::TempDir, TestServer) {
    let dir = site();
    let conf = format!(
        "servers = ({{ port = 0; addr = \"{addr}\"; keepalivetimeout = 5;\n clientfilter = {filter};\n document = {{ docroot = \"htdocs\"; }}; }});\n"
    );
    let s = TestServer::start(dir.path(), &conf, &[]);
    (dir, s)
}

#[test]
fn clientfilter_deny_and_allow_ipv4() {
    let (_d, s) = server("0.0.0.0", r#"{ deny = "127.0.0.2"; }"#);
    let to: SocketAddr = format!("127.0.0.1:{}", s.addr.port()).parse().unwrap();
    assert!(request_from("127.0.0.1", to).ends_with("hello world\n"));
    assert_eq!(
        request_from("127.0.0.2", to),
        "",
        "a denied client got an answer"
    );
    assert!(s.wait_log("clientfilter: refuses 127.0.0.2"), "{}", s.log());
}

#[test]
fn clientfilter_cidr_with_exception() {
    let (_d, s) = server(
        "0.0.0.0",
        r#"{ deny = "127.0.0.0/8"; allow = "127.0.0.1"; }"#,
    );
    let to: SocketAddr = format!("127.0.0.1:{}", s.addr.port()).parse().unwrap();
    assert!(request_from("127.0.0.1", to).ends_with("hello world\n"));
    assert_eq!(request_from("127.0.0.2", to), "");
    assert_eq!(request_from("127.0.0.3", to), "");
}

#[test]
fn clientfilter_ouistiti_text_patterns() {
    let (_d, s) = server("0.0.0.0", r#"{ deny = "*"; allow = "127.0.0.1"; }"#);
    let to: SocketAddr = format!("127.0.0.1:{}", s.addr.port()).parse().unwrap();
    assert!(request_from("127.0.0.1", to).ends_with("hello world\n"));
    assert_eq!(request_from("127.0.0.2", to), "");
}

#[test]
fn clientfilter_forbidden_answer() {
    let (_d, s) = server("0.0.0.0", r#"{ deny = "127.0.0.2"; refuse = "403"; }"#);
    let to: SocketAddr = format!("127.0.0.1:{}", s.addr.port()).parse().unwrap();
    let r = request_from("127.0.0.2", to);
    assert!(r.starts_with("HTTP/1.1 403 Forbidden"), "{r}");
}

#[test]
fn clientfilter_ipv6() {
    if TcpStream::connect("[::1]:1")
        .is_err_and(|e| e.kind() == std::io::ErrorKind::AddrNotAvailable)
    {
        println!("no IPv6 loopback here; skipped");
        return;
    }
    let (_d, s) = server("::1", r#"{ deny = "::1/128"; }"#);
    let to: SocketAddr = format!("[::1]:{}", s.addr.port()).parse().unwrap();
    assert_eq!(request_from("::1", to), "");
    drop(s);
    let (_d, s) = server("::1", r#"{ deny = "fd00::/8"; }"#);
    let to: SocketAddr = format!("[::1]:{}", s.addr.port()).parse().unwrap();
    assert!(request_from("::1", to).ends_with("hello world\n"));
}
