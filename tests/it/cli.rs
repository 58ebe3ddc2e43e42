//! Integration tests: cli. Every flag of the command line, driven through
//! the real binary, plus daemon mode and graceful shutdown.

use std::fs::File;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::config::{Outcome, run_bounded};
use crate::support::{TempDir, TestServer, doc_conf, marmoset, site, unsafe_kill};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Poll `cond` every 20 ms for at most `limit`.
fn poll(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A site with `marmoset.conf` holding `conf`.
fn site_with(conf: &str) -> TempDir {
    let dir = site();
    std::fs::write(dir.path().join("marmoset.conf"), conf).unwrap();
    dir
}

/// Run the binary with `args` (bounded to 20 s).
fn run(args: &[&str]) -> Outcome {
    run_bounded(marmoset().args(args), Duration::from_secs(20))
}

/// Run the binary with `-W dir` then `args` (bounded to 20 s).
fn run_in(dir: &Path, args: &[&str]) -> Outcome {
    run_bounded(
        marmoset().arg("-W").arg(dir).args(args),
        Duration::from_secs(20),
    )
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn curl(addr: SocketAddr, path: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The first `listening on ADDR` address of a log text.
fn listening(log: &str) -> Option<SocketAddr> {
    log.lines()
        .find_map(|l| l.split("listening on ").nth(1))
        .and_then(|a| a.trim().parse().ok())
}

/// Whether `pid` names a live (not zombie) process.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// A server whose log goes to a file (so not through the harness, which
/// reads stderr); SIGTERM and reaped when dropped.
struct FileLogged {
    child: Option<Child>,
    addr: SocketAddr,
    stderr: PathBuf,
}

impl FileLogged {
    /// Spawn `cmd` (stderr to `dir/stderr.txt`) and wait for `listening on`
    /// in `log`.
    fn start(mut cmd: Command, dir: &Path, log: &Path) -> FileLogged {
        let stderr = dir.join("stderr.txt");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn marmoset");
        let mut s = FileLogged {
            child: Some(child),
            addr: "127.0.0.1:1".parse().unwrap(),
            stderr,
        };
        let found = poll(Duration::from_secs(20), || listening(&read(log)).is_some());
        assert!(
            found,
            "no `listening on` in {}:\n{}\nstderr:\n{}",
            log.display(),
            read(log),
            read(&s.stderr)
        );
        s.addr = listening(&read(log)).unwrap();
        s
    }

    fn stop(&mut self) -> Option<std::process::ExitStatus> {
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
        let _ = child.wait();
        None
    }
}

impl Drop for FileLogged {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Stops a daemon (by its pid) if a test fails before `-K`; disarmed once
/// the daemon is gone.
struct DaemonGuard(Option<u32>);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0
            && alive(pid)
        {
            unsafe_kill(pid, "KILL");
        }
    }
}

// ---------------------------------------------------------------------------
// -f, -W, -C, -M
// ---------------------------------------------------------------------------

#[test]
fn cli_config_flag_short_and_long() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("other-name.conf");
    std::fs::write(&file, "servers = ({ port = 8123; });\n").unwrap();
    let real = std::fs::canonicalize(&file).unwrap();
    let file = file.to_str().unwrap();
    let arg = format!("--config={file}");
    for args in [
        vec!["-C", "-f", file],
        vec!["-C", "--config", file],
        vec!["-C", arg.as_str()],
    ] {
        let out = run(&args);
        assert_eq!(out.code(), Some(0), "{args:?}: {}", out.stderr);
        assert!(
            out.stdout
                .starts_with(&format!("# configfile=\"{}\"\n", real.display())),
            "{args:?}:\n{}",
            out.stdout
        );
        assert!(out.stdout.contains("port = 8123;"), "{}", out.stdout);
    }
    // A file that cannot be read is named.
    let missing = dir.path().join("missing.conf");
    let out = run(&["-C", "-f", missing.to_str().unwrap()]);
    assert_eq!(out.code(), Some(1));
    assert!(
        out.stderr.contains(&format!(
            "{}:1:1: error: cannot read configuration file",
            missing.display()
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn cli_workdir_resolves_relative_paths() {
    let dir = site_with(&doc_conf("", ""));
    std::fs::write(dir.path().join("htdocs/where.txt"), "workdir\n").unwrap();
    // The process runs elsewhere; -W makes `-f marmoset.conf`, `docroot`
    // and `-L` resolve in the site.
    let elsewhere = tempfile::tempdir().unwrap();
    let mut cmd = marmoset();
    cmd.current_dir(elsewhere.path())
        .arg("--workdir")
        .arg(dir.path())
        .args(["-f", "marmoset.conf", "-P", "0", "-L", "server.log"]);
    let log = dir.path().join("server.log");
    let mut server = FileLogged::start(cmd, dir.path(), &log);
    assert_eq!(curl(server.addr, "/where.txt"), "workdir\n");
    assert!(server.stop().is_some_and(|s| s.success()));
    assert!(!elsewhere.path().join("server.log").exists());

    // -C names the configuration file inside the working directory.
    let out = run_in(dir.path(), &["-C", "-f", "marmoset.conf"]);
    let real = std::fs::canonicalize(dir.path().join("marmoset.conf")).unwrap();
    assert!(
        out.stdout
            .starts_with(&format!("# configfile=\"{}\"\n", real.display())),
        "{}",
        out.stdout
    );
    // A working directory that does not exist is an error.
    let gone = elsewhere.path().join("nope");
    let out = run(&["-W", gone.to_str().unwrap(), "-C", "-f", "marmoset.conf"]);
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot enter working directory"),
        "{}",
        out.stderr
    );
}

#[test]
fn cli_check_prints_and_exits() {
    let dir = site_with("servers = ({ port = 8081; keepalivetimeout = 4; });\n");
    for flag in ["-C", "--check"] {
        let out = run_in(dir.path(), &[flag, "-f", "marmoset.conf"]);
        assert_eq!(out.code(), Some(0), "{flag}: {}", out.stderr);
        assert!(out.stdout.contains("servers = ({"), "{}", out.stdout);
        assert!(
            out.stdout.contains("keepalivetimeout = 4;"),
            "{}",
            out.stdout
        );
        assert!(!out.stderr.contains("listening on"), "{}", out.stderr);
    }
    // An invalid file: exit 1, nothing printed on stdout.
    std::fs::write(
        dir.path().join("bad.conf"),
        "servers = ({ port = \"x\"; });\n",
    )
    .unwrap();
    let out = run_in(dir.path(), &["-C", "-f", "bad.conf"]);
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("bad.conf:1:21: error: servers[0].port: expected integer, found string"),
        "{}",
        out.stderr
    );
}

#[test]
fn cli_modules_flag_accepted() {
    let dir = site_with("servers = ({ port = 8081; });\n");
    let plain = run_in(dir.path(), &["-C", "-f", "marmoset.conf"]);
    assert_eq!(plain.code(), Some(0));
    for flag in ["-M", "--modules"] {
        let out = run_in(
            dir.path(),
            &[flag, "/nonexistent/modules", "-C", "-f", "marmoset.conf"],
        );
        assert_eq!(out.code(), Some(0), "{flag}: {}", out.stderr);
        assert_eq!(out.stdout, plain.stdout);
    }
    // A real start with -M.
    let dir = site();
    let server = TestServer::start(dir.path(), &doc_conf("", ""), &["-M", "/usr/lib/ouistiti"]);
    assert_eq!(curl(server.addr, "/hello.txt"), "hello world\n");
    // -M still needs its value.
    let out = run(&["-M"]);
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
}

#[test]
fn cli_no_config_names_tried_paths() {
    let defaults = ["/etc/marmoset/marmoset.conf", "/etc/ouistiti/ouistiti.conf"];
    if let Some(found) = defaults.iter().find(|p| Path::new(p).exists()) {
        println!("skipped: {found} exists on this machine, so marmoset would use it");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["-C"]);
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    for p in defaults {
        assert!(out.stderr.contains(p), "`{p}` not named:\n{}", out.stderr);
    }
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    // A plain start says the same.
    let out = run_in(dir.path(), &["-P", "0"]);
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains(defaults[0]), "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// -V, -h, unknown flags
// ---------------------------------------------------------------------------

#[test]
fn cli_version() {
    for flag in ["-V", "--version"] {
        let out = run(&[flag]);
        assert_eq!(out.code(), Some(0), "{flag}: {}", out.stderr);
        assert!(out.stdout.starts_with("marmoset/"), "{}", out.stdout);
        assert_eq!(out.stdout, format!("marmoset/{VERSION}\n"));
    }
}

#[test]
fn cli_help() {
    for flag in ["-h", "--help"] {
        let out = run(&[flag]);
        assert_eq!(out.code(), Some(0), "{flag}: {}", out.stderr);
        assert!(
            out.stdout.starts_with("usage: marmoset"),
            "{flag}:\n{}",
            out.stdout
        );
        for f in [
            "-f, --config",
            "-W, --workdir",
            "-p, --pidfile",
            "-P, --port",
            "-s, --server",
            "-L, --logfile",
            "-D, --daemon",
            "-K, --kill",
            "-C, --check",
            "-M, --modules",
            "-V, --version",
            "-h, --help",
        ] {
            assert!(
                out.stdout.contains(f),
                "`{f}` not in usage:\n{}",
                out.stdout
            );
        }
    }
}

#[test]
fn cli_unknown_flag() {
    for args in [&["--bogus"][..], &["-x"], &["-C", "-f", "x.conf", "-Z"]] {
        let out = run(args);
        assert_eq!(out.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("usage: marmoset"), "{}", out.stderr);
        assert!(out.stdout.is_empty(), "{}", out.stdout);
    }
    // A bad value for a numeric flag too.
    let out = run(&["-P", "eighty"]);
    assert_eq!(out.code(), Some(2), "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// -P, -s
// ---------------------------------------------------------------------------

#[test]
fn cli_port_flag() {
    let dir = site_with("servers = ({ port = 0; }, { port = 8081; });\n");
    for args in [&["-P", "8123"][..], &["--port", "8123"], &["--port=8123"]] {
        let mut all = vec!["-C", "-f", "marmoset.conf"];
        all.extend_from_slice(args);
        let out = run_in(dir.path(), &all);
        assert_eq!(out.code(), Some(0), "{args:?}: {}", out.stderr);
        assert!(out.stdout.contains("port = 8123;"), "{}", out.stdout);
        // An explicit port is kept.
        assert!(out.stdout.contains("port = 8081;"), "{}", out.stdout);
    }
    // Without -P, `port = 0` means 80.
    let out = run_in(dir.path(), &["-C", "-f", "marmoset.conf"]);
    assert!(out.stdout.contains("port = 80;"), "{}", out.stdout);
    // -P 0 lets the system choose: a real start on an ephemeral port.
    let site = site();
    let server = TestServer::start(site.path(), &doc_conf("", ""), &[]);
    assert_ne!(server.addr.port(), 0);
    assert_eq!(curl(server.addr, "/hello.txt"), "hello world\n");
}

fn two_servers() -> (TempDir, &'static str) {
    let dir = site();
    for name in ["one", "two"] {
        std::fs::create_dir_all(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("which.txt"), format!("{name}\n")).unwrap();
    }
    let conf = "servers = (\n  { port = 0; addr = \"127.0.0.1\"; document = { docroot = \"one\"; }; },\n  \
                { port = 0; addr = \"127.0.0.1\"; document = { docroot = \"two\"; }; }\n);\n";
    (dir, conf)
}

#[test]
fn cli_server_flag_runs_only_nth() {
    let (dir, conf) = two_servers();
    // Both servers without -s: the docroots tell them apart.
    let both = TestServer::start(dir.path(), conf, &[]);
    assert_eq!(both.addrs.len(), 2, "{}", both.log());
    assert_eq!(curl(both.addrs[0], "/which.txt"), "one\n");
    assert_eq!(curl(both.addrs[1], "/which.txt"), "two\n");
    drop(both);

    for flag in ["-s", "--server"] {
        let only = TestServer::start(dir.path(), conf, &[flag, "2"]);
        assert_eq!(only.addrs.len(), 1, "{}", only.log());
        assert_eq!(
            only.log().matches("listening on").count(),
            1,
            "{}",
            only.log()
        );
        assert_eq!(curl(only.addr, "/which.txt"), "two\n");
    }
}

#[test]
fn cli_server_flag_out_of_range() {
    let (dir, conf) = two_servers();
    std::fs::write(dir.path().join("marmoset.conf"), conf).unwrap();
    for n in ["3", "0"] {
        let out = run_in(dir.path(), &["-f", "marmoset.conf", "-P", "0", "-s", n]);
        assert_eq!(out.code(), Some(1), "-s {n}: {}", out.stderr);
        assert!(
            out.stderr
                .contains(&format!("-s {n}: the configuration has 2 server(s)")),
            "{}",
            out.stderr
        );
        assert!(!out.stderr.contains("listening on"), "{}", out.stderr);
    }
}

// ---------------------------------------------------------------------------
// -p, -D, -K
// ---------------------------------------------------------------------------

#[test]
fn cli_pidfile_written_and_removed() {
    let dir = site();
    let pidfile = dir.path().join("run.pid");
    let mut server = TestServer::start(dir.path(), &doc_conf("", ""), &["-p", "run.pid"]);
    let text = read(&pidfile);
    assert_eq!(text, format!("{:010}\n", server.pid()));
    assert_eq!(text.len(), 11);
    let status = server.stop().expect("exit status");
    assert!(status.success(), "{status:?}");
    assert!(!pidfile.exists(), "pid file left behind");
}

#[test]
fn cli_pidfile_refuses_second_start() {
    let dir = site();
    let pidfile = dir.path().join("run.pid");
    let pid_arg = pidfile.to_str().unwrap();
    let first = TestServer::start(dir.path(), &doc_conf("", ""), &["--pidfile", pid_arg]);
    let before = read(&pidfile);
    assert_eq!(before, format!("{:010}\n", first.pid()));

    let other = site_with(&doc_conf("", ""));
    let out = run_bounded(
        marmoset().arg("-W").arg(other.path()).args([
            "-f",
            "marmoset.conf",
            "-P",
            "0",
            "-p",
            pid_arg,
        ]),
        Duration::from_secs(10),
    );
    assert_eq!(out.code(), Some(1), "second start: {}", out.stderr);
    assert!(out.stderr.contains("already running"), "{}", out.stderr);
    assert!(!out.stderr.contains("listening on"), "{}", out.stderr);
    // The first one is untouched.
    assert_eq!(read(&pidfile), before);
    assert_eq!(curl(first.addr, "/hello.txt"), "hello world\n");

    // A stale pid file (no such process) does not block a start.
    drop(first);
    assert!(!pidfile.exists());
    std::fs::write(&pidfile, "4194303\n").unwrap();
    if !alive(4194303) {
        let server = TestServer::start(other.path(), &doc_conf("", ""), &["-p", pid_arg]);
        assert_eq!(read(&pidfile), format!("{:010}\n", server.pid()));
    }
}

#[test]
fn cli_daemon_and_kill() {
    let dir = site_with(&doc_conf("", ""));
    let pidfile = dir.path().join("run.pid");
    let log = dir.path().join("daemon.log");
    let started = Instant::now();
    let mut child = marmoset()
        .arg("-W")
        .arg(dir.path())
        .args([
            "-f",
            "marmoset.conf",
            "-P",
            "0",
            "-D",
            "-p",
            "run.pid",
            "-L",
            "daemon.log",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let launcher = child.id();
    let mut status = None;
    poll(Duration::from_secs(10), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("-D did not return within 10 s");
    };
    assert!(status.success(), "-D exited with {status:?}");
    // "Quickly": the launcher returned (within the 10 s bound above) while
    // the server keeps running.
    assert!(started.elapsed() < Duration::from_secs(10), "-D too slow");

    // The pid file names the daemon, a live process other than the launcher.
    assert!(
        poll(Duration::from_secs(20), || read(&pidfile).ends_with('\n')),
        "no pid file"
    );
    let text = read(&pidfile);
    assert_eq!(text.len(), 11, "{text:?}");
    let pid: u32 = text.trim().parse().unwrap();
    let mut guard = DaemonGuard(Some(pid));
    assert_ne!(pid, launcher);
    assert!(alive(pid), "pid {pid} is not running");

    // It serves.
    assert!(
        poll(Duration::from_secs(20), || listening(&read(&log)).is_some()),
        "no `listening on` in the log:\n{}",
        read(&log)
    );
    let addr = listening(&read(&log)).unwrap();
    assert_eq!(curl(addr, "/hello.txt"), "hello world\n");

    // -K stops it: the process is gone and the pid file removed.
    let out = run_bounded(
        marmoset()
            .arg("-W")
            .arg(dir.path())
            .args(["-K", "-p", "run.pid"]),
        Duration::from_secs(20),
    );
    assert_eq!(out.code(), Some(0), "-K: {}", out.stderr);
    assert!(!alive(pid), "pid {pid} still running after -K");
    // The daemon is gone: its pid may soon be another process's (the pid
    // space is small and the tests start many), which must not be killed.
    guard.0 = None;
    assert!(!pidfile.exists(), "pid file left behind");
    assert!(
        poll(Duration::from_secs(5), || read(&log).contains("good bye")),
        "{}",
        read(&log)
    );
}

#[test]
fn cli_kill_without_pidfile() {
    for args in [&["-K"][..], &["--kill"]] {
        let out = run(args);
        assert_eq!(out.code(), Some(1), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("-K needs the pid file"),
            "{}",
            out.stderr
        );
    }
    // A pid file that does not exist is an error too.
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(dir.path(), &["-K", "-p", "none.pid"]);
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.contains("none.pid"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// -L, log-file
// ---------------------------------------------------------------------------

/// Start `conf` with `args`, logging to `log` (relative to the site); check
/// that an access line lands there and not on stderr.
fn access_lines_go_to(conf: &str, args: &[&str], log: &str) {
    let dir = site_with(conf);
    let mut cmd = marmoset();
    cmd.arg("-W")
        .arg(dir.path())
        .args(["-f", "marmoset.conf", "-P", "0"])
        .args(args);
    let log = dir.path().join(log);
    let mut server = FileLogged::start(cmd, dir.path(), &log);
    assert_eq!(curl(server.addr, "/hello.txt"), "hello world\n");
    assert!(
        poll(Duration::from_secs(5), || read(&log)
            .contains("\"GET /hello.txt HTTP/1.1\" 200 12")),
        "no access line in {}:\n{}",
        log.display(),
        read(&log)
    );
    let line = read(&log)
        .lines()
        .find(|l| l.contains("GET /hello.txt"))
        .unwrap()
        .to_string();
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    let status = server.stop().expect("exit status");
    assert!(status.success(), "{status:?}");
    assert!(read(&log).contains("good bye"), "{}", read(&log));
    let stderr = read(&server.stderr);
    assert!(
        !stderr.contains("GET /hello.txt"),
        "access line on stderr: {stderr}"
    );
    assert!(!stderr.contains("listening on"), "log on stderr: {stderr}");
}

#[test]
fn cli_logfile_flag() {
    access_lines_go_to(&doc_conf("", ""), &["-L", "access.log"], "access.log");
    access_lines_go_to(
        &doc_conf("", ""),
        &["--logfile", "access.log"],
        "access.log",
    );
    // -L wins over log-file.
    let conf = format!("log-file = \"key.log\";\n{}", doc_conf("", ""));
    access_lines_go_to(&conf, &["-L", "flag.log"], "flag.log");
}

#[test]
fn cli_log_file_key() {
    let conf = format!("log-file = \"server.log\";\n{}", doc_conf("", ""));
    access_lines_go_to(&conf, &[], "server.log");
}

// ---------------------------------------------------------------------------
// Graceful shutdown
// ---------------------------------------------------------------------------

#[test]
fn cli_graceful_shutdown_completes_download() {
    const SIZE: usize = 20 * 1024 * 1024;
    let dir = site();
    let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("htdocs/big.bin"), &data).unwrap();
    let mut server = TestServer::start(dir.path(), &doc_conf("", ""), &[]);

    let mut s = server.connect();
    s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    // Read the head and the first 64 KiB only: the rest waits in the server.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    let head_end = loop {
        let n = s.read(&mut buf).expect("read head");
        assert!(n > 0, "connection closed before the head");
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("content-length: {SIZE}")),
        "{head}"
    );
    let mut body = got.split_off(head_end);
    while body.len() < 64 * 1024 {
        let n = s.read(&mut buf).expect("read body");
        assert!(n > 0, "body cut short");
        body.extend_from_slice(&buf[..n]);
    }

    // SIGTERM while the download is in flight.
    unsafe_kill(server.pid(), "TERM");
    assert!(
        poll(Duration::from_secs(5), || server
            .log()
            .contains("shutting down")),
        "{}",
        server.log()
    );
    // The server waits for the download (it cannot all be in the socket
    // buffers yet): not gone, no "good bye" before the body is read.
    assert!(alive(server.pid()), "server exited during a download");
    assert!(!server.log().contains("good bye"), "{}", server.log());
    // Still there after the server began to stop: read the rest.
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("read the rest");
    body.extend_from_slice(&rest);
    assert_eq!(body.len(), SIZE, "download cut short");
    assert!(body == data, "download corrupted");

    let status = server.stop().expect("exit status");
    assert!(status.success(), "{status:?}");
    assert!(server.wait_log("good bye"), "{}", server.log());
}

#[test]
fn cli_shutdown_closes_idle_keep_alive_connections() {
    let dir = site();
    std::fs::write(dir.path().join("htdocs/a.txt"), "hello").unwrap();
    // A keep-alive timeout far beyond the test's: the connections must end
    // because the server stops, not because they timed out.
    let conf = doc_conf("", "").replace("keepalivetimeout = 5;", "keepalivetimeout = 60;");
    let mut server = TestServer::start(dir.path(), &conf, &[]);

    // One connection idle after two requests (its wait for the shutdown
    // was polled before), one that never sent anything.
    let mut used = server.connect();
    let mut buf = vec![0u8; 4096];
    for _ in 0..2 {
        used.write_all(b"GET /a.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        while !got.ends_with(b"hello") {
            let n = used.read(&mut buf).expect("read response");
            assert!(
                n > 0,
                "connection closed: {}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200"));
    }
    let fresh = server.connect();

    let asked = Instant::now();
    unsafe_kill(server.pid(), "TERM");
    for mut s in [used, fresh] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).expect("closed by the server");
        assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    }
    let status = server.stop().expect("exit status");
    assert!(status.success(), "{status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "the idle connections kept the server {:?}",
        asked.elapsed()
    );
}
