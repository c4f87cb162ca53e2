//! The activations beyond the ReLU family: ELU (with CELU and SELU), GELU, SiLU, Mish, Sigmoid,
//! Tanh, Softplus, Hardtanh (with ReLU6), Hardswish, Hardsigmoid, and Dropout's mask product.
//!
//! Each forward is `y = f(x)` and each backward `dx = dy · f'(x)` from the forward's input, with
//! PyTorch's CPU formulas and conventions at the kinks (listed per kernel). The transcendental
//! parts come from [`super::math`], which vectorises; every body is a plain loop inside
//! `multiversion!`, run in parallel chunks by [`elementwise`].

use super::math::{
    erfc_nonnegative, exp_nonpositive, expm1_nonpositive, log1p_unit, sigmoid_pair, tanh_pair,
};
use super::{check_len, elementwise};
use crate::multiversion;

/// Runs a forward body over `x` → `y` in parallel chunks.
macro_rules! forward {
    ($name:literal, $run:ident, $x:expr, $y:expr $(, $arg:expr)*) => {{
        let (x, y) = ($x, $y);
        check_len($name, "y", y.len(), x.len());
        elementwise(y, |isa, s, y| $run(isa, &x[s..s + y.len()], y $(, $arg)*));
    }};
}

/// Runs a backward body over `x`, `dy` → `dx` in parallel chunks.
macro_rules! backward {
    ($name:literal, $run:ident, $x:expr, $dy:expr, $dx:expr $(, $arg:expr)*) => {{
        let (x, dy, dx) = ($x, $dy, $dx);
        check_len($name, "dy", dy.len(), x.len());
        check_len($name, "dx", dx.len(), x.len());
        elementwise(dx, |isa, s, dx| {
            let r = s..s + dx.len();
            $run(isa, &x[r.clone()], &dy[r], dx $(, $arg)*)
        });
    }};
}

/// `min(x, 0)`, keeping NaN: the argument of the functions defined on x <= 0 only.
#[inline(always)]
fn nonpositive(x: f32) -> f32 {
    if x > 0.0 {
        0.0
    } else {
        x
    }
}

multiversion! {
    fn elu_forward_run(x: &[f32], y: &mut [f32], alpha: f32, scale: f32, input_scale: f32) {
        let neg_coef = alpha * scale;
        for (y, &x) in y.iter_mut().zip(x) {
            let neg = expm1_nonpositive(nonpositive(x * input_scale)) * neg_coef;
            *y = if x <= 0.0 { neg } else { x * scale };
        }
    }
}

multiversion! {
    fn elu_backward_run(x: &[f32], dy: &[f32], dx: &mut [f32], alpha: f32, scale: f32, input_scale: f32) {
        let neg_coef = alpha * scale;
        for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
            let neg = dy * input_scale * neg_coef * exp_nonpositive(nonpositive(x * input_scale));
            *dx = if x > 0.0 { dy * scale } else { neg };
        }
    }
}

/// `y = scale · x` where `x > 0`, else `scale · alpha · (exp(input_scale · x) - 1)` (NaN passes).
/// ELU is `(alpha, 1, 1)`, CELU `(alpha, 1, 1/alpha)`, SELU `(α, λ, 1)` with PyTorch's constants.
pub fn elu_forward(x: &[f32], y: &mut [f32], alpha: f32, scale: f32, input_scale: f32) {
    forward!(
        "elu_forward",
        elu_forward_run,
        x,
        y,
        alpha,
        scale,
        input_scale
    );
}

/// `dx = dy · scale` where `x > 0`, else `dy · input_scale · alpha · scale · exp(input_scale · x)`
/// (NaN for NaN, as PyTorch).
pub fn elu_backward(
    x: &[f32],
    dy: &[f32],
    dx: &mut [f32],
    alpha: f32,
    scale: f32,
    input_scale: f32,
) {
    backward!(
        "elu_backward",
        elu_backward_run,
        x,
        dy,
        dx,
        alpha,
        scale,
        input_scale
    );
}

