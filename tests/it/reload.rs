//! Integration tests: configuration reload on SIGHUP (issue 10).

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::support::{TestServer, site, unsafe_kill};

fn conf(docroot: &str) -> String {
    format!(
        "servers = ({{ port = 0; addr = \"127.0.0.1\"; keepalivetimeout = 5; maxclients = 20;\n document = {{ docroot = \"{docroot}\"; }}; }});\n"
    )
}

fn get(s: &TestServer, path: &str) -> String {
    s.raw(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
}

#[test]
fn reload_new_docroot_while_a_download_continues() {
    let dir = site();
    let big: Vec<u8> = (0..20 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("htdocs/big.bin"), &big).unwrap();
    std::fs::create_dir_all(dir.path().join("htdocs2")).unwrap();
    std::fs::write(dir.path().join("htdocs2/hello.txt"), "new site\n").unwrap();
    let s = TestServer::start(dir.path(), &conf("htdocs"), &[]);
    let mut dl = s.connect();
    dl.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut first = vec![0u8; 65536];
    let n = dl.read(&mut first).unwrap();
    assert!(n > 0);
    std::fs::write(dir.path().join("marmoset.conf"), conf("htdocs2")).unwrap();
    unsafe_kill(s.pid(), "HUP");
    assert!(s.wait_log("reloaded"), "{}", s.log());
    assert!(get(&s, "/hello.txt").ends_with("new site\n"));
    let mut rest = Vec::new();
    dl.read_to_end(&mut rest).unwrap();
    let mut all = first[..n].to_vec();
    all.extend_from_slice(&rest);
    let body_at = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(all.len() - body_at, big.len(), "download cut by the reload");
    assert!(all[body_at..] == big[..], "download corrupted");
}

#[test]
fn reload_with_a_broken_configuration_keeps_the_old_one() {
    let dir = site();
    let s = TestServer::start(dir.path(), &conf("htdocs"), &[]);
    std::fs::write(
        dir.path().join("marmoset.conf"),
        "servers = ({ port = \"x\"; });\n",
    )
    .unwrap();
    unsafe_kill(s.pid(), "HUP");
    assert!(s.wait_log("reload refused"), "{}", s.log());
    assert!(s.log().contains("marmoset.conf:1:21"), "{}", s.log());
    assert!(get(&s, "/hello.txt").ends_with("hello world\n"));
    // A configuration whose docroot is missing is refused too.
    std::fs::write(dir.path().join("marmoset.conf"), conf("nowhere")).unwrap();
    unsafe_kill(s.pid(), "HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.log().matches("reload refused").count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(s.log().matches("reload refused").count(), 2, "{}", s.log());
    assert!(get(&s, "/hello.txt").ends_with("hello world\n"));
}
