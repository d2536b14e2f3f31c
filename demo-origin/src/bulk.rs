//! Generated bodies of any size for `/echo/{name}?bytes=N` (and `"bytes": N` in an echo
//! program): a repeating ASCII pattern, produced chunk by chunk as the client reads (never held
//! whole, so that 32 concurrent 64 MiB responses cost the origin almost nothing), with
//! `Content-Length`, or chunked (`chunked=1`) so that the edge cannot know the length before the
//! body ends; `chunk_delay_ms=N` waits before each chunk (a slow origin body).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::time::Sleep;

/// The pattern a generated body repeats: byte `i` is `PATTERN[i % PATTERN.len()]` (37 bytes, so
/// that chunk boundaries fall everywhere in it).
pub const PATTERN: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789\n";

/// Bytes per chunk sent.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Largest generated body: 1 GiB.
pub const MAX_BYTES: u64 = 1 << 30;

/// Longest wait before a chunk: 10 s.
pub const MAX_CHUNK_DELAY_MS: u64 = 10_000;

/// Byte `i` of every generated body (what a test compares against).
pub fn byte_at(i: u64) -> u8 {
    PATTERN[(i % PATTERN.len() as u64) as usize]
}

/// A generated body of `len` bytes.
#[derive(Debug)]
pub struct Generated {
    /// One chunk plus a pattern's length: every chunk is a slice of it (no copy).
    source: Bytes,
    offset: u64,
    len: u64,
    chunked: bool,
    chunk_delay: Duration,
    wait: Option<Pin<Box<Sleep>>>,
}

impl Generated {
    /// `len` bytes of the pattern, announced with `Content-Length` unless `chunked`, each chunk
    /// sent `chunk_delay_ms` after the previous one.
    pub fn new(len: u64, chunked: bool, chunk_delay_ms: u64) -> Generated {
        let source: Vec<u8> = (0..(CHUNK_BYTES + PATTERN.len()) as u64)
            .map(byte_at)
            .collect();
        Generated {
            source: Bytes::from(source),
            offset: 0,
            len,
            chunked,
            chunk_delay: Duration::from_millis(chunk_delay_ms),
            wait: None,
        }
    }
}

impl Body for Generated {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let left = self.len - self.offset;
        if left == 0 {
            return Poll::Ready(None);
        }
        if !self.chunk_delay.is_zero() {
            let delay = self.chunk_delay;
            let wait = self
                .wait
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
            if wait.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.wait = None;
        }
        let n = left.min(CHUNK_BYTES as u64) as usize;
        let start = (self.offset % PATTERN.len() as u64) as usize;
        let chunk = self.source.slice(start..start + n);
        self.offset += n as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.offset == self.len
    }

    fn size_hint(&self) -> SizeHint {
        if self.chunked {
            // Unknown: hyper sends `Transfer-Encoding: chunked`.
            SizeHint::default()
        } else {
            SizeHint::with_exact(self.len - self.offset)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn collect(body: Generated) -> Vec<u8> {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(body.collect())
            .unwrap()
            .to_bytes()
            .to_vec()
    }

    #[test]
    fn the_pattern_runs_on_across_chunks() {
        let len = 3 * CHUNK_BYTES as u64 + 5;
        let body = collect(Generated::new(len, true, 0));
        assert_eq!(body.len() as u64, len);
        assert!(body
            .iter()
            .enumerate()
            .all(|(i, b)| *b == byte_at(i as u64)));
        assert!(collect(Generated::new(0, false, 0)).is_empty());
        let slow = collect(Generated::new(2 * CHUNK_BYTES as u64, true, 1));
        assert_eq!(
            slow.len(),
            2 * CHUNK_BYTES,
            "a delay only spaces the chunks"
        );
    }

    #[test]
    fn only_a_chunked_body_hides_its_length() {
        assert_eq!(Generated::new(10, false, 0).size_hint().exact(), Some(10));
        assert_eq!(Generated::new(10, true, 0).size_hint().exact(), None);
        assert!(Generated::new(0, true, 0).is_end_stream());
    }
}