/// The standard normal CDF Φ(x) and density φ(x). Φ comes from erfc on both sides, so that the
/// left tail keeps its relative accuracy (PyTorch's `1 + erf` cancels there).
#[inline(always)]
fn normal_cdf_pdf(x: f32) -> (f32, f32) {
    let half_tail = 0.5 * erfc_nonnegative(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    let cdf = if x < 0.0 { half_tail } else { 1.0 - half_tail };
    // 1/√(2π)
    let pdf = 0.398_942_3 * exp_nonpositive(-0.5 * x * x);
    (cdf, pdf)
}

/// `√(2/π)` and the cubic coefficient of GELU's tanh approximation.
const GELU_K: f32 = 0.797_884_6;
const GELU_C: f32 = 0.044_715;

/// For GELU's tanh form: `0.5 · (1 + tanh(u))` as `σ(2u)` (no cancellation for u < 0), its
/// complement, and `du/dx`.
#[inline(always)]
fn gelu_tanh_parts(x: f32) -> (f32, f32, f32) {
    let u = GELU_K * (x + GELU_C * x * x * x);
    let (s, one_minus_s) = sigmoid_pair(2.0 * u);
    (s, one_minus_s, GELU_K * (1.0 + 3.0 * GELU_C * x * x))
}

multiversion! {
    fn gelu_forward_run(x: &[f32], y: &mut [f32], tanh: bool) {
        if tanh {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x * gelu_tanh_parts(x).0;
            }
        } else {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = x * normal_cdf_pdf(x).0;
            }
        }
    }
}

multiversion! {
    fn gelu_backward_run(x: &[f32], dy: &[f32], dx: &mut [f32], tanh: bool) {
        if tanh {
            for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                // d/dx x·σ(2u) = σ + x · 2σ(1-σ) · u'
                let (s, c, du) = gelu_tanh_parts(x);
                *dx = dy * (s + x * 2.0 * s * c * du);
            }
        } else {
            for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                let (cdf, pdf) = normal_cdf_pdf(x);
                *dx = dy * (cdf + x * pdf);
            }
        }
    }
}

/// `y = x · Φ(x)`, or with `tanh` PyTorch's `approximate='tanh'`:
/// `0.5 · x · (1 + tanh(√(2/π) (x + 0.044715 x³)))`. -∞ gives NaN, as in PyTorch.
pub fn gelu_forward(x: &[f32], y: &mut [f32], tanh: bool) {
    forward!("gelu_forward", gelu_forward_run, x, y, tanh);
}

/// `dx = dy · (Φ(x) + x φ(x))`, or the derivative of the tanh form.
pub fn gelu_backward(x: &[f32], dy: &[f32], dx: &mut [f32], tanh: bool) {
    backward!("gelu_backward", gelu_backward_run, x, dy, dx, tanh);
}

multiversion! {
    fn silu_forward_run(x: &[f32], y: &mut [f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x * sigmoid_pair(x).0;
        }
    }
}

multiversion! {
    fn silu_backward_run(x: &[f32], dy: &[f32], dx: &mut [f32]) {
        for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
            let (s, c) = sigmoid_pair(x);
            *dx = dy * s * (1.0 + x * c);
        }
    }
}

/// `y = x · σ(x)` (also called swish).
pub fn silu_forward(x: &[f32], y: &mut [f32]) {
    forward!("silu_forward", silu_forward_run, x, y);
}

/// `dx = dy · σ(x) · (1 + x (1 - σ(x)))`.
pub fn silu_backward(x: &[f32], dy: &[f32], dx: &mut [f32]) {
    backward!("silu_backward", silu_backward_run, x, dy, dx);
}

