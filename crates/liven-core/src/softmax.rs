//! Softmax and log-softmax along one dimension, forward and backward.
//!
//! A tensor is seen as `[outer, dim, inner]` in row-major order, reduced along `dim`. With
//! `inner == 1` (the last dimension) each row is contiguous and the reductions run across 16
//! accumulator lanes; otherwise the reductions run element-wise over `inner` contiguous columns,
//! one row of the slab at a time. Both vectorise.
//!
//! Stable as PyTorch's: the row's maximum is subtracted before `exp`, and log-softmax is
//! `(x - max) - ln Σ exp(x - max)`, so logits of ±1e4 neither overflow nor lose their digits.
//! NaN anywhere in a row makes that row NaN (it reaches the sum), an infinite logit too.
//!
//! - softmax: `y = exp(x - m) / Σ`, `dx = y ⊙ (dy - Σ dy ⊙ y)`
//! - log-softmax: `y = x - m - ln Σ`, `dx = dy - exp(y) ⊙ Σ dy`

use crate::multiversion;
use crate::pool::for_plane_groups;
use crate::simd::{self, Isa};
/// Accumulator lanes (fixed, so every instruction set adds in the same order).
const LANES: usize = 16;

/// `exp(x)` for `x <= 0` (and NaN), within about 2 ulp: Cephes' `expf` reduction and polynomial,
/// written with plain arithmetic so that it vectorises inside the kernels' loops. Values below
/// -87 (where the result is under 1.6e-38) give 0.
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    const LO: f32 = -87.0;
    // 1.5 · 2^23: adding it rounds to an integer, which then sits in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let xc = if x < LO { LO } else { x };
    let t = xc * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = xc - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let z = r * r;
    let p = (((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 0.5)
        * z
        + r
        + 1.0;
    let k = t.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    let scale = f32::from_bits(((k + 127) << 23) as u32);
    if x < LO {
        0.0
    } else {
        p * scale
    }
}

#[inline(always)]
fn lane_max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            acc[l] = if c[l] > acc[l] { c[l] } else { acc[l] };
        }
    }
    for (l, &v) in chunks.remainder().iter().enumerate() {
        acc[l] = if v > acc[l] { v } else { acc[l] };
    }
    acc.iter()
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// Σ f(a[i], b[i]) over 16 lanes.
#[inline(always)]
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (a, b) in (&mut ca).zip(&mut cb) {
        for l in 0..LANES {
            acc[l] += f(a[l], b[l]);
        }
    }
    for (l, (&a, &b)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        acc[l] += f(a, b);
    }
    acc.iter().sum()
}

multiversion! {
    #[allow(clippy::too_many_arguments)]
    fn softmax_rows(x: &[f32], y: &mut [f32], dim: usize, log: bool) {
        for (x, y) in x.chunks_exact(dim).zip(y.chunks_exact_mut(dim)) {
            let m = lane_max(x);
            if log {
                let s = lane_sum(x, x, |v, _| exp_nonpositive(v - m));
                let ls = s.ln();
                for (y, &v) in y.iter_mut().zip(x) {
                    *y = (v - m) - ls;
                }
            } else {
                for (y, &v) in y.iter_mut().zip(x) {
                    *y = exp_nonpositive(v - m);
                }
                // NaN in the row gives m = -inf or a finite m; either way it reaches the sum.
                let s = lane_sum(y, y, |v, _| v);
                let inv = 1.0 / s;
                for y in y.iter_mut() {
                    *y *= inv;
                }
            }
        }
    }
}

multiversion! {
    #[allow(clippy::too_many_arguments)]
    fn softmax_rows_backward(y: &[f32], dy: &[f32], dx: &mut [f32], dim: usize, log: bool) {
        for ((y, dy), dx) in y.chunks_exact(dim).zip(dy.chunks_exact(dim)).zip(dx.chunks_exact_mut(dim)) {
            if log {
                let s = lane_sum(dy, dy, |g, _| g);
                for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
                    *dx = g - exp_nonpositive(y) * s;
                }
            } else {
                let dot = lane_sum(dy, y, |g, y| g * y);
                for ((dx, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
                    *dx = y * (g - dot);
                }
            }
        }
    }
}

