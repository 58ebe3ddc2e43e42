//! A JSON-RPC 2.0 service on a UNIX socket, for marmoset's `websocket`
//! module: one request per WebSocket message, one response back.
//!
//! ```sh
//! cargo run --example jsonrpc_server -- /tmp/marmoset/ws/rpc [--preamble]
//! ```
//!
//! Methods: `echo` (returns its params), `add` (sums an array of numbers),
//! `time` (seconds since the epoch), `whoami` (the user marmoset
//! authenticated). For `whoami`, configure the websocket section with
//! `options = "user"` and start the service with `--preamble`: marmoset then
//! sends a header block (`X-Remote-User: alice` …, ending with an empty
//! line) as the first packet of each connection, see docs/websocket.md.
//!
//! The socket is `SOCK_SEQPACKET`: one packet is one request.

use std::io::{Read, Write};

use serde_json::{Value, json};
use socket2::{Domain, SockAddr, Socket, Type};

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: jsonrpc_server <socket path> [--preamble]");
    let preamble = args.next().as_deref() == Some("--preamble");
    if let Some(dir) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&path);
    let listener = Socket::new(Domain::UNIX, Type::SEQPACKET, None)?;
    listener.bind(&SockAddr::unix(&path)?)?;
    listener.listen(128)?;
    eprintln!("jsonrpc: listening on {path}");
    loop {
        let (conn, _) = listener.accept()?;
        std::thread::spawn(move || serve(conn, preamble));
    }
}

fn serve(conn: Socket, preamble: bool) {
    let mut conn = &conn;
    let mut buf = vec![0u8; 64 * 1024];
    let mut user = Value::Null;
    if preamble {
        let Ok(n @ 1..) = conn.read(&mut buf) else {
            return;
        };
        for line in String::from_utf8_lossy(&buf[..n]).lines() {
            if let Some(name) = line.strip_prefix("X-Remote-User: ") {
                user = json!(name);
            }
        }
    }
    while let Ok(n @ 1..) = conn.read(&mut buf) {
        let reply = match serde_json::from_slice::<Value>(&buf[..n]) {
            Ok(req) => answer(&req, &user),
            Err(_) => error(Value::Null, -32700, "parse error"),
        };
        if conn.write_all(reply.to_string().as_bytes()).is_err() {
            break;
        }
    }
}

fn answer(req: &Value, user: &Value) -> Value {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let params = req.get("params").cloned().unwrap_or(Value::Null);
    let result = match req.get("method").and_then(Value::as_str) {
        Some("echo") => params,
        Some("add") => match params.as_array() {
            Some(xs) => json!(xs.iter().filter_map(Value::as_f64).sum::<f64>()),
            None => return error(id, -32602, "params must be an array of numbers"),
        },
        Some("time") => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            json!(now.map(|d| d.as_secs()).unwrap_or(0))
        }
        Some("whoami") => user.clone(),
        _ => return error(id, -32601, "method not found"),
    };
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}
