//! A WebSocket echo service on a UNIX socket, for marmoset's `websocket`
//! module: every message a browser sends comes back to it.
//!
//! ```sh
//! cargo run --example echo_server -- /tmp/marmoset/ws/echo            # SOCK_SEQPACKET
//! cargo run --example echo_server -- /tmp/marmoset/ws/echo --stream   # SOCK_STREAM
//! ```
//!
//! With a packet socket (the default) one packet is one WebSocket message,
//! so messages keep their boundaries. With `--stream` the socket is a byte
//! pipe (Ouistiti's protocol): what one read returns goes back as one
//! message. One thread per connection; the whole service is the loop below.

use std::io::{Read, Write};

use socket2::{Domain, SockAddr, Socket, Type};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: echo_server <socket path> [--stream]");
    let kind = if args.next().as_deref() == Some("--stream") {
        Type::STREAM
    } else {
        Type::SEQPACKET
    };
    if let Some(dir) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&path); // a socket left by a previous run
    let listener = Socket::new(Domain::UNIX, kind, None)?;
    listener.bind(&SockAddr::unix(&path)?)?;
    listener.listen(128)?;
    eprintln!("echo: listening on {path}");
    loop {
        let (conn, _) = listener.accept()?;
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 256 * 1024]; // larger than any packet the kernel takes
            let mut conn = &conn;
            // read() returns one packet on SOCK_SEQPACKET, some bytes on SOCK_STREAM;
            // 0 is the end of the connection.
            while let Ok(n @ 1..) = conn.read(&mut buf) {
                if conn.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
    }
}
