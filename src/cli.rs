//! Ouistiti's command line (`s:f:p:P:hDKCVM:W:L:`) with long forms.

use std::ffi::OsString;
use std::path::PathBuf;

/// What the command line asks for.
#[derive(Debug, Default)]
pub struct Cli {
    /// `-f`, `--config`.
    pub config: Option<PathBuf>,
    /// `-W`, `--workdir`.
    pub workdir: Option<PathBuf>,
    /// `-p`, `--pidfile`.
    pub pidfile: Option<PathBuf>,
    /// `-P`, `--port`: port for servers configured with `port = 0`.
    pub port: Option<u16>,
    /// `-s`, `--server`: run only that server (1-based).
    pub server: Option<usize>,
    /// `-L`, `--logfile`.
    pub logfile: Option<PathBuf>,
    /// `-D`, `--daemon`.
    pub daemon: bool,
    /// `-K`, `--kill`.
    pub kill: bool,
    /// `-C`, `--check`.
    pub check: bool,
    /// `-V`, `--version`.
    pub version: bool,
    /// `-h`, `--help`.
    pub help: bool,
    /// `--list-roots`: print the URI roots each server serves, then exit.
    pub list_roots: bool,
    /// `--mode`: overrides the `mode` key (`mono`, `threads`).
    pub mode: Option<String>,
    /// `--workers`: overrides the `workers` key.
    pub workers: Option<usize>,
}

/// The usage text.
pub const USAGE: &str = "\
usage: marmoset [options]
  -f, --config FILE     configuration file (default /etc/marmoset/marmoset.conf,
                        then /etc/ouistiti/ouistiti.conf)
  -W, --workdir DIR     working directory; relative paths resolve against it
  -p, --pidfile FILE    pid file (written when running, used by -K)
  -P, --port PORT       port for servers configured with port = 0
  -s, --server N        run only the N-th server of the configuration
  -L, --logfile FILE    log file (overrides log-file)
  -D, --daemon          run in the background
  -K, --kill            stop the instance named by the pid file
  -C, --check           check the configuration, print it, and exit
  -M, --modules DIR     accepted for compatibility, ignored (modules are built in)
      --list-roots      print every server and the URI roots its modules serve
      --mode MODE       mono (one thread), threads or process (one child process
                        per connection); overrides `mode`
      --workers N       worker threads in threads mode (default: one per core)
  -V, --version         print the version and exit
  -h, --help            print this help and exit
";

/// Parse `args` (without the program name).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, lexopt::Error> {
    use lexopt::prelude::*;
    let mut cli = Cli::default();
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next()? {
        match arg {
            Short('f') | Long("config") => cli.config = Some(p.value()?.into()),
            Short('W') | Long("workdir") => cli.workdir = Some(p.value()?.into()),
            Short('p') | Long("pidfile") => cli.pidfile = Some(p.value()?.into()),
            Short('P') | Long("port") => cli.port = Some(p.value()?.parse()?),
            Short('s') | Long("server") => cli.server = Some(p.value()?.parse()?),
            Short('L') | Long("logfile") => cli.logfile = Some(p.value()?.into()),
            Short('M') | Long("modules") => {
                p.value()?;
            }
            Short('D') | Long("daemon") => cli.daemon = true,
            Short('K') | Long("kill") => cli.kill = true,
            Short('C') | Long("check") => cli.check = true,
            Short('V') | Long("version") => cli.version = true,
            Short('h') | Long("help") => cli.help = true,
            Long("list-roots") => cli.list_roots = true,
            Long("mode") => cli.mode = Some(p.value()?.string()?),
            Long("workers") => cli.workers = Some(p.value()?.parse()?),
            other => return Err(other.unexpected()),
        }
    }
    Ok(cli)
}
