//! Integration tests: start-up. A stop request that reaches the server
//! while it is still starting is served once it is ready — a clean exit —
//! rather than killing the half-started process or being lost.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{doc_conf, marmoset, site, unsafe_kill};

#[test]
fn startup_sigterm_while_starting_stops_the_server_cleanly() {
    let dir = site();
    std::fs::write(dir.path().join("marmoset.conf"), doc_conf("", "")).unwrap();
    // The pid file is a FIFO: the server reads it at start-up for a previous
    // pid, and opening its other end waits for that read. This holds the
    // server at a known point before it binds or installs any handler.
    let pidfile = dir.path().join("run.pid");
    let made = std::process::Command::new("mkfifo")
        .arg(&pidfile)
        .status()
        .unwrap();
    assert!(made.success());
    let stderr = dir.path().join("stderr.txt");
    let mut child = marmoset()
        .arg("-W")
        .arg(dir.path())
        .args(["-f", "marmoset.conf", "-p", "run.pid"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("spawn marmoset");
    let deadline = Instant::now() + Duration::from_secs(20);
    let writer = loop {
        // O_NONBLOCK: fails (ENXIO) until the server has the FIFO open.
        match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&pidfile)
        {
            Ok(w) => break w,
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.raw_os_error(), Some(libc::ENXIO), "{e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("the server never opened its pid file: {e}"),
        }
    };
    unsafe_kill(child.id(), "TERM");
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        child.try_wait().unwrap().is_none(),
        "SIGTERM killed the server in the middle of its start-up"
    );
    // A plain file takes the FIFO's place; closing our end lets the server go on.
    std::fs::remove_file(&pidfile).unwrap();
    drop(writer);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the held SIGTERM was never served; stderr:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let log = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(log.contains("listening on"), "{log}");
    assert!(log.contains("good bye"), "{log}");
    assert!(!pidfile.exists(), "pid file left behind");
}
