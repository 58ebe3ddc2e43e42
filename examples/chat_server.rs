//! A chat service on a UNIX socket, for marmoset's `websocket` module:
//! every message from any client goes to all clients (the sender too).
//! Used by `examples/htdocs/chat.html`.
//!
//! ```sh
//! cargo run --example chat_server -- /tmp/marmoset/ws/chat [timeout-ms]
//! ```
//!
//! The socket is `SOCK_SEQPACKET`, so one packet is one chat message. A
//! client that cannot take a message within a second (or `timeout-ms`) is
//! dropped, so one stuck browser cannot hold up the room.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, SockAddr, Socket, Type};

type Room = Arc<Mutex<Vec<(u64, Socket)>>>;

fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .expect("usage: chat_server <socket path> [timeout-ms]");
    let timeout = std::env::args()
        .nth(2)
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis);
    if let Some(dir) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&path);
    let listener = Socket::new(Domain::UNIX, Type::SEQPACKET, None)?;
    listener.bind(&SockAddr::unix(&path)?)?;
    listener.listen(256)?;
    eprintln!("chat: listening on {path}");
    let room: Room = Arc::default();
    for id in 0.. {
        let (conn, _) = listener.accept()?;
        conn.set_write_timeout(Some(timeout))?;
        room.lock().unwrap().push((id, conn.try_clone()?));
        let room = room.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut reader = &conn;
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                broadcast(&room, &buf[..n]);
            }
            room.lock().unwrap().retain(|(other, _)| *other != id);
        });
    }
    Ok(())
}

/// Send `msg` to everyone; drop those who cannot take it.
fn broadcast(room: &Room, msg: &[u8]) {
    room.lock().unwrap().retain(|(_, s)| {
        let ok = s.send(msg).is_ok();
        if !ok {
            // Its reader thread then sees the end and leaves the room.
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        ok
    });
}
