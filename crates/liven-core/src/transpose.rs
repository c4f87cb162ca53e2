//! Out-of-place matrix transpose, for `sgemm`'s copy of a transposed right operand.
//!
//! A transpose reads along rows and writes along columns (or the reverse), so one side always
//! jumps a whole row per element; with rows a power of two floats apart (a 1024-wide weight)
//! every such jump lands in the same cache set. Both problems go away in tiles: each 8×8 tile
//! is eight row loads, transposed in registers (AVX shuffles), and eight row stores, and the
//! tiles are visited 16×16 at a time, so that every cache line read or written is used whole
//! before the walk moves on.

use crate::simd::Isa;

/// dst (`cols`×`rows`, rows `ldd` apart) = src (`rows`×`cols`, rows `lds` apart) transposed.
/// Only those elements of `dst` are written. At the AVX2 and AVX-512 levels the tiles are
/// transposed with AVX shuffles; the other levels take a plain tiled loop.
///
/// Panics when a leading dimension is smaller than its row or a slice is too short.
pub fn transpose(
    isa: Isa,
    rows: usize,
    cols: usize,
    src: &[f32],
    lds: usize,
    dst: &mut [f32],
    ldd: usize,
) {
    if rows == 0 || cols == 0 {
        return;
    }
    assert!(
        lds >= cols && ldd >= rows,
        "transpose: leading dimensions {lds} (source) and {ldd} (destination) are smaller than \
         the rows of {rows}x{cols} and its transpose"
    );
    let (src_need, dst_need) = ((rows - 1) * lds + cols, (cols - 1) * ldd + rows);
    assert!(
        src.len() >= src_need && dst.len() >= dst_need,
        "transpose: {rows}x{cols} needs {src_need} source and {dst_need} destination elements, \
         has {} and {}",
        src.len(),
        dst.len()
    );
    #[cfg(target_arch = "x86_64")]
    if isa >= Isa::Avx2 {
        // SAFETY: `isa` is at least AVX2 only when the CPU supports AVX2 (see `simd`); the
        // asserts above keep every index of both matrices inside their slices.
        unsafe { avx::transpose(rows, cols, src.as_ptr(), lds, dst.as_mut_ptr(), ldd) };
        return;
    }
    let _ = isa;
    tiled(rows, cols, src, lds, dst, ldd);
}

/// The tile edge of the walk: a 64-byte cache line of floats.
const TILE: usize = 16;

