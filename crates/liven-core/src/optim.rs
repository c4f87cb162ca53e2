//! Optimiser updates and gradient clipping: one fused pass over each parameter.
//!
//! The update rules are PyTorch 1.13's single-tensor implementations (`torch/optim/*.py`), in
//! the same float32 operation order; the per-step scalars (bias corrections, decayed learning
//! rate) are computed once per call in float64, as PyTorch computes them in Python floats, and
//! rounded to float32 as PyTorch's kernels round a Python scalar:
//!
//! - SGD: `d = g + wd·p`; with momentum `buf = d` on the first step, else
//!   `buf = momentum·buf + (1 − dampening)·d`; `d = d + momentum·buf` (Nesterov) or `d = buf`;
//!   `p = p − lr·d`.
//! - Adagrad: `g = g + wd·p`; `sum = sum + g·g`; `p = p − clr·g / (√sum + eps)` with
//!   `clr = lr / (1 + (step − 1)·lr_decay)`.
//! - Adam: `g = g + wd·p`; AdamW instead `p = p·(1 − lr·wd)`; `m = β1·m + (1 − β1)·g`;
//!   `v = β2·v + (1 − β2)·g·g`; `p = p − (lr / (1 − β1^t))·m / (√v / √(1 − β2^t) + eps)`.
//!
//! Each update reads and writes every array once, in parallel chunks for large parameters.
//! The caller checks the gradients first ([`non_finite_index`]) so that a NaN or infinity is
//! reported instead of written into the weights. Every function panics when the slices'
//! lengths disagree: the N-API glue checks them first.

use crate::multiversion;
use crate::simd;
use crate::threads::{self, GRAIN};

/// Accumulator lanes of the reductions, fixed so every instruction set adds in the same order.
const LANES: usize = 16;

fn check_len(kernel: &str, what: &str, got: usize, want: usize) {
    assert!(
        got == want,
        "{kernel}: {what} has {got} elements, expected {want}"
    );
}

/// The chunk length for `len` elements: the whole array when it is small or there is one
/// thread, else a few chunks per thread.
fn chunk_len(len: usize, threads: usize) -> usize {
    if threads <= 1 || !threads::worth_splitting(len) {
        len.max(1)
    } else {
        len.div_ceil(threads * 4).max(GRAIN)
    }
}

/// Calls `f(start, [chunk of each array])` over aligned chunks of `N` arrays of one length: on
/// the calling thread when there is one chunk (no look at the pool for small parameters), split
/// with the pool's threads otherwise.
fn for_each_chunks<const N: usize>(
    arrays: [&mut [f32]; N],
    f: impl Fn(usize, [&mut [f32]; N]) + Sync + Send,
) {
    let len = arrays[0].len();
    let chunk = chunk_len(len, threads::num_threads());
    if len <= chunk {
        return f(0, arrays);
    }
    let mut iters = arrays.map(|a| a.chunks_mut(chunk));
    let mut work = Vec::with_capacity(len.div_ceil(chunk));
    loop {
        let next = iters.each_mut().map(|it| it.next());
        if next[0].is_none() {
            break;
        }
        work.push(next.map(|c| c.expect("arrays of one length")));
    }
    threads::map_tasks(work, |i, c| f(i * chunk, c));
}

/// `f(start, chunk)` over read-only chunks of `x`, results in chunk order.
fn map_read<R: Send>(x: &[f32], f: impl Fn(usize, &[f32]) -> R + Sync + Send) -> Vec<R> {
    let chunk = chunk_len(x.len(), threads::num_threads());
    if x.len() <= chunk {
        return vec![f(0, x)];
    }
    threads::map_tasks(x.chunks(chunk).collect(), |i, c| f(i * chunk, c))
}

// ---------------------------------------------------------------- SGD

/// SGD's hyperparameters, as `torch.optim.SGD` takes them.
#[derive(Clone, Copy, Debug)]
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
}

#[derive(Clone, Copy)]
struct SgdScalars {
    neg_lr: f32,
    momentum: f32,
    one_minus_dampening: f32,
    weight_decay: f32,
    nesterov: bool,
    /// The first momentum step copies the gradient into the buffer.
    first: bool,
}

multiversion! {
    fn sgd_plain_run(p: &mut [f32], g: &[f32], s: SgdScalars) {
        let decay = s.weight_decay != 0.0;
        for (p, &g) in p.iter_mut().zip(g) {
            let d = if decay { g + s.weight_decay * *p } else { g };
            *p += s.neg_lr * d;
        }
    }
}

