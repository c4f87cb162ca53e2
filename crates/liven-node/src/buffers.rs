//! Recycled memory for large outputs (`Tensor.empty`).
//!
//! A fresh 64 MB `Float32Array` is fresh pages from the OS, each faulted in (and zeroed by the
//! kernel) on first write: on the VMs measured that made writing a large output 3–20x slower
//! than writing warm memory. glibc's malloc (behind V8's arrays) maps every block above 32 MiB
//! afresh, and smaller ones it reuses once it has seen one freed but trims part of its heap
//! (see [`POOL_MIN_BYTES`]). So from 16 MiB on, this pool lends blocks as external
//! `ArrayBuffer`s; when V8 collects the `ArrayBuffer`, Node runs the finalizer below (on the
//! creating thread's event loop), which puts the block back for the next output of its size.
//! A block is lent to one `ArrayBuffer` at a time, so a tensor a user holds is never written by
//! anyone else. (Transparent huge pages for fresh blocks were tried: 5x fewer fault costs on a
//! quiet machine, but under memory pressure the kernel compacts memory synchronously on such a
//! fault, and one BatchNorm call took 440 ms instead of 30.)
//!
//! The finalizer runs only when the thread returns to its event loop: a synchronous loop gets
//! nothing back until it ends. [`LENT_MAX`] bounds what such a loop can hold this way; past it
//! `pooled_buffer` answers null and `Tensor.empty` allocates through V8, whose memory is freed
//! as soon as it is collected.

use napi::bindgen_prelude::ArrayBuffer;
use napi::{Env, Result};
use napi_derive::napi;
use std::alloc::{alloc, dealloc, Layout};
use std::sync::Mutex;

/// Requests below this many bytes are left to V8: glibc reuses most smaller blocks. Between 16
/// and 32 MiB glibc serves them from its heap but trims it (BatchNorm2d's two 25.7 MB outputs
/// on [32, 64, 56, 56]: 1,500–3,500 page faults per forward+backward, the layer 9.1 ms against
/// 6.7–8.2 ms for its kernels; from the pool 4 faults, 7.4 ms).
pub const POOL_MIN_BYTES: usize = 16 << 20;
/// Block sizes are multiples of this (so that near sizes share blocks), and aligned to it.
const CLASS: usize = 2 << 20;
/// At most this many bytes wait in the pool for reuse; blocks beyond it go back to the OS.
const CACHED_MAX: usize = 1 << 30;
/// At most this many bytes are lent out (held by JS or awaiting their finalizer): what a
/// synchronous loop, which gives nothing back, can hold before it goes back to V8's allocator.
/// Large enough that a loop that yields lends on between two collections: at 256 MiB, a
/// layer taking two 64 MiB outputs per call ran dry whenever the collection came two calls
/// late, and its next outputs were V8's fresh pages (32,768 faults per call).
const LENT_MAX: usize = 512 << 20;

struct Block(*mut u8, usize);
// SAFETY: a block is plain memory owned by whoever holds the `Block`; no thread-bound state.
unsafe impl Send for Block {}

struct Pool {
    free: Vec<Block>,
    cached: usize,
    lent: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: Vec::new(),
    cached: 0,
    lent: 0,
});

fn layout(bytes: usize) -> Layout {
    Layout::from_size_align(bytes, CLASS).expect("block sizes are multiples of 2 MiB")
}

/// A block of `bytes` (a multiple of [`CLASS`]): a recycled one if the pool has it. The flag
/// says the block is new memory.
fn take(bytes: usize) -> Option<(Block, bool)> {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if pool.lent + bytes > LENT_MAX {
        return None;
    }
    let block = match pool.free.iter().rposition(|b| b.1 == bytes) {
        Some(i) => {
            pool.cached -= bytes;
            (pool.free.swap_remove(i), false)
        }
        None => {
            // SAFETY: the layout has a non-zero size (bytes >= CLASS).
            let ptr = unsafe { alloc(layout(bytes)) };
            if ptr.is_null() {
                return None;
            }
            (Block(ptr, bytes), true)
        }
    };
    pool.lent += bytes;
    Some(block)
}

/// Takes a block back from JS (its `ArrayBuffer` was collected); true when it went back to the
/// OS instead of the pool.
fn give_back(block: Block) -> bool {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    pool.lent -= block.1;
    if pool.cached + block.1 <= CACHED_MAX {
        pool.cached += block.1;
        pool.free.push(block);
        false
    } else {
        // SAFETY: the block was allocated by `take` with this layout and is no longer used.
        unsafe { dealloc(block.0, layout(block.1)) };
        true
    }
}

/// An `ArrayBuffer` of `bytes` bytes (at least 16 MiB) over pooled memory whose contents are
/// unspecified, or null when the pool declines (too small, or over its lending limit): then
/// allocate as usual. Unlike the kernels' glue this body takes the `Env`, to create the buffer;
/// it takes no typed arrays, and creating an external buffer runs no JavaScript.
#[napi(catch_unwind)]
pub fn pooled_buffer<'env>(env: &'env Env, bytes: f64) -> Result<Option<ArrayBuffer<'env>>> {
    if !(bytes.fract() == 0.0 && bytes >= POOL_MIN_BYTES as f64 && bytes <= (LENT_MAX as f64)) {
        return Ok(None);
    }
    let bytes = bytes as usize;
    let Some((block, new)) = take(bytes.next_multiple_of(CLASS)) else {
        return Ok(None);
    };
    let (ptr, size) = (block.0, block.1 as i64);
    // V8 counts every `ArrayBuffer`'s bytes toward its collection schedule by itself, lent
    // blocks included (a collection is what sends blocks back). On top of that it is told of
    // the pool's own memory when the pool grows, and again when a block goes back to the OS,
    // so that memory the pool keeps while no array holds it is not invisible to it. Reporting
    // every lend as well doubled the count V8 already keeps (and its full collections, 2–7 ms
    // each, come about once per 64 MB output anyway: `--trace-gc`).
    if new {
        env.adjust_external_memory(size)?;
    }
    // SAFETY: the block holds at least `bytes` bytes, lent to this buffer alone until the
    // finalizer hands it back; nothing else reads or writes it meanwhile.
    let buffer = unsafe {
        ArrayBuffer::from_external(env, ptr, bytes, block, move |env, b| {
            if give_back(b) {
                // Nothing to do if V8 refuses: the count only steers its collection schedule.
                let _ = env.adjust_external_memory(-size);
            }
        })
    };
    buffer.map(Some)
}

/// Bytes the pool holds for reuse and bytes it has lent out, for tests and diagnostics.
#[napi(catch_unwind)]
pub fn pooled_bytes() -> Vec<f64> {
    let pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    vec![pool.cached as f64, pool.lent as f64]
}