/// The portable path: the same 16×16 walk, element by element.
fn tiled(rows: usize, cols: usize, src: &[f32], lds: usize, dst: &mut [f32], ldd: usize) {
    for r0 in (0..rows).step_by(TILE) {
        let r1 = (r0 + TILE).min(rows);
        for c0 in (0..cols).step_by(TILE) {
            for c in c0..(c0 + TILE).min(cols) {
                for r in r0..r1 {
                    dst[c * ldd + r] = src[r * lds + c];
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use super::TILE;
    use std::arch::x86_64::*;

    /// [`super::transpose`] with 8×8 register tiles; the edges that do not fill a tile are
    /// copied element by element.
    ///
    /// # Safety
    /// The CPU supports AVX2; src holds `rows`×`cols` with rows `lds` apart and dst
    /// `cols`×`rows` with rows `ldd` apart.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn transpose(
        rows: usize,
        cols: usize,
        src: *const f32,
        lds: usize,
        dst: *mut f32,
        ldd: usize,
    ) {
        let (rows8, cols8) = (rows / 8 * 8, cols / 8 * 8);
        // Element (r, c): inside both matrices for r < rows and c < cols, the caller's contract.
        let copy = |r: usize, c: usize| {
            // SAFETY: called with r < rows and c < cols only.
            unsafe { *dst.add(c * ldd + r) = *src.add(r * lds + c) }
        };
        for r0 in (0..rows8).step_by(TILE) {
            let r1 = (r0 + TILE).min(rows8);
            for c0 in (0..cols8).step_by(TILE) {
                let c1 = (c0 + TILE).min(cols8);
                for r in (r0..r1).step_by(8) {
                    for c in (c0..c1).step_by(8) {
                        // SAFETY: the tile's rows r..r+8 ≤ rows and columns c..c+8 ≤ cols;
                        // the CPU supports AVX2 (this function's contract).
                        unsafe { tile(src.add(r * lds + c), lds, dst.add(c * ldd + r), ldd) };
                    }
                }
            }
            for r in r0..r1 {
                for c in cols8..cols {
                    copy(r, c);
                }
            }
        }
        for c in 0..cols {
            for r in rows8..rows {
                copy(r, c);
            }
        }
    }

    /// One 8×8 tile: eight rows in, eight columns out, in 24 shuffles.
    ///
    /// # Safety
    /// The CPU supports AVX; 8 rows of 8 floats, `lds` apart from `src` and `ldd` apart from
    /// `dst`, are readable and writable respectively.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn tile(src: *const f32, lds: usize, dst: *mut f32, ldd: usize) {
        // SAFETY: the caller's contract; the shuffles only need AVX.
        #[allow(unused_unsafe)]
        unsafe {
            let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * lds)));
            // Pairs of rows interleaved: t[2i] = (r0 r1 of columns 0 1 | 4 5), t[2i+1] = 2 3 | 6 7.
            let t: [__m256; 8] = std::array::from_fn(|i| {
                let (a, b) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
                if i % 2 == 0 {
                    _mm256_unpacklo_ps(a, b)
                } else {
                    _mm256_unpackhi_ps(a, b)
                }
            });
            // Four rows of one column per lane: s[j] holds column j (low lane) and j+4 (high)
            // of rows 0..4, s[j+4] the same of rows 4..8.
            let s: [__m256; 8] = std::array::from_fn(|i| {
                let (half, j) = (i / 4, i % 4);
                let (a, b) = (t[half * 4 + j / 2], t[half * 4 + 2 + j / 2]);
                if j % 2 == 0 {
                    _mm256_shuffle_ps::<0x44>(a, b)
                } else {
                    _mm256_shuffle_ps::<0xEE>(a, b)
                }
            });
            for j in 0..4 {
                let low = _mm256_permute2f128_ps::<0x20>(s[j], s[j + 4]);
                let high = _mm256_permute2f128_ps::<0x31>(s[j], s[j + 4]);
                _mm256_storeu_ps(dst.add(j * ldd), low);
                _mm256_storeu_ps(dst.add((j + 4) * ldd), high);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd;
    use crate::testutil::uniform;

    #[test]
    fn transposes_every_shape_at_every_level_and_writes_nothing_else() {
        // Single elements and vectors, below, at and past a register tile, ragged in both
        // directions, tall and wide, several 16×16 blocks with ragged edges.
        let shapes = [
            (1, 1),
            (1, 17),
            (17, 1),
            (3, 5),
            (7, 9),
            (8, 8),
            (16, 16),
            (9, 24),
            (24, 9),
            (23, 41),
            (64, 48),
            (100, 3),
            (3, 100),
            (130, 257),
        ];
        for isa in simd::supported() {
            for &(rows, cols) in &shapes {
                // Tight and padded leading dimensions on both sides.
                for (lds, ldd) in [(cols, rows), (cols + 3, rows + 16)] {
                    let src = uniform((rows - 1) * lds + cols, 7, 1.0);
                    let len = (cols - 1) * ldd + rows;
                    let mut dst = vec![f32::NAN; len + 5];
                    transpose(isa, rows, cols, &src, lds, &mut dst, ldd);
                    for (idx, &got) in dst.iter().enumerate() {
                        let (c, r) = (idx / ldd, idx % ldd);
                        if c < cols && r < rows {
                            assert_eq!(
                                got.to_bits(),
                                src[r * lds + c].to_bits(),
                                "{isa} {rows}x{cols} lds {lds} ldd {ldd} at ({c}, {r})"
                            );
                        } else {
                            assert!(
                                got.is_nan(),
                                "{isa} {rows}x{cols} lds {lds} ldd {ldd}: wrote {idx}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn an_empty_matrix_is_a_no_op() {
        for isa in simd::supported() {
            transpose(isa, 0, 5, &[], 5, &mut [], 0);
            transpose(isa, 5, 0, &[], 0, &mut [], 5);
        }
    }

    #[test]
    #[should_panic(expected = "needs 20 source")]
    fn a_short_source_panics() {
        transpose(simd::active(), 4, 5, &[0.0; 19], 5, &mut [0.0; 20], 4);
    }

    #[test]
    #[should_panic(expected = "needs 20 source and 20 destination elements, has 20 and 19")]
    fn a_short_destination_panics() {
        transpose(simd::active(), 4, 5, &[0.0; 20], 5, &mut [0.0; 19], 4);
    }

    #[test]
    #[should_panic(expected = "leading dimensions")]
    fn a_leading_dimension_below_the_row_panics() {
        transpose(simd::active(), 4, 5, &[0.0; 20], 5, &mut [0.0; 20], 3);
    }
}
