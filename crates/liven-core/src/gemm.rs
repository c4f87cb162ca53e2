//! Single-precision matrix multiplication: C = alpha·op(A)·op(B) + beta·C, row-major.
//!
//! The work is done by the `gemm` crate (0.19, feature `x86-v4`, which compiles its AVX-512
//! kernels on stable Rust; it also has AVX2+FMA and NEON kernels and picks one at run time).
//! Chosen against `matrixmultiply` 0.3.11 and OpenBLAS 0.3.21 (through PyTorch's `torch.mm`),
//! one thread, `[512, 1024] x [1024, 1024]`, on the 2-core AVX-512 machine this was written on
//! (loaded by other jobs, so the medians of 15 runs move by ±20% between runs):
//!
//! | library                                 | A·B          | A·Bᵀ          |
//! | --------------------------------------- | ------------ | ------------- |
//! | `gemm` 0.19 `x86-v4`                    | 97–113 GF/s  | 83–117 GF/s   |
//! | `matrixmultiply` 0.3.11                 | 77–136 GF/s  | 45–91 GF/s    |
//! | OpenBLAS, `OPENBLAS_CORETYPE` unset     | 20–31 GF/s   | 21–31 GF/s    |
//! | OpenBLAS, `OPENBLAS_CORETYPE=SkylakeX`  | 94 GF/s      | 114 GF/s      |
//!
//! The two crates are within the noise of each other and of OpenBLAS's AVX-512 kernels;
//! `gemm` decides it because its transposed-B case (every Linear forward) is steadier.
//! (OpenBLAS 0.3.21 does not recognise that CPU and falls back to its SSE3 "Prescott" kernels
//! unless told the core type.)
//!
//! Threads: the crate's own rayon mode splits every packed block over the threads and waits
//! for all of them before the next, a dozen barriers per product; on a VM whose cores other
//! processes also want, each barrier waits for the slowest thread, and with 2 threads the
//! product ran slower than on one (`examples/gemmprof.rs`). So the crate always runs serially
//! here, and [`sgemm`] splits C itself: once per call, into panels that the calling thread and
//! the pool's claim one by one (`threads::for_each_piece`).
//!
//! A transposed operand (every Linear forward: y = x·Wᵀ with W `[out, in]`, and its weight
//! gradient dyᵀ·x) is copied as stored first, by a tiled transpose (`transpose.rs`) into a
//! buffer each thread keeps: the crate packs a transposed operand with a strided gather, slow
//! whenever its rows are a power of two floats apart. One thread, 512×1024 by (1024×1024)ᵀ:
//! 173–185 GFLOP/s before, 215–244 after (the copy takes 0.15 ms of 4.5–5 ms), the speed of
//! the product with W as stored; at 2–16 rows 2–9x (`copying_a_pays` and `copying_b_pays`
//! say when it does not pay). Whether to copy is decided on the whole product, never per panel, so
//! the result still does not depend on the split.
//!
//! The crate picks its kernels by itself, always the widest the CPU has. So the crate runs
//! only when the active level is the CPU's best; a lowered level (`LIVEN_SIMD=avx2` on an
//! AVX-512 machine, `scalar`, or `simd::with_isa` in tests) runs a plain loop compiled for
//! that level instead, which keeps the promise that lowering the level lowers the
//! instructions (and lets the tests reach every level), at a fraction of the speed.

use crate::scratch::{padded_stride, Scratch, SPARE_LIMIT};
use crate::simd::{self, Isa};
use crate::{threads, transpose};
use std::sync::OnceLock;

/// One operand: a row-major matrix with leading dimension `ld` (the distance between rows as
/// stored), used as stored or transposed.
#[derive(Clone, Copy, Debug)]
pub struct Operand<'a> {
    pub data: &'a [f32],
    pub ld: usize,
    pub trans: bool,
}

impl<'a> Operand<'a> {
    /// `data` used as stored, rows `ld` apart.
    pub fn n(data: &'a [f32], ld: usize) -> Self {
        Operand {
            data,
            ld,
            trans: false,
        }
    }

    /// `data` transposed: `data` holds op(X)ᵀ row-major, rows `ld` apart.
    pub fn t(data: &'a [f32], ld: usize) -> Self {
        Operand {
            data,
            ld,
            trans: true,
        }
    }

