//! Upload part buffers, reused. Every upload cuts its bytes into parts of the same size; a fresh
//! allocation per part is a fresh set of pages for the kernel to fault in and zero (12% of the
//! api's CPU on a 1 GiB upload), and how many of them the allocator keeps around afterwards
//! varied with the upload's length. A part handed to the store comes back here when the store
//! is done with it, so an upload cycles through the same few buffers.

use std::sync::Mutex;

use bytes::Bytes;

/// Idle buffers kept for the next parts: one upload's worth (one filling, three in flight).
const IDLE_KEPT: usize = 4;

static IDLE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// An empty buffer that holds `size` bytes without growing.
pub fn take(size: usize) -> Vec<u8> {
    let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
    match idle.iter().position(|b| b.capacity() == size) {
        Some(i) => idle.swap_remove(i),
        None => Vec::with_capacity(size),
    }
}

/// `buf` as shared bytes for the store; the buffer is taken back when the last of them is dropped.
pub fn freeze(buf: Vec<u8>) -> Bytes {
    Bytes::from_owner(Returned(buf))
}

struct Returned(Vec<u8>);

impl AsRef<[u8]> for Returned {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.0));
    }
}

/// A buffer from [`take`] that was not frozen (an upload ended with a part half filled).
pub fn give_back(mut buf: Vec<u8>) {
    if buf.capacity() == 0 {
        return;
    }
    buf.clear();
    let mut idle = IDLE.lock().unwrap_or_else(|p| p.into_inner());
    if idle.len() < IDLE_KEPT {
        idle.push(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_given_to_the_store_comes_back_when_it_is_done() {
        // A size no other test uses, so parallel tests do not take this buffer.
        let size = 5 * 1024 * 1024 + 64;
        let mut buf = take(size);
        assert_eq!(buf.capacity(), size);
        buf.extend_from_slice(b"part");
        let ptr = buf.as_ptr();
        let bytes = freeze(buf);
        let shared = bytes.clone();
        drop(bytes);
        assert_eq!(&shared[..], b"part", "still in use");
        drop(shared);
        let again = take(size);
        assert_eq!(again.as_ptr(), ptr, "the same buffer");
        assert!(again.is_empty());
        let other = take(size);
        assert_ne!(other.as_ptr(), ptr, "handed out once");
    }
}
