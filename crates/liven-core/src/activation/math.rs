//! Transcendental functions written with plain arithmetic and selects (no calls, no branches on
//! the data), so that the activation kernels' loops that use them vectorise at every
//! instruction-set level. Each is checked against the `f64` standard library in the tests below,
//! at every level; the stated bounds are the measured worst cases over dense samples of the
//! range that matters.

pub(crate) use crate::softmax::exp_nonpositive;

/// `exp(x) - 1` for `x <= 0` (and NaN), within 3 ulp: a Taylor polynomial near 0, where
/// `exp(x) - 1` would cancel, and `exp(x) - 1` below -0.7 (the result is then under -0.5, so the
/// subtraction loses nothing).
#[inline(always)]
pub(crate) fn expm1_nonpositive(x: f32) -> f32 {
    // Σ x^k / k! for k = 1..10; the first omitted term is under 1e-8 of |x| for |x| <= 0.7.
    let p = ((((((((x * (1.0 / 3_628_800.0) + 1.0 / 362_880.0) * x + 1.0 / 40_320.0) * x
        + 1.0 / 5_040.0)
        * x
        + 1.0 / 720.0)
        * x
        + 1.0 / 120.0)
        * x
        + 1.0 / 24.0)
        * x
        + 1.0 / 6.0)
        * x
        + 0.5)
        * x
        * x
        + x;
    if x > -0.7 {
        p
    } else {
        exp_nonpositive(x) - 1.0
    }
}

/// The logistic function and its complement, `(σ(x), 1 - σ(x))`, each accurate to a few ulp on
/// its own (the complement is computed directly, not as `1 - σ`, so it keeps its digits where σ
/// rounds to 1). ±∞ give exactly 1 and 0; NaN gives NaN.
#[inline(always)]
pub(crate) fn sigmoid_pair(x: f32) -> (f32, f32) {
    let e = exp_nonpositive(-x.abs());
    let big = 1.0 / (1.0 + e);
    let small = e * big;
    if x >= 0.0 {
        (big, small)
    } else if x < 0.0 {
        (small, big)
    } else {
        (x, x)
    }
}

