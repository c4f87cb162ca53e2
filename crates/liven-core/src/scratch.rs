//! Scratch memory kept per thread between kernel calls, and the padded row stride of matrices
//! built in it.
//!
//! A fresh buffer of a few MB is fresh pages from the OS (glibc maps and unmaps blocks that
//! size), faulted in and zeroed on every call: on ResNet-sized convolutions a third of the time
//! went to that, and a per-call copy of a 1024×1024 weight took as long as the faults. So
//! buffers go back to a per-thread list when dropped and the next call on that thread takes
//! them; every user writes a buffer before it reads it.

use std::cell::RefCell;

thread_local! {
    /// Buffers returned by [`Scratch`]s dropped on this thread, for the next call.
    static SPARE: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// Buffers of up to this many floats (8 MiB) are kept for reuse.
pub(crate) const SPARE_LIMIT: usize = 1 << 21;

/// Buffers kept per thread: Winograd's backward holds seven at once, and a product inside it
/// may copy both of its operands (`gemm`).
const SPARE_COUNT: usize = 10;

/// A scratch buffer of `len` floats, taken from this thread's spares when there is one. Its
/// contents are whatever the last user left.
pub(crate) struct Scratch {
    buf: Vec<f32>,
    len: usize,
}

impl Scratch {
    pub(crate) fn new(len: usize) -> Self {
        let mut buf = if len == 0 {
            Vec::new()
        } else {
            SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default()
        };
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        Scratch { buf, len }
    }

    /// A buffer of `len` zeros.
    pub(crate) fn zeroed(len: usize) -> Self {
        let mut s = Scratch::new(len);
        s.fill(0.0);
        s
    }
}

impl std::ops::Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[..self.len]
    }
}

impl std::ops::DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.buf[..self.len]
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.capacity() == 0 || buf.capacity() > SPARE_LIMIT {
            return;
        }
        // `try_with`: a scratch dropped while the thread exits just frees its memory.
        let _ = SPARE.try_with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SPARE_COUNT {
                s.push(buf);
            }
        });
    }
}

/// The distance between rows of a scratch matrix of `n` columns. Padded: with rows a power of
/// two floats apart, loads and stores down a column all land in the same cache set (conv's
/// products on 8×8 planes, 16 samples side by side: 4.4–5.8 ms with rows 1024 floats apart,
/// 1.1 ms with 1040; the transposed copy of a 1024×1024 weight: 1.0 ms against 0.14–0.2).
pub(crate) fn padded_stride(n: usize) -> usize {
    n + 16
}