multiversion! {
    /// Slabs of `dim × inner`, reduced along `dim` column by column; `acc` holds 2 × inner.
    #[allow(clippy::too_many_arguments)]
    fn softmax_cols(x: &[f32], y: &mut [f32], dim: usize, inner: usize, log: bool, acc: &mut [f32]) {
        let (m, s) = acc.split_at_mut(inner);
        for (x, y) in x.chunks_exact(dim * inner).zip(y.chunks_exact_mut(dim * inner)) {
            m.fill(f32::NEG_INFINITY);
            for x in x.chunks_exact(inner) {
                for (m, &v) in m.iter_mut().zip(x) {
                    *m = if v > *m { v } else { *m };
                }
            }
            s.fill(0.0);
            for (x, y) in x.chunks_exact(inner).zip(y.chunks_exact_mut(inner)) {
                for (((y, s), &v), &m) in y.iter_mut().zip(s.iter_mut()).zip(x).zip(m.iter()) {
                    let e = exp_nonpositive(v - m);
                    *s += e;
                    *y = e;
                }
            }
            if log {
                for s in s.iter_mut() {
                    *s = s.ln();
                }
                for (x, y) in x.chunks_exact(inner).zip(y.chunks_exact_mut(inner)) {
                    for (((y, &v), &m), &ls) in y.iter_mut().zip(x).zip(m.iter()).zip(s.iter()) {
                        *y = (v - m) - ls;
                    }
                }
            } else {
                for s in s.iter_mut() {
                    *s = 1.0 / *s;
                }
                for y in y.chunks_exact_mut(inner) {
                    for (y, &inv) in y.iter_mut().zip(s.iter()) {
                        *y *= inv;
                    }
                }
            }
        }
    }
}

multiversion! {
    #[allow(clippy::too_many_arguments)]
    fn softmax_cols_backward(y: &[f32], dy: &[f32], dx: &mut [f32], dim: usize, inner: usize, log: bool, acc: &mut [f32]) {
        let s = &mut acc[..inner];
        let slab = dim * inner;
        for ((y, dy), dx) in y.chunks_exact(slab).zip(dy.chunks_exact(slab)).zip(dx.chunks_exact_mut(slab)) {
            s.fill(0.0);
            for (y, dy) in y.chunks_exact(inner).zip(dy.chunks_exact(inner)) {
                for ((s, &y), &g) in s.iter_mut().zip(y).zip(dy) {
                    *s += if log { g } else { g * y };
                }
            }
            for ((y, dy), dx) in y.chunks_exact(inner).zip(dy.chunks_exact(inner)).zip(dx.chunks_exact_mut(inner)) {
                for (((dx, &y), &g), &s) in dx.iter_mut().zip(y).zip(dy).zip(s.iter()) {
                    *dx = if log { g - exp_nonpositive(y) * s } else { y * (g - s) };
                }
            }
        }
    }
}

fn check(kernel: &str, lens: &[(&str, usize)], outer: usize, dim: usize, inner: usize) {
    let want = outer * dim * inner;
    for &(name, got) in lens {
        assert!(
            got == want,
            "{kernel}: {name} has {got} elements, expected {outer} × {dim} × {inner}"
        );
    }
}

fn forward(x: &[f32], y: &mut [f32], outer: usize, dim: usize, inner: usize, log: bool) {
    check(
        "softmax_forward",
        &[("x", x.len()), ("y", y.len())],
        outer,
        dim,
        inner,
    );
    if x.is_empty() {
        return;
    }
    let isa: Isa = simd::active();
    let slab = dim * inner;
    let mut none: [u8; 0] = [];
    for_plane_groups(outer, slab, y, slab, &mut none, 0, |r, y, _| {
        let x = &x[r.start * slab..r.end * slab];
        if inner == 1 {
            softmax_rows(isa, x, y, dim, log);
        } else {
            softmax_cols(isa, x, y, dim, inner, log, &mut vec![0.0; 2 * inner]);
        }
    });
}

