//! BatchNorm, GroupNorm, LayerNorm and L2Norm: forward and backward.
//!
//! Layouts, row-major:
//! - BatchNorm: `[outer, channels, inner]` (`[N, C]`, `[N, C, L]`, `[N, C, H·W]`), statistics
//!   per channel over `outer × inner` values.
//! - GroupNorm: the same layout, statistics per (sample, group) over the group's contiguous
//!   `channels / groups × inner` values, affine per channel.
//! - LayerNorm: rows of `d` values, statistics per row, affine per element of the row.
//! - L2Norm: `[outer, d, inner]`, the norm taken along `d` at each (outer, inner) position,
//!   scaled by `weight[d]`.
//!
//! Conventions, as PyTorch's: normalisation uses the biased variance and
//! `invstd = 1 / sqrt(var + eps)`; the kernels return `var` (biased), the modules derive the
//! unbiased running variance. Statistics are accumulated in one read: sums of `x - shift` and
//! `(x - shift)²` with `shift` a value of the same set (so the cancellation in
//! `E[d²] - E[d]²` stays small for data far from 0), in `f32` lanes within blocks of
//! [`BLOCK`] values and in `f64` across blocks. Each backward is fused: one pass computes the
//! two sums it needs, one pass writes `dx`; when a channel's or group's data fits in L2 the
//! second pass reads it from there, so the kernels stream `x`/`dy` from memory once.
//!
//! Parameter gradients are added into `dweight` / `dbias`. Every function panics when the
//! slices' lengths disagree: the N-API glue checks them first.

// Kernels take their slices and shape arguments one by one, as the JS side passes them.
#![allow(clippy::too_many_arguments)]

use crate::multiversion;
use crate::simd::{self, Isa};
use crate::stream::{fill_blocks, should_stream};
use crate::threads::{self, GRAIN};

/// Accumulator lanes of the reductions: fixed, so every instruction set adds in the same order.
const LANES: usize = 16;

/// Values summed in `f32` lanes before the partial sums move to `f64`.
const BLOCK: usize = 4096;

fn check_len(kernel: &str, what: &str, got: usize, want: usize) {
    assert!(
        got == want,
        "{kernel}: {what} has {got} elements, expected {want}"
    );
}

multiversion! {
    /// Σ (x - shift) and Σ (x - shift)² in lanes.
    fn shifted_sums_run(x: &[f32], shift: f32) -> (f32, f32) {
        let mut s = [0.0f32; LANES];
        let mut q = [0.0f32; LANES];
        let mut chunks = x.chunks_exact(LANES);
        for c in &mut chunks {
            for l in 0..LANES {
                let d = c[l] - shift;
                s[l] += d;
                q[l] += d * d;
            }
        }
        for (l, &v) in chunks.remainder().iter().enumerate() {
            let d = v - shift;
            s[l] += d;
            q[l] += d * d;
        }
        (s.iter().sum(), q.iter().sum())
    }
}

multiversion! {
    /// Σ dy and Σ dy · (x - mean) in lanes.
    fn grad_sums_run(x: &[f32], dy: &[f32], mean: f32) -> (f32, f32) {
        let mut s = [0.0f32; LANES];
        let mut q = [0.0f32; LANES];
        let mut xc = x.chunks_exact(LANES);
        let mut gc = dy.chunks_exact(LANES);
        for (x, g) in (&mut xc).zip(&mut gc) {
            for l in 0..LANES {
                s[l] += g[l];
                q[l] += g[l] * (x[l] - mean);
            }
        }
        for (l, (&x, &g)) in xc.remainder().iter().zip(gc.remainder()).enumerate() {
            s[l] += g;
            q[l] += g * (x - mean);
        }
        (s.iter().sum(), q.iter().sum())
    }
}

multiversion! {
    /// y = (x - mean) · scale + bias.
    fn affine_run(x: &[f32], y: &mut [f32], mean: f32, scale: f32, bias: f32) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = (x - mean) * scale + bias;
        }
    }
}

multiversion! {
    /// dx = dy · p + (x - mean) · q + r: every backward here has this form per channel or group.
    fn grad_run(x: &[f32], dy: &[f32], dx: &mut [f32], mean: f32, p: f32, q: f32, r: f32) {
        for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(dy) {
            *dx = g * p + (x - mean) * q + r;
        }
    }
}

/// Σ (x - shift) and Σ (x - shift)², in `f64` across blocks.
fn shifted_sums(isa: Isa, x: &[f32], shift: f32) -> (f64, f64) {
    x.chunks(BLOCK).fold((0.0, 0.0), |(s, q), b| {
        let (bs, bq) = shifted_sums_run(isa, b, shift);
        (s + bs as f64, q + bq as f64)
    })
}

/// Σ dy and Σ dy · (x - mean), in `f64` across blocks.
fn grad_sums(isa: Isa, x: &[f32], dy: &[f32], mean: f32) -> (f64, f64) {
    x.chunks(BLOCK)
        .zip(dy.chunks(BLOCK))
        .fold((0.0, 0.0), |(s, q), (x, g)| {
            let (bs, bq) = grad_sums_run(isa, x, g, mean);
            (s + bs as f64, q + bq as f64)
        })
}

/// Mean and biased variance from shifted sums over `count` values.
fn moments(shift: f32, s: f64, q: f64, count: usize) -> (f64, f64) {
    let m = s / count as f64;
    // Clamped at 0 against rounding, but a NaN (from an infinite input) stays NaN, as in
    // PyTorch: `f64::max` would return 0 and normalise the channel's finite values to ±inf.
    let var = q / count as f64 - m * m;
    (shift as f64 + m, if var < 0.0 { 0.0 } else { var })
}

/// `max(n, eps)` as PyTorch's `clamp_min`: a NaN norm stays NaN (`f32::max` would return eps).
fn clamp_norm(n: f32, eps: f32) -> f32 {
    if n < eps {
        eps
    } else {
        n
    }
}

fn invstd(var: f32, eps: f64) -> f32 {
    (1.0 / (var as f64 + eps).sqrt()) as f32
}

/// Runs `f(first_row, rows)` over `out` split into tasks of whole rows of `row_len`, in
/// parallel when there is enough work, and returns the results in row order.
fn row_tasks<R: Send>(
    out: &mut [f32],
    row_len: usize,
    f: impl Fn(usize, &mut [f32]) -> R + Sync + Send,
) -> Vec<R> {
    if row_len == 0 || out.is_empty() {
        return vec![f(0, out)];
    }
    // Small work never looks at the pool.
    let threads = if out.len() < 2 * GRAIN {
        1
    } else {
        threads::num_threads()
    };
    if threads == 1 {
        return vec![f(0, out)];
    }
    // A few tasks per thread, each at least GRAIN elements, rounded to whole rows.
    let rows = out.len().div_ceil(threads * 4).max(GRAIN).div_ceil(row_len);
    threads::map_tasks(out.chunks_mut(rows * row_len).collect(), |i, chunk| {
        f(i * rows, chunk)
    })
}

/// The planes (runs of `inner` values) of `[outer, channels, inner]` data, grouped by channel.
fn planes_by_channel(data: &mut [f32], channels: usize, inner: usize) -> Vec<Vec<&mut [f32]>> {
    let mut by_channel: Vec<Vec<&mut [f32]>> = (0..channels).map(|_| Vec::new()).collect();
    if inner > 0 {
        for (p, plane) in data.chunks_mut(inner).enumerate() {
            by_channel[p % channels].push(plane);
        }
    }
    by_channel
}