multiversion! {
    fn sgd_momentum_run(p: &mut [f32], g: &[f32], buf: &mut [f32], s: SgdScalars) {
        let decay = s.weight_decay != 0.0;
        for ((p, &g), b) in p.iter_mut().zip(g).zip(buf.iter_mut()) {
            let d = if decay { g + s.weight_decay * *p } else { g };
            *b = if s.first { d } else { *b * s.momentum + s.one_minus_dampening * d };
            let d = if s.nesterov { d + s.momentum * *b } else { *b };
            *p += s.neg_lr * d;
        }
    }
}

/// One SGD step. `momentum_buffer` is required when `hp.momentum != 0`; `first` says that it
/// has not been filled yet (PyTorch starts the buffer as a copy of the gradient).
pub fn sgd_step(
    param: &mut [f32],
    grad: &[f32],
    momentum_buffer: Option<&mut [f32]>,
    hp: Sgd,
    first: bool,
) {
    check_len("sgd_step", "grad", grad.len(), param.len());
    let isa = simd::active();
    let s = SgdScalars {
        neg_lr: -hp.lr as f32,
        momentum: hp.momentum as f32,
        one_minus_dampening: (1.0 - hp.dampening) as f32,
        weight_decay: hp.weight_decay as f32,
        nesterov: hp.nesterov,
        first,
    };
    match momentum_buffer {
        Some(buf) if hp.momentum != 0.0 => {
            check_len("sgd_step", "momentum buffer", buf.len(), param.len());
            for_each_chunks([param, buf], |st, [p, b]| {
                sgd_momentum_run(isa, p, &grad[st..st + p.len()], b, s)
            });
        }
        None if hp.momentum != 0.0 => panic!("sgd_step: momentum needs a momentum buffer"),
        _ => for_each_chunks([param], |st, [p]| {
            sgd_plain_run(isa, p, &grad[st..st + p.len()], s)
        }),
    }
}

// ---------------------------------------------------------------- Adagrad

#[derive(Clone, Copy)]
struct AdagradScalars {
    neg_clr: f32,
    weight_decay: f32,
    eps: f32,
}

multiversion! {
    fn adagrad_run(p: &mut [f32], g: &[f32], sum: &mut [f32], s: AdagradScalars) {
        let decay = s.weight_decay != 0.0;
        for ((p, &g), sum) in p.iter_mut().zip(g).zip(sum.iter_mut()) {
            let g = if decay { g + s.weight_decay * *p } else { g };
            *sum += g * g;
            let std = sum.sqrt() + s.eps;
            *p += s.neg_clr * (g / std);
        }
    }
}

/// Adagrad's hyperparameters, as `torch.optim.Adagrad` takes them (the initial accumulator
/// value is the caller's: it fills `state_sum` before the first step).
#[derive(Clone, Copy, Debug)]
pub struct Adagrad {
    pub lr: f64,
    pub lr_decay: f64,
    pub weight_decay: f64,
    pub eps: f64,
}

/// One Adagrad step; `step` counts from 1 (this call's step).
pub fn adagrad_step(
    param: &mut [f32],
    grad: &[f32],
    state_sum: &mut [f32],
    hp: Adagrad,
    step: u64,
) {
    let Adagrad {
        lr,
        lr_decay,
        weight_decay,
        eps,
    } = hp;
    check_len("adagrad_step", "grad", grad.len(), param.len());
    check_len("adagrad_step", "state sum", state_sum.len(), param.len());
    let isa = simd::active();
    let clr = lr / (1.0 + (step as f64 - 1.0) * lr_decay);
    let s = AdagradScalars {
        neg_clr: -clr as f32,
        weight_decay: weight_decay as f32,
        eps: eps as f32,
    };
    for_each_chunks([param, state_sum], |st, [p, sum]| {
        adagrad_run(isa, p, &grad[st..st + p.len()], sum, s)
    });
}

// ---------------------------------------------------------------- Adam / AdamW

/// Adam's hyperparameters, as `torch.optim.Adam` (or, `decoupled`, `AdamW`) takes them.
#[derive(Clone, Copy, Debug)]
pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// AdamW: decay the weights directly instead of adding `wd·p` to the gradient.
    pub decoupled: bool,
}

#[derive(Clone, Copy)]
struct AdamScalars {
    /// `1 − lr·wd` (AdamW) or 1.
    decay_factor: f32,
    /// `wd` (Adam's L2 term) or 0.
    l2: f32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    bias_correction2_sqrt: f32,
    eps: f32,
    neg_step_size: f32,
}