    /// op(X) from row `r` on.
    fn rows(self, r: usize) -> Self {
        let (rs, _) = self.strides();
        Operand {
            data: &self.data[(r * rs).min(self.data.len())..],
            ..self
        }
    }

    /// op(X) from column `j` on.
    fn cols(self, j: usize) -> Self {
        let (_, cs) = self.strides();
        Operand {
            data: &self.data[(j * cs).min(self.data.len())..],
            ..self
        }
    }

    /// (row stride, column stride) of op(X) in `data`.
    fn strides(&self) -> (usize, usize) {
        if self.trans {
            (1, self.ld)
        } else {
            (self.ld, 1)
        }
    }

    /// Panics unless op(X) is `rows`×`cols` within `data`.
    fn check(&self, what: &str, rows: usize, cols: usize) {
        let (stored_rows, stored_cols) = if self.trans {
            (cols, rows)
        } else {
            (rows, cols)
        };
        if stored_rows == 0 || stored_cols == 0 {
            return;
        }
        assert!(
            self.ld >= stored_cols,
            "sgemm: {what} has leading dimension {} < {stored_cols} columns",
            self.ld
        );
        let need = (stored_rows - 1) * self.ld + stored_cols;
        assert!(
            self.data.len() >= need,
            "sgemm: {what} has {} elements, needs {need} for {stored_rows}x{stored_cols} with ld {}",
            self.data.len(),
            self.ld
        );
    }
}

/// Whether a product runs on the pool's threads or on the calling thread only (the caller is
/// already one of several parallel tasks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Par {
    Auto,
    Serial,
}

/// C (m×n, rows `ldc` apart) = alpha·op(A)·op(B) + beta·C, where op(A) is m×k and op(B) k×n.
/// With `beta == 0` C is only written (NaNs in it do not propagate), as in BLAS.
#[allow(clippy::too_many_arguments)]
pub fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: Operand,
    b: Operand,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
    par: Par,
) {
    a.check("A", m, k);
    b.check("B", k, n);
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        ldc >= n,
        "sgemm: C has leading dimension {ldc} < {n} columns"
    );
    let need = (m - 1) * ldc + n;
    assert!(
        c.len() >= need,
        "sgemm: C has {} elements, needs {need}",
        c.len()
    );
    if k == 0 || alpha == 0.0 {
        scale(m, n, beta, c, ldc);
        return;
    }
    let isa = simd::active();
    if isa != best_level() {
        return portable(m, n, k, alpha, a, b, beta, c, ldc, isa);
    }
    // Decided on the whole product, so every split takes the same path.
    let copy_a = a.trans && copying_a_pays(m, n, k);
    let copy_b = b.trans && copying_b_pays(m, n, k);
    let threads = threads::num_threads();
    let work = m * n * k / threads::MACS_PER_ELEMENT;
    if par == Par::Serial || !threads::worth_splitting(work) || threads == 1 {
        return as_stored(a, m, k, copy_a, isa, |a| {
            as_stored(b, k, n, copy_b, isa, |b| {
                // SAFETY: the checks above keep every index of C inside `c`, a unique borrow.
                unsafe { crate_gemm(m, n, k, alpha, a, b, beta, c.as_mut_ptr(), ldc) }
            })
        });
    }
    // One split per call: C is cut into panels along its longer side, and each panel is a
    // serial product on one thread (see `threads::for_each_piece`). The crate's own rayon
    // split synchronises all threads after every packed block, so on a shared VM each product
    // waited several times for the slowest thread. Every element of C is computed by the same
    // serial code whichever thread runs its panel, so the result does not depend on the split.
    let by_rows = m > n;
    let long = if by_rows { m } else { n };
    let pieces = (threads * PANELS_PER_THREAD).min(long.div_ceil(PANEL_ALIGN));
    let bounds = |i: usize| (long * i / pieces).next_multiple_of(PANEL_ALIGN).min(long);
    let cp = threads::SendPtr(c.as_mut_ptr());
    // The operand every panel uses whole is copied once, by the caller; the one that panels
    // cut is copied a panel at a time, on the thread that runs the panel, so that copy is
    // shared by the threads with no extra wait (x·Wᵀ, 512×1024 by 1024×1024, 2 threads:
    // 446–472 GFLOP/s, against 374–431 with W copied whole by the caller first).
    as_stored(a, m, k, copy_a && !by_rows, isa, |a| {
        as_stored(b, k, n, copy_b && by_rows, isa, |b| {
            threads::for_each_piece(pieces, |i| {
                let (lo, hi) = (bounds(i), bounds(i + 1));
                if lo == hi {
                    return;
                }
                let (start, a, b, (pm, pn)) = if by_rows {
                    (lo * ldc, a.rows(lo), b, (hi - lo, n))
                } else {
                    (lo, a, b.cols(lo), (m, hi - lo))
                };
                as_stored(a, pm, k, copy_a && by_rows, isa, |a| {
                    as_stored(b, k, pn, copy_b && !by_rows, isa, |b| {
                        // SAFETY: the panel (rows or columns lo..hi of C) lies inside `c`,
                        // checked above; panels are disjoint (`bounds` is increasing), so no
                        // element is written by two pieces, and `c` stays mutably borrowed
                        // until every piece has run.
                        unsafe {
                            crate_gemm(pm, pn, k, alpha, a, b, beta, cp.get().add(start), ldc)
                        }
                    })
                })
            });
        })
    })
}

