//! The OpenID tests' harness: the test provider (`tests/oidc/provider.js`)
//! as a child process driven through its stdin, marmoset configured for it,
//! and a cookie-keeping curl "browser" that walks the code flow.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::curl::Resp;
use crate::support::{TempDir, TestServer, doc_conf, site};

pub const SECRET: &str = "a very shared secret";
pub const CLIENT_SECRET: &str = "marmoset-test-secret";

/// The test provider, running; stopped when dropped.
pub struct Op {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    port: u16,
    scheme: &'static str,
    /// What node wrote to stderr, for the failure message.
    stderr: Arc<Mutex<String>>,
}

impl Op {
    pub fn start() -> Op {
        Op::spawn(None)
    }

    /// The provider over HTTPS with the PEM certificate and key `tls`.
    pub fn start_tls(cert: &Path, key: &Path) -> Op {
        Op::spawn(Some((cert, key)))
    }

    /// Start the provider; a start that hangs is retried (twice) with a
    /// fresh node process, and what the hung one was doing is printed.
    /// Seen once on a fresh CI machine: node printed its start-up warning,
    /// then nothing for 90 s, while twelve later starts took a second.
    fn spawn(tls: Option<(&Path, &Path)>) -> Op {
        let mut failures = Vec::new();
        for _ in 0..3 {
            match Op::spawn_once(tls) {
                Ok(op) => {
                    if !failures.is_empty() {
                        eprintln!("the test provider started after {failures:#?}");
                    }
                    return op;
                }
                Err(why) => failures.push(why),
            }
        }
        panic!("the test provider did not start: {failures:#?}")
    }

    fn spawn_once(tls: Option<(&Path, &Path)>) -> Result<Op, String> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        assert!(
            dir.join("node_modules/oidc-provider").exists(),
            "the test provider is not installed: run ./test.sh (npm ci --prefix tests/oidc)"
        );
        let mut node = Command::new("node");
        if let Some((cert, key)) = tls {
            node.env("TLS_CERT", cert).env("TLS_KEY", key);
        }
        let mut child = node
            .arg(dir.join("provider.js"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run node");
        let stderr = Arc::new(Mutex::new(String::new()));
        let errors = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(errors).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut op = Op {
            child,
            stdin,
            lines,
            port: 0,
            scheme: if tls.is_some() { "https" } else { "http" },
            stderr,
        };
        // Node and oidc-provider start slowly on a loaded machine.
        let first = op
            .wait_for("listening", Duration::from_secs(30))
            .map_err(|why| format!("{why}\n{}", process_state(op.child.id())))?;
        op.port = first.trim_start_matches("listening ").parse().unwrap();
        Ok(op)
    }

    /// The next output line starting with `prefix` (bounded wait).
    pub fn expect(&self, prefix: &str) -> String {
        self.expect_within(prefix, Duration::from_secs(30))
    }

    fn expect_within(&self, prefix: &str, wait: Duration) -> String {
        self.wait_for(prefix, wait)
            .unwrap_or_else(|why| panic!("{why}"))
    }

    fn wait_for(&self, prefix: &str, wait: Duration) -> Result<String, String> {
        loop {
            let line = self.lines.recv_timeout(wait).map_err(|e| {
                // Closed stdout: the provider is gone; give its stderr
                // reader a moment to collect the last words.
                std::thread::sleep(Duration::from_millis(300));
                format!(
                    "the provider did not say `{prefix}` ({e}; waited at most {wait:?}); its stderr:\n{}",
                    self.stderr.lock().unwrap()
                )
            })?;
            if line.starts_with(prefix) {
                return Ok(line);
            }
        }
    }

    /// Send a command and wait for its answer.
    pub fn cmd(&mut self, line: &str, answer: &str) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        self.expect(answer)
    }

    pub fn issuer(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }
}

