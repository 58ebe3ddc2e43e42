//! A test-pattern camera on a UNIX socket, for marmoset's `webstream`
//! module with `options = "multipart"`: colour bars, a moving square and a
//! frame counter, as JPEG frames — no camera needed. Used by
//! `examples/htdocs/stream.html`.
//!
//! ```sh
//! cargo run --example mjpeg_streamer -- /tmp/marmoset/stream/camera.jpg [--fps 10] [--size 320x240]
//! ```
//!
//! The socket is `SOCK_SEQPACKET`: one packet is one JPEG frame, which
//! marmoset sends as one `multipart/x-mixed-replace` part. Every connected
//! reader gets every frame; one that cannot take a frame within a second is
//! dropped.

#[path = "support/jpeg.rs"]
mod jpeg;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, Socket, Type};

const BARS: [jpeg::Rgb; 7] = [
    [235, 235, 235],
    [235, 235, 16],
    [16, 235, 235],
    [16, 235, 16],
    [235, 16, 235],
    [235, 16, 16],
    [16, 16, 235],
];

/// 3×5 digits, one row per byte (3 low bits, left = 4).
const DIGITS: [[u8; 5]; 10] = [
    [7, 5, 5, 5, 7],
    [2, 6, 2, 2, 7],
    [7, 1, 7, 4, 7],
    [7, 1, 7, 1, 7],
    [5, 5, 7, 1, 1],
    [7, 4, 7, 1, 7],
    [7, 4, 7, 5, 7],
    [7, 1, 1, 1, 1],
    [7, 5, 7, 5, 7],
    [7, 5, 7, 1, 7],
];

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: mjpeg_streamer <socket path> [--fps N] [--size WxH]");
    let (mut fps, mut size) = (10u32, (320u16, 240u16));
    while let Some(a) = args.next() {
        let v = args.next().expect("option value");
        match a.as_str() {
            "--fps" => fps = v.parse().expect("--fps N"),
            "--size" => {
                let (w, h) = v.split_once('x').expect("--size WxH");
                size = (w.parse().expect("width"), h.parse().expect("height"));
            }
            _ => panic!("unknown option {a}"),
        }
    }
    if let Some(dir) = std::path::Path::new(&path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&path);
    let listener = Socket::new(Domain::UNIX, Type::SEQPACKET, None)?;
    listener.bind(&SockAddr::unix(&path)?)?;
    listener.listen(16)?;
    eprintln!("mjpeg_streamer: listening on {path}");
    let readers: Arc<Mutex<Vec<Socket>>> = Arc::default();
    let r = readers.clone();
    std::thread::spawn(move || {
        while let Ok((conn, _)) = listener.accept() {
            let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
            // A frame is one packet: make room for large ones.
            let _ = conn.set_send_buffer_size(1 << 20);
            r.lock().unwrap().push(conn);
        }
    });
    let (bw, bh) = (size.0 / 8, size.1 / 8);
    let period = Duration::from_secs(1) / fps.max(1);
    let start = Instant::now();
    for n in 0u32.. {
        let frame = jpeg::encode(bw, bh, |x, y| pattern(n, bw, bh, x, y));
        readers.lock().unwrap().retain(|c| c.send(&frame).is_ok());
        if let Some(wait) = (start + period * (n + 1)).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok(())
}

/// The colour of block (x, y) in frame `n`.
fn pattern(n: u32, bw: u16, bh: u16, x: u16, y: u16) -> jpeg::Rgb {
    let bars_end = bh * 2 / 3;
    // A 4×4-block square bouncing left and right over the bars.
    let span = bw.saturating_sub(4).max(1) as u32;
    let pos = n % (2 * span);
    let sx = if pos < span { pos } else { 2 * span - pos } as u16;
    let sy = bars_end.saturating_sub(4) / 2;
    if (sx..sx + 4).contains(&x) && (sy..sy + 4).contains(&y) {
        return if n.is_multiple_of(2) {
            [255, 255, 255]
        } else {
            [0, 0, 0]
        };
    }
    if y < bars_end {
        return BARS[(x as usize * BARS.len()) / bw as usize];
    }
    // The frame number in 3×5 digits, two blocks from the left edge.
    let text = n.to_string();
    let (dx, dy) = (x.wrapping_sub(2), y.wrapping_sub(bars_end + 2));
    if dy < 5 && (dx as usize) < text.len() * 4 && dx % 4 < 3 {
        let digit = text.as_bytes()[dx as usize / 4] - b'0';
        if DIGITS[digit as usize][dy as usize] >> (2 - dx % 4) & 1 == 1 {
            return [255, 255, 255];
        }
    }
    [40, 40, 40]
}
