//! Cross-entropy (with label smoothing) over `[N, C]` logits and class indices, and the mean
//! squared error; the forwards return the *sum* of the per-sample losses (the caller divides
//! for a mean), the backwards scale by `scale` (1/N or 1/len for a mean, 1 for a sum).
//!
//! Cross-entropy with smoothing ε, as PyTorch's: with `logp = log_softmax(x)`,
//! `loss = (1 - ε)·(-logp[t]) + (ε/C)·Σ_c(-logp[c])`, and `dx = softmax(x) - (1-ε)·onehot(t) - ε/C`.
//! The forward saves each row's maximum and log-sum-exp (of `x - max`) for the backward, which
//! recomputes `softmax = exp((x - max) - lse)` as PyTorch's does from log-softmax.

use crate::multiversion;
use crate::pool::for_plane_groups;
use crate::simd;
use crate::softmax::exp_nonpositive;
use crate::stream::{fill_blocks, should_stream};
use crate::threads::{self, GRAIN};

const LANES: usize = 16;

#[inline(always)]
fn lanes(x: &[f32], f: impl Fn(f32) -> f32, combine: impl Fn(f32, f32) -> f32, init: f32) -> f32 {
    let mut acc = [init; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            acc[l] = combine(acc[l], f(c[l]));
        }
    }
    for (l, &v) in chunks.remainder().iter().enumerate() {
        acc[l] = combine(acc[l], f(v));
    }
    acc.iter().fold(init, |a, &b| combine(a, b))
}

multiversion! {
    /// Per row: loss into `loss`, (max, log-sum-exp) into `stats`.
    #[allow(clippy::too_many_arguments)]
    fn cross_entropy_rows(x: &[f32], target: &[i32], stats: &mut [f32], loss: &mut [f32], c: usize, smoothing: f32) {
        for (((x, &t), st), loss) in x.chunks_exact(c).zip(target).zip(stats.chunks_exact_mut(2)).zip(loss.iter_mut()) {
            let m = lanes(x, |v| v, |a, b| if b > a { b } else { a }, f32::NEG_INFINITY);
            let lse = lanes(x, |v| exp_nonpositive(v - m), |a, b| a + b, 0.0).ln();
            let nll = lse - (x[t as usize] - m);
            *loss = if smoothing > 0.0 {
                let mean = lanes(x, |v| v - m, |a, b| a + b, 0.0) / c as f32;
                (1.0 - smoothing) * nll + smoothing * (lse - mean)
            } else {
                nll
            };
            st[0] = m;
            st[1] = lse;
        }
    }
}

multiversion! {
    #[allow(clippy::too_many_arguments)]
    fn cross_entropy_rows_backward(x: &[f32], target: &[i32], stats: &[f32], dx: &mut [f32], c: usize, smoothing: f32, scale: f32) {
        let off = smoothing / c as f32;
        for (((x, &t), st), dx) in x.chunks_exact(c).zip(target).zip(stats.chunks_exact(2)).zip(dx.chunks_exact_mut(c)) {
            let (m, lse) = (st[0], st[1]);
            for (dx, &v) in dx.iter_mut().zip(x) {
                *dx = (exp_nonpositive((v - m) - lse) - off) * scale;
            }
            dx[t as usize] -= (1.0 - smoothing) * scale;
        }
    }
}

fn check_ce(kernel: &str, x: usize, target: &[i32], n: usize, c: usize, smoothing: f32) {
    assert!(
        x == n * c && target.len() == n && c > 0,
        "{kernel}: x has {x} elements and target {}, expected {n} × {c} and {n}",
        target.len()
    );
    if let Some(bad) = target.iter().find(|&&t| t < 0 || t as usize >= c) {
        panic!("{kernel}: class index {bad} is out of range for {c} classes");
    }
    assert!(
        (0.0..=1.0).contains(&smoothing),
        "{kernel}: label smoothing {smoothing} is outside [0, 1]"
    );
}

/// The sum over rows of the cross-entropy losses; writes each row's (max, log-sum-exp) into
/// `stats` (2·N) for the backward.
pub fn cross_entropy_forward(
    x: &[f32],
    target: &[i32],
    stats: &mut [f32],
    n: usize,
    c: usize,
    smoothing: f32,
) -> f64 {
    check_ce("cross_entropy_forward", x.len(), target, n, c, smoothing);
    assert!(
        stats.len() == 2 * n,
        "cross_entropy_forward: stats has {} elements, expected {}",
        stats.len(),
        2 * n
    );
    let isa = simd::active();
    let mut loss = vec![0.0f32; n];
    for_plane_groups(n, c, stats, 2, &mut loss, 1, |r, st, loss| {
        let (x, t) = (&x[r.start * c..r.end * c], &target[r.clone()]);
        cross_entropy_rows(isa, x, t, st, loss, c, smoothing);
    });
    loss.iter().map(|&l| l as f64).sum()
}

/// Writes `dx = scale · (softmax(x) - (1-ε)·onehot - ε/C)` from the forward's `stats`.
#[allow(clippy::too_many_arguments)]
pub fn cross_entropy_backward(
    x: &[f32],
    target: &[i32],
    stats: &[f32],
    dx: &mut [f32],
    n: usize,
    c: usize,
    smoothing: f32,
    scale: f32,
) {
    check_ce("cross_entropy_backward", x.len(), target, n, c, smoothing);
    assert!(
        stats.len() == 2 * n && dx.len() == x.len(),
        "cross_entropy_backward: stats has {} elements and dx {}, expected {} and {}",
        stats.len(),
        dx.len(),
        2 * n,
        x.len()
    );
    let isa = simd::active();
    let mut none: [u8; 0] = [];
    for_plane_groups(n, c, dx, c, &mut none, 0, |r, dx, _| {
        let (x, t, st) = (
            &x[r.start * c..r.end * c],
            &target[r.clone()],
            &stats[2 * r.start..2 * r.end],
        );
        cross_entropy_rows_backward(isa, x, t, st, dx, c, smoothing, scale);
    });
}