/// What a process and its threads are doing (state and wait channel), for
/// the message about a provider that hangs.
fn process_state(pid: u32) -> String {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map(|d| {
        d.filter_map(Result::ok)
            .map(|t| {
                let read = |f: &str| std::fs::read_to_string(t.path().join(f)).unwrap_or_default();
                let stat = read("stat");
                let state = stat
                    .rsplit(") ")
                    .next()
                    .unwrap_or("")
                    .split(' ')
                    .next()
                    .unwrap_or("?");
                format!("{} {state} {}", read("comm").trim(), read("wchan"))
            })
            .collect::<Vec<_>>()
            .join("; ")
    });
    format!(
        "node {pid} threads (name state wait): {}",
        tasks.unwrap_or_else(|e| e.to_string())
    )
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A site with a protected CGI script printing the user, a protected
/// page, a public page; marmoset started with an `oAuth2` section
/// (`extra` appended) for `op`, and `op` told about the callback.
pub fn start(op: &mut Op, extra: &str, args: &[&str]) -> (TempDir, TestServer) {
    start_as(op, "marmoset", extra, args)
}

/// As [`start`], for the provider's client `client_id`.
pub fn start_as(op: &mut Op, client_id: &str, extra: &str, args: &[&str]) -> (TempDir, TestServer) {
    let dir = site();
    let htdocs = dir.path().join("htdocs");
    std::fs::create_dir_all(htdocs.join("private")).unwrap();
    std::fs::create_dir_all(htdocs.join("public")).unwrap();
    std::fs::write(
        htdocs.join("private/secret.html"),
        "<p>secret content</p>\n",
    )
    .unwrap();
    std::fs::write(htdocs.join("private/other.html"), "<p>other secret</p>\n").unwrap();
    std::fs::write(htdocs.join("public/a.txt"), "public\n").unwrap();
    std::fs::create_dir_all(dir.path().join("cgi")).unwrap();
    crate::support::write_script(
        &dir.path().join("cgi/who.sh"),
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nuser=%s\\n' \"$REMOTE_USER\"\n",
    );
    let auth = format!(
        r#"auth = {{ type = "oAuth2"; issuer_url = "{}"; client_id = "{client_id}"; client_secret = "{CLIENT_SECRET}"; redirect_uri = "/auth/callback"; secret = "{SECRET}"; unprotect = "^/public/*"; group_claim = "groups"; {extra} }};
           cgi = {{ docroot = "cgi"; allow = ".sh*"; deny = "*"; denylast = true; }};"#,
        op.issuer()
    );
    let s = TestServer::start(dir.path(), &doc_conf(&auth, ""), args);
    op.cmd(
        &format!("redirect http://{}/auth/callback", s.addr),
        "ready",
    );
    (dir, s)
}

/// The server's whole log (info lines are buffered until exit): stop it,
/// then wait (bounded) for `needle`.
pub fn log_after_stop(s: &mut TestServer, needle: &str) -> String {
    s.stop();
    for _ in 0..100 {
        if s.log().contains(needle) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    s.log()
}

/// A browser-less browser: curl with a cookie jar (`-k`: it trusts the
/// test provider's self-signed certificate, what is tested is marmoset's
/// trust in it).
pub struct Browser {
    _dir: TempDir,
    /// The cookie jar (curl's file format).
    pub jar: PathBuf,
}

impl Browser {
    pub fn new() -> Browser {
        let dir = tempfile::tempdir().unwrap();
        let jar = dir.path().join("jar");
        Browser { _dir: dir, jar }
    }

    pub fn curl(&self, url: &str, args: &[&str]) -> Resp {
        let body = tempfile::NamedTempFile::new().unwrap();
        let jar = self.jar.to_str().unwrap();
        let out = Command::new("curl")
            .args(["-sSk", "--max-time", "20", "-c", jar, "-b", jar, "-D", "-"])
            .args(["-o", body.path().to_str().unwrap(), "-w", "\n%{http_code}"])
            .args(args)
            .arg(url)
            .output()
            .expect("run curl");
        Resp::of(&out, body.path())
    }

    pub fn get(&self, url: &str) -> Resp {
        self.curl(url, &[])
    }
}

/// `location` made absolute against `base` (`http://host:port`).
pub fn absolute(base: &str, location: &str) -> String {
    if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location.to_string()
    }
}

/// Ask for `path` on `s`, sign in at `op` as `login`, and stop at the
/// redirect back to marmoset: the callback URL.
pub fn sign_in_until_callback(
    b: &Browser,
    s: &TestServer,
    op: &Op,
    path: &str,
    login: &str,
) -> String {
    let site = format!("http://{}", s.addr);
    let r = b.get(&format!("{site}{path}"));
    assert_eq!(r.code, 302, "{}{}", r.head, s.log());
    let mut next = r.header("location").unwrap();
    assert!(
        next.starts_with(&format!("{}/auth?", op.issuer())),
        "{next}"
    );
    // Follow the provider's redirects to its login form.
    let form = loop {
        let r = b.get(&next);
        match r.code {
            302 | 303 => next = absolute(&op.issuer(), &r.header("location").unwrap()),
            200 => break r,
            c => panic!("provider answered {c}: {}", r.body),
        }
    };
    let action = form
        .body
        .split("action=\"")
        .nth(1)
        .and_then(|a| a.split('"').next())
        .expect("the provider's login form");
    let r = b.curl(
        &absolute(&op.issuer(), action),
        &[
            "--data",
            &format!("prompt=login&login={login}&password=any"),
        ],
    );
    let mut r = r;
    for _ in 0..10 {
        assert!(matches!(r.code, 302 | 303), "{}\n{}", r.head, r.body);
        let loc = absolute(&op.issuer(), &r.header("location").unwrap());
        if loc.starts_with(&site) {
            return loc;
        }
        r = b.get(&loc);
    }
    panic!("no redirect back to marmoset");
}

/// The whole flow for `path`; the callback's answer.
pub fn sign_in(b: &Browser, s: &TestServer, op: &Op, path: &str, login: &str) -> Resp {
    let cb = sign_in_until_callback(b, s, op, path, login);
    b.get(&cb)
}