/// Runs `f(channel, planes)` for every channel, in parallel when there is enough work.
fn per_channel<R: Send>(
    planes: Vec<Vec<&mut [f32]>>,
    work: usize,
    f: impl Fn(usize, Vec<&mut [f32]>) -> R + Sync + Send,
) -> Vec<R> {
    if work < 2 * GRAIN {
        return planes
            .into_iter()
            .enumerate()
            .map(|(c, p)| f(c, p))
            .collect();
    }
    threads::map_tasks(planes, f)
}

/// `outer` for `[outer, channels, inner]` data of `len` values; the error says why not.
pub fn norm_layout(len: usize, channels: usize, inner: usize) -> Result<usize, String> {
    let block = channels * inner;
    if block == 0 || !len.is_multiple_of(block) {
        return Err(format!(
            "{len} elements are not a whole number of [{channels} channels × {inner}] blocks"
        ));
    }
    Ok(len / block)
}

fn layout(kernel: &str, len: usize, channels: usize, inner: usize) -> usize {
    norm_layout(len, channels, inner).unwrap_or_else(|e| panic!("{kernel}: {e}"))
}

// [N, C] inputs (inner = 1) have one value per channel per row: their BatchNorm runs along
// rows, vectorised across channels, instead of one call per single-value plane.

multiversion! {
    /// s[c] += x[c] - shift[c] and q[c] += (x[c] - shift[c])² for one row.
    fn row_moments_run(x: &[f32], shift: &[f32], s: &mut [f32], q: &mut [f32]) {
        for (((&x, &k), s), q) in x.iter().zip(shift).zip(s).zip(q) {
            let d = x - k;
            *s += d;
            *q += d * d;
        }
    }
}

multiversion! {
    /// s[c] += dy[c] and q[c] += dy[c] · (x[c] - mean[c]) for one row.
    fn row_grad_sums_run(x: &[f32], dy: &[f32], mean: &[f32], s: &mut [f32], q: &mut [f32]) {
        for ((((&x, &g), &m), s), q) in x.iter().zip(dy).zip(mean).zip(s).zip(q) {
            *s += g;
            *q += g * (x - m);
        }
    }
}

multiversion! {
    /// y[c] = (x[c] - mean[c]) · scale[c] + bias[c] for one row.
    fn row_affine_run(x: &[f32], y: &mut [f32], mean: &[f32], scale: &[f32], bias: &[f32]) {
        for c in 0..y.len().min(x.len()).min(mean.len()).min(scale.len()).min(bias.len()) {
            y[c] = (x[c] - mean[c]) * scale[c] + bias[c];
        }
    }
}

multiversion! {
    /// dx[c] = dy[c] · p[c] + (x[c] - mean[c]) · q[c] + r[c] for one row; `pqr` is [p, q, r].
    fn row_grad_run(x: &[f32], dy: &[f32], dx: &mut [f32], mean: &[f32], pqr: [&[f32]; 3]) {
        let [p, q, r] = pqr;
        let n = dx.len().min(x.len()).min(dy.len()).min(mean.len());
        let n = n.min(p.len()).min(q.len()).min(r.len());
        for c in 0..n {
            dx[c] = dy[c] * p[c] + (x[c] - mean[c]) * q[c] + r[c];
        }
    }
}

/// Per-column sums of `[rows, channels]` data: `f(row, s, q)` adds a row into f32 partials,
/// which move to f64 every [`FLUSH_ROWS`] rows (each column is summed one value per row, with
/// no lanes to spread the rounding).
fn column_sums(
    rows: usize,
    channels: usize,
    mut f: impl FnMut(usize, &mut [f32], &mut [f32]),
) -> (Vec<f64>, Vec<f64>) {
    let (mut s, mut q) = (vec![0.0f64; channels], vec![0.0f64; channels]);
    let (mut bs, mut bq) = (vec![0.0f32; channels], vec![0.0f32; channels]);
    for start in (0..rows).step_by(FLUSH_ROWS) {
        bs.fill(0.0);
        bq.fill(0.0);
        for row in start..rows.min(start + FLUSH_ROWS) {
            f(row, &mut bs, &mut bq);
        }
        for c in 0..channels {
            s[c] += bs[c] as f64;
            q[c] += bq[c] as f64;
        }
    }
    (s, q)
}

/// Writes `[rows, channels]` output row by row with `f(row, out_row)`, in parallel tasks.
fn each_row(out: &mut [f32], channels: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    row_tasks(out, channels, |first, chunk| {
        for (i, row) in chunk.chunks_mut(channels).enumerate() {
            f(first + i, row);
        }
    });
}

/// Training-mode BatchNorm: writes the batch's per-channel `mean` and biased `var`, and
/// `y = (x - mean) / sqrt(var + eps) · weight + bias`.
pub fn batch_norm_forward_train(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    y: &mut [f32],
    mean: &mut [f32],
    var: &mut [f32],
    inner: usize,
    eps: f64,
) {
    const K: &str = "batch_norm_forward_train";
    let channels = weight.len();
    check_len(K, "y", y.len(), x.len());
    check_len(K, "bias", bias.len(), channels);
    check_len(K, "mean", mean.len(), channels);
    check_len(K, "var", var.len(), channels);
    let outer = layout(K, x.len(), channels, inner);
    assert!(outer * inner > 0, "{K}: no values per channel");
    let isa = simd::active();
    if inner == 1 {
        let shift = &x[..channels];
        let (s, q) = column_sums(outer, channels, |n, s, q| {
            row_moments_run(isa, &x[n * channels..][..channels], shift, s, q)
        });
        let mut scale = vec![0.0f32; channels];
        for c in 0..channels {
            let (m, v) = moments(shift[c], s[c], q[c], outer);
            (mean[c], var[c]) = (m as f32, v as f32);
            scale[c] = invstd(var[c], eps) * weight[c];
        }
        let mean = &*mean;
        each_row(y, channels, |n, out| {
            row_affine_run(isa, &x[n * channels..][..channels], out, mean, &scale, bias)
        });
        return;
    }
    let stream = should_stream(y.len());
    let stats = per_channel(
        planes_by_channel(y, channels, inner),
        x.len(),
        |c, planes| {
            let plane = |n: usize| &x[(n * channels + c) * inner..][..inner];
            let shift = plane(0)[0];
            let (s, q) = (0..outer).fold((0.0, 0.0), |(s, q), n| {
                let (ps, pq) = shifted_sums(isa, plane(n), shift);
                (s + ps, q + pq)
            });
            let (m, v) = moments(shift, s, q, outer * inner);
            let (m, v) = (m as f32, v as f32);
            let scale = invstd(v, eps) * weight[c];
            for (n, out) in planes.into_iter().enumerate() {
                let x = plane(n);
                fill_blocks(out, stream, |o, out| {
                    affine_run(isa, &x[o..o + out.len()], out, m, scale, bias[c])
                });
            }
            (m, v)
        },
    );
    for (c, (m, v)) in stats.into_iter().enumerate() {
        mean[c] = m;
        var[c] = v;
    }
}

/// Eval-mode BatchNorm: `y = (x - mean) / sqrt(var + eps) · weight + bias` with the given
/// (running) statistics.
pub fn batch_norm_forward_eval(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    mean: &[f32],
    var: &[f32],
    y: &mut [f32],
    inner: usize,
    eps: f64,
) {
    const K: &str = "batch_norm_forward_eval";
    let channels = weight.len();
    check_len(K, "y", y.len(), x.len());
    check_len(K, "bias", bias.len(), channels);
    check_len(K, "mean", mean.len(), channels);
    check_len(K, "var", var.len(), channels);
    layout(K, x.len(), channels, inner);
    let isa = simd::active();
    if inner == 1 {
        let scale: Vec<f32> = (0..channels)
            .map(|c| invstd(var[c], eps) * weight[c])
            .collect();
        each_row(y, channels, |n, out| {
            row_affine_run(isa, &x[n * channels..][..channels], out, mean, &scale, bias)
        });
        return;
    }
    let stream = should_stream(y.len());
    per_channel(
        planes_by_channel(y, channels, inner),
        x.len(),
        |c, planes| {
            let scale = invstd(var[c], eps) * weight[c];
            for (n, out) in planes.into_iter().enumerate() {
                let x = &x[(n * channels + c) * inner..][..inner];
                fill_blocks(out, stream, |o, out| {
                    affine_run(isa, &x[o..o + out.len()], out, mean[c], scale, bias[c])
                });
            }
        },
    );
}

