//! ReLU, LeakyReLU and PReLU: forward and backward.
//!
//! Conventions, as PyTorch's:
//! - ReLU: `y = max(0, x)`; `dx = dy` where `x > 0`, else 0 (the gradient at 0 is 0). NaN passes
//!   through both ways.
//! - LeakyReLU: `y = x` where `x > 0`, else `slope * x`; `dx = dy` or `slope * dy` likewise.
//! - PReLU: as LeakyReLU with a learned slope `w[c]` per channel (or one for all);
//!   `dw[c] += sum of x * dy` over the elements of channel `c` where `x > 0` fails (`x <= 0`
//!   or NaN, which then makes the sum NaN, as in PyTorch).
//!
//! A PReLU input is `outer × channels × inner` elements in row-major order (`[N, C, H, W]` has
//! outer = N, inner = H·W); one slope means one channel covering everything.
//!
//! Every function panics when the slices' lengths disagree: the N-API glue checks them first.
//!
//! The smooth and bounded activations (ELU to Hardsigmoid, and Dropout's mask product) are in
//! [`smooth`], on the vectorisable functions of [`math`].

use crate::multiversion;
use crate::simd::{self, Isa};

mod math;
mod smooth;
use crate::stream::{fill_blocks, should_stream};
use crate::threads::{for_each_chunk, map_chunks, GRAIN};
pub use smooth::*;
use std::ops::Range;

/// Accumulator lanes of the reductions. Fixed, so every instruction set adds in the same order
/// and gives bit-identical sums.
const LANES: usize = 16;

fn check_len(kernel: &str, what: &str, got: usize, want: usize) {
    assert!(
        got == want,
        "{kernel}: {what} has {got} elements, expected {want}"
    );
}

multiversion! {
    fn relu_forward_run(x: &[f32], y: &mut [f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            // Written as max(0, x) with 0 first, so NaN propagates as in PyTorch.
            *y = if 0.0 > x { 0.0 } else { x };
        }
    }
}

multiversion! {
    fn relu_backward_run(x: &[f32], dy: &[f32], dx: &mut [f32]) {
        for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
            *dx = if x <= 0.0 { 0.0 } else { dy };
        }
    }
}

multiversion! {
    fn leaky_relu_forward_run(x: &[f32], y: &mut [f32], slope: f32) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = if x > 0.0 { x } else { x * slope };
        }
    }
}

multiversion! {
    fn leaky_relu_backward_run(x: &[f32], dy: &[f32], dx: &mut [f32], slope: f32) {
        for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
            *dx = if x > 0.0 { dy } else { dy * slope };
        }
    }
}

multiversion! {
    /// Writes the input gradient of a run that shares one slope and returns the run's
    /// contribution to that slope's gradient.
    fn prelu_backward_run(x: &[f32], dy: &[f32], dx: &mut [f32], slope: f32) -> f32 {
        let mut acc = [0.0f32; LANES];
        let mut x_chunks = x.chunks_exact(LANES);
        let mut dy_chunks = dy.chunks_exact(LANES);
        let mut dx_chunks = dx.chunks_exact_mut(LANES);
        for ((x, dy), dx) in (&mut x_chunks).zip(&mut dy_chunks).zip(&mut dx_chunks) {
            for l in 0..LANES {
                let positive = x[l] > 0.0;
                dx[l] = if positive { dy[l] } else { dy[l] * slope };
                acc[l] += if positive { 0.0 } else { x[l] * dy[l] };
            }
        }
        let tail = x_chunks.remainder().iter().zip(dy_chunks.remainder());
        for (l, ((&x, &dy), dx)) in tail.zip(dx_chunks.into_remainder()).enumerate() {
            let positive = x > 0.0;
            *dx = if positive { dy } else { dy * slope };
            acc[l] += if positive { 0.0 } else { x * dy };
        }
        acc.iter().sum()
    }
}

/// Runs `f(isa, start, block)` over an elementwise kernel's output: in parallel chunks, at the
/// calling thread's instruction set, streamed when the output is large (see [`stream`]).
fn elementwise(out: &mut [f32], f: impl Fn(Isa, usize, &mut [f32]) + Sync) {
    let isa = simd::active();
    let stream = should_stream(out.len());
    for_each_chunk(out, GRAIN, |start, chunk| {
        fill_blocks(chunk, stream, |offset, block| f(isa, start + offset, block))
    });
}