/// `tanh(softplus(x))` and its complement, without a logarithm: with `e = exp(x)`,
/// `tanh(ln(1 + e)) = n / (n + 2)` where `n = e (e + 2)`; for x > 0 the same fraction divided
/// through by `e²`, so nothing overflows.
#[inline(always)]
fn tanh_softplus(x: f32) -> (f32, f32) {
    let e = exp_nonpositive(-x.abs());
    let n = e * (e + 2.0);
    // x <= 0: t = n / (n + 2), 1 - t = 2 / (n + 2).
    let neg = 1.0 / (n + 2.0);
    // x > 0: t = (1 + 2e) / (1 + 2e + 2e²), 1 - t = 2e² / (1 + 2e + 2e²).
    let d = 1.0 + 2.0 * e + 2.0 * e * e;
    let pos = 1.0 / d;
    if x > 0.0 {
        ((1.0 + 2.0 * e) * pos, 2.0 * e * e * pos)
    } else if x <= 0.0 {
        (n * neg, 2.0 * neg)
    } else {
        (x, x)
    }
}

multiversion! {
    fn mish_forward_run(x: &[f32], y: &mut [f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x * tanh_softplus(x).0;
        }
    }
}

multiversion! {
    fn mish_backward_run(x: &[f32], dy: &[f32], dx: &mut [f32]) {
        for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
            let (t, c) = tanh_softplus(x);
            // 1 - t² = (1 - t)(1 + t), exact where t rounds to 1.
            *dx = dy * (t + x * sigmoid_pair(x).0 * (c * (1.0 + t)));
        }
    }
}

/// `y = x · tanh(softplus(x))`. ±∞: +∞ gives +∞, -∞ gives NaN (as PyTorch's `-∞ · 0`).
pub fn mish_forward(x: &[f32], y: &mut [f32]) {
    forward!("mish_forward", mish_forward_run, x, y);
}

/// `dx = dy · (t + x σ(x) (1 - t²))` with `t = tanh(softplus(x))`.
pub fn mish_backward(x: &[f32], dy: &[f32], dx: &mut [f32]) {
    backward!("mish_backward", mish_backward_run, x, dy, dx);
}

multiversion! {
    fn sigmoid_forward_run(x: &[f32], y: &mut [f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = sigmoid_pair(x).0;
        }
    }
}

multiversion! {
    fn sigmoid_backward_run(x: &[f32], dy: &[f32], dx: &mut [f32]) {
        for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
            let (s, c) = sigmoid_pair(x);
            *dx = dy * s * c;
        }
    }
}

/// `y = 1 / (1 + exp(-x))`.
pub fn sigmoid_forward(x: &[f32], y: &mut [f32]) {
    forward!("sigmoid_forward", sigmoid_forward_run, x, y);
}

/// `dx = dy · σ(x) (1 - σ(x))`.
pub fn sigmoid_backward(x: &[f32], dy: &[f32], dx: &mut [f32]) {
    backward!("sigmoid_backward", sigmoid_backward_run, x, dy, dx);
}

multiversion! {
    fn tanh_forward_run(x: &[f32], y: &mut [f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = tanh_pair(x).0;
        }
    }
}

multiversion! {
    fn tanh_backward_run(x: &[f32], dy: &[f32], dx: &mut [f32]) {
        for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
            let (t, c) = tanh_pair(x);
            // 1 - t² = (1 - |t|)(1 + |t|)
            *dx = dy * (c * (1.0 + t.abs()));
        }
    }
}

/// `y = tanh(x)`.
pub fn tanh_forward(x: &[f32], y: &mut [f32]) {
    forward!("tanh_forward", tanh_forward_run, x, y);
}

/// `dx = dy · (1 - tanh²(x))`.
pub fn tanh_backward(x: &[f32], dy: &[f32], dx: &mut [f32]) {
    backward!("tanh_backward", tanh_backward_run, x, dy, dx);
}

multiversion! {
    fn softplus_forward_run(x: &[f32], y: &mut [f32], beta: f32, threshold: f32) {
        for (y, &x) in y.iter_mut().zip(x) {
            let z = x * beta;
            // ln(1 + e^z) = max(z, 0) + ln(1 + e^-|z|); NaN reaches the sum through the second term.
            let soft = ((if z > 0.0 { z } else { 0.0 }) + log1p_unit(exp_nonpositive(-z.abs()))) / beta;
            *y = if z > threshold { x } else { soft };
        }
    }
}

