//! `init_d`: scripts run with `start` before serving and `stop` after.
//!
//! As in Ouistiti: a file is run if executable; a directory is walked
//! recursively (names starting with `.` skipped) in reverse alphabetical
//! order; scripts get an empty environment and are not waited for.

use std::path::Path;
use std::process::{Command, Stdio};

/// Run the script(s) at `path` with `arg` (`start` or `stop`).
pub fn run(path: &Path, arg: &str) {
    if path.is_dir() {
        let mut entries: Vec<_> = match std::fs::read_dir(path) {
            Ok(rd) => rd.flatten().map(|e| e.path()).collect(),
            Err(e) => {
                log::error!("init_d {}: {e}", path.display());
                return;
            }
        };
        entries.retain(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        });
        entries.sort_unstable();
        for p in entries.iter().rev() {
            run(p, arg);
        }
        return;
    }
    match Command::new(path)
        .arg(arg)
        .env_clear()
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            log::info!("init_d: {} {arg}", path.display());
            // Not waited for by the server; a thread reaps it.
            std::thread::spawn(move || child.wait());
        }
        Err(e) => log::error!("init_d {}: {e}", path.display()),
    }
}