pub fn relu_forward(x: &[f32], y: &mut [f32]) {
    check_len("relu_forward", "y", y.len(), x.len());
    elementwise(y, |isa, s, y| relu_forward_run(isa, &x[s..s + y.len()], y));
}

pub fn relu_backward(x: &[f32], dy: &[f32], dx: &mut [f32]) {
    check_len("relu_backward", "dy", dy.len(), x.len());
    check_len("relu_backward", "dx", dx.len(), x.len());
    elementwise(dx, |isa, s, dx| {
        let r = s..s + dx.len();
        relu_backward_run(isa, &x[r.clone()], &dy[r], dx)
    });
}

pub fn leaky_relu_forward(x: &[f32], y: &mut [f32], slope: f32) {
    check_len("leaky_relu_forward", "y", y.len(), x.len());
    elementwise(y, |isa, s, y| {
        leaky_relu_forward_run(isa, &x[s..s + y.len()], y, slope)
    });
}

pub fn leaky_relu_backward(x: &[f32], dy: &[f32], dx: &mut [f32], slope: f32) {
    check_len("leaky_relu_backward", "dy", dy.len(), x.len());
    check_len("leaky_relu_backward", "dx", dx.len(), x.len());
    elementwise(dx, |isa, s, dx| {
        let r = s..s + dx.len();
        leaky_relu_backward_run(isa, &x[r.clone()], &dy[r], dx, slope)
    });
}

/// Calls `f(channel, run)` for each piece of `range` that lies within one plane of `inner`
/// elements; plane `p` belongs to channel `p % channels`.
fn for_each_plane_run(
    range: Range<usize>,
    inner: usize,
    channels: usize,
    mut f: impl FnMut(usize, Range<usize>),
) {
    let mut i = range.start;
    while i < range.end {
        let plane = i / inner;
        let end = range.end.min((plane + 1) * inner);
        f(plane % channels, i..end);
        i = end;
    }
}

/// Whether `len` elements form a PReLU input for `channels` slopes with `inner` elements per
/// channel per sample; the error says why not.
pub fn prelu_check(len: usize, channels: usize, inner: usize) -> Result<(), String> {
    if channels == 0 {
        return Err("weight is empty".into());
    }
    if channels > 1 && len > 0 && (inner == 0 || !len.is_multiple_of(channels * inner)) {
        return Err(format!(
            "{len} elements are not a whole number of [{channels} channels × {inner}] blocks"
        ));
    }
    Ok(())
}

/// The plane size and channel count a PReLU kernel iterates with.
fn prelu_layout(kernel: &str, len: usize, weight: &[f32], inner: usize) -> (usize, usize) {
    if let Err(e) = prelu_check(len, weight.len(), inner) {
        panic!("{kernel}: {e}");
    }
    match weight.len() {
        // One slope: the whole input is one plane.
        1 => (len.max(1), 1),
        // An empty input has no planes to walk; any non-zero size does.
        channels => (inner.max(1), channels),
    }
}

/// `inner` is the number of elements per channel per sample (ignored when `weight` has one slope).
pub fn prelu_forward(x: &[f32], weight: &[f32], y: &mut [f32], inner: usize) {
    check_len("prelu_forward", "y", y.len(), x.len());
    let (inner, channels) = prelu_layout("prelu_forward", x.len(), weight, inner);
    elementwise(y, |isa, s, y| {
        for_each_plane_run(s..s + y.len(), inner, channels, |c, r| {
            let out = &mut y[r.start - s..r.end - s];
            leaky_relu_forward_run(isa, &x[r], out, weight[c]);
        });
    });
}

/// Writes `dx` and adds the slopes' gradient into `dweight` (one entry per slope).
pub fn prelu_backward(
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    dweight: &mut [f32],
    inner: usize,
) {
    check_len("prelu_backward", "dy", dy.len(), x.len());
    check_len("prelu_backward", "dx", dx.len(), x.len());
    check_len("prelu_backward", "dweight", dweight.len(), weight.len());
    let (inner, channels) = prelu_layout("prelu_backward", x.len(), weight, inner);
    let isa = simd::active();
    let stream = should_stream(dx.len());
    // Each chunk returns its per-channel sums; adding them in chunk order keeps the result
    // independent of which thread finished first.
    let partials = map_chunks(dx, GRAIN, |start, chunk| {
        let mut sums = vec![0.0f32; channels];
        fill_blocks(chunk, stream, |offset, dx| {
            let s = start + offset;
            for_each_plane_run(s..s + dx.len(), inner, channels, |c, r| {
                let out = &mut dx[r.start - s..r.end - s];
                sums[c] += prelu_backward_run(isa, &x[r.clone()], &dy[r], out, weight[c]);
            });
        });
        sums
    });
    let mut total = vec![0.0f32; channels];
    for sums in &partials {
        for (t, s) in total.iter_mut().zip(sums) {
            *t += s;
        }
    }
    for (dw, t) in dweight.iter_mut().zip(total) {
        *dw += t;
    }
}