/// BatchNorm's backward. `mean` and `var` are the statistics the forward used: the batch's
/// (`training`, then `dx` is the full batch-statistics gradient) or the running ones (then
/// `dx = dy · weight / sqrt(var + eps)`). Adds Σ dy · x̂ into `dweight` and Σ dy into `dbias`.
pub fn batch_norm_backward(
    x: &[f32],
    dy: &[f32],
    weight: &[f32],
    mean: &[f32],
    var: &[f32],
    dx: &mut [f32],
    dweight: &mut [f32],
    dbias: &mut [f32],
    inner: usize,
    eps: f64,
    training: bool,
) {
    const K: &str = "batch_norm_backward";
    let channels = weight.len();
    check_len(K, "dy", dy.len(), x.len());
    check_len(K, "dx", dx.len(), x.len());
    for (what, len) in [
        ("mean", mean.len()),
        ("var", var.len()),
        ("dweight", dweight.len()),
        ("dbias", dbias.len()),
    ] {
        check_len(K, what, len, channels);
    }
    let outer = layout(K, x.len(), channels, inner);
    let count = (outer * inner) as f64;
    let isa = simd::active();
    // From channel c's Σ dy and Σ dy · (x - mean): dx = dy · p + (x - mean) · q + r, i.e.
    // w·σ⁻¹ (dy - mean(dy) - x̂ · mean(dy · x̂)) in training, w·σ⁻¹ dy in eval.
    let coefficients = |c: usize, s: f64, q: f64| -> [f32; 3] {
        let istd = invstd(var[c], eps);
        let p = istd * weight[c];
        if training {
            let b = istd as f64 * istd as f64 * q / count;
            [p, -(p as f64 * b) as f32, -(p as f64 * s / count) as f32]
        } else {
            [p, 0.0, 0.0]
        }
    };
    if inner == 1 {
        let (s, q) = column_sums(outer, channels, |n, s, q| {
            let r = n * channels..(n + 1) * channels;
            row_grad_sums_run(isa, &x[r.clone()], &dy[r], mean, s, q)
        });
        let mut pqr = [
            vec![0.0f32; channels],
            vec![0.0f32; channels],
            vec![0.0f32; channels],
        ];
        for c in 0..channels {
            let k = coefficients(c, s[c], q[c]);
            for i in 0..3 {
                pqr[i][c] = k[i];
            }
            dweight[c] += (q[c] * invstd(var[c], eps) as f64) as f32;
            dbias[c] += s[c] as f32;
        }
        let pqr = [&pqr[0][..], &pqr[1][..], &pqr[2][..]];
        let zeros = vec![0.0f32; channels];
        each_row(dx, channels, |n, out| {
            let r = n * channels..(n + 1) * channels;
            if training {
                row_grad_run(isa, &x[r.clone()], &dy[r], out, mean, pqr)
            } else {
                // dy · p alone: (x - mean) · 0 would make an infinite x's gradient NaN.
                row_affine_run(isa, &dy[r], out, &zeros, pqr[0], &zeros)
            }
        });
        return;
    }
    let stream = should_stream(dx.len());
    let sums = per_channel(
        planes_by_channel(dx, channels, inner),
        x.len(),
        |c, planes| {
            let at = |n: usize| (n * channels + c) * inner..(n * channels + c) * inner + inner;
            let (s, q) = (0..outer).fold((0.0, 0.0), |(s, q), n| {
                let (ps, pq) = grad_sums(isa, &x[at(n)], &dy[at(n)], mean[c]);
                (s + ps, q + pq)
            });
            let [p, q_, r] = coefficients(c, s, q);
            for (n, out) in planes.into_iter().enumerate() {
                let r0 = at(n).start;
                fill_blocks(out, stream, |o, out| {
                    let r1 = r0 + o..r0 + o + out.len();
                    if training {
                        grad_run(isa, &x[r1.clone()], &dy[r1], out, mean[c], p, q_, r);
                    } else {
                        // dy · p alone, as above.
                        affine_run(isa, &dy[r1], out, 0.0, p, 0.0);
                    }
                });
            }
            (s, q * invstd(var[c], eps) as f64)
        },
    );
    for (c, (s, q)) in sums.into_iter().enumerate() {
        dweight[c] += q as f32;
        dbias[c] += s as f32;
    }
}

/// GroupNorm: writes per-(sample, group) `mean` and biased `var` (`[outer, groups]`) and
/// `y = (x - mean) / sqrt(var + eps) · weight[c] + bias[c]`.
pub fn group_norm_forward(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    y: &mut [f32],
    mean: &mut [f32],
    var: &mut [f32],
    groups: usize,
    inner: usize,
    eps: f64,
) {
    const K: &str = "group_norm_forward";
    let channels = weight.len();
    check_len(K, "y", y.len(), x.len());
    check_len(K, "bias", bias.len(), channels);
    assert!(
        groups > 0 && channels.is_multiple_of(groups),
        "{K}: {channels} channels are not divisible into {groups} groups"
    );
    let outer = layout(K, x.len(), channels, inner);
    check_len(K, "mean", mean.len(), outer * groups);
    check_len(K, "var", var.len(), outer * groups);
    let per_group = channels / groups;
    let row_len = per_group * inner;
    let isa = simd::active();
    let stream = should_stream(y.len());
    let stats = row_tasks(y, row_len, |first, rows| {
        let mut stats = Vec::new();
        for (i, out) in rows.chunks_mut(row_len).enumerate() {
            let row = first + i;
            let x = &x[row * row_len..][..row_len];
            let (s, q) = shifted_sums(isa, x, x[0]);
            let (m, v) = moments(x[0], s, q, row_len);
            let (m, v) = (m as f32, v as f32);
            let istd = invstd(v, eps);
            for (j, (x, out)) in x.chunks(inner).zip(out.chunks_mut(inner)).enumerate() {
                let c = (row % groups) * per_group + j;
                fill_blocks(out, stream, |o, out| {
                    affine_run(isa, &x[o..o + out.len()], out, m, istd * weight[c], bias[c])
                });
            }
            stats.push((m, v));
        }
        stats
    });
    for (i, (m, v)) in stats.into_iter().flatten().enumerate() {
        mean[i] = m;
        var[i] = v;
    }
}

