//! Integration tests: systemd readiness notification and socket activation
//! (issue 10).

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{bin, site, unsafe_kill};

#[test]
fn systemd_notify_ready_and_stopping() {
    let dir = site();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    std::fs::write(
        dir.path().join("m.conf"),
        "servers = ({ port = 0; addr = \"127.0.0.1\"; document = { docroot = \"htdocs\"; }; });\n",
    )
    .unwrap();
    let mut child = Command::new(bin())
        .arg("-W")
        .arg(dir.path())
        .args(["-f", "m.conf"])
        .env("NOTIFY_SOCKET", &sock_path)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("no READY=1 within 20 s");
    assert_eq!(&buf[..n], b"READY=1");
    unsafe_kill(child.id(), "TERM");
    let n = sock.recv(&mut buf).expect("no STOPPING=1");
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(child.wait().unwrap().success());
}

/// A socket opened by "systemd" (here a Python stand-in that puts it at fd 3
/// and execs marmoset with LISTEN_FDS/LISTEN_PID) is used instead of binding.
#[test]
fn systemd_socket_activation_uses_the_inherited_socket() {
    let dir = site();
    // The configured port is taken by someone else: binding it would fail,
    // so a working server proves the inherited socket is used.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    std::fs::write(
        dir.path().join("m.conf"),
        format!("servers = ({{ port = {busy_port}; addr = \"127.0.0.1\"; document = {{ docroot = \"htdocs\"; }}; }});\n"),
    )
    .unwrap();
    let script = r#"
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
env = dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
os.execve(sys.argv[1], sys.argv[1:], env)
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(bin())
        .arg("-W")
        .arg(dir.path())
        .args(["-f", "m.conf"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut started = false;
    for _ in 0..50 {
        let mut l = String::new();
        if err.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        if l.contains("listening on") {
            assert!(l.contains(&port.to_string()), "{l}");
            started = true;
            break;
        }
    }
    assert!(started, "server did not start on the inherited socket");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .arg(format!("http://127.0.0.1:{port}/hello.txt"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello world\n");
    unsafe_kill(child.id(), "TERM");
    let _ = child.wait();
    drop(busy);
}
