//! Writing large outputs with non-temporal ("streaming") stores.
//!
//! An ordinary store to memory that is not in cache first reads the line it lands in (write
//! allocate), so a kernel that writes an output bigger than the caches moves that output's bytes
//! twice. Streaming stores skip the read. For outputs past [`STREAM_MIN_BYTES`] the kernels
//! compute each block into a small buffer that stays in L1 and stream it out; smaller outputs
//! are written directly, since the next layer will read them from cache.

/// Outputs at least this large (in bytes) are streamed: about where they stop fitting the
/// last-level cache of the machines benchmarked (BENCHMARKS.md).
pub const STREAM_MIN_BYTES: usize = 8 << 20;

/// Elements per block: 8 KiB, comfortably inside L1.
const BLOCK: usize = 2048;

/// Whether an output of `len` floats should be streamed.
pub fn should_stream(len: usize) -> bool {
    len * size_of::<f32>() >= STREAM_MIN_BYTES
        && match FORCED.load(std::sync::atomic::Ordering::Relaxed) {
            0 => streaming_pays(),
            forced => cfg!(target_arch = "x86_64") && forced == 2,
        }
}

/// Tests' override of [`streaming_pays`] (0: none, 1: never stream, 2: stream on x86-64), so
/// that both paths are tested on every CPU. Either path writes the same values, so the
/// override cannot change the result of a test running alongside.
static FORCED: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

#[cfg(test)]
pub(crate) fn force_streaming(stream: Option<bool>) {
    let v = stream.map_or(0, |s| if s { 2 } else { 1 });
    FORCED.store(v, std::sync::atomic::Ordering::Relaxed);
}

/// Whether streaming stores beat ordinary ones on this CPU. They do on the Intel Xeons measured
/// (ordinary stores to uncached lines read them first). They do not on the AMD Zen 5 measured
/// (`cargo run --release --example streamprof -p liven-core`, one thread): ReLU forward+backward
/// on 16M floats took 1.12–1.25x as long streamed as stored directly on a lightly loaded
/// machine (10.0–10.7 ms against 8.4–9.4), and 1.6–1.8x (21–24 ms against 13.4, also with
/// 512-bit streaming stores) while other jobs loaded its memory. So AMD CPUs store directly.
fn streaming_pays() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static PAYS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *PAYS.get_or_init(|| {
            // SAFETY: CPUID leaf 0 (the vendor string) exists on every x86-64 CPU. (A safe
            // function in newer Rust, unsafe in the 1.89 the crate supports.)
            #[allow(unused_unsafe)]
            let id = unsafe { std::arch::x86_64::__cpuid(0) };
            let amd = (id.ebx, id.edx, id.ecx) == (0x6874_7541, 0x6974_6e65, 0x444d_4163);
            !amd
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Fills `out` block by block with `fill(offset, block)`, where `block` stands for
/// `out[offset..offset + block.len()]`. With `stream`, each block is computed in a buffer and
/// written with streaming stores; otherwise `fill` writes into `out` directly, in one call.
pub fn fill_blocks(out: &mut [f32], stream: bool, mut fill: impl FnMut(usize, &mut [f32])) {
    if !stream {
        fill(0, out);
        return;
    }
    let mut buffer = [0.0f32; BLOCK];
    let mut offset = 0;
    for dst in out.chunks_mut(BLOCK) {
        let tmp = &mut buffer[..dst.len()];
        fill(offset, tmp);
        copy_streaming(tmp, dst);
        offset += dst.len();
    }
    fence();
}

/// Copies `src` into `dst` with streaming stores where `dst` is 16-byte aligned.
#[cfg(target_arch = "x86_64")]
fn copy_streaming(src: &[f32], dst: &mut [f32]) {
    use std::arch::x86_64::{_mm_loadu_ps, _mm_stream_ps};
    // Plain stores up to the first 16-byte boundary, then four floats per streaming store.
    let head = dst.as_ptr().align_offset(16).min(dst.len());
    dst[..head].copy_from_slice(&src[..head]);
    let body = (dst.len() - head) / 4 * 4;
    for i in (head..head + body).step_by(4) {
        // SAFETY: i + 4 <= len for both slices, and dst[i] is 16-byte aligned (i >= head,
        // with head the aligning offset and i - head a multiple of 4 floats). SSE is part of
        // the x86-64 baseline.
        unsafe { _mm_stream_ps(dst.as_mut_ptr().add(i), _mm_loadu_ps(src.as_ptr().add(i))) };
    }
    dst[head + body..].copy_from_slice(&src[head + body..]);
}

#[cfg(not(target_arch = "x86_64"))]
fn copy_streaming(src: &[f32], dst: &mut [f32]) {
    dst.copy_from_slice(src);
}

/// Orders streaming stores before whatever the caller does next (they are weakly ordered).
fn fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_blocks_land_where_direct_writes_would() {
        // Offsets 0..3 floats make every alignment of the destination.
        for misalign in 0..4 {
            let mut backing = vec![0.0f32; 3 * BLOCK + 7 + misalign];
            let out = &mut backing[misalign..];
            fill_blocks(out, true, |offset, block| {
                for (i, v) in block.iter_mut().enumerate() {
                    *v = (offset + i) as f32;
                }
            });
            assert!(out.iter().enumerate().all(|(i, &v)| v == i as f32));
        }
    }
}