/// GroupNorm's backward with the forward's `mean` and `var`; adds into `dweight` and `dbias`.
pub fn group_norm_backward(
    x: &[f32],
    dy: &[f32],
    weight: &[f32],
    mean: &[f32],
    var: &[f32],
    dx: &mut [f32],
    dweight: &mut [f32],
    dbias: &mut [f32],
    groups: usize,
    inner: usize,
    eps: f64,
) {
    const K: &str = "group_norm_backward";
    let channels = weight.len();
    check_len(K, "dy", dy.len(), x.len());
    check_len(K, "dx", dx.len(), x.len());
    check_len(K, "dweight", dweight.len(), channels);
    check_len(K, "dbias", dbias.len(), channels);
    assert!(
        groups > 0 && channels.is_multiple_of(groups),
        "{K}: {channels} channels are not divisible into {groups} groups"
    );
    let outer = layout(K, x.len(), channels, inner);
    check_len(K, "mean", mean.len(), outer * groups);
    check_len(K, "var", var.len(), outer * groups);
    let per_group = channels / groups;
    let row_len = per_group * inner;
    let isa = simd::active();
    let stream = should_stream(dx.len());
    // Each task returns its Σ dy · x̂ and Σ dy per channel; tasks are added in row order.
    let partials = row_tasks(dx, row_len, |first, rows| {
        let mut sums = vec![0.0f64; 2 * channels];
        let mut plane_sums = vec![(0.0f64, 0.0f64); per_group];
        for (i, out) in rows.chunks_mut(row_len).enumerate() {
            let row = first + i;
            let c0 = (row % groups) * per_group;
            let base = row * row_len;
            let (m, istd) = (mean[row], invstd(var[row], eps));
            let (mut ds, mut db) = (0.0f64, 0.0f64);
            for (j, ps) in plane_sums.iter_mut().enumerate() {
                let r = base + j * inner..base + (j + 1) * inner;
                *ps = grad_sums(isa, &x[r.clone()], &dy[r], m);
                ds += weight[c0 + j] as f64 * ps.1;
                db += weight[c0 + j] as f64 * ps.0;
                sums[c0 + j] += ps.1 * istd as f64;
                sums[channels + c0 + j] += ps.0;
            }
            // dx = σ⁻¹ w dy - σ⁻¹ mean(w dy) - (x - μ) σ⁻³ mean(w dy (x - μ)).
            let n = row_len as f64;
            let s = istd as f64;
            let q = (-s * s * s * ds / n) as f32;
            let r = (-s * db / n) as f32;
            for (j, out) in out.chunks_mut(inner).enumerate() {
                let p = istd * weight[c0 + j];
                let start = base + j * inner;
                fill_blocks(out, stream, |o, out| {
                    let rr = start + o..start + o + out.len();
                    grad_run(isa, &x[rr.clone()], &dy[rr], out, m, p, q, r);
                });
            }
        }
        sums
    });
    for sums in partials {
        for c in 0..channels {
            dweight[c] += sums[c] as f32;
            dbias[c] += sums[channels + c] as f32;
        }
    }
}

multiversion! {
    /// y = (x - mean) · invstd · w + b, elementwise affine.
    fn layer_norm_row_run(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], mean: f32, istd: f32) {
        for (((y, &x), &w), &b) in y.iter_mut().zip(x).zip(w).zip(b) {
            *y = (x - mean) * istd * w + b;
        }
    }
}

multiversion! {
    /// Σ dy · w and Σ dy · w · (x - mean) in lanes, and dw += dy · (x - mean) · invstd,
    /// db += dy elementwise: everything a row's backward needs from one read of it.
    fn row_sums_run(
        x: &[f32], dy: &[f32], w: &[f32], dw: &mut [f32], db: &mut [f32], mean: f32, istd: f32,
    ) -> (f32, f32) {
        let mut s = [0.0f32; LANES];
        let mut q = [0.0f32; LANES];
        let n = x.len().min(dy.len()).min(w.len()).min(dw.len()).min(db.len());
        let body = n / LANES * LANES;
        for i in (0..body).step_by(LANES) {
            let (x, g, w) = (&x[i..i + LANES], &dy[i..i + LANES], &w[i..i + LANES]);
            let (dw, db) = (&mut dw[i..i + LANES], &mut db[i..i + LANES]);
            for l in 0..LANES {
                let d = x[l] - mean;
                let gw = g[l] * w[l];
                s[l] += gw;
                q[l] += gw * d;
                dw[l] += g[l] * d * istd;
                db[l] += g[l];
            }
        }
        for i in body..n {
            let d = x[i] - mean;
            let gw = dy[i] * w[i];
            s[i - body] += gw;
            q[i - body] += gw * d;
            dw[i] += dy[i] * d * istd;
            db[i] += dy[i];
        }
        (s.iter().sum(), q.iter().sum())
    }
}

/// Per-element parameter gradient sums over many rows: `f32` partials, moved into `f64`
/// every [`FLUSH_ROWS`] rows so that long batches keep their precision.
struct ParamSums {
    partial: [Vec<f32>; 2],
    total: [Vec<f64>; 2],
    rows: usize,
}

const FLUSH_ROWS: usize = 256;

impl ParamSums {
    fn new(d: usize) -> Self {
        ParamSums {
            partial: [vec![0.0; d], vec![0.0; d]],
            total: [vec![0.0; d], vec![0.0; d]],
            rows: 0,
        }
    }

    /// The partials to add one row into.
    fn row(&mut self) -> (&mut [f32], &mut [f32]) {
        if self.rows == FLUSH_ROWS {
            self.flush();
        }
        self.rows += 1;
        let [a, b] = &mut self.partial;
        (a, b)
    }

    fn flush(&mut self) {
        for (t, p) in self.total.iter_mut().zip(&mut self.partial) {
            for (t, p) in t.iter_mut().zip(p.iter_mut()) {
                *t += *p as f64;
                *p = 0.0;
            }
        }
        self.rows = 0;
    }

    fn finish(mut self) -> [Vec<f64>; 2] {
        self.flush();
        self.total
    }
}

multiversion! {
    /// dx = (dy · w - a - (x - mean) · b) · invstd.
    fn layer_norm_dx_run(
        x: &[f32], dy: &[f32], w: &[f32], dx: &mut [f32], mean: f32, istd: f32, a: f32, b: f32,
    ) {
        for (((dx, &x), &g), &w) in dx.iter_mut().zip(x).zip(dy).zip(w) {
            *dx = (g * w - a - (x - mean) * b) * istd;
        }
    }
}

/// LayerNorm over rows of `weight.len()` values: writes per-row `mean` and biased `var`, and
/// `y = (x - mean) / sqrt(var + eps) · weight + bias`.
pub fn layer_norm_forward(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    y: &mut [f32],
    mean: &mut [f32],
    var: &mut [f32],
    eps: f64,
) {
    const K: &str = "layer_norm_forward";
    let d = weight.len();
    check_len(K, "y", y.len(), x.len());
    check_len(K, "bias", bias.len(), d);
    let rows = layout(K, x.len(), d, 1);
    check_len(K, "mean", mean.len(), rows);
    check_len(K, "var", var.len(), rows);
    let isa = simd::active();
    let stream = should_stream(y.len());
    let stats = row_tasks(y, d, |first, out| {
        let mut stats = Vec::new();
        for (i, out) in out.chunks_mut(d).enumerate() {
            let x = &x[(first + i) * d..][..d];
            let (s, q) = shifted_sums(isa, x, x[0]);
            let (m, v) = moments(x[0], s, q, d);
            let (m, v) = (m as f32, v as f32);
            let istd = invstd(v, eps);
            fill_blocks(out, stream, |o, out| {
                let r = o..o + out.len();
                layer_norm_row_run(
                    isa,
                    &x[r.clone()],
                    &weight[r.clone()],
                    &bias[r],
                    out,
                    m,
                    istd,
                )
            });
            stats.push((m, v));
        }
        stats
    });
    for (i, (m, v)) in stats.into_iter().flatten().enumerate() {
        mean[i] = m;
        var[i] = v;
    }
}