/// `tanh(x)` and `1 - |tanh(x)|` (the latter exact where tanh rounds to ±1, for the gradient).
/// Within 3 ulp: a minimax odd polynomial below |x| = 0.625 (where `1 - e` would cancel), and
/// `(1 - e) / (1 + e)` with `e = exp(-2|x|)` above.
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub(crate) fn tanh_pair(x: f32) -> (f32, f32) {
    let a = x.abs();
    let z = x * x;
    // Odd polynomial for small |x|: Cephes' `tanhf` coefficients (checked in the tests).
    let small =
        ((((-5.704_988_7e-3 * z + 2.063_908_9e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z
            - 3.333_328_2e-1)
            * z
            * x
            + x;
    let e = exp_nonpositive(-2.0 * a);
    let q = 1.0 / (1.0 + e);
    let large = (1.0 - e) * q;
    let t = if a < 0.625 {
        small
    } else if x < 0.0 {
        -large
    } else {
        large
    };
    let one_minus = if a < 0.625 {
        1.0 - small.abs()
    } else {
        2.0 * e * q
    };
    (t, one_minus)
}

/// `ln(1 + u)` for `u` in [0, 1] (and NaN), within 2 ulp: `2·atanh(s)` with `s = u / (2 + u)`
/// in [0, 1/3], by its odd series up to s¹⁵; no cancellation for small `u`.
#[inline(always)]
pub(crate) fn log1p_unit(u: f32) -> f32 {
    let s = u / (2.0 + u);
    let z = s * s;
    let p = ((((((z * (1.0 / 15.0) + 1.0 / 13.0) * z + 1.0 / 11.0) * z + 1.0 / 9.0) * z
        + 1.0 / 7.0)
        * z
        + 1.0 / 5.0)
        * z
        + 1.0 / 3.0)
        * z;
    2.0 * (s + s * p)
}

/// `erfc(z)` for `z >= 0` (and NaN), within 1.2e-7 relative in exact arithmetic (the Chebyshev
/// fit of Press et al., *Numerical Recipes*, §6.2) and, in `f32`, within 4e-7 + z²·2⁻²³
/// relative (the rounding of `-z²` in the exponent); it keeps its relative accuracy in the tail, where `1 - erf`
/// would cancel. Underflows to 0 beyond z ≈ 9.3.
#[inline(always)]
#[allow(clippy::excessive_precision)]
pub(crate) fn erfc_nonnegative(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = -1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let arg = p - z * z;
    // At z = 0 the fit's exponent is +3e-8: clamp into exp_nonpositive's domain.
    t * exp_nonpositive(if arg > 0.0 { 0.0 } else { arg })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::multiversion;
    use crate::simd::{active, supported, with_isa};

    fn ulps(got: f32, want: f64) -> f64 {
        let want32 = want as f32;
        let ulp = (f32::from_bits(want32.abs().to_bits() + 1) - want32.abs()) as f64;
        (got as f64 - want).abs() / ulp.max(f32::MIN_POSITIVE as f64)
    }

    multiversion! {
        fn apply(f: fn(f32) -> f32, x: &[f32], y: &mut [f32]) {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = f(x);
            }
        }
    }

    /// The worst error, in ulp of the exact result, of `f` over `xs` at every level.
    fn worst_ulps(f: fn(f32) -> f32, reference: fn(f64) -> f64, xs: &[f32]) -> f64 {
        let mut worst: f64 = 0.0;
        for isa in supported() {
            with_isa(isa, || {
                let mut y = vec![0.0; xs.len()];
                apply(active(), f, xs, &mut y);
                for (&x, &g) in xs.iter().zip(&y) {
                    worst = worst.max(ulps(g, reference(x as f64)));
                }
            });
        }
        worst
    }

    fn grid(lo: f32, hi: f32, n: usize) -> Vec<f32> {
        (0..=n)
            .map(|i| lo + (hi - lo) * i as f32 / n as f32)
            .collect()
    }

    #[test]
    fn expm1_is_within_three_ulp() {
        let xs = grid(-80.0, 0.0, 200_000);
        let small = grid(-1.0, 0.0, 100_000);
        let w = worst_ulps(expm1_nonpositive, f64::exp_m1, &[xs, small].concat());
        assert!(w <= 3.0, "expm1: {w} ulp");
        assert_eq!(expm1_nonpositive(0.0), 0.0);
        assert_eq!(expm1_nonpositive(-1e-30), -1e-30);
        assert_eq!(expm1_nonpositive(f32::NEG_INFINITY), -1.0);
        assert!(expm1_nonpositive(f32::NAN).is_nan());
    }

    #[test]
    fn sigmoid_and_its_complement_are_within_four_ulp() {
        let xs = grid(-80.0, 80.0, 400_000);
        let w = worst_ulps(|x| sigmoid_pair(x).0, |x| 1.0 / (1.0 + (-x).exp()), &xs);
        assert!(w <= 4.0, "sigmoid: {w} ulp");
        let w = worst_ulps(|x| sigmoid_pair(x).1, |x| 1.0 / (1.0 + x.exp()), &xs);
        assert!(w <= 4.0, "1 - sigmoid: {w} ulp");
        assert_eq!(sigmoid_pair(f32::INFINITY), (1.0, 0.0));
        assert_eq!(sigmoid_pair(f32::NEG_INFINITY), (0.0, 1.0));
        assert!(sigmoid_pair(f32::NAN).0.is_nan() && sigmoid_pair(f32::NAN).1.is_nan());
    }

    #[test]
    fn tanh_is_within_three_ulp() {
        let xs = [grid(-12.0, 12.0, 400_000), grid(-1e-3, 1e-3, 10_000)].concat();
        let w = worst_ulps(|x| tanh_pair(x).0, f64::tanh, &xs);
        assert!(w <= 3.0, "tanh: {w} ulp");
        let w = worst_ulps(
            |x| tanh_pair(x).1,
            |x| 1.0 - x.tanh().abs(),
            &grid(-9.0, 9.0, 200_000),
        );
        assert!(w <= 8.0, "1 - |tanh|: {w} ulp");
        assert_eq!(tanh_pair(f32::INFINITY), (1.0, 0.0));
        assert_eq!(tanh_pair(f32::NEG_INFINITY).0, -1.0);
        assert!(tanh_pair(f32::NAN).0.is_nan());
    }

    #[test]
    fn log1p_is_within_two_ulp() {
        let xs = [grid(0.0, 1.0, 200_000), grid(0.0, 1e-6, 1000)].concat();
        let w = worst_ulps(log1p_unit, f64::ln_1p, &xs);
        assert!(w <= 2.0, "log1p: {w} ulp");
    }

    #[test]
    fn erfc_keeps_its_relative_accuracy_in_the_tail() {
        let erfc = |z: f64| libm_erfc(z);
        for isa in supported() {
            with_isa(isa, || {
                let xs = grid(0.0, 9.0, 90_000);
                let mut y = vec![0.0; xs.len()];
                apply(active(), erfc_nonnegative, &xs, &mut y);
                for (&z, &g) in xs.iter().zip(&y) {
                    let want = erfc(z as f64);
                    // The fit (1.2e-7), a few roundings in f32, and the rounding of z² in the exponent.
                    let tol = 4e-7 + (z as f64) * (z as f64) * f32::EPSILON as f64;
                    assert!(
                        ((g as f64) - want).abs() <= tol * want,
                        "{isa} erfc({z}) = {g}, want {want}"
                    );
                }
            });
        }
        assert_eq!(erfc_nonnegative(f32::INFINITY), 0.0);
        assert!(erfc_nonnegative(f32::NAN).is_nan());
    }

    /// erfc in f64 to about 1e-15: the series for small z, the continued fraction for large z.
    pub(crate) fn libm_erfc(z: f64) -> f64 {
        if z < 2.0 {
            // erf by its Taylor series: 2/√π Σ (-1)^n z^(2n+1) / (n! (2n+1)).
            let mut term = z;
            let mut sum = z;
            let mut n = 0.0;
            while term.abs() > 1e-17 * sum.abs() {
                n += 1.0;
                term *= -z * z / n;
                sum += term / (2.0 * n + 1.0);
            }
            1.0 - sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // Lentz-free backward evaluation of the continued fraction
            // erfc(z) = exp(-z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + ...)))).
            let mut f = z;
            for k in (1..200).rev() {
                f = z + (k as f64 / 2.0) / f;
            }
            (-z * z).exp() / std::f64::consts::PI.sqrt() / f
        }
    }
}