multiversion! {
    #[allow(clippy::too_many_arguments)]
    fn squared_error_sum(x: &[f32], t: &[f32]) -> f32 {
        let mut acc = [0.0f32; LANES];
        let mut cx = x.chunks_exact(LANES);
        let mut ct = t.chunks_exact(LANES);
        for (x, t) in (&mut cx).zip(&mut ct) {
            for l in 0..LANES {
                let d = x[l] - t[l];
                acc[l] += d * d;
            }
        }
        for (l, (&x, &t)) in cx.remainder().iter().zip(ct.remainder()).enumerate() {
            let d = x - t;
            acc[l] += d * d;
        }
        acc.iter().sum()
    }
}

multiversion! {
    #[allow(clippy::too_many_arguments)]
    fn scaled_difference(x: &[f32], t: &[f32], dx: &mut [f32], scale: f32) {
        for ((dx, &x), &t) in dx.iter_mut().zip(x).zip(t) {
            *dx = (x - t) * scale;
        }
    }
}

/// Σ (x - t)²; blocks of a fixed size are summed in f64 in order, so the result does not depend
/// on the thread count.
pub fn mse_forward(x: &[f32], t: &[f32]) -> f64 {
    assert!(
        x.len() == t.len(),
        "mse_forward: target has {} elements, expected {}",
        t.len(),
        x.len()
    );
    let isa = simd::active();
    let blocks: Vec<_> = x.chunks(GRAIN).zip(t.chunks(GRAIN)).collect();
    let sums = threads::map_tasks(blocks, |_, (x, t)| squared_error_sum(isa, x, t));
    sums.iter().map(|&s| s as f64).sum()
}

/// `dx = (x - t) · scale` (scale = 2/len for the mean, 2 for the sum).
pub fn mse_backward(x: &[f32], t: &[f32], dx: &mut [f32], scale: f32) {
    assert!(
        x.len() == t.len() && dx.len() == x.len(),
        "mse_backward: target has {} elements and dx {}, expected {}",
        t.len(),
        dx.len(),
        x.len()
    );
    let isa = simd::active();
    let stream = should_stream(dx.len());
    threads::for_each_chunk(dx, GRAIN, |s, chunk| {
        fill_blocks(chunk, stream, |off, block| {
            let r = s + off..s + off + block.len();
            scaled_difference(isa, &x[r.clone()], &t[r], block, scale)
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{supported, with_isa};
    use crate::testutil::uniform;

    #[test]
    fn cross_entropy_matches_the_definition_at_every_level() {
        for isa in supported() {
            with_isa(isa, || {
                for &(n, c, eps, scale) in &[
                    (7, 5, 0.0, 3.0),
                    (9, 33, 0.2, 10.0),
                    (300, 1000, 0.1, 4.0),
                    (4, 9, 0.0, 1e4),
                ] {
                    let x = uniform(n * c, c as u64, scale);
                    let t: Vec<i32> = (0..n).map(|i| ((i * 7 + 3) % c) as i32).collect();
                    let mut stats = vec![0.0; 2 * n];
                    let total = cross_entropy_forward(&x, &t, &mut stats, n, c, eps);
                    let mut dx = vec![0.0; n * c];
                    cross_entropy_backward(&x, &t, &stats, &mut dx, n, c, eps, 0.5);
                    let (mut want, eps) = (0.0f64, eps as f64);
                    for r in 0..n {
                        let row: Vec<f64> =
                            x[r * c..(r + 1) * c].iter().map(|&v| v as f64).collect();
                        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                        let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
                        let logp: Vec<f64> = row.iter().map(|v| v - lse).collect();
                        want += -(1.0 - eps) * logp[t[r] as usize]
                            - eps / c as f64 * logp.iter().sum::<f64>();
                        for j in 0..c {
                            let hit = if j == t[r] as usize { 1.0 - eps } else { 0.0 };
                            let g = 0.5 * (logp[j].exp() - hit - eps / c as f64);
                            assert!((dx[r * c + j] as f64 - g).abs() < 1e-6, "{isa} dx {n}×{c}");
                        }
                    }
                    assert!(
                        (total - want).abs() < 1e-5 * want.abs().max(1.0),
                        "{isa} {n}×{c}: {total} vs {want}"
                    );
                }
            });
        }
    }

    #[test]
    fn mse_matches_the_definition() {
        for isa in supported() {
            with_isa(isa, || {
                for len in [0, 1, 17, 3 * GRAIN + 5] {
                    let x = uniform(len, 1, 2.0);
                    let t = uniform(len, 2, 2.0);
                    let want: f64 = x
                        .iter()
                        .zip(&t)
                        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                        .sum();
                    assert!((mse_forward(&x, &t) - want).abs() <= 1e-5 * want.max(1.0));
                    let mut dx = vec![0.0; len];
                    mse_backward(&x, &t, &mut dx, 2.0);
                    assert!(dx
                        .iter()
                        .zip(x.iter().zip(&t))
                        .all(|(&d, (&a, &b))| d == (a - b) * 2.0));
                }
            });
        }
    }

    #[test]
    #[should_panic(expected = "class index 5 is out of range for 5 classes")]
    fn a_class_index_out_of_range_panics() {
        cross_entropy_forward(&[0.0; 10], &[0, 5], &mut [0.0; 4], 2, 5, 0.0);
    }
}
