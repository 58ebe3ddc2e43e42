//! One spare write buffer and one spare read buffer per thread. An idle
//! connection gives its buffers back (so idle connections hold none), and
//! the next connection of the thread to read or answer takes them instead
//! of allocating: with one request at a time per thread, the same buffers
//! go round. (A read buffer allocated afresh for every request, then
//! turned shared when its head was split off, cost two allocations and two
//! frees per keep-alive request.)

use std::cell::Cell;

use bytes::BytesMut;

/// Largest buffer kept.
const KEEP: usize = 16 * 1024;

thread_local! {
    static OUT: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    static IN: Cell<Option<BytesMut>> = const { Cell::new(None) };
}

/// An empty write buffer with room for `len` bytes.
pub fn take_out(len: usize) -> Vec<u8> {
    let mut buf = OUT.take();
    buf.reserve(len);
    buf
}

/// Keep `buf` (emptied) for the next response, unless it is large.
pub fn give_out(mut buf: Vec<u8>) {
    if buf.capacity() <= KEEP {
        buf.clear();
        OUT.set(buf);
    }
}

/// An empty read buffer: the spare one, or one without room (the read
/// makes room).
pub fn take_in() -> BytesMut {
    IN.take().unwrap_or_default()
}

/// Keep `buf` for the next read, if it is empty and not large. Its
/// memory is reused only once the requests read into it are dropped
/// (until then `reserve` allocates, as without a spare).
pub fn give_in(buf: BytesMut) {
    if buf.is_empty() && buf.capacity() <= KEEP {
        IN.set(Some(buf));
    }
}