impl AdamScalars {
    /// PyTorch's Python-float arithmetic for step `step` (from 1).
    fn new(hp: Adam, step: u64) -> Self {
        let t = step as f64;
        let bias_correction1 = 1.0 - hp.beta1.powf(t);
        let bias_correction2 = 1.0 - hp.beta2.powf(t);
        AdamScalars {
            decay_factor: if hp.decoupled {
                (1.0 - hp.lr * hp.weight_decay) as f32
            } else {
                1.0
            },
            l2: if hp.decoupled {
                0.0
            } else {
                hp.weight_decay as f32
            },
            beta1: hp.beta1 as f32,
            one_minus_beta1: (1.0 - hp.beta1) as f32,
            beta2: hp.beta2 as f32,
            one_minus_beta2: (1.0 - hp.beta2) as f32,
            bias_correction2_sqrt: bias_correction2.sqrt() as f32,
            eps: hp.eps as f32,
            neg_step_size: -(hp.lr / bias_correction1) as f32,
        }
    }
}

multiversion! {
    fn adam_run(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: AdamScalars) {
        let l2 = s.l2 != 0.0;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = if l2 { g + s.l2 * *p } else { g };
            let param = *p * s.decay_factor;
            *m = *m * s.beta1 + s.one_minus_beta1 * g;
            *v = *v * s.beta2 + s.one_minus_beta2 * g * g;
            let denom = v.sqrt() / s.bias_correction2_sqrt + s.eps;
            *p = param + s.neg_step_size * (*m / denom);
        }
    }
}

/// One Adam (or AdamW) step over a parameter and its moments; `step` counts from 1 (this
/// call's step).
pub fn adam_step(
    param: &mut [f32],
    grad: &[f32],
    exp_avg: &mut [f32],
    exp_avg_sq: &mut [f32],
    hp: Adam,
    step: u64,
) {
    check_len("adam_step", "grad", grad.len(), param.len());
    check_len("adam_step", "exp_avg", exp_avg.len(), param.len());
    check_len("adam_step", "exp_avg_sq", exp_avg_sq.len(), param.len());
    assert!(step >= 1, "adam_step: steps count from 1");
    let isa = simd::active();
    let s = AdamScalars::new(hp, step);
    for_each_chunks([param, exp_avg, exp_avg_sq], |st, [p, m, v]| {
        adam_run(isa, p, &grad[st..st + p.len()], m, v, s)
    });
}

// ---------------------------------------------------------------- checks and clipping

/// Elements per block of the non-finite search: small enough to stop soon after a bad value,
/// large enough that the vectorised test dominates.
const SCAN_BLOCK: usize = 1024;

multiversion! {
    /// Whether every element is finite: `x·0` is 0 for finite `x` and NaN for ±∞ and NaN.
    fn all_finite_run(x: &[f32]) -> bool {
        let mut acc = [0.0f32; LANES];
        let mut chunks = x.chunks_exact(LANES);
        for c in &mut chunks {
            for l in 0..LANES {
                acc[l] += c[l] * 0.0;
            }
        }
        for (l, &v) in chunks.remainder().iter().enumerate() {
            acc[l] += v * 0.0;
        }
        acc.iter().sum::<f32>() == 0.0
    }
}

/// The index of the first NaN or infinity in `x`, if any.
pub fn non_finite_index(x: &[f32]) -> Option<usize> {
    let isa = simd::active();
    map_read(x, |start, chunk| {
        let mut offset = 0;
        for block in chunk.chunks(SCAN_BLOCK) {
            if !all_finite_run(isa, block) {
                let i = block.iter().position(|v| !v.is_finite());
                return i.map(|i| start + offset + i);
            }
            offset += block.len();
        }
        None
    })
    .into_iter()
    .flatten()
    .next()
}

multiversion! {
    fn sum_squares_run(x: &[f32]) -> f64 {
        let mut acc = [0.0f64; LANES];
        let mut chunks = x.chunks_exact(LANES);
        for c in &mut chunks {
            for l in 0..LANES {
                let v = c[l] as f64;
                acc[l] += v * v;
            }
        }
        for (l, &v) in chunks.remainder().iter().enumerate() {
            acc[l] += v as f64 * v as f64;
        }
        acc.iter().sum()
    }
}

/// Σ x², accumulated in float64 (chunk partial sums added in chunk order).
pub fn sum_squares(x: &[f32]) -> f64 {
    let isa = simd::active();
    map_read(x, |_, c| sum_squares_run(isa, c)).iter().sum()
}

