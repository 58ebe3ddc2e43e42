//! Integration tests: run modes (mono, threads, process) and the privilege
//! drop (issue 10).

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use crate::support::{TestServer, marmoset, site, unsafe_kill};

fn conf(mode: &str) -> String {
    format!(
        "mode = \"{mode}\"; workers = 2;\nservers = ({{ port = 0; addr = \"127.0.0.1\"; keepalivetimeout = 5; maxclients = 20;\n document = {{ docroot = \"htdocs\"; options = \"range\"; }}; }});\n"
    )
}

/// The core cases every mode must serve.
fn core_cases(s: &TestServer) {
    assert!(
        s.raw(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ends_with("hello world\n")
    );
    assert!(
        s.raw(b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .starts_with("HTTP/1.1 404")
    );
    assert_eq!(s.raw(b"GET /hello.txt\r\n"), "hello world\n");
    let two = s.raw(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /sub/page.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(
        two.contains("hello world\n") && two.ends_with("<p>sub page</p>\n"),
        "{two}"
    );
    let r = s.raw(
        b"GET /digits.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\nConnection: close\r\n\r\n",
    );
    assert!(
        r.starts_with("HTTP/1.1 206") && r.ends_with("0123456789"),
        "{r}"
    );
}

#[test]
fn modes_each_mode_serves_the_core_cases() {
    for mode in ["mono", "threads", "process"] {
        let dir = site();
        let s = TestServer::start(dir.path(), &conf(mode), &[]);
        core_cases(&s);
        if mode == "threads" {
            assert!(s.wait_log("serving with 2 worker threads"), "{}", s.log());
        }
    }
}

fn children(pid: u32) -> Vec<u32> {
    let out = Command::new("pgrep")
        .arg("-P")
        .arg(pid.to_string())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn modes_process_child_killed_mid_response_leaves_others_alone() {
    let dir = site();
    let big: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.path().join("htdocs/big.bin"), &big).unwrap();
    let s = TestServer::start(dir.path(), &conf("process"), &[]);
    // Two slow downloads, each served by its own child.
    let mut a = s.connect();
    let mut b = s.connect();
    for c in [&mut a, &mut b] {
        c.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut first = [0u8; 1024];
        assert!(c.read(&mut first).unwrap() > 0);
    }
    let kids = children(s.pid());
    assert_eq!(kids.len(), 2, "expected one child per connection: {kids:?}");
    crate::support::unsafe_kill(kids[0], "KILL");
    // One of the two connections dies; the other completes in full.
    let mut results = Vec::new();
    for c in [&mut a, &mut b] {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest);
        results.push(rest.len() + 1024);
    }
    let complete = results.iter().filter(|&&n| n > big.len()).count();
    assert_eq!(complete, 1, "sizes {results:?}");
    // And the server still serves.
    assert!(
        s.raw(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ends_with("hello world\n")
    );
}

#[test]
fn modes_privilege_drop_to_user() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        .unwrap();
    if uid != "0" {
        println!("not running as root: privilege drop not testable here");
        return;
    }
    let dir = site();
    // The docroot must be readable by nobody after the drop.
    Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(dir.path())
        .status()
        .unwrap();
    let conf = "user = \"nobody\";\nservers = ({ port = 0; addr = \"127.0.0.1\"; document = { docroot = \"htdocs\"; }; });\n";
    let s = TestServer::start(dir.path(), conf, &[]);
    assert!(
        s.raw(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ends_with("hello world\n")
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    let ids = |key: &str| -> Vec<String> {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .map(|l| l.split_whitespace().skip(1).map(str::to_string).collect())
            .unwrap()
    };
    let nobody = String::from_utf8(
        Command::new("id")
            .args(["-u", "nobody"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let nobody = nobody.trim().to_string();
    assert!(
        ids("Uid:").iter().all(|u| *u == nobody),
        "uids {:?}",
        ids("Uid:")
    );
    assert!(
        !ids("Gid:").iter().any(|g| g == "0"),
        "gids {:?}",
        ids("Gid:")
    );
    assert!(
        !ids("Groups:").iter().any(|g| g == "0"),
        "groups {:?}",
        ids("Groups:")
    );
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        .unwrap()
}

/// `chroot`: the process's root is the jail, the docroot is a path inside
/// it, the user switch still finds `nobody` (looked up before), the pid
/// file outside the jail is written and removed, SIGHUP is refused with a
/// message and the server keeps serving.
#[test]
fn modes_chroot_confines_the_process() {
    if !running_as_root() {
        println!("not running as root: chroot not testable here");
        return;
    }
    let dir = site();
    let jail = dir.path().join("jail");
    std::fs::create_dir_all(jail.join("htdocs")).unwrap();
    std::fs::write(jail.join("htdocs/hello.txt"), "inside the jail\n").unwrap();
    Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(dir.path())
        .status()
        .unwrap();
    // As /run/marmoset would be: writable by the user the server becomes.
    std::fs::create_dir(dir.path().join("run")).unwrap();
    Command::new("chown")
        .args(["nobody"])
        .arg(dir.path().join("run"))
        .status()
        .unwrap();
    let conf = "chroot = \"jail\"; user = \"nobody\"; pid-file = \"run/marmoset.pid\";\nservers = ({ port = 0; addr = \"127.0.0.1\"; document = { docroot = \"/htdocs\"; }; });\n";
    let mut s = TestServer::start(dir.path(), conf, &[]);
    let get =
        |s: &TestServer| s.raw(b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(get(&s).ends_with("inside the jail\n"), "{}", get(&s));
    let root = std::fs::read_link(format!("/proc/{}/root", s.pid())).unwrap();
    assert_eq!(root, jail.canonicalize().unwrap());
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(!uid.split_whitespace().skip(1).any(|u| u == "0"), "{uid}");
    let pidfile = dir.path().join("run/marmoset.pid");
    let written: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(written, s.pid());
    unsafe_kill(s.pid(), "HUP");
    assert!(s.wait_log("reload refused under chroot"), "{}", s.log());
    assert!(get(&s).ends_with("inside the jail\n"));
    s.stop();
    assert!(!pidfile.exists(), "pid file left behind");
}

/// A `chroot` directory that does not exist stops the start with a message.
#[test]
fn modes_chroot_missing_directory_is_a_start_up_error() {
    let dir = site();
    let conf = "chroot = \"no-such-jail\";\nservers = ({ port = 0; addr = \"127.0.0.1\"; document = { docroot = \"/htdocs\"; }; });\n";
    std::fs::write(dir.path().join("marmoset.conf"), conf).unwrap();
    let out = marmoset()
        .arg("-W")
        .arg(dir.path())
        .args(["-f", "marmoset.conf", "-P", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chroot no-such-jail"), "{err}");
}
