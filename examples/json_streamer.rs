//! A JSON producer on a UNIX socket, for marmoset's `webstream` module (plain
//! mode): one JSON object a second, one per line, to every reader.
//!
//! ```sh
//! cargo run --example json_streamer -- /tmp/marmoset/stream/clock.json [interval-ms]
//! ```
//!
//! marmoset connects once and fans the stream out to all HTTP clients of
//! `/stream/clock.json`. The socket is `SOCK_STREAM`. A reader that cannot
//! take a line within a second is dropped.

use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: json_streamer <socket path> [interval-ms]");
    let every = Duration::from_millis(
        args.next()
            .map_or(1000, |s| s.parse().expect("interval-ms")),
    );
    if let Some(dir) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    eprintln!("json_streamer: listening on {path}");
    let readers: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
    let r = readers.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
            r.lock().unwrap().push(conn);
        }
    });
    let start = Instant::now();
    for seq in 0u64.. {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let line = format!(
            "{{\"seq\":{seq},\"time\":{},\"uptime_ms\":{},\"pid\":{}}}\n",
            now.as_secs(),
            start.elapsed().as_millis(),
            std::process::id()
        );
        readers
            .lock()
            .unwrap()
            .retain_mut(|c| c.write_all(line.as_bytes()).is_ok());
        std::thread::sleep(every);
    }
    Ok(())
}