multiversion! {
    fn max_abs_run(x: &[f32]) -> f32 {
        let mut acc = [0.0f32; LANES];
        let mut chunks = x.chunks_exact(LANES);
        // NaN wins, as in torch.max: once a lane holds NaN, `a > NaN` is false and it stays.
        let step = |m: f32, v: f32| {
            let a = v.abs();
            if a > m || a.is_nan() { a } else { m }
        };
        for c in &mut chunks {
            for l in 0..LANES {
                acc[l] = step(acc[l], c[l]);
            }
        }
        for (l, &v) in chunks.remainder().iter().enumerate() {
            acc[l] = step(acc[l], v);
        }
        acc.into_iter().fold(0.0, step)
    }
}

/// max |x| (0 for an empty array); NaN if any element is NaN.
pub fn max_abs(x: &[f32]) -> f32 {
    let isa = simd::active();
    map_read(x, |_, c| max_abs_run(isa, c))
        .into_iter()
        .fold(0.0, |m, v| if v > m || v.is_nan() { v } else { m })
}

multiversion! {
    fn scale_run(x: &mut [f32], c: f32) {
        for v in x.iter_mut() {
            *v *= c;
        }
    }
}

/// x = c·x in place (gradient-norm clipping).
pub fn scale_in_place(x: &mut [f32], c: f32) {
    let isa = simd::active();
    for_each_chunks([x], |_, [x]| scale_run(isa, x, c));
}

multiversion! {
    fn clamp_run(x: &mut [f32], lo: f32, hi: f32) {
        for v in x.iter_mut() {
            // NaN fails both tests and passes through, as in torch.clamp.
            *v = if *v < lo { lo } else if *v > hi { hi } else { *v };
        }
    }
}

