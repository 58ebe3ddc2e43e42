//! The pid file (`-p`, `pid-file`): refused when it names another live
//! instance, written once `-D` has forked, removed at exit, read by `-K`.
//!
//! Its directory is opened at start-up and the file is written and removed
//! through that handle, so it keeps working after a `chroot` has hidden
//! the path.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rustix::fs::{AtFlags, Mode, OFlags};

use crate::sys;

/// A pid file whose directory is held open.
pub struct PidFile {
    dir: OwnedFd,
    name: OsString,
    path: PathBuf,
}

impl PidFile {
    /// Open the directory of `path`, refusing when the file names another
    /// live process.
    pub fn open(path: &Path) -> Result<PidFile> {
        if let Some(pid) = read_pid(path)
            && pid != std::process::id() as i32
            && sys::alive(pid)
        {
            bail!("server already running (pid {pid} in {})", path.display());
        }
        let name = path
            .file_name()
            .with_context(|| format!("pid file {}: not a file name", path.display()))?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = rustix::fs::open(
            parent,
            OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("cannot open the directory of pid file {}", path.display()))?;
        Ok(PidFile {
            dir,
            name: name.to_os_string(),
            path: path.to_path_buf(),
        })
    }

    /// Write this process's pid.
    pub fn write(&self) -> Result<()> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC;
        rustix::fs::openat(&self.dir, &self.name, flags, Mode::from_raw_mode(0o644))
            .map(std::fs::File::from)
            .map_err(std::io::Error::from)
            .and_then(|mut f| writeln!(f, "{:010}", std::process::id()))
            .with_context(|| format!("cannot write pid file {}", self.path.display()))
    }

    /// Remove the file (at exit).
    pub fn remove(&self) {
        let _ = rustix::fs::unlinkat(&self.dir, &self.name, AtFlags::empty());
    }
}

/// The pid written in `p`, if any.
pub fn read_pid(p: &Path) -> Option<i32> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}
