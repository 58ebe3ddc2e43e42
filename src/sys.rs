//! The few operating-system calls the binary needs that the standard
//! library does not offer: fork for `-D`, signals for `-K`, and the
//! privilege drop to `user`, the `chroot`. Kept in one file so every `unsafe` is in sight.

use std::ffi::CString;
use std::io;
use std::path::Path;

/// Detach from the terminal: fork (the parent exits 0), `setsid`, fork again
/// so the daemon can never reacquire a terminal. Must run before any thread
/// is started.
pub fn daemonize() -> io::Result<()> {
    for round in 0..2 {
        // SAFETY: called while the process has a single thread (before the
        // runtime and the logger thread start), so fork cannot leave another
        // thread's lock held in the child.
        match unsafe { libc::fork() } {
            -1 => return Err(io::Error::last_os_error()),
            0 => {}
            _ => std::process::exit(0),
        }
        if round == 0 {
            // SAFETY: setsid has no memory-safety preconditions.
            if unsafe { libc::setsid() } == -1 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

/// Send `signal` to `pid`.
pub fn kill(pid: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, signal) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether a process with `pid` exists.
pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// An account to switch to: looked up while `/etc/passwd` and
/// `/etc/group` are still in sight (before a `chroot`), assumed later.
pub struct Identity {
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
}

impl Identity {
    /// The uid, primary gid and every group of `user`.
    pub fn lookup(user: &str) -> io::Result<Identity> {
        let name = CString::new(user).map_err(io::Error::other)?;
        // SAFETY: getpwnam returns a pointer to static storage or NULL; the
        // fields are read at once, before any other call that could reuse it.
        let (uid, gid) = unsafe {
            let pw = libc::getpwnam(name.as_ptr());
            if pw.is_null() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("user `{user}` not found"),
                ));
            }
            ((*pw).pw_uid, (*pw).pw_gid)
        };
        let mut groups: Vec<libc::gid_t> = vec![0; 32];
        loop {
            let mut n = groups.len() as libc::c_int;
            // SAFETY: `groups` has room for `n` entries; getgrouplist writes
            // at most `n` and sets `n` to the number it needs.
            let r = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
            let n = usize::try_from(n).unwrap_or(0);
            if r >= 0 {
                groups.truncate(n);
                break;
            }
            if n <= groups.len() || n > 65_536 {
                return Err(io::Error::other("cannot list the groups of the user"));
            }
            groups.resize(n, 0);
        }
        Ok(Identity { uid, gid, groups })
    }

    /// Become this account for good: supplementary groups, then gid, then
    /// uid (real, effective and saved). Does nothing when not running as
    /// root.
    pub fn assume(&self) -> io::Result<()> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(());
        }
        // SAFETY: plain system calls on integers and a valid slice.
        unsafe {
            if libc::setgroups(self.groups.len(), self.groups.as_ptr()) != 0
                || libc::setresgid(self.gid, self.gid, self.gid) != 0
                || libc::setresuid(self.uid, self.uid, self.uid) != 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// Confine the process to `dir`: it becomes `/` and the working directory.
/// Needs root (CAP_SYS_CHROOT).
pub fn chroot(dir: &Path) -> io::Result<()> {
    std::env::set_current_dir(dir)?;
    std::os::unix::fs::chroot(".")?;
    std::env::set_current_dir("/")
}

/// Listening sockets passed by systemd socket activation (`LISTEN_FDS`
/// sockets from fd 3, for this process per `LISTEN_PID`), in order.
pub fn inherited_listeners() -> Vec<std::net::TcpListener> {
    use std::os::fd::FromRawFd;
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    if !for_us || count <= 0 {
        return Vec::new();
    }
    // SAFETY: unset so that children (CGI scripts) do not take them too.
    unsafe {
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    (3..3 + count)
        .map(|fd| {
            // SAFETY: systemd passes these descriptors to this process (checked
            // with LISTEN_PID) as open listening sockets that nothing else owns.
            unsafe { std::net::TcpListener::from_raw_fd(fd) }
        })
        .collect()
}

/// Tell systemd (`Type=notify`) about a state change, e.g. `READY=1`.
/// Does nothing when not started by systemd.
pub fn notify(state: &str) {
    use std::os::unix::net::UnixDatagram;
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        std::os::unix::net::SocketAddr::from_abstract_name(name)
            .and_then(|addr| sock.send_to_addr(state.as_bytes(), &addr))
    } else {
        sock.send_to(state.as_bytes(), &path)
    };
    if let Err(e) = sent {
        log::warn!("systemd notification failed: {e}");
    }
}

/// Set by SIGTERM / SIGINT in process mode (no runtime in the parent).
pub static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Set by SIGHUP in process mode.
pub static HUP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

extern "C" fn on_hup(_: libc::c_int) {
    HUP.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Install flag-setting handlers for SIGTERM, SIGINT and SIGHUP (process
/// mode, where the parent runs no async runtime), then let the held ones in.
pub fn install_flag_handlers() {
    // SAFETY: the handlers only store to atomics, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, on_hup as *const () as libc::sighandler_t);
    }
    hold_stop_signals(false);
}

/// Block (`true`) or unblock SIGTERM, SIGINT and SIGHUP in the calling
/// thread. Start-up blocks them before the first socket or thread exists
/// (threads inherit the mask) and unblocks them once the handlers are in
/// place: a stop request sent while the server starts waits, pending, and
/// is then served like any other (a clean exit), instead of killing the
/// half-started process or falling into the instant where a handler is
/// installed but not yet wired (where signal-hook drops it). Spawned
/// programs start with an empty mask (the standard library resets it).
pub fn hold_stop_signals(block: bool) {
    // SAFETY: `set` is initialised by sigemptyset before use; the calls have
    // no other preconditions.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        let how = if block {
            libc::SIG_BLOCK
        } else {
            libc::SIG_UNBLOCK
        };
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

/// Restore the default signal dispositions (in a forked child).
pub fn default_signals() {
    // SAFETY: plain system calls.
    unsafe {
        libc::signal(libc::SIGTERM, libc::SIG_DFL);
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGHUP, libc::SIG_DFL);
    }
}

/// `fork()`: `Ok(0)` in the child, `Ok(pid)` in the parent.
pub fn fork() -> io::Result<i32> {
    // SAFETY: process mode forks from a single-threaded parent (no runtime,
    // no helper threads), so the child cannot inherit a held lock.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        pid => Ok(pid),
    }
}

/// Reap one finished child without waiting; its pid, if any.
pub fn reap() -> Option<i32> {
    let mut status = 0;
    // SAFETY: status points to a valid integer.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    (pid > 0).then_some(pid)
}

/// Wait until one of `fds` is readable or `timeout_ms` pass; which ones are.
pub fn poll_readable(fds: &[i32], timeout_ms: i32) -> Vec<bool> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: pfds is a valid array of pollfd of the given length.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if n <= 0 {
        return vec![false; fds.len()];
    }
    pfds.iter().map(|p| p.revents & libc::POLLIN != 0).collect()
}

/// Close a descriptor this process does not need (a forked child's copy of
/// the listening sockets).
pub fn close(fd: i32) {
    // SAFETY: the descriptor is not used afterwards by this process.
    unsafe {
        libc::close(fd);
    }
}
