//! The `marmoset` binary: command line → configuration → server.

mod cli;
mod init_d;
mod logger;
mod pidfile;
mod process;
mod sys;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use marmoset::config::{self, Loaded};

use crate::pidfile::PidFile;

const DEFAULT_CONFIGS: &[&str] = &["/etc/marmoset/marmoset.conf", "/etc/ouistiti/ouistiti.conf"];

fn main() -> ExitCode {
    let cli = match cli::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("marmoset: {e}\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<Reported>() {
                Some(Reported(text)) => eprintln!("{text}"),
                None => eprintln!("marmoset: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}

/// Configuration diagnostics, already formatted as `file:line:col: …`
/// lines: printed as they are.
#[derive(Debug)]
struct Reported(String);

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Reported {}

fn run(cli: cli::Cli) -> Result<()> {
    if cli.help {
        print!("{}", cli::USAGE);
        return Ok(());
    }
    if cli.version {
        println!("marmoset/{}", env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    if let Some(dir) = &cli.workdir {
        std::env::set_current_dir(dir)
            .with_context(|| format!("cannot enter working directory {}", dir.display()))?;
    }
    if cli.kill {
        let pidfile = cli
            .pidfile
            .as_deref()
            .context("-K needs the pid file (-p FILE)")?;
        return stop_instance(pidfile);
    }
    // Held from here until the handlers exist (see sys::hold_stop_signals).
    sys::hold_stop_signals(true);
    let path = config_path(cli.config.as_deref())?;
    let (config, warnings) = load(&path, cli.port).map_err(Reported)?;
    for w in &warnings {
        eprintln!("{w}");
    }
    if let Some(n) = cli.server
        && (n == 0 || n > config.servers.len())
    {
        bail!(
            "-s {n}: the configuration has {} server(s)",
            config.servers.len()
        );
    }
    let mode = effective_mode(&cli, config.mode)?;
    if cli.check {
        print!("{}", config::print::effective(&config, &path));
        return Ok(());
    }
    if config.servers.is_empty() {
        bail!(
            "{}: no server configured (`servers` is empty or missing)",
            path.display()
        );
    }
    let logfile = cli.logfile.as_deref().or(config.log_file.as_deref());
    logger::init(logfile).context("cannot open the log file")?;
    // Everything named outside the jail is looked up or opened first.
    let identity = config.user.as_deref().and_then(|u| {
        sys::Identity::lookup(u)
            .map_err(|e| log::error!("user {u}: {e}; keeping the current identity"))
            .ok()
    });
    let pidfile = cli.pidfile.as_deref().or(config.pid_file.as_deref());
    let pidfile = pidfile.map(PidFile::open).transpose()?;
    if let Some(dir) = &config.chroot {
        sys::chroot(dir).with_context(|| format!("chroot {}", dir.display()))?;
    }
    let server =
        marmoset::Server::from_config(&config, cli.server).map_err(|e| Reported(e.to_string()))?;
    if cli.list_roots {
        print!("{}", list_roots(&server));
        return Ok(());
    }
    let bound = server.bind_inherited(sys::inherited_listeners())?;
    if cli.daemon {
        sys::daemonize().context("cannot daemonize")?;
    }
    if let Some(p) = &pidfile {
        p.write()?;
    }
    if mode != marmoset::Mode::Process {
        // Process mode forks: its parent must stay single-threaded.
        logger::start_flusher().context("cannot start the log thread")?;
    }
    if let Some(init) = &config.init_d {
        init_d::run(init, "start");
    }
    if let Some(id) = &identity
        && let Err(e) = id.assume()
    {
        log::error!("user switch: {e}; keeping the current identity");
    }
    if let Some(dir) = &config.chroot {
        log::info!("confined to {}", dir.display());
    }
    for a in bound.local_addrs() {
        log::info!("listening on {a}");
    }
    log::logger().flush();
    let reloader = bound.reloader();
    let jailed = config.chroot.is_some();
    if mode != marmoset::Mode::Process {
        reloader.clone().watch(Duration::from_secs(5));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    // Handlers first, so that a stop request right after READY is honoured;
    // process mode installs its own in process::serve.
    let signals = rt.block_on(async { Signals::install() })?;
    if mode != marmoset::Mode::Process {
        sys::hold_stop_signals(false);
    }
    sys::notify("READY=1");
    let on_hup = || {
        log::info!("SIGHUP: reloading {}", path.display());
        reload(&reloader, &path, &cli, jailed);
    };
    let served = match mode {
        marmoset::Mode::Process => {
            drop(signals);
            drop(rt);
            process::serve(bound.into_listeners(), reloader.clone(), |r| {
                log::info!("SIGHUP: reloading {}", path.display());
                reload(r, &path, &cli, jailed);
            });
            Ok(())
        }
        marmoset::Mode::Mono => rt.block_on(bound.serve(signals.stop(on_hup))),
        threads => {
            let running = bound.start(threads, None)?;
            log::info!("serving with {} worker threads", threads.workers());
            rt.block_on(signals.stop(on_hup));
            log::info!("shutting down");
            running.shutdown()
        }
    };
    sys::notify("STOPPING=1");
    if let Some(p) = &pidfile {
        p.remove();
    }
    if let Some(init) = &config.init_d {
        init_d::run(init, "stop");
    }
    log::info!("good bye");
    log::logger().flush();
    served.context("server failed")
}

/// `--list-roots`: one block per server, one line per root.
fn list_roots(server: &marmoset::Server) -> String {
    let mut out = String::new();
    for (i, s) in server.roots().into_iter().enumerate() {
        let at = s.addr.map_or("*".to_string(), |a| a.to_string());
        out.push_str(&format!(
            "server {} {} {at}:{}\n",
            i + 1,
            s.info.hostname,
            s.port
        ));
        for r in s.roots {
            out.push_str(&format!("  {}\t{}\n", r.root, r.module));
        }
        for (info, roots) in s.vhosts {
            out.push_str(&format!("  vhost {}\n", info.hostname));
            for r in roots {
                out.push_str(&format!("    {}\t{}\n", r.root, r.module));
            }
        }
    }
    out
}

/// The concurrency mode: `--mode`/`--workers` over the `mode`/`workers` keys.
fn effective_mode(cli: &cli::Cli, configured: marmoset::Mode) -> Result<marmoset::Mode> {
    use marmoset::Mode;
    let workers = |n: usize| cli.workers.unwrap_or(n);
    Ok(match (cli.mode.as_deref(), configured) {
        (None, Mode::Threads(n)) => Mode::Threads(workers(n)),
        (None, Mode::Mono) | (Some("mono"), _) => Mode::Mono,
        (Some("threads"), Mode::Threads(n)) => Mode::Threads(workers(n)),
        (Some("threads"), _) => Mode::Threads(workers(0)),
        (None, Mode::Process) | (Some("process"), _) => Mode::Process,
        (Some(other), _) => bail!("--mode {other}: expected mono, threads or process"),
    })
}

/// Load the configuration; `port = 0` takes the -P value, 80 by default
/// (so `-P 0` asks the system for a free port). Returns the warnings as
/// lines, or every error as one text.
fn load(path: &Path, port: Option<u16>) -> Result<(config::Config, Vec<String>), String> {
    let Loaded {
        mut config,
        warnings,
    } = config::load_file(path).map_err(|e| e.to_string())?;
    let default_port = port.unwrap_or(80);
    config
        .servers
        .iter_mut()
        .filter(|s| s.port == 0)
        .for_each(|s| s.port = default_port);
    Ok((config, warnings.iter().map(|w| w.to_string()).collect()))
}

/// SIGHUP: load the configuration again and serve it; a configuration that
/// does not load or build is refused and the running one keeps serving.
fn reload(reloader: &marmoset::engine::Reloader, path: &Path, cli: &cli::Cli, jailed: bool) {
    if jailed {
        // The configuration (and what it names) is outside the jail.
        log::error!("reload refused under chroot: restart the server to apply a new configuration");
        return;
    }
    let loaded = load(path, cli.port).and_then(|(config, warnings)| {
        for w in warnings {
            log::warn!("{w}");
        }
        marmoset::Server::from_config(&config, cli.server).map_err(|e| e.to_string())
    });
    match loaded {
        Ok(server) => {
            reloader.replace(server);
            log::info!("configuration {} reloaded", path.display());
        }
        Err(e) => log::error!("reload refused, the running configuration stays:\n{e}"),
    }
}

/// The configuration file: `-f`, else the first default that exists.
fn config_path(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    DEFAULT_CONFIGS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .with_context(|| {
            format!(
                "no configuration file given and none found (tried {}); use -f FILE",
                DEFAULT_CONFIGS.join(", ")
            )
        })
}

/// The signals the server reacts to.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Install the handlers (inside the runtime).
    fn install() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("SIGHUP handler")?,
        })
    }

    /// Resolves on SIGTERM or SIGINT; SIGHUP runs `on_hup`.
    async fn stop(mut self, on_hup: impl Fn()) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => on_hup(),
            }
        }
    }
}

/// `-K`: SIGTERM the instance of the pid file, wait for it to exit (10 s at
/// most), remove the file.
fn stop_instance(pidfile: &Path) -> Result<()> {
    let pid =
        pidfile::read_pid(pidfile).with_context(|| format!("no pid in {}", pidfile.display()))?;
    sys::kill(pid, libc::SIGTERM).with_context(|| format!("cannot stop pid {pid}"))?;
    for _ in 0..100 {
        if !sys::alive(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if sys::alive(pid) {
        bail!("pid {pid} did not stop within 10 s");
    }
    let _ = std::fs::remove_file(pidfile);
    Ok(())
}