multiversion! {
    fn softplus_backward_run(x: &[f32], dy: &[f32], dx: &mut [f32], beta: f32, threshold: f32) {
        for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
            let z = x * beta;
            *dx = if z > threshold { dy } else { dy * sigmoid_pair(z).0 };
        }
    }
}

/// `y = ln(1 + exp(β x)) / β`, and `y = x` where `β x > threshold` (PyTorch's rule).
pub fn softplus_forward(x: &[f32], y: &mut [f32], beta: f32, threshold: f32) {
    forward!(
        "softplus_forward",
        softplus_forward_run,
        x,
        y,
        beta,
        threshold
    );
}

/// `dx = dy · σ(β x)`, and `dy` where `β x > threshold`.
pub fn softplus_backward(x: &[f32], dy: &[f32], dx: &mut [f32], beta: f32, threshold: f32) {
    backward!(
        "softplus_backward",
        softplus_backward_run,
        x,
        dy,
        dx,
        beta,
        threshold
    );
}

multiversion! {
    fn hardtanh_forward_run(x: &[f32], y: &mut [f32], min: f32, max: f32) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = if x < min { min } else if x > max { max } else { x };
        }
    }
}

multiversion! {
    fn hardtanh_backward_run(x: &[f32], dy: &[f32], dx: &mut [f32], min: f32, max: f32) {
        for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
            *dx = if x > min && x < max { dy } else { 0.0 };
        }
    }
}

/// `y = clamp(x, min, max)`; NaN passes. ReLU6 is `(0, 6)`.
pub fn hardtanh_forward(x: &[f32], y: &mut [f32], min: f32, max: f32) {
    forward!("hardtanh_forward", hardtanh_forward_run, x, y, min, max);
}

/// `dx = dy` strictly inside (min, max), else 0: at both kinks and for NaN, as PyTorch.
pub fn hardtanh_backward(x: &[f32], dy: &[f32], dx: &mut [f32], min: f32, max: f32) {
    backward!(
        "hardtanh_backward",
        hardtanh_backward_run,
        x,
        dy,
        dx,
        min,
        max
    );
}

/// `min(max(x + 3, 0), 6)` with NaN passing, as PyTorch's vectorised `minimum`/`maximum`.
#[inline(always)]
fn relu6_shift(x: f32) -> f32 {
    (x + 3.0).clamp(0.0, 6.0)
}

multiversion! {
    fn hardswish_forward_run(x: &[f32], y: &mut [f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = x * relu6_shift(x) / 6.0;
        }
    }
}

multiversion! {
    fn hardswish_backward_run(x: &[f32], dy: &[f32], dx: &mut [f32]) {
        for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
            let mid = dy * (x / 3.0 + 0.5);
            *dx = if x < -3.0 { 0.0 } else if x >= 3.0 { dy } else { mid };
        }
    }
}

/// `y = x · min(max(x + 3, 0), 6) / 6`; -∞ gives NaN as in PyTorch.
pub fn hardswish_forward(x: &[f32], y: &mut [f32]) {
    forward!("hardswish_forward", hardswish_forward_run, x, y);
}

/// `dx = 0` below -3, `dy · (x/3 + 1/2)` on [-3, 3) (and NaN for NaN), `dy` from 3 up, as PyTorch.
pub fn hardswish_backward(x: &[f32], dy: &[f32], dx: &mut [f32]) {
    backward!("hardswish_backward", hardswish_backward_run, x, dy, dx);
}

multiversion! {
    fn hardsigmoid_forward_run(x: &[f32], y: &mut [f32]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = relu6_shift(x) / 6.0;
        }
    }
}

multiversion! {
    fn hardsigmoid_backward_run(x: &[f32], dy: &[f32], dx: &mut [f32]) {
        for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
            *dx = if x > -3.0 && x < 3.0 { dy / 6.0 } else { 0.0 };
        }
    }
}

/// `y = min(max(x + 3, 0), 6) / 6`.
pub fn hardsigmoid_forward(x: &[f32], y: &mut [f32]) {
    forward!("hardsigmoid_forward", hardsigmoid_forward_run, x, y);
}