/// LayerNorm's backward with the forward's per-row `mean` and `var`.
pub fn layer_norm_backward(
    x: &[f32],
    dy: &[f32],
    weight: &[f32],
    mean: &[f32],
    var: &[f32],
    dx: &mut [f32],
    dweight: &mut [f32],
    dbias: &mut [f32],
    eps: f64,
) {
    const K: &str = "layer_norm_backward";
    let d = weight.len();
    check_len(K, "dy", dy.len(), x.len());
    check_len(K, "dx", dx.len(), x.len());
    check_len(K, "dweight", dweight.len(), d);
    check_len(K, "dbias", dbias.len(), d);
    let rows = layout(K, x.len(), d, 1);
    check_len(K, "mean", mean.len(), rows);
    check_len(K, "var", var.len(), rows);
    let isa = simd::active();
    let stream = should_stream(dx.len());
    let partials = row_tasks(dx, d, |first, out| {
        let mut sums = ParamSums::new(d);
        for (i, out) in out.chunks_mut(d).enumerate() {
            let row = first + i;
            let r = row * d..(row + 1) * d;
            let (x, g) = (&x[r.clone()], &dy[r]);
            let (m, istd) = (mean[row], invstd(var[row], eps));
            let (dw, db) = sums.row();
            let (s, q) = row_sums_run(isa, x, g, weight, dw, db, m, istd);
            let a = s / d as f32;
            let b = istd * istd * q / d as f32;
            fill_blocks(out, stream, |o, out| {
                let r = o..o + out.len();
                let (x, g, w) = (&x[r.clone()], &g[r.clone()], &weight[r]);
                layer_norm_dx_run(isa, x, g, w, out, m, istd, a, b)
            });
        }
        sums.finish()
    });
    for [dw, db] in partials {
        for i in 0..d {
            dweight[i] += dw[i] as f32;
            dbias[i] += db[i] as f32;
        }
    }
}

multiversion! {
    /// acc += x²
    fn square_acc_run(x: &[f32], acc: &mut [f32]) {
        for (a, &x) in acc.iter_mut().zip(x) {
            *a += x * x;
        }
    }
}

multiversion! {
    /// y = x · inv · w
    fn scale_run(x: &[f32], inv: &[f32], y: &mut [f32], w: f32) {
        let n = y.len().min(x.len()).min(inv.len());
        for i in 0..n {
            y[i] = x[i] * inv[i] * w;
        }
    }
}

multiversion! {
    /// s += w · dy · x elementwise; returns Σ dy · x · inv (this entry's weight gradient).
    fn l2_sums_run(x: &[f32], dy: &[f32], inv: &[f32], s: &mut [f32], w: f32) -> f32 {
        let mut acc = [0.0f32; LANES];
        let n = x.len().min(dy.len()).min(inv.len()).min(s.len());
        let body = n / LANES * LANES;
        for i in (0..body).step_by(LANES) {
            let (x, g, inv) = (&x[i..i + LANES], &dy[i..i + LANES], &inv[i..i + LANES]);
            let s = &mut s[i..i + LANES];
            for l in 0..LANES {
                s[l] += w * g[l] * x[l];
                acc[l] += g[l] * x[l] * inv[l];
            }
        }
        for i in body..n {
            s[i] += w * dy[i] * x[i];
            acc[i - body] += dy[i] * x[i] * inv[i];
        }
        acc.iter().sum()
    }
}

multiversion! {
    /// dx = w · dy · inv - x · c
    fn l2_dx_run(x: &[f32], dy: &[f32], inv: &[f32], c: &[f32], dx: &mut [f32], w: f32) {
        let n = dx.len().min(x.len()).min(dy.len()).min(inv.len()).min(c.len());
        for i in 0..n {
            dx[i] = w * dy[i] * inv[i] - x[i] * c[i];
        }
    }
}

multiversion! {
    /// y = x · w · inv along one row (L2Norm along the last dimension).
    fn l2_row_run(x: &[f32], w: &[f32], y: &mut [f32], inv: f32) {
        for ((y, &x), &w) in y.iter_mut().zip(x).zip(w) {
            *y = x * inv * w;
        }
    }
}

multiversion! {
    /// dx = w · dy · inv - x · c along one row.
    fn l2_row_dx_run(x: &[f32], dy: &[f32], w: &[f32], dx: &mut [f32], inv: f32, c: f32) {
        for (((dx, &x), &g), &w) in dx.iter_mut().zip(x).zip(dy).zip(w) {
            *dx = w * g * inv - x * c;
        }
    }
}

/// The factor of x in L2Norm's input gradient: s / ‖x‖³ where s = Σ w · dy · x, or 0 where
/// eps clamps the norm (PyTorch's clamp passes no gradient there).
fn l2_c(s: f32, n: f32, eps: f32) -> f32 {
    if n >= eps && n > 0.0 {
        s / (n * n * n)
    } else {
        0.0
    }
}

/// L2Norm, as `F.normalize`: `y = x / max(‖x‖₂ along d, eps) · weight[d]` for
/// `[outer, weight.len(), inner]` data; writes the norms ‖x‖₂ (`[outer, inner]`).
pub fn l2_norm_forward(
    x: &[f32],
    weight: &[f32],
    y: &mut [f32],
    norm: &mut [f32],
    inner: usize,
    eps: f64,
) {
    const K: &str = "l2_norm_forward";
    let d = weight.len();
    check_len(K, "y", y.len(), x.len());
    let outer = layout(K, x.len(), d, inner);
    check_len(K, "norm", norm.len(), outer * inner);
    let isa = simd::active();
    let eps = eps as f32;
    let norms = row_tasks(y, d * inner, |first, out| {
        let mut norms = Vec::new();
        if inner == 1 {
            for (i, out) in out.chunks_mut(d).enumerate() {
                let x = &x[(first + i) * d..][..d];
                let n = shifted_sums(isa, x, 0.0).1.sqrt() as f32;
                l2_row_run(isa, x, weight, out, 1.0 / clamp_norm(n, eps));
                norms.push(n);
            }
            return norms;
        }
        for (i, out) in out.chunks_mut(d * inner).enumerate() {
            let x = &x[(first + i) * d * inner..][..d * inner];
            let mut acc = vec![0.0f32; inner];
            for xd in x.chunks(inner) {
                square_acc_run(isa, xd, &mut acc);
            }
            let nrm: Vec<f32> = acc.iter().map(|a| a.sqrt()).collect();
            let inv: Vec<f32> = nrm.iter().map(|&n| 1.0 / clamp_norm(n, eps)).collect();
            for ((xd, yd), &w) in x.chunks(inner).zip(out.chunks_mut(inner)).zip(weight) {
                scale_run(isa, xd, &inv, yd, w);
            }
            norms.extend(nrm);
        }
        norms
    });
    for (n, v) in norm.iter_mut().zip(norms.into_iter().flatten()) {
        *n = v;
    }
}