/// Whether to copy a transposed op(B) as stored before the product. The crate packs it with
/// a strided gather that is slow, most of all when its rows are a power of two floats apart.
/// One thread, x·Wᵀ with W 1024×1024 took 5.8 ms at 512 rows of x (185 GFLOP/s) where the
/// copy (0.15 ms) and the product as stored take 4.4–4.6 ms, and ran at 2.5–20 GFLOP/s
/// instead of 22–120 for 2–16 rows; W 256×256 or 512×512 at 16–64 rows: 80–125 against
/// 155–190; W 512×784 at 512 rows: 205 against 238; conv's weight gradients (B = the
/// unfolded input, rows not a power of two apart): the same within 3% (`examples/linprof.rs`
/// and one-off timings). Not copied:
/// - for one row of op(A): the crate then computes dot products along B's rows as stored
///   (1024×1024 times one vector: 51 GFLOP/s; 11 after a copy);
/// - with fewer than 16 columns: a copy a few floats wide multiplies slowly (512×1024 by
///   1024×1: 1.2 GFLOP/s against 52), and the gather of so few rows is cheap anyway;
/// - beyond the kept scratch: a fresh buffer's page faults and the copy's trip through memory
///   cost more than the gather (512×4096 by (4096×4096)ᵀ: 142 against 165–171).
fn copying_b_pays(m: usize, n: usize, k: usize) -> bool {
    m >= 2 && n >= 16 && k * padded_stride(n) <= SPARE_LIMIT
}

/// Whether to copy a transposed op(A) as stored before the product. Gathering a transposed
/// A costs the crate less than gathering a transposed B, so the copy needs more columns of C
/// to pay: Linear's weight gradient dyᵀ·x (1024×512 by 512×1024) went
/// from 225–227 to 230–238 GFLOP/s at one thread and from 179–346 to 447–456 at two (each
/// panel of columns gathered all of dyᵀ), and 1024×512 by 512×128 from 171–204 to 218; but
/// conv's input gradient Wᵀ·dy on 2×2 planes (2304×256 by 256×64) fell from 236–244 to
/// 201–205. The other limits as for B ([`copying_b_pays`]).
fn copying_a_pays(m: usize, n: usize, k: usize) -> bool {
    n >= 128 && m >= 16 && m * padded_stride(k) <= SPARE_LIMIT
}

/// Runs `f` with op(X) (`rows`×`cols`) as it is when `copy` is false, and otherwise with a
/// row-major copy of the transposed op(X) in this thread's scratch.
fn as_stored<R>(
    x: Operand,
    rows: usize,
    cols: usize,
    copy: bool,
    isa: Isa,
    f: impl FnOnce(Operand) -> R,
) -> R {
    if !copy {
        return f(x);
    }
    debug_assert!(x.trans);
    let ld = padded_stride(cols);
    let mut buf = Scratch::new(rows * ld);
    transpose::transpose(isa, cols, rows, x.data, x.ld, &mut buf, ld);
    f(Operand::n(&buf, ld))
}

/// Panels per thread in a parallel product: more than one, so that a thread slowed by other
/// processes leaves its last panel to the others; few, since each panel packs its own copy of
/// the other operand.
const PANELS_PER_THREAD: usize = 3;

