//! The integration-test harness: the real `marmoset` binary started on an
//! ephemeral loopback port with a temporary configuration and docroot, and
//! the clients that talk to it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod curl;

pub use tempfile::TempDir;

/// Write `text` to `path` as an executable script (mode 0755).
pub fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Path of the binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_marmoset"))
}

/// A command running the binary.
pub fn marmoset() -> Command {
    Command::new(bin())
}

/// A temporary directory with `htdocs/` holding a few files.
pub fn site() -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("htdocs");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>home</h1>\n").unwrap();
    std::fs::write(root.join("hello.txt"), "hello world\n").unwrap();
    std::fs::write(root.join("sub/page.html"), "<p>sub page</p>\n").unwrap();
    std::fs::write(root.join("empty.txt"), "").unwrap();
    let digits: String = (0..1000)
        .map(|i| char::from(b'0' + (i % 10) as u8))
        .collect();
    std::fs::write(root.join("digits.txt"), digits).unwrap();
    dir
}

/// A running server; stopped with SIGTERM when dropped.
pub struct TestServer {
    child: Option<Child>,
    /// The first listening address, as a loopback address.
    pub addr: SocketAddr,
    /// Every listening address, as loopback addresses.
    pub addrs: Vec<SocketAddr>,
    log: Arc<Mutex<String>>,
    /// The working directory (`-W`).
    pub dir: PathBuf,
}

impl TestServer {
    /// Write `conf` as `marmoset.conf` in `dir` and run the binary there
    /// (`-W dir`), with `args` added.
    pub fn start(dir: &Path, conf: &str, args: &[&str]) -> TestServer {
        Self::try_start(dir, conf, args)
            .unwrap_or_else(|log| panic!("server did not start:\n{log}"))
    }

    /// As [`start`], but return the server's output when it does not start.
    pub fn try_start(dir: &Path, conf: &str, args: &[&str]) -> Result<TestServer, String> {
        std::fs::write(dir.join("marmoset.conf"), conf).unwrap();
        let mut child = marmoset()
            .arg("-W")
            .arg(dir)
            .args(["-f", "marmoset.conf", "-P", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn marmoset");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(a) = line.split("listening on ").nth(1) {
                    let _ = tx.send(Some(a.trim().to_string()));
                }
                let mut l = log2.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
            let _ = tx.send(None);
        });
        let mut addrs = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        if let Ok(Some(a)) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            let a: SocketAddr = a.parse().expect("listening address");
            addrs.push(SocketAddr::new(loopback(a), a.port()));
            // All listening lines are written together; wait briefly for more.
            while let Ok(Some(a)) = rx.recv_timeout(Duration::from_millis(50)) {
                let a: SocketAddr = a.parse().expect("listening address");
                addrs.push(SocketAddr::new(loopback(a), a.port()));
            }
        }
        if addrs.is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            return Err(log.lock().unwrap().clone());
        }
        Ok(TestServer {
            child: Some(child),
            addr: addrs[0],
            addrs,
            log,
            dir: dir.to_path_buf(),
        })
    }

    /// Everything the server wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Wait (10 s at most) until the log holds `needle`. A line the server
    /// wrote while answering reaches [`log`](Self::log) through a reader
    /// thread, so it can lag the answer itself: assert on this, not on
    /// `log().contains(..)`, for anything logged after start-up.
    pub fn wait_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// A connected TCP client with read/write timeouts.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    /// Send raw bytes and read until the server closes (or 10 s pass).
    pub fn raw(&self, request: &[u8]) -> String {
        let mut s = self.connect();
        s.write_all(request).unwrap();
        read_all(&mut s)
    }

    /// Run curl against `path` with `args`; returns the output.
    pub fn curl(&self, path: &str, args: &[&str]) -> Output {
        Command::new("curl")
            .args(["-sS", "--max-time", "20"])
            .args(args)
            .arg(format!("http://{}{}", self.addr, path))
            .output()
            .expect("run curl")
    }

    /// Send SIGTERM and wait for the exit status (at most 15 s).
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        unsafe_kill(child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn loopback(a: SocketAddr) -> std::net::IpAddr {
    if a.ip().is_unspecified() {
        "127.0.0.1".parse().unwrap()
    } else {
        a.ip()
    }
}

/// Send a signal with the `kill` command (no unsafe in tests).
pub fn unsafe_kill(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// One `read`, again when a signal interrupted it: a read with a receive
/// timeout is not restarted after a signal handler ran (signal(7)), and
/// tests that run a server in this process (embedding, CGI) install
/// tokio's `SIGCHLD` handler for the whole test process.
pub fn read_some(s: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match s.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Read until EOF or timeout.
pub fn read_all(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match read_some(s, &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A document server configuration on an ephemeral port.
pub fn doc_conf(extra_server: &str, document: &str) -> String {
    format!(
        "servers = ({{ port = 0; addr = \"127.0.0.1\"; keepalivetimeout = 5; maxclients = 50; {extra_server}\n document = {{ docroot = \"htdocs\"; {document} }}; }});\n"
    )
}