/// L2Norm's backward with the forward's norms; adds Σ dy · x / max(‖x‖, eps) into `dweight`.
/// Where ‖x‖ < eps the divisor is the constant eps (PyTorch's clamp passes no gradient there).
pub fn l2_norm_backward(
    x: &[f32],
    dy: &[f32],
    weight: &[f32],
    norm: &[f32],
    dx: &mut [f32],
    dweight: &mut [f32],
    inner: usize,
    eps: f64,
) {
    const K: &str = "l2_norm_backward";
    let d = weight.len();
    check_len(K, "dy", dy.len(), x.len());
    check_len(K, "dx", dx.len(), x.len());
    check_len(K, "dweight", dweight.len(), d);
    let outer = layout(K, x.len(), d, inner);
    check_len(K, "norm", norm.len(), outer * inner);
    let isa = simd::active();
    let eps = eps as f32;
    let partials = row_tasks(dx, d * inner, |first, out| {
        if inner == 1 {
            let mut sums = ParamSums::new(d);
            for (i, out) in out.chunks_mut(d).enumerate() {
                let row = first + i;
                let r = row * d..(row + 1) * d;
                let (x, g) = (&x[r.clone()], &dy[r]);
                let n = norm[row];
                let inv = 1.0 / clamp_norm(n, eps);
                // Σ w · dy · x, and dw += dy · x / ‖x‖ (the second partial is unused).
                let (dw, unused) = sums.row();
                let s = row_sums_run(isa, x, g, weight, dw, unused, 0.0, inv).1;
                l2_row_dx_run(isa, x, g, weight, out, inv, l2_c(s, n, eps));
            }
            let [dw, _] = sums.finish();
            return dw;
        }
        let mut dw = vec![0.0f64; d];
        for (i, out) in out.chunks_mut(d * inner).enumerate() {
            let row = first + i;
            let r = row * d * inner..(row + 1) * d * inner;
            let (x, g) = (&x[r.clone()], &dy[r]);
            let nrm = &norm[row * inner..][..inner];
            let inv: Vec<f32> = nrm.iter().map(|&n| 1.0 / clamp_norm(n, eps)).collect();
            let mut s = vec![0.0f32; inner];
            for (k, ((xd, gd), &w)) in x.chunks(inner).zip(g.chunks(inner)).zip(weight).enumerate()
            {
                dw[k] += l2_sums_run(isa, xd, gd, &inv, &mut s, w) as f64;
            }
            // d(x/‖x‖) = (dy - x̂ (x̂ · dy)) / ‖x‖.
            let c: Vec<f32> = s.iter().zip(nrm).map(|(&s, &n)| l2_c(s, n, eps)).collect();
            let chunks = x.chunks(inner).zip(g.chunks(inner));
            for (((xd, gd), od), &w) in chunks.zip(out.chunks_mut(inner)).zip(weight) {
                l2_dx_run(isa, xd, gd, &inv, &c, od, w);
            }
        }
        dw
    });
    for dw in partials {
        for (t, v) in dweight.iter_mut().zip(dw) {
            *t += v as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{supported, with_isa};

    /// Deterministic values in [offset - 2, offset + 2).
    fn sample(len: usize, seed: u64, offset: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                offset + ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
            })
            .collect()
    }

    fn close(what: &str, got: &[f32], want: &[f64], tol: f64) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g as f64 - w).abs() <= tol * (1.0 + w.abs()),
                "{what}[{i}]: {g} vs {w} ({})",
                simd::active()
            );
        }
    }

    fn at_every_level(check: impl Fn()) {
        for isa in supported() {
            with_isa(isa, &check);
        }
    }

    /// Normalisation of `sets` (lists of element indices) in f64: forward and the full
    /// backward, with per-element affine `w[a(i)]`, `b[a(i)]`.
    struct Reference {
        y: Vec<f64>,
        dx: Vec<f64>,
        dw: Vec<f64>,
        db: Vec<f64>,
        mean: Vec<f64>,
        var: Vec<f64>,
    }

    fn reference(
        x: &[f32],
        dy: &[f32],
        w: &[f32],
        b: &[f32],
        sets: &[Vec<usize>],
        a: impl Fn(usize) -> usize,
        eps: f64,
    ) -> Reference {
        let mut r = Reference {
            y: vec![0.0; x.len()],
            dx: vec![0.0; x.len()],
            dw: vec![0.0; w.len()],
            db: vec![0.0; w.len()],
            mean: vec![],
            var: vec![],
        };
        for set in sets {
            let n = set.len() as f64;
            // The mean rounded to f32, as the kernels (and PyTorch) store it: with inputs near
            // 1e3 its rounding alone moves the gradients by more than the tolerance.
            let m = set.iter().map(|&i| x[i] as f64).sum::<f64>() / n;
            let v = set.iter().map(|&i| (x[i] as f64 - m).powi(2)).sum::<f64>() / n;
            let m = m as f32 as f64;
            let s = 1.0 / (v + eps).sqrt();
            let xh = |i: usize| (x[i] as f64 - m) * s;
            let g = |i: usize| dy[i] as f64 * w[a(i)] as f64;
            let mg = set.iter().map(|&i| g(i)).sum::<f64>() / n;
            let mgx = set.iter().map(|&i| g(i) * xh(i)).sum::<f64>() / n;
            for &i in set {
                r.y[i] = xh(i) * w[a(i)] as f64 + b[a(i)] as f64;
                r.dx[i] = s * (g(i) - mg - xh(i) * mgx);
                r.dw[a(i)] += dy[i] as f64 * xh(i);
                r.db[a(i)] += dy[i] as f64;
            }
            r.mean.push(m);
            r.var.push(v);
        }
        r
    }

    #[test]
    fn batch_norm_matches_the_definition() {
        // (outer, channels, inner): [N, C], [N, C, L], odd sizes, one past the parallel grain.
        let layouts = [
            (7, 5, 1),
            (3, 4, 9),
            (2, 3, 37),
            (4, 3, GRAIN / 2 + 13),
            (GRAIN / 4 + 3, 9, 1),
        ];
        at_every_level(|| {
            for (outer, channels, inner) in layouts {
                for offset in [0.0, 1e3] {
                    let len = outer * channels * inner;
                    let x = sample(len, 1, offset);
                    let dy = sample(len, 2, 0.0);
                    let w = sample(channels, 3, 1.0);
                    let b = sample(channels, 4, 0.0);
                    let ch = |i: usize| (i / inner) % channels;
                    let sets: Vec<Vec<usize>> = (0..channels)
                        .map(|c| (0..len).filter(|&i| ch(i) == c).collect())
                        .collect();
                    let want = reference(&x, &dy, &w, &b, &sets, ch, 1e-5);
                    let (mut y, mut mean, mut var) =
                        (vec![0.0; len], vec![0.0; channels], vec![0.0; channels]);
                    batch_norm_forward_train(&x, &w, &b, &mut y, &mut mean, &mut var, inner, 1e-5);
                    let what = format!("{outer}×{channels}×{inner} + {offset}");
                    close(&format!("bn y {what}"), &y, &want.y, 2e-4);
                    close(&format!("bn mean {what}"), &mean, &want.mean, 1e-6);
                    close(&format!("bn var {what}"), &var, &want.var, 1e-4);
                    let mut dx = vec![0.0; len];
                    let (mut dw, mut db) = (vec![1.0; channels], vec![-1.0; channels]);
                    batch_norm_backward(
                        &x, &dy, &w, &mean, &var, &mut dx, &mut dw, &mut db, inner, 1e-5, true,
                    );
                    close(&format!("bn dx {what}"), &dx, &want.dx, 2e-4);
                    let dw_want: Vec<f64> = want.dw.iter().map(|v| v + 1.0).collect();
                    let db_want: Vec<f64> = want.db.iter().map(|v| v - 1.0).collect();
                    close(&format!("bn dw {what}"), &dw, &dw_want, 1e-4);
                    close(&format!("bn db {what}"), &db, &db_want, 1e-4);

                    // Eval: an affine map per channel, and its gradient.
                    let rm = sample(channels, 5, offset);
                    let rv: Vec<f32> = sample(channels, 6, 3.0);
                    batch_norm_forward_eval(&x, &w, &b, &rm, &rv, &mut y, inner, 1e-3);
                    let mut dw = vec![0.0; channels];
                    let mut db = vec![0.0; channels];
                    batch_norm_backward(
                        &x, &dy, &w, &rm, &rv, &mut dx, &mut dw, &mut db, inner, 1e-3, false,
                    );
                    let s = |c: usize| 1.0 / (rv[c] as f64 + 1e-3).sqrt();
                    let y_want: Vec<f64> = (0..len)
                        .map(|i| {
                            let c = ch(i);
                            (x[i] as f64 - rm[c] as f64) * s(c) * w[c] as f64 + b[c] as f64
                        })
                        .collect();
                    let dx_want: Vec<f64> = (0..len)
                        .map(|i| dy[i] as f64 * w[ch(i)] as f64 * s(ch(i)))
                        .collect();
                    close(&format!("bn eval y {what}"), &y, &y_want, 2e-4);
                    close(&format!("bn eval dx {what}"), &dx, &dx_want, 1e-5);
                    let mut dw_want = vec![0.0; channels];
                    for i in 0..len {
                        dw_want[ch(i)] +=
                            dy[i] as f64 * (x[i] as f64 - rm[ch(i)] as f64) * s(ch(i));
                    }
                    close(&format!("bn eval dw {what}"), &dw, &dw_want, 1e-4);
                    close(&format!("bn eval db {what}"), &db, &want.db, 1e-4);
                }
            }
        });
    }

    #[test]
    fn group_norm_matches_the_definition() {
        // (outer, channels, groups, inner)
        let layouts = [
            (3, 6, 1, 5),
            (3, 6, 6, 5),
            (2, 6, 3, 7),
            (5, 4, 2, 1),
            (2, 8, 4, GRAIN / 3 + 5),
        ];
        at_every_level(|| {
            for (outer, channels, groups, inner) in layouts {
                for offset in [0.0, 1e3] {
                    let len = outer * channels * inner;
                    let x = sample(len, 11, offset);
                    let dy = sample(len, 12, 0.0);
                    let w = sample(channels, 13, 1.0);
                    let b = sample(channels, 14, 0.0);
                    let row_len = channels / groups * inner;
                    let ch = |i: usize| (i / inner) % channels;
                    let sets: Vec<Vec<usize>> = (0..outer * groups)
                        .map(|r| (r * row_len..(r + 1) * row_len).collect())
                        .collect();
                    let want = reference(&x, &dy, &w, &b, &sets, ch, 1e-5);
                    let stats = outer * groups;
                    let (mut y, mut mean, mut var) =
                        (vec![0.0; len], vec![0.0; stats], vec![0.0; stats]);
                    group_norm_forward(
                        &x, &w, &b, &mut y, &mut mean, &mut var, groups, inner, 1e-5,
                    );
                    let what = format!("{outer}×{channels}/{groups}×{inner} + {offset}");
                    close(&format!("gn y {what}"), &y, &want.y, 2e-4);
                    close(&format!("gn var {what}"), &var, &want.var, 1e-4);
                    let mut dx = vec![0.0; len];
                    let (mut dw, mut db) = (vec![0.0; channels], vec![0.0; channels]);
                    group_norm_backward(
                        &x, &dy, &w, &mean, &var, &mut dx, &mut dw, &mut db, groups, inner, 1e-5,
                    );
                    close(&format!("gn dx {what}"), &dx, &want.dx, 2e-4);
                    close(&format!("gn dw {what}"), &dw, &want.dw, 1e-4);
                    close(&format!("gn db {what}"), &db, &want.db, 1e-4);
                }
            }
        });
    }

    #[test]
    fn layer_norm_matches_the_definition() {
        at_every_level(|| {
            // The last is past STREAM_MIN_BYTES: its outputs are written with streaming stores.
            let streamed = (crate::stream::STREAM_MIN_BYTES / 4 / 519 + 1, 519);
            for (rows, d) in [
                (1, 1),
                (3, 17),
                (5, 64),
                (GRAIN / 40, 129),
                (1000, 70),
                streamed,
            ] {
                for offset in [0.0, 1e3] {
                    let len = rows * d;
                    let x = sample(len, 21, offset);
                    let dy = sample(len, 22, 0.0);
                    let w = sample(d, 23, 1.0);
                    let b = sample(d, 24, 0.0);
                    let sets: Vec<Vec<usize>> =
                        (0..rows).map(|r| (r * d..(r + 1) * d).collect()).collect();
                    let want = reference(&x, &dy, &w, &b, &sets, |i| i % d, 1e-5);
                    let (mut y, mut mean, mut var) =
                        (vec![0.0; len], vec![0.0; rows], vec![0.0; rows]);
                    layer_norm_forward(&x, &w, &b, &mut y, &mut mean, &mut var, 1e-5);
                    let what = format!("{rows}×{d} + {offset}");
                    close(&format!("ln y {what}"), &y, &want.y, 2e-4);
                    let mut dx = vec![0.0; len];
                    let (mut dw, mut db) = (vec![0.0; d], vec![0.0; d]);
                    layer_norm_backward(&x, &dy, &w, &mean, &var, &mut dx, &mut dw, &mut db, 1e-5);
                    close(&format!("ln dx {what}"), &dx, &want.dx, 2e-4);
                    close(&format!("ln dw {what}"), &dw, &want.dw, 1e-4);
                    close(&format!("ln db {what}"), &db, &want.db, 1e-4);
                }
            }
        });
    }

    #[test]
    fn l2_norm_matches_the_definition() {
        at_every_level(|| {
            for (outer, d, inner) in [
                (3, 4, 5),
                (7, 9, 1),
                (1, 1, 3),
                (4, 8, GRAIN / 8 + 3),
                (600, 300, 1),
            ] {
                let len = outer * d * inner;
                let mut x = sample(len, 31, 0.0);
                // One position with a zero vector: the norm is clamped to eps there.
                for k in 0..d {
                    x[k * inner] = 0.0;
                }
                let dy = sample(len, 32, 0.0);
                let w = sample(d, 33, 2.0);
                let eps = 1e-12;
                let (mut want_y, mut want_dx, mut want_dw) =
                    (vec![0.0; len], vec![0.0; len], vec![0.0; d]);
                let idx = |o: usize, k: usize, i: usize| (o * d + k) * inner + i;
                for o in 0..outer {
                    for i in 0..inner {
                        let nrm = (0..d)
                            .map(|k| (x[idx(o, k, i)] as f64).powi(2))
                            .sum::<f64>()
                            .sqrt();
                        let n = nrm.max(eps);
                        let s: f64 = (0..d)
                            .map(|k| {
                                let j = idx(o, k, i);
                                w[k] as f64 * dy[j] as f64 * x[j] as f64
                            })
                            .sum();
                        for k in 0..d {
                            let j = idx(o, k, i);
                            want_y[j] = x[j] as f64 / n * w[k] as f64;
                            let c = if nrm >= eps { s / nrm.powi(3) } else { 0.0 };
                            want_dx[j] = w[k] as f64 * dy[j] as f64 / n - x[j] as f64 * c;
                            want_dw[k] += dy[j] as f64 * x[j] as f64 / n;
                        }
                    }
                }
                let (mut y, mut norm) = (vec![0.0; len], vec![0.0; outer * inner]);
                l2_norm_forward(&x, &w, &mut y, &mut norm, inner, eps);
                let what = format!("{outer}×{d}×{inner}");
                close(&format!("l2 y {what}"), &y, &want_y, 1e-5);
                let mut dx = vec![0.0; len];
                let mut dw = vec![0.0; d];
                l2_norm_backward(&x, &dy, &w, &norm, &mut dx, &mut dw, inner, eps);
                close(&format!("l2 dx {what}"), &dx, &want_dx, 1e-4);
                close(&format!("l2 dw {what}"), &dw, &want_dw, 1e-4);
            }
        });
    }

    #[test]
    fn streamed_outputs_match_the_definition() {
        // Past STREAM_MIN_BYTES, BatchNorm and GroupNorm write y and dx with streaming stores
        // (plane by plane, in blocks); at the detected level only, to keep the test short.
        let (outer, channels, inner) = (2, 4, crate::stream::STREAM_MIN_BYTES / 4 / 8 + 5);
        let len = outer * channels * inner;
        // Streamed on x86-64 whichever CPU runs the test (AMD's are not by default).
        crate::stream::force_streaming(Some(true));
        assert!(should_stream(len) || !cfg!(target_arch = "x86_64"));
        let x = sample(len, 51, 3.0);
        let dy = sample(len, 52, 0.0);
        let w = sample(channels, 53, 1.0);
        let b = sample(channels, 54, 0.0);
        let ch = |i: usize| (i / inner) % channels;
        let (mut y, mut dx) = (vec![0.0; len], vec![0.0; len]);

        let sets: Vec<Vec<usize>> = (0..channels)
            .map(|c| {
                (0..outer)
                    .flat_map(|n| (n * channels + c) * inner..(n * channels + c + 1) * inner)
                    .collect()
            })
            .collect();
        let want = reference(&x, &dy, &w, &b, &sets, ch, 1e-5);
        let (mut m, mut v) = (vec![0.0; channels], vec![0.0; channels]);
        batch_norm_forward_train(&x, &w, &b, &mut y, &mut m, &mut v, inner, 1e-5);
        let (mut dw, mut db) = (vec![0.0; channels], vec![0.0; channels]);
        batch_norm_backward(
            &x, &dy, &w, &m, &v, &mut dx, &mut dw, &mut db, inner, 1e-5, true,
        );
        close("streamed bn y", &y, &want.y, 2e-4);
        close("streamed bn dx", &dx, &want.dx, 2e-4);

        let groups = 2;
        let row_len = channels / groups * inner;
        let sets: Vec<Vec<usize>> = (0..outer * groups)
            .map(|r| (r * row_len..(r + 1) * row_len).collect())
            .collect();
        let want = reference(&x, &dy, &w, &b, &sets, ch, 1e-5);
        let (mut m, mut v) = (vec![0.0; outer * groups], vec![0.0; outer * groups]);
        group_norm_forward(&x, &w, &b, &mut y, &mut m, &mut v, groups, inner, 1e-5);
        group_norm_backward(
            &x, &dy, &w, &m, &v, &mut dx, &mut dw, &mut db, groups, inner, 1e-5,
        );
        close("streamed gn y", &y, &want.y, 2e-4);
        close("streamed gn dx", &dx, &want.dx, 2e-4);
        crate::stream::force_streaming(None);
    }

    #[test]
    fn statistics_are_bit_identical_across_instruction_sets() {
        let (channels, inner) = (3, 1001);
        let x = sample(4 * channels * inner, 41, 1e3);
        let w = vec![1.0; channels];
        let b = vec![0.0; channels];
        let run = || {
            let (mut y, mut m, mut v) =
                (vec![0.0; x.len()], vec![0.0; channels], vec![0.0; channels]);
            batch_norm_forward_train(&x, &w, &b, &mut y, &mut m, &mut v, inner, 1e-5);
            (m, v)
        };
        let reference = with_isa(Isa::Scalar, run);
        for isa in supported() {
            assert_eq!(with_isa(isa, run), reference, "{isa}");
        }
    }

    #[test]
    fn an_infinite_input_makes_its_group_nan_and_leaves_the_others() {
        // As PyTorch: the variance of a group holding ±inf is NaN (inf - inf), never clamped
        // to 0, which would normalise the group's finite values to ±inf.
        at_every_level(|| {
            for inner in [1, 5] {
                let (outer, channels) = (4, 3);
                let len = outer * channels * inner;
                let mut x = sample(len, 12, 0.0);
                x[inner] = f32::INFINITY; // channel 1 of sample 0
                let (w, b) = (vec![1.0; channels], vec![0.0; channels]);
                let (mut y, mut mean, mut var) = (vec![0.0; len], vec![0.0; 3], vec![0.0; 3]);
                batch_norm_forward_train(&x, &w, &b, &mut y, &mut mean, &mut var, inner, 1e-5);
                assert!(var[1].is_nan() && var[0].is_finite() && var[2].is_finite());
                for (i, v) in y.iter().enumerate() {
                    assert_eq!(
                        v.is_nan(),
                        (i / inner) % channels == 1,
                        "bn y[{i}], inner {inner}"
                    );
                }
                // LayerNorm over rows of `channels · inner`: the first row only.
                let d = channels * inner;
                let (w, b) = (vec![1.0; d], vec![0.0; d]);
                let (mut mean, mut var) = (vec![0.0; outer], vec![0.0; outer]);
                layer_norm_forward(&x, &w, &b, &mut y, &mut mean, &mut var, 1e-5);
                assert!(var[0].is_nan() && var[1..].iter().all(|v| v.is_finite()));
                for (i, v) in y.iter().enumerate() {
                    assert_eq!(v.is_nan(), i < d, "ln y[{i}], inner {inner}");
                }
            }
        });
    }

    #[test]
    fn l2_norm_of_a_vector_with_a_nan_is_nan_throughout() {
        // PyTorch's clamp_min keeps a NaN norm (f32::max would replace it by eps and leave the
        // vector's other elements finite). [outer 2, d 3, inner 1 or 4]: vector 0 holds the NaN.
        at_every_level(|| {
            for inner in [1, 4] {
                let len = 2 * 3 * inner;
                let mut x = sample(len, 13, 0.0);
                x[inner] = f32::NAN; // element 1 of the first vector along d
                let mut y = vec![0.0; len];
                let mut norm = vec![0.0; 2 * inner];
                l2_norm_forward(&x, &[1.0; 3], &mut y, &mut norm, inner, 1e-12);
                for (i, v) in y.iter().enumerate() {
                    let first_vector = i < 3 * inner && i % inner == 0;
                    assert_eq!(v.is_nan(), first_vector, "y[{i}], inner {inner}");
                }
            }
        });
    }

    #[test]
    fn batch_norm_eval_gradient_is_finite_for_infinite_and_nan_inputs() {
        // PyTorch's eval backward is dy · w / sqrt(var + eps) whatever x is: a term
        // (x - mean) · 0 would make it NaN at an infinite or NaN x. Both layouts: [N, C] and
        // [N, C, L].
        at_every_level(|| {
            for (outer, channels, inner) in [(4, 3, 1), (2, 3, 5)] {
                let len = outer * channels * inner;
                let mut x = sample(len, 7, 0.0);
                x[0] = f32::INFINITY;
                x[len / 2] = f32::NAN;
                x[len - 1] = f32::NEG_INFINITY;
                let dy = sample(len, 8, 0.0);
                let (w, mean, var) = (vec![0.5, 1.0, 2.0], vec![0.1; 3], vec![1.0; 3]);
                let mut dx = vec![0.0; len];
                let (mut dw, mut db) = (vec![0.0; 3], vec![0.0; 3]);
                batch_norm_backward(
                    &x, &dy, &w, &mean, &var, &mut dx, &mut dw, &mut db, inner, 0.0, false,
                );
                for (i, (&got, &g)) in dx.iter().zip(&dy).enumerate() {
                    let want = g * w[(i / inner) % channels];
                    assert_eq!(got, want, "dx[{i}] {outer}×{channels}×{inner}");
                }
                // The weight's gradient sums dy · x̂: NaN where the channel has a NaN.
                assert!(dw.iter().any(|v| v.is_nan()) && db.iter().all(|v| v.is_finite()));
            }
        });
    }

    #[test]
    #[should_panic(expected = "not divisible into 4 groups")]
    fn group_norm_rejects_a_group_count_that_does_not_divide() {
        let mut y = vec![0.0; 6];
        let (mut m, mut v) = (vec![0.0; 4], vec![0.0; 4]);
        group_norm_forward(
            &[0.0; 6], &[1.0; 6], &[0.0; 6], &mut y, &mut m, &mut v, 4, 1, 1e-5,
        );
    }
}