/// `dx = dy / 6` strictly inside (-3, 3), else 0 (also for NaN).
pub fn hardsigmoid_backward(x: &[f32], dy: &[f32], dx: &mut [f32]) {
    backward!("hardsigmoid_backward", hardsigmoid_backward_run, x, dy, dx);
}

multiversion! {
    fn mask_product_run(x: &[f32], mask: &[f32], y: &mut [f32]) {
        for ((y, &x), &m) in y.iter_mut().zip(x).zip(mask) {
            *y = x * m;
        }
    }
}

/// Dropout's forward and backward: `y = x · mask`, where the mask holds 0 for a dropped element
/// and `1 / (1 - p)` for a kept one (drawn by the caller). A dropped NaN or ±∞ stays NaN, as
/// PyTorch's multiplication by its mask.
pub fn dropout_apply(x: &[f32], mask: &[f32], y: &mut [f32]) {
    check_len("dropout_apply", "mask", mask.len(), x.len());
    check_len("dropout_apply", "y", y.len(), x.len());
    elementwise(y, |isa, s, y| {
        let r = s..s + y.len();
        mask_product_run(isa, &x[r.clone()], &mask[r], y)
    });
}

#[cfg(test)]
mod tests {
    use super::super::math::tests::libm_erfc;
    use super::*;
    use crate::simd::{supported, with_isa, Isa};
    use crate::testutil::uniform;

    type Forward = Box<dyn Fn(&[f32], &mut [f32])>;
    type Backward = Box<dyn Fn(&[f32], &[f32], &mut [f32])>;