/// Copies `x` into `y` with the same chunking and threads as the kernels above: the memory
/// bandwidth reference the benchmarks compare them with.
pub fn copy(x: &[f32], y: &mut [f32]) {
    check_len("copy", "y", y.len(), x.len());
    for_each_chunk(y, GRAIN, |s, y| y.copy_from_slice(&x[s..s + y.len()]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{supported, with_isa};

    /// Deterministic values in [-2, 2) with exact zeros and a NaN mixed in.
    fn sample(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                match i % 97 {
                    5 => 0.0,
                    11 => f32::NAN,
                    _ => ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0,
                }
            })
            .collect()
    }

    /// Lengths around the vector widths, one long enough to run in parallel, and one long
    /// enough to be written with streaming stores.
    const LENS: [usize; 8] = [
        0,
        1,
        15,
        16,
        17,
        1000,
        3 * GRAIN + 7,
        crate::stream::STREAM_MIN_BYTES / 4 + 5,
    ];

    fn same(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    }

    fn at_every_level(check: impl Fn()) {
        for isa in supported() {
            with_isa(isa, &check);
        }
    }

    #[test]
    fn relu_matches_the_definition() {
        at_every_level(|| {
            for len in LENS {
                let x = sample(len, 1);
                // Shifted by 3, so that the zeros and NaN of x meet non-zero gradients.
                let dy = sample(len + 3, 2)[3..].to_vec();
                let mut y = vec![7.0; len];
                let mut dx = vec![7.0; len];
                relu_forward(&x, &mut y);
                relu_backward(&x, &dy, &mut dx);
                let want_y: Vec<f32> = x
                    .iter()
                    .map(|&v| if v.is_nan() { v } else { v.max(0.0) })
                    .collect();
                let want_dx: Vec<f32> = x
                    .iter()
                    .zip(&dy)
                    .map(|(&v, &g)| if v <= 0.0 { 0.0 } else { g })
                    .collect();
                assert!(
                    same(&y, &want_y),
                    "relu forward, {len} elements, {}",
                    simd::active()
                );
                assert!(
                    same(&dx, &want_dx),
                    "relu backward, {len} elements, {}",
                    simd::active()
                );
            }
        });
    }

    #[test]
    fn relu_gradient_at_zero_is_zero_and_nan_passes() {
        let x = [0.0, -0.0, f32::NAN, 1.0, f32::NEG_INFINITY, f32::INFINITY];
        let mut y = [9.0; 6];
        let mut dx = [9.0; 6];
        relu_forward(&x, &mut y);
        relu_backward(&x, &[1.0; 6], &mut dx);
        assert!(y[2].is_nan());
        assert_eq!([y[0], y[3], y[4], y[5]], [0.0, 1.0, 0.0, f32::INFINITY]);
        assert_eq!(dx, [0.0, 0.0, 1.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    fn leaky_relu_uses_the_slope_at_zero_and_for_nan() {
        let x = [0.0, -0.0, f32::NAN, f32::NEG_INFINITY, f32::INFINITY, 2.0];
        let mut dx = [9.0; 6];
        leaky_relu_backward(&x, &[1.0; 6], &mut dx, 0.25);
        assert_eq!(dx, [0.25, 0.25, 0.25, 0.25, 1.0, 1.0]);
        let mut y = [9.0; 6];
        leaky_relu_forward(&x, &mut y, 0.0);
        // -inf · 0 is NaN, as in PyTorch.
        assert!(y[2].is_nan() && y[3].is_nan());
        assert_eq!([y[0], y[4], y[5]], [0.0, f32::INFINITY, 2.0]);
    }

    #[test]
    fn leaky_relu_matches_the_definition() {
        let slope = 0.2;
        at_every_level(|| {
            for len in LENS {
                let x = sample(len, 3);
                let dy = sample(len + 3, 4)[3..].to_vec();
                let mut y = vec![7.0; len];
                let mut dx = vec![7.0; len];
                leaky_relu_forward(&x, &mut y, slope);
                leaky_relu_backward(&x, &dy, &mut dx, slope);
                let want_y: Vec<f32> = x
                    .iter()
                    .map(|&v| if v > 0.0 { v } else { v * slope })
                    .collect();
                let want_dx: Vec<f32> = x
                    .iter()
                    .zip(&dy)
                    .map(|(&v, &g)| if v > 0.0 { g } else { g * slope })
                    .collect();
                assert!(
                    same(&y, &want_y),
                    "leaky forward, {len} elements, {}",
                    simd::active()
                );
                assert!(
                    same(&dx, &want_dx),
                    "leaky backward, {len} elements, {}",
                    simd::active()
                );
            }
        });
    }

    /// PReLU in f64, element by element, for `[outer, channels, inner]`.
    fn prelu_reference(
        x: &[f32],
        w: &[f32],
        dy: &[f32],
        inner: usize,
    ) -> (Vec<f32>, Vec<f32>, Vec<f64>) {
        let channel = |i: usize| {
            if w.len() == 1 {
                0
            } else {
                (i / inner) % w.len()
            }
        };
        let mut y = Vec::new();
        let mut dx = Vec::new();
        let mut dw = vec![0.0f64; w.len()];
        for (i, (&v, &g)) in x.iter().zip(dy).enumerate() {
            let a = w[channel(i)];
            y.push(if v > 0.0 { v } else { a * v });
            dx.push(if v > 0.0 { g } else { a * g });
            // NaN counts as not positive, as in PyTorch.
            if v.is_nan() || v <= 0.0 {
                dw[channel(i)] += v as f64 * g as f64;
            }
        }
        (y, dx, dw)
    }

    #[test]
    fn prelu_matches_the_definition_per_channel_and_shared() {
        // (outer, channels, inner): shared slope, [N, C], [N, C, H, W], one big enough to split
        // across threads with chunks that start mid-plane, and one written in streamed blocks.
        let layouts = [
            (1, 1, 1000),
            (7, 5, 1),
            (3, 4, 9),
            (2, 3, GRAIN + 13),
            (1, 3, crate::stream::STREAM_MIN_BYTES / 12 + 5),
        ];
        at_every_level(|| {
            for (outer, channels, inner) in layouts {
                let len = outer * channels * inner;
                let x: Vec<f32> = sample(len, 5)
                    .into_iter()
                    .map(|v| if v.is_nan() { 0.5 } else { v })
                    .collect();
                let dy = sample(len, 6)
                    .into_iter()
                    .map(|v| if v.is_nan() { 1.0 } else { v })
                    .collect::<Vec<_>>();
                let w: Vec<f32> = (0..channels).map(|c| 0.1 + 0.05 * c as f32).collect();
                let (want_y, want_dx, want_dw) = prelu_reference(&x, &w, &dy, inner);

                let mut y = vec![0.0; len];
                prelu_forward(&x, &w, &mut y, inner);
                assert!(
                    same(&y, &want_y),
                    "prelu forward {outer}×{channels}×{inner}"
                );

                let mut dx = vec![0.0; len];
                let mut dw = vec![1.0; channels]; // backward adds to what is there
                prelu_backward(&x, &w, &dy, &mut dx, &mut dw, inner);
                assert!(
                    same(&dx, &want_dx),
                    "prelu backward dx {outer}×{channels}×{inner}"
                );
                for (got, want) in dw.iter().zip(&want_dw) {
                    let want = 1.0 + want;
                    assert!(
                        (*got as f64 - want).abs() <= 1e-4 * want.abs().max(1.0),
                        "prelu dweight {outer}×{channels}×{inner}: {got} vs {want}"
                    );
                }
            }
        });
    }

    #[test]
    fn prelu_weight_gradient_is_bit_identical_across_instruction_sets() {
        let (channels, inner) = (3, 1001);
        let x = sample(2 * channels * inner, 8);
        let x: Vec<f32> = x
            .into_iter()
            .map(|v| if v.is_nan() { -1.0 } else { v })
            .collect();
        let dy = vec![0.37; x.len()];
        let w = vec![0.25; channels];
        let run = || {
            let mut dx = vec![0.0; x.len()];
            let mut dw = vec![0.0; channels];
            prelu_backward(&x, &w, &dy, &mut dx, &mut dw, inner);
            dw
        };
        let reference = with_isa(Isa::Scalar, run);
        for isa in supported() {
            assert!(same(&with_isa(isa, run), &reference), "{isa}");
        }
    }

    #[test]
    fn prelu_weight_gradient_is_nan_where_a_channel_has_a_nan_input() {
        // PyTorch sums x · dy over x <= 0 "or NaN" (x > 0 fails): a NaN input makes its
        // channel's slope gradient NaN and leaves the others finite. The NaN sits in the
        // vectorised body (index 3) or in the tail (index 40 of 41) of channel 1's run.
        let (channels, inner) = (3, 41);
        at_every_level(|| {
            for at in [3, 40] {
                let mut x: Vec<f32> = sample(2 * channels * inner, 9)
                    .into_iter()
                    .map(|v| if v.is_nan() { -1.0 } else { v })
                    .collect();
                x[inner + at] = f32::NAN;
                let dy = vec![0.5; x.len()];
                let w = [0.1, 0.2, 0.3];
                let mut dx = vec![0.0; x.len()];
                let mut dw = vec![0.0; channels];
                prelu_backward(&x, &w, &dy, &mut dx, &mut dw, inner);
                let nan: Vec<bool> = dw.iter().map(|v| v.is_nan()).collect();
                assert_eq!(nan, [false, true, false], "at {at}, {}", simd::active());
                assert_eq!(
                    dx[inner + at],
                    0.5 * 0.2,
                    "the NaN's input gradient uses the slope"
                );
            }
        });
    }

    #[test]
    fn copy_copies_every_element() {
        for len in LENS {
            let x = sample(len, 10);
            let mut y = vec![7.0; len];
            copy(&x, &mut y);
            assert!(same(&y, &x), "copy, {len} elements");
        }
    }

    #[test]
    fn prelu_check_accepts_exactly_the_layouts_that_divide() {
        // One slope covers any input, whatever `inner` says; an empty input fits any layout.
        assert_eq!(prelu_check(10, 1, 3), Ok(()));
        assert_eq!(prelu_check(10, 1, 0), Ok(()));
        assert_eq!(prelu_check(0, 3, 0), Ok(()));
        assert_eq!(prelu_check(12, 3, 2), Ok(()));
        assert_eq!(prelu_check(12, 3, 4), Ok(()));
        assert!(prelu_check(10, 0, 1).unwrap_err().contains("empty"));
        // 3 and 9 elements are whole multiples of 3 / 2 = 1 or 3 + 2 = 5 rounded, not of 3·2.
        for (len, channels, inner) in [(10, 3, 0), (3, 3, 2), (9, 3, 2), (5, 3, 2), (13, 3, 2)] {
            let e = prelu_check(len, channels, inner).unwrap_err();
            assert!(
                e.contains("not a whole number"),
                "{len}, {channels}, {inner}: {e}"
            );
        }
    }

    #[test]
    fn prelu_with_one_slope_ignores_inner() {
        let x: Vec<f32> = sample(37, 11)
            .into_iter()
            .map(|v| if v.is_nan() { -1.0 } else { v })
            .collect();
        let mut y = vec![0.0; 37];
        let (mut dx, mut dw) = (vec![0.0; 37], [0.0]);
        prelu_forward(&x, &[0.3], &mut y, 5);
        prelu_backward(&x, &[0.3], &[1.0; 37], &mut dx, &mut dw, 0);
        let (want_y, want_dx, want_dw) = prelu_reference(&x, &[0.3], &[1.0; 37], 1);
        assert!(same(&y, &want_y) && same(&dx, &want_dx));
        assert!(
            (dw[0] as f64 - want_dw[0]).abs() < 1e-5,
            "{} vs {}",
            dw[0],
            want_dw[0]
        );
    }

    #[test]
    #[should_panic(expected = "not a whole number")]
    fn prelu_rejects_a_layout_that_does_not_divide() {
        let mut y = vec![0.0; 10];
        prelu_forward(&[0.0; 10], &[0.1, 0.2, 0.3], &mut y, 2);
    }

    #[test]
    #[should_panic(expected = "expected 4")]
    fn mismatched_lengths_panic_with_the_sizes() {
        let mut y = vec![0.0; 3];
        relu_forward(&[0.0; 4], &mut y);
    }
}