fn backward(
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    outer: usize,
    dim: usize,
    inner: usize,
    log: bool,
) {
    let lens = [("y", y.len()), ("dy", dy.len()), ("dx", dx.len())];
    check("softmax_backward", &lens, outer, dim, inner);
    if y.is_empty() {
        return;
    }
    let isa = simd::active();
    let slab = dim * inner;
    let mut none: [u8; 0] = [];
    for_plane_groups(outer, slab, dx, slab, &mut none, 0, |r, dx, _| {
        let (y, dy) = (
            &y[r.start * slab..r.end * slab],
            &dy[r.start * slab..r.end * slab],
        );
        if inner == 1 {
            softmax_rows_backward(isa, y, dy, dx, dim, log);
        } else {
            softmax_cols_backward(isa, y, dy, dx, dim, inner, log, &mut vec![0.0; inner]);
        }
    });
}

/// Softmax of `[outer, dim, inner]` along `dim`.
pub fn softmax_forward(x: &[f32], y: &mut [f32], outer: usize, dim: usize, inner: usize) {
    forward(x, y, outer, dim, inner, false);
}

/// From softmax's output `y`: `dx = y ⊙ (dy - Σ dy ⊙ y)`.
pub fn softmax_backward(
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    outer: usize,
    dim: usize,
    inner: usize,
) {
    backward(y, dy, dx, outer, dim, inner, false);
}

pub fn log_softmax_forward(x: &[f32], y: &mut [f32], outer: usize, dim: usize, inner: usize) {
    forward(x, y, outer, dim, inner, true);
}

