//! The first bytes of every connection (`engine::http09::sniff`), read from
//! an in-memory stream in pieces whose sizes come from the input. A simple
//! request's method and target are single words; otherwise the bytes handed
//! to hyper are exactly a prefix of the input.

#![no_main]

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use marmoset::engine::http09::{Start, sniff};
use tokio::io::{AsyncRead, ReadBuf};

/// An in-memory stream returning at most `step` bytes per read.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.step.min(self.data.len()).min(buf.remaining());
        let (now, rest) = self.data.split_at(n);
        buf.put_slice(now);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, input)) = data.split_first() else {
        return;
    };
    let step = usize::from(ctl & 0x0f) + 1;
    let limit = [16, 100, 1024, 8192][usize::from(ctl >> 4) & 3];
    let mut stream = Trickle { data: input, step };
    let start = RT.with(|rt| rt.block_on(sniff(&mut stream, limit, Duration::from_secs(10))));
    match start {
        Ok(Start::Simple { method, target }) => {
            for w in [&method, &target] {
                assert!(
                    !w.is_empty() && !w.contains([' ', '\n']),
                    "{method:?} {target:?}"
                );
            }
            let line_end = input
                .iter()
                .position(|&b| b == b'\n')
                .expect("a simple request is a line");
            assert!(line_end < input.len());
        }
        Ok(Start::Http(prefix)) => {
            assert!(
                input.starts_with(&prefix),
                "prefix is not the input's start"
            );
            assert!(!prefix.is_empty());
        }
        Ok(Start::Closed) => {}
        Err(e) => panic!("reading from memory failed: {e}"),
    }
});