    /// A kernel pair and its definition in f64: `(f(x), f'(x))`.
    struct Case {
        name: &'static str,
        forward: Forward,
        backward: Backward,
        reference: fn(f64) -> (f64, f64),
    }

    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }

    fn cdf(x: f64) -> f64 {
        let tail = 0.5 * libm_erfc(x.abs() / std::f64::consts::SQRT_2);
        if x < 0.0 {
            tail
        } else {
            1.0 - tail
        }
    }

    const SELU_ALPHA: f32 = 1.673_263_2;
    const SELU_SCALE: f32 = 1.050_701;

    fn cases() -> Vec<Case> {
        vec![
            Case {
                name: "elu(0.7)",
                forward: Box::new(|x, y| elu_forward(x, y, 0.7, 1.0, 1.0)),
                backward: Box::new(|x, dy, dx| elu_backward(x, dy, dx, 0.7, 1.0, 1.0)),
                reference: |x| {
                    if x > 0.0 {
                        (x, 1.0)
                    } else {
                        (0.7 * x.exp_m1(), 0.7 * x.exp())
                    }
                },
            },
            Case {
                name: "celu(2)",
                forward: Box::new(|x, y| elu_forward(x, y, 2.0, 1.0, 0.5)),
                backward: Box::new(|x, dy, dx| elu_backward(x, dy, dx, 2.0, 1.0, 0.5)),
                reference: |x| {
                    if x > 0.0 {
                        (x, 1.0)
                    } else {
                        (2.0 * (x / 2.0).exp_m1(), (x / 2.0).exp())
                    }
                },
            },
            Case {
                name: "selu",
                forward: Box::new(|x, y| elu_forward(x, y, SELU_ALPHA, SELU_SCALE, 1.0)),
                backward: Box::new(|x, dy, dx| {
                    elu_backward(x, dy, dx, SELU_ALPHA, SELU_SCALE, 1.0)
                }),
                reference: |x| {
                    let (a, s) = (SELU_ALPHA as f64, SELU_SCALE as f64);
                    if x > 0.0 {
                        (s * x, s)
                    } else {
                        (s * a * x.exp_m1(), s * a * x.exp())
                    }
                },
            },
            Case {
                name: "gelu",
                forward: Box::new(|x, y| gelu_forward(x, y, false)),
                backward: Box::new(|x, dy, dx| gelu_backward(x, dy, dx, false)),
                reference: |x| {
                    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
                    (x * cdf(x), cdf(x) + x * pdf)
                },
            },
            Case {
                name: "gelu tanh",
                forward: Box::new(|x, y| gelu_forward(x, y, true)),
                backward: Box::new(|x, dy, dx| gelu_backward(x, dy, dx, true)),
                reference: |x| {
                    let k = (2.0 / std::f64::consts::PI).sqrt();
                    let t = (k * (x + 0.044715 * x * x * x)).tanh();
                    let du = k * (1.0 + 3.0 * 0.044715 * x * x);
                    (
                        0.5 * x * (1.0 + t),
                        0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du,
                    )
                },
            },
            Case {
                name: "silu",
                forward: Box::new(silu_forward),
                backward: Box::new(silu_backward),
                reference: |x| (x * sigmoid(x), sigmoid(x) * (1.0 + x * (1.0 - sigmoid(x)))),
            },
            Case {
                name: "mish",
                forward: Box::new(mish_forward),
                backward: Box::new(mish_backward),
                reference: |x| {
                    let t = x.exp().ln_1p().tanh();
                    (x * t, t + x * sigmoid(x) * (1.0 - t * t))
                },
            },
            Case {
                name: "sigmoid",
                forward: Box::new(sigmoid_forward),
                backward: Box::new(sigmoid_backward),
                reference: |x| (sigmoid(x), sigmoid(x) * sigmoid(-x)),
            },
            Case {
                name: "tanh",
                forward: Box::new(tanh_forward),
                backward: Box::new(tanh_backward),
                reference: |x| (x.tanh(), 1.0 - x.tanh() * x.tanh()),
            },
            Case {
                name: "softplus(2, 5)",
                forward: Box::new(|x, y| softplus_forward(x, y, 2.0, 5.0)),
                backward: Box::new(|x, dy, dx| softplus_backward(x, dy, dx, 2.0, 5.0)),
                reference: |x| {
                    if 2.0 * x > 5.0 {
                        (x, 1.0)
                    } else {
                        ((2.0 * x).exp().ln_1p() / 2.0, sigmoid(2.0 * x))
                    }
                },
            },
            Case {
                name: "hardtanh(-0.5, 2)",
                forward: Box::new(|x, y| hardtanh_forward(x, y, -0.5, 2.0)),
                backward: Box::new(|x, dy, dx| hardtanh_backward(x, dy, dx, -0.5, 2.0)),
                reference: |x| {
                    (
                        x.clamp(-0.5, 2.0),
                        if x > -0.5 && x < 2.0 { 1.0 } else { 0.0 },
                    )
                },
            },
            Case {
                name: "hardswish",
                forward: Box::new(hardswish_forward),
                backward: Box::new(hardswish_backward),
                reference: |x| {
                    let d = if x < -3.0 {
                        0.0
                    } else if x < 3.0 {
                        x / 3.0 + 0.5
                    } else {
                        1.0
                    };
                    (x * (x + 3.0).clamp(0.0, 6.0) / 6.0, d)
                },
            },
            Case {
                name: "hardsigmoid",
                forward: Box::new(hardsigmoid_forward),
                backward: Box::new(hardsigmoid_backward),
                reference: |x| {
                    (
                        (x + 3.0).clamp(0.0, 6.0) / 6.0,
                        if x > -3.0 && x < 3.0 { 1.0 / 6.0 } else { 0.0 },
                    )
                },
            },
        ]
    }

    /// Inputs: uniform on [-8, 8) with the kinks, 0 and large values mixed in.
    fn inputs(len: usize) -> Vec<f32> {
        const SPECIAL: [f32; 12] = [
            0.0, -0.0, -3.0, 3.0, -0.5, 2.0, 6.0, 1e-6, -1e-6, 30.0, -30.0, 100.0,
        ];
        let mut x = uniform(len, 11, 8.0);
        for (i, v) in x.iter_mut().enumerate().step_by(7) {
            *v = SPECIAL[(i / 7) % SPECIAL.len()];
        }
        x
    }

    const LENS: [usize; 6] = [0, 1, 15, 17, 1000, 3 * super::super::GRAIN + 7];

    #[test]
    fn every_kernel_matches_its_definition_at_every_level() {
        for case in cases() {
            let reference = |isa: Isa, len: usize| {
                with_isa(isa, || {
                    let x = inputs(len);
                    let dy = uniform(len, 12, 1.0);
                    let mut y = vec![f32::NAN; len];
                    let mut dx = vec![f32::NAN; len];
                    (case.forward)(&x, &mut y);
                    (case.backward)(&x, &dy, &mut dx);
                    (x, dy, y, dx)
                })
            };
            for len in LENS {
                let (x, dy, y0, dx0) = reference(Isa::Scalar, len);
                for i in 0..len {
                    let (f, d) = (case.reference)(x[i] as f64);
                    let d = d * dy[i] as f64;
                    let close =
                        |got: f32, want: f64| (got as f64 - want).abs() <= 2e-6 * want.abs() + 1e-7;
                    assert!(
                        close(y0[i], f),
                        "{} forward({}) = {}, want {f}",
                        case.name,
                        x[i],
                        y0[i]
                    );
                    assert!(
                        close(dx0[i], d),
                        "{} backward({}) = {}, want {d}",
                        case.name,
                        x[i],
                        dx0[i]
                    );
                }
                // Every level computes the same operations in the same order: the same bits.
                for isa in supported() {
                    let (_, _, y, dx) = reference(isa, len);
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&y),
                        bits(&y0),
                        "{} forward at {isa}, {len} elements",
                        case.name
                    );
                    assert_eq!(
                        bits(&dx),
                        bits(&dx0),
                        "{} backward at {isa}, {len} elements",
                        case.name
                    );
                }
            }
        }
    }

    #[test]
    fn infinities_and_nan_follow_pytorch() {
        let x = [f32::INFINITY, f32::NEG_INFINITY, f32::NAN];
        let run = |f: &dyn Fn(&[f32], &mut [f32])| {
            let mut y = [0.0; 3];
            f(&x, &mut y);
            y
        };
        let same = |a: [f32; 3], b: [f32; 3]| {
            a.iter()
                .zip(&b)
                .all(|(p, q)| p.to_bits() == q.to_bits() || (p.is_nan() && q.is_nan()))
        };
        let nan = f32::NAN;
        let inf = f32::INFINITY;
        assert!(same(
            run(&|x, y| elu_forward(x, y, 1.0, 1.0, 1.0)),
            [inf, -1.0, nan]
        ));
        assert!(same(
            run(&|x, y| gelu_forward(x, y, false)),
            [inf, nan, nan]
        ));
        assert!(same(run(&|x, y| gelu_forward(x, y, true)), [inf, nan, nan]));
        assert!(same(run(&silu_forward), [inf, nan, nan]));
        assert!(same(run(&mish_forward), [inf, nan, nan]));
        assert!(same(run(&sigmoid_forward), [1.0, 0.0, nan]));
        assert!(same(run(&tanh_forward), [1.0, -1.0, nan]));
        assert!(same(
            run(&|x, y| softplus_forward(x, y, 1.0, 20.0)),
            [inf, 0.0, nan]
        ));
        assert!(same(
            run(&|x, y| hardtanh_forward(x, y, 0.0, 6.0)),
            [6.0, 0.0, nan]
        ));
        assert!(same(run(&hardswish_forward), [inf, nan, nan]));
        assert!(same(run(&hardsigmoid_forward), [1.0, 0.0, nan]));
    }

    #[test]
    fn dropout_multiplies_by_the_mask_and_keeps_nan() {
        let x = [1.0, 2.0, f32::NAN, f32::INFINITY, 3.0];
        let mask = [0.0, 2.0, 0.0, 0.0, 2.0];
        let mut y = [7.0; 5];
        dropout_apply(&x, &mask, &mut y);
        assert_eq!([y[0], y[1], y[4]], [0.0, 4.0, 6.0]);
        assert!(y[2].is_nan() && y[3].is_nan());
    }
}