/// Panel edges fall on multiples of this many rows or columns (the crate's register tiles).
const PANEL_ALIGN: usize = 16;

/// The `gemm` crate on the calling thread.
///
/// # Safety
/// C (m×n, rows `ldc` apart from `c`) must be valid for writes and written by no one else
/// meanwhile; the operands must hold op(A) m×k and op(B) k×n (as `Operand::check` verifies).
#[allow(clippy::too_many_arguments)]
unsafe fn crate_gemm(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: Operand,
    b: Operand,
    beta: f32,
    c: *mut f32,
    ldc: usize,
) {
    let (ars, acs) = a.strides();
    let (brs, bcs) = b.strides();
    // SAFETY: the caller's contract: every index of A and B is inside their slices (the
    // extents follow from m, n, k and the strides), C is valid and unshared, and the inputs
    // are shared borrows, which C cannot alias.
    // The crate computes dst = alpha·dst + beta·lhs·rhs, with its alpha and beta named the
    // other way round from BLAS.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            ldc as isize,
            beta != 0.0,
            a.data.as_ptr(),
            acs as isize,
            ars as isize,
            b.data.as_ptr(),
            bcs as isize,
            brs as isize,
            beta,
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

fn scale(m: usize, n: usize, beta: f32, c: &mut [f32], ldc: usize) {
    for row in c.chunks_mut(ldc).take(m) {
        for v in &mut row[..n] {
            *v = if beta == 0.0 { 0.0 } else { beta * *v };
        }
    }
}

/// The widest level this CPU supports: the one the `gemm` crate's own dispatch uses.
pub(crate) fn best_level() -> Isa {
    static BEST: OnceLock<Isa> = OnceLock::new();
    *BEST.get_or_init(|| {
        *simd::supported()
            .last()
            .expect("scalar is always supported")
    })
}

/// The path for a lowered level: row i of C accumulates alpha·A(i,p)·row p of op(B), a loop
/// the compiler vectorises for `isa`. op(B) is first copied row-major when it is transposed.
#[allow(clippy::too_many_arguments)]
fn portable(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: Operand,
    b: Operand,
    beta: f32,
    c: &mut [f32],
    ldc: usize,
    isa: Isa,
) {
    as_stored(b, k, n, b.trans, isa, |b| {
        let (ars, acs) = a.strides();
        scale(m, n, beta, c, ldc);
        for i in 0..m {
            let arow: Vec<f32> = (0..k).map(|p| alpha * a.data[i * ars + p * acs]).collect();
            axpy_rows_run(isa, &arow, b.data, b.ld, &mut c[i * ldc..i * ldc + n]);
        }
    })
}

crate::multiversion! {
    /// crow += Σ_p arow[p] · (row p of B, `ldb` apart).
    fn axpy_rows_run(arow: &[f32], b: &[f32], ldb: usize, crow: &mut [f32]) {
        let n = crow.len();
        for (p, &ap) in arow.iter().enumerate() {
            let brow = &b[p * ldb..p * ldb + n];
            for (cv, bv) in crow.iter_mut().zip(brow) {
                *cv += ap * bv;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::uniform;

    /// The definition, in f64.
    #[allow(clippy::too_many_arguments)]
    fn naive(
        m: usize,
        n: usize,
        k: usize,
        alpha: f32,
        a: Operand,
        b: Operand,
        beta: f32,
        c: &[f32],
        ldc: usize,
    ) -> Vec<f32> {
        let at = |i: usize, p: usize| {
            if a.trans {
                a.data[p * a.ld + i]
            } else {
                a.data[i * a.ld + p]
            }
        };
        let bt = |p: usize, j: usize| {
            if b.trans {
                b.data[j * b.ld + p]
            } else {
                b.data[p * b.ld + j]
            }
        };
        let mut out = c.to_vec();
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k).map(|p| at(i, p) as f64 * bt(p, j) as f64).sum();
                let prev = if beta == 0.0 {
                    0.0
                } else {
                    beta as f64 * c[i * ldc + j] as f64
                };
                out[i * ldc + j] = (alpha as f64 * dot + prev) as f32;
            }
        }
        out
    }

    #[test]
    fn matches_the_triple_loop_at_every_level_for_every_transpose() {
        let shapes = [
            (1, 1, 1),
            (3, 5, 7),
            (17, 33, 9),
            (64, 48, 80),
            (1, 40, 20),     // one row: a transposed B is not copied
            (40, 1, 20),     // one column: a transposed A is not copied
            (200, 170, 257), // worth splitting
            (2, 2048, 1040), // a transposed B larger than the kept scratch: not copied
            (2048, 2, 1040), // few columns: a transposed A is not copied
        ];
        for isa in simd::supported() {
            simd::with_isa(isa, || {
                for &(m, n, k) in &shapes {
                    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                        // The large shape (a slow reference) with one combination only.
                        let combos: &[(f32, f32)] = if m * n * k > 1 << 22 {
                            &[(-2.0, 0.25)]
                        } else {
                            &[(1.0, 0.0), (0.5, 1.0), (-2.0, 0.25)]
                        };
                        for &(alpha, beta) in combos {
                            // Leading dimensions larger than the rows, as for sub-matrices.
                            let (lda, ldb, ldc) = (
                                if ta { m + 2 } else { k + 3 },
                                if tb { k + 1 } else { n + 2 },
                                n + 5,
                            );
                            let ad = uniform(if ta { k * lda } else { m * lda }, 1, 1.0);
                            let bd = uniform(if tb { n * ldb } else { k * ldb }, 2, 1.0);
                            let a = Operand {
                                data: &ad,
                                ld: lda,
                                trans: ta,
                            };
                            let b = Operand {
                                data: &bd,
                                ld: ldb,
                                trans: tb,
                            };
                            let mut c = uniform(m * ldc, 3, 1.0);
                            if beta == 0.0 {
                                c[0] = f32::NAN; // must not propagate
                            }
                            let want = naive(m, n, k, alpha, a, b, beta, &c, ldc);
                            sgemm(m, n, k, alpha, a, b, beta, &mut c, ldc, Par::Auto);
                            for i in 0..m {
                                for j in 0..ldc {
                                    let (g, w) = (c[i * ldc + j], want[i * ldc + j]);
                                    let tol = 1e-4 * (k as f32).sqrt() * (1.0 + w.abs());
                                    assert!(
                                        (g - w).abs() <= tol,
                                        "{isa} {m}x{n}x{k} ta={ta} tb={tb} a={alpha} b={beta} ({i},{j}): {g} vs {w}"
                                    );
                                }
                            }
                        }
                    }
                }
            });
        }
    }

    #[test]
    fn split_products_equal_the_serial_product_bit_for_bit() {
        // Panels along rows (m > n) and along columns, ragged edges, transposed operands.
        for &(m, n, k, ta, tb) in &[
            (700, 300, 100, false, true),
            (130, 1000, 70, true, false),
            (130, 1000, 70, false, true), // each column panel copies its part of B
            (700, 300, 100, true, false), // each row panel copies its part of A
            (300, 700, 100, true, true),  // A copied once, B by panel
            (700, 300, 100, true, true),  // B copied once, A by panel
            (257, 259, 255, false, false),
        ] {
            let ad = uniform(m * k, 4, 1.0);
            let bd = uniform(k * n, 5, 1.0);
            let a = if ta {
                Operand::t(&ad, m)
            } else {
                Operand::n(&ad, k)
            };
            let b = if tb {
                Operand::t(&bd, k)
            } else {
                Operand::n(&bd, n)
            };
            let c0 = uniform(m * n, 6, 1.0);
            let (mut serial, mut split) = (c0.clone(), c0.clone());
            sgemm(m, n, k, 0.5, a, b, 0.75, &mut serial, n, Par::Serial);
            threads::set_num_threads(3);
            sgemm(m, n, k, 0.5, a, b, 0.75, &mut split, n, Par::Auto);
            assert!(
                serial
                    .iter()
                    .zip(&split)
                    .all(|(x, y)| x.to_bits() == y.to_bits()),
                "{m}x{n}x{k}"
            );
        }
    }

    #[test]
    fn copied_transposed_operands_give_the_bits_of_the_product_as_stored() {
        // The copy path is exactly a transpose followed by the product as stored, at every
        // level (the split products are compared with the serial one above).
        let (m, n, k) = (37, 130, 70); // both operands copied at the best level
        let transposed = |x: &[f32], rows: usize, cols: usize| -> Vec<f32> {
            (0..rows * cols)
                .map(|i| x[(i % rows) * cols + i / rows])
                .collect()
        };
        let ad = uniform(m * k, 8, 1.0); // op(A), m×k
        let bd = uniform(k * n, 9, 1.0); // op(B), k×n
        let (at, bt) = (transposed(&ad, m, k), transposed(&bd, k, n));
        let c0 = uniform(m * n, 10, 1.0);
        for isa in simd::supported() {
            simd::with_isa(isa, || {
                let mut stored = c0.clone();
                let (a, b) = (Operand::n(&ad, k), Operand::n(&bd, n));
                sgemm(m, n, k, 0.5, a, b, 0.75, &mut stored, n, Par::Auto);
                for (ta, tb) in [(false, true), (true, false), (true, true)] {
                    let a = if ta { Operand::t(&at, m) } else { a };
                    let b = if tb { Operand::t(&bt, k) } else { b };
                    let mut copied = c0.clone();
                    sgemm(m, n, k, 0.5, a, b, 0.75, &mut copied, n, Par::Auto);
                    assert!(
                        copied
                            .iter()
                            .zip(&stored)
                            .all(|(x, y)| x.to_bits() == y.to_bits()),
                        "{isa} ta={ta} tb={tb}"
                    );
                }
            });
        }
    }

    #[test]
    fn empty_inner_dimension_scales_c() {
        let mut c = vec![1.0, 2.0, 3.0, f32::NAN];
        sgemm(
            2,
            2,
            0,
            1.0,
            Operand::n(&[], 0),
            Operand::n(&[], 2),
            0.5,
            &mut c,
            2,
            Par::Auto,
        );
        assert_eq!(&c[..3], &[0.5, 1.0, 1.5]);
        sgemm(
            2,
            2,
            0,
            1.0,
            Operand::n(&[], 0),
            Operand::n(&[], 2),
            0.0,
            &mut c,
            2,
            Par::Auto,
        );
        assert_eq!(c, vec![0.0; 4]);
    }

    #[test]
    fn an_empty_c_is_left_alone() {
        // m = 0 or n = 0: nothing to write, whatever the other sizes (no `(m - 1)·ldc` underflow).
        let a = [1.0; 6];
        for (m, n) in [(0, 3), (3, 0), (0, 0)] {
            let mut c: Vec<f32> = vec![];
            sgemm(
                m,
                n,
                2,
                1.0,
                Operand::n(&a, 2),
                Operand::n(&a, 3),
                0.0,
                &mut c,
                3,
                Par::Auto,
            );
        }
    }

    #[test]
    fn alpha_zero_leaves_the_operands_unread() {
        // As in BLAS: beta·C only, so NaN and infinity in A or B do not reach C.
        for isa in simd::supported() {
            simd::with_isa(isa, || {
                let (a, b) = (
                    [f32::NAN, f32::INFINITY, 1.0, 2.0],
                    [f32::INFINITY, 0.0, 3.0, 4.0],
                );
                let mut c = vec![1.0, 2.0, 3.0, 4.0];
                sgemm(
                    2,
                    2,
                    2,
                    0.0,
                    Operand::n(&a, 2),
                    Operand::t(&b, 2),
                    2.0,
                    &mut c,
                    2,
                    Par::Auto,
                );
                assert_eq!(c, vec![2.0, 4.0, 6.0, 8.0], "{isa:?}");
            });
        }
    }

    #[test]
    #[should_panic(expected = "sgemm: C has 5 elements, needs 6")]
    fn a_short_c_panics() {
        let mut c = vec![0.0; 5];
        sgemm(
            2,
            3,
            1,
            1.0,
            Operand::n(&[1.0; 2], 1),
            Operand::n(&[1.0; 3], 3),
            0.0,
            &mut c,
            3,
            Par::Auto,
        );
    }

    #[test]
    #[should_panic(expected = "needs")]
    fn short_operands_panic() {
        let mut c = vec![0.0; 4];
        sgemm(
            2,
            2,
            2,
            1.0,
            Operand::n(&[0.0; 3], 2),
            Operand::n(&[0.0; 4], 2),
            0.0,
            &mut c,
            2,
            Par::Auto,
        );
    }
}