/// x = min(max(x, lo), hi) in place (gradient-value clipping); NaN stays NaN.
pub fn clamp_in_place(x: &mut [f32], lo: f32, hi: f32) {
    let isa = simd::active();
    for_each_chunks([x], |_, [x]| clamp_run(isa, x, lo, hi));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{supported, with_isa};
    use crate::testutil::uniform;

    /// Lengths around the vector widths and past the parallel threshold.
    const LENS: [usize; 7] = [0, 1, 15, 16, 17, 1000, 3 * GRAIN + 7];

    fn at_every_level(check: impl Fn()) {
        for isa in supported() {
            with_isa(isa, &check);
        }
    }

    fn close(a: &[f32], b: &[f64], what: &str) {
        assert_eq!(a.len(), b.len());
        for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
            let tol = 1e-6 + 1e-5 * y.abs();
            assert!(
                (x as f64 - y).abs() <= tol,
                "{what}: element {i} is {x}, expected {y} ({})",
                simd::active()
            );
        }
    }

    #[test]
    fn sgd_matches_the_rule_in_float64() {
        let configs = [
            (0.0, 0.0, 0.0, false),
            (0.9, 0.0, 0.0, false),
            (0.9, 0.3, 0.01, false),
            (0.8, 0.0, 0.05, true),
        ];
        at_every_level(|| {
            for len in LENS {
                for (momentum, dampening, weight_decay, nesterov) in configs {
                    let hp = Sgd {
                        lr: 0.1,
                        momentum,
                        dampening,
                        weight_decay,
                        nesterov,
                    };
                    let mut p = uniform(len, 1, 2.0);
                    let mut buf = vec![0.0; len];
                    let mut want_p: Vec<f64> = p.iter().map(|&v| v as f64).collect();
                    let mut want_b = vec![0.0f64; len];
                    for step in 0..3 {
                        let g = uniform(len, 10 + step, 2.0);
                        sgd_step(&mut p, &g, Some(&mut buf), hp, step == 0);
                        for i in 0..len {
                            let d = g[i] as f64 + weight_decay * want_p[i];
                            let mut d2 = d;
                            if momentum != 0.0 {
                                want_b[i] = if step == 0 {
                                    d
                                } else {
                                    momentum * want_b[i] + (1.0 - dampening) * d
                                };
                                d2 = if nesterov {
                                    d + momentum * want_b[i]
                                } else {
                                    want_b[i]
                                };
                            }
                            want_p[i] -= 0.1 * d2;
                        }
                    }
                    close(&p, &want_p, &format!("sgd {hp:?} params, {len}"));
                    if momentum != 0.0 {
                        close(&buf, &want_b, "sgd momentum buffer");
                    }
                }
            }
        });
    }

    #[test]
    fn adagrad_matches_the_rule_in_float64() {
        at_every_level(|| {
            for len in LENS {
                let mut p = uniform(len, 2, 2.0);
                let mut sum = vec![0.1; len];
                let mut want_p: Vec<f64> = p.iter().map(|&v| v as f64).collect();
                let mut want_s = vec![0.1f32 as f64; len];
                for step in 1..=3u64 {
                    let g = uniform(len, 20 + step, 2.0);
                    let hp = Adagrad {
                        lr: 0.05,
                        lr_decay: 0.1,
                        weight_decay: 0.01,
                        eps: 1e-10,
                    };
                    adagrad_step(&mut p, &g, &mut sum, hp, step);
                    let clr = 0.05 / (1.0 + (step as f64 - 1.0) * 0.1);
                    for i in 0..len {
                        let g = g[i] as f64 + 0.01 * want_p[i];
                        want_s[i] += g * g;
                        want_p[i] -= clr * g / (want_s[i].sqrt() + 1e-10);
                    }
                }
                close(&p, &want_p, "adagrad params");
                close(&sum, &want_s, "adagrad sums");
            }
        });
    }

    #[test]
    fn adam_and_adamw_match_the_rule_in_float64() {
        at_every_level(|| {
            for len in LENS {
                for decoupled in [false, true] {
                    let hp = Adam {
                        lr: 0.01,
                        beta1: 0.8,
                        beta2: 0.99,
                        eps: 1e-6,
                        weight_decay: 0.1,
                        decoupled,
                    };
                    let mut p = uniform(len, 3, 2.0);
                    let (mut m, mut v) = (vec![0.0; len], vec![0.0; len]);
                    let mut want_p: Vec<f64> = p.iter().map(|&x| x as f64).collect();
                    let (mut wm, mut wv) = (vec![0.0f64; len], vec![0.0f64; len]);
                    for step in 1..=3u64 {
                        let g = uniform(len, 30 + step, 2.0);
                        adam_step(&mut p, &g, &mut m, &mut v, hp, step);
                        let t = step as i32;
                        let (bc1, bc2) = (1.0 - 0.8f64.powi(t), 1.0 - 0.99f64.powi(t));
                        for i in 0..len {
                            let mut g = g[i] as f64;
                            if decoupled {
                                want_p[i] *= 1.0 - 0.01 * 0.1;
                            } else {
                                g += 0.1 * want_p[i];
                            }
                            wm[i] = 0.8 * wm[i] + 0.2 * g;
                            wv[i] = 0.99 * wv[i] + 0.01 * g * g;
                            let denom = wv[i].sqrt() / bc2.sqrt() + 1e-6;
                            want_p[i] -= 0.01 / bc1 * wm[i] / denom;
                        }
                    }
                    close(&p, &want_p, &format!("adam (decoupled {decoupled}) params"));
                    close(&m, &wm, "adam first moment");
                    close(&v, &wv, "adam second moment");
                }
            }
        });
    }

    #[test]
    fn non_finite_values_are_found_at_their_index() {
        at_every_level(|| {
            for len in [1usize, 17, 5000, 3 * GRAIN + 7] {
                let mut x = uniform(len, 4, 2.0);
                assert_eq!(non_finite_index(&x), None);
                for (at, bad) in [
                    (len - 1, f32::NAN),
                    (len / 2, f32::INFINITY),
                    (0, -f32::INFINITY),
                ] {
                    x[at] = bad;
                    assert_eq!(non_finite_index(&x), Some(at), "{len} elements");
                }
            }
            assert_eq!(non_finite_index(&[]), None);
        });
    }

    #[test]
    fn reductions_match_float64() {
        at_every_level(|| {
            for len in LENS {
                let x = uniform(len, 5, 2.0);
                let want: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
                assert!((sum_squares(&x) - want).abs() <= 1e-9 * want.max(1.0));
                let want_max = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                assert_eq!(max_abs(&x), want_max);
                if len > 20 {
                    let mut y = x.clone();
                    y[len - 3] = f32::NAN;
                    assert!(max_abs(&y).is_nan());
                    assert!(sum_squares(&y).is_nan());
                }
            }
        });
    }

    #[test]
    fn scale_and_clamp() {
        at_every_level(|| {
            for len in LENS {
                let x = uniform(len, 6, 2.0);
                let mut y = x.clone();
                scale_in_place(&mut y, 0.5);
                assert!(y.iter().zip(&x).all(|(a, b)| *a == b * 0.5));
                let mut z = x.clone();
                if len > 0 {
                    z[0] = f32::NAN;
                }
                clamp_in_place(&mut z, -0.5, 0.25);
                for (i, (a, b)) in z.iter().zip(&x).enumerate() {
                    if i == 0 {
                        assert!(a.is_nan());
                    } else {
                        assert_eq!(*a, b.clamp(-0.5, 0.25));
                    }
                }
            }
        });
    }
}
