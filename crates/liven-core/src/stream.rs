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
    cfg!(target_arch = "x86_64") && len * size_of::<f32>() >= STREAM_MIN_BYTES
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
