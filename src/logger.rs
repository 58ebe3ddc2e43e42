//! The binary's logger: lines to `log-file` or stderr, buffered and flushed
//! every second (and at once for errors), so that logging never costs a
//! system call per request.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use log::{Level, LevelFilter, Log, Metadata, Record};

enum Sink {
    Stderr(BufWriter<io::Stderr>),
    File(BufWriter<File>),
}

impl Sink {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Stderr(w) => w,
            Sink::File(w) => w,
        }
    }
}

struct Logger {
    sink: Mutex<Sink>,
    level: LevelFilter,
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.level() <= self.level
    }

    fn log(&self, r: &Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let Ok(mut sink) = self.sink.lock() else {
            return;
        };
        let w = sink.writer();
        let _ = if r.target() == "access" {
            // The arguments as they are: `writeln!(w, "{}", …)` would
            // format them inside another formatting.
            w.write_fmt(*r.args()).and_then(|()| w.write_all(b"\n"))
        } else {
            writeln!(w, "marmoset: {}: {}", level_name(r.level()), r.args())
        };
        if r.level() <= Level::Warn {
            let _ = w.flush();
        }
    }

    fn flush(&self) {
        if let Ok(mut sink) = self.sink.lock() {
            let _ = sink.writer().flush();
        }
    }
}

/// The level as written in a line: lower case, with no allocation (and
/// without `str::to_lowercase`, whose Unicode tables were 16 KB of the
/// binary).
fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warn",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// Install the logger. `file` of `None`, empty or starting with `-` logs to
/// stderr; otherwise the file is opened for appending (mode 0640). The level
/// comes from `MARMOSET_LOG` (`error` … `trace`, default `info`).
pub fn init(file: Option<&Path>) -> io::Result<()> {
    let to_stderr =
        file.is_none_or(|f| f.as_os_str().is_empty() || f.to_string_lossy().starts_with('-'));
    let sink = if to_stderr {
        Sink::Stderr(BufWriter::new(io::stderr()))
    } else {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(file.unwrap_or(Path::new("")))?;
        Sink::File(BufWriter::new(f))
    };
    let level = std::env::var("MARMOSET_LOG")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(LevelFilter::Info);
    let logger: &'static Logger = Box::leak(Box::new(Logger {
        sink: Mutex::new(sink),
        level,
    }));
    log::set_logger(logger).map_err(io::Error::other)?;
    log::set_max_level(level);
    LOGGER
        .set(logger)
        .map_err(|_| io::Error::other("logger already set"))?;
    Ok(())
}

static LOGGER: std::sync::OnceLock<&'static Logger> = std::sync::OnceLock::new();

/// Start the thread that flushes the log every second. Separate from
/// [`init`] because `-D` forks after the logger is needed and before threads
/// may exist.
pub fn start_flusher() -> io::Result<()> {
    let Some(&logger) = LOGGER.get() else {
        return Ok(());
    };
    std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(move || {
            loop {
                std::thread::sleep(Duration::from_secs(1));
                logger.flush();
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names_are_the_lower_case_levels() {
        for level in Level::iter() {
            assert_eq!(level_name(level), level.as_str().to_lowercase());
        }
    }
}
