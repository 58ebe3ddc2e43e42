//! Integration test: a full disk during an upload (issue 10). The docroot
//! is a 1 MiB tmpfs (needs root to mount); uploads larger than the free
//! space fail with 507, leave the old file whole and no temporary file
//! behind, and the server goes on storing what fits.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::http::{Client, Resp, conf};
use crate::support::TestServer;

/// A tmpfs mounted on a directory, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap()
}

fn send(server: &TestServer, method: &str, path: &str, body: &[u8]) -> Resp {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut c = Client::new(server);
    c.send([head.as_bytes(), body].concat());
    c.response()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".marmoset-upload-"))
        .collect()
}

#[test]
fn robustness_disk_full_upload_fails_cleanly() {
    if !running_as_root() {
        println!("not running as root: cannot mount a small file system here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let htdocs = dir.path().join("htdocs");
    std::fs::create_dir(&htdocs).unwrap();
    let _fs = Tmpfs::mount(&htdocs, "1m").expect("mount a 1 MiB tmpfs");
    std::fs::write(htdocs.join("hello.txt"), "hello world\n").unwrap();
    let s = TestServer::start(
        dir.path(),
        &conf("", "options = \"rest\"; maxuploadsize = 10000000;"),
        &[],
    );
    let big = vec![b'x'; 3 << 20];

    // Replacing an existing file (POST): refused, old content intact.
    let r = send(&s, "POST", "/hello.txt", &big);
    assert_eq!(r.status, 507, "{}", r.text());
    assert!(r.text().contains("No space left on device"), "{}", r.text());
    assert_eq!(
        std::fs::read_to_string(htdocs.join("hello.txt")).unwrap(),
        "hello world\n"
    );
    assert_eq!(leftovers(&htdocs), Vec::<String>::new());

    // Creating a new file (PUT): refused, nothing created.
    let r = send(&s, "PUT", "/big.bin", &big);
    assert_eq!(r.status, 507, "{}", r.text());
    assert!(!htdocs.join("big.bin").exists());
    assert_eq!(leftovers(&htdocs), Vec::<String>::new());

    // The space was given back: what fits is stored and served.
    let r = send(&s, "PUT", "/small.txt", b"fits\n");
    assert_eq!(r.status, 201, "{}", r.text());
    let r = send(&s, "GET", "/small.txt", b"");
    assert_eq!((r.status, r.text().as_str()), (200, "fits\n"));
    let r = send(&s, "GET", "/hello.txt", b"");
    assert_eq!(r.text(), "hello world\n");
}