/// From log-softmax's output `y`: `dx = dy - exp(y) ⊙ Σ dy`.
pub fn log_softmax_backward(
    y: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    outer: usize,
    dim: usize,
    inner: usize,
) {
    backward(y, dy, dx, outer, dim, inner, true);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{supported, with_isa};
    use crate::testutil::uniform;

    #[test]
    fn exp_is_within_two_ulp_and_flushes_below_its_range() {
        for isa in supported() {
            with_isa(isa, || {
                let xs: Vec<f32> = (0..200_000).map(|i| -(i as f32) * 4.35e-4).collect();
                let mut got = vec![0.0; xs.len()];
                run_exp(isa, &xs, &mut got);
                for (&x, &e) in xs.iter().zip(&got) {
                    let want = (x as f64).exp();
                    assert!(
                        ((e as f64 - want) / want).abs() < 2.5e-7,
                        "{isa} exp({x}) = {e}, want {want}"
                    );
                }
            });
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-100.0), 0.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        assert!(exp_nonpositive(f32::NAN).is_nan());
    }

    multiversion! {
        fn run_exp(x: &[f32], y: &mut [f32]) {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = exp_nonpositive(x);
            }
        }
    }

    /// Along `dim` of [outer, dim, inner], in f64.
    fn reference(
        x: &[f32],
        dy: &[f32],
        (outer, dim, inner): (usize, usize, usize),
        log: bool,
    ) -> (Vec<f64>, Vec<f64>) {
        let (mut y, mut dx) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        for o in 0..outer {
            for i in 0..inner {
                let at = |d: usize| (o * dim + d) * inner + i;
                let m = (0..dim)
                    .map(|d| x[at(d)] as f64)
                    .fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = (0..dim).map(|d| (x[at(d)] as f64 - m).exp()).sum();
                for d in 0..dim {
                    let v = x[at(d)] as f64 - m;
                    y[at(d)] = if log { v - s.ln() } else { v.exp() / s };
                }
                let sum: f64 = (0..dim)
                    .map(|d| dy[at(d)] as f64 * if log { 1.0 } else { y[at(d)] })
                    .sum();
                for d in 0..dim {
                    let (yy, g) = (y[at(d)], dy[at(d)] as f64);
                    dx[at(d)] = if log {
                        g - yy.exp() * sum
                    } else {
                        yy * (g - sum)
                    };
                }
            }
        }
        (y, dx)
    }

    #[test]
    fn large_outputs_equal_row_by_row_ones() {
        // Past stream::STREAM_MIN_BYTES and split across threads.
        let (rows, dim) = (2100, 1000);
        let x = uniform(rows * dim, 7, 20.0);
        let dy = uniform(rows * dim, 8, 1.0);
        for log in [false, true] {
            let (mut y, mut dx) = (vec![0.0; x.len()], vec![0.0; x.len()]);
            let (f, b): (Forward, Backward) = if log {
                (log_softmax_forward, log_softmax_backward)
            } else {
                (softmax_forward, softmax_backward)
            };
            f(&x, &mut y, rows, dim, 1);
            b(&y, &dy, &mut dx, rows, dim, 1);
            for r in (0..rows).step_by(97) {
                let row = r * dim..(r + 1) * dim;
                let (mut y1, mut dx1) = (vec![0.0; dim], vec![0.0; dim]);
                f(&x[row.clone()], &mut y1, 1, dim, 1);
                b(&y1, &dy[row.clone()], &mut dx1, 1, dim, 1);
                assert_eq!(&y[row.clone()], &y1[..], "row {r} log {log}");
                assert_eq!(&dx[row], &dx1[..], "row {r} log {log}");
            }
        }
    }

    type Forward = fn(&[f32], &mut [f32], usize, usize, usize);
    type Backward = fn(&[f32], &[f32], &mut [f32], usize, usize, usize);

    #[test]
    fn softmax_matches_the_definition_at_every_level() {
        let layouts = [
            (3, 17, 1),
            (2, 5, 7),
            (1, 33, 16),
            (5, 1, 3),
            (200, 1000, 1),
            (4, 64, 300),
        ];
        for isa in supported() {
            with_isa(isa, || {
                for (k, &(outer, dim, inner)) in layouts.iter().enumerate() {
                    for scale in [5.0, 1e4] {
                        let x = uniform(outer * dim * inner, k as u64, scale);
                        let dy = uniform(x.len(), 50 + k as u64, 1.0);
                        for log in [false, true] {
                            let (wy, wdx) = reference(&x, &dy, (outer, dim, inner), log);
                            let mut y = vec![0.0; x.len()];
                            let mut dx = vec![0.0; x.len()];
                            if log {
                                log_softmax_forward(&x, &mut y, outer, dim, inner);
                                log_softmax_backward(&y, &dy, &mut dx, outer, dim, inner);
                            } else {
                                softmax_forward(&x, &mut y, outer, dim, inner);
                                softmax_backward(&y, &dy, &mut dx, outer, dim, inner);
                            }
                            // log-softmax of 1e4 logits is ~1e4: float32 resolves it to ~1e-3
                            let tol = if log { 2e-6 * scale as f64 } else { 1e-6 };
                            for (i, (&a, &b)) in y.iter().zip(&wy).enumerate() {
                                assert!(
                                    (a as f64 - b).abs() <= tol + 1e-5 * b.abs(),
                                    "{isa} y[{i}] {a} vs {b}, {outer}×{dim}×{inner} log {log}"
                                );
                            }
                            for (i, (&a, &b)) in dx.iter().zip(&wdx).enumerate() {
                                assert!(
                                    (a as f64 - b).abs() <= 1e-5 + 1e-4 * b.abs(),
                                    "{isa} dx[{i}] {a} vs {b}, {outer}×{dim}×{inner} log {log}"
                                );
                            }
                        }
                    }
                }
            });
        }
    }
}
