//! Cross-entropy and mean squared error.

use crate::{check_apart, check_disjoint, invalid, same_len, span, Float32Array, Int32Array};
use liven_core::loss;
use napi::Result;
use napi_derive::napi;

fn check_ce(k: &str, x: usize, target: &[i32], n: u32, c: u32, smoothing: f64) -> Result<()> {
    if c == 0 {
        return Err(invalid(format!("{k}: there are no classes")));
    }
    same_len(k, "x", x, n as usize * c as usize)?;
    same_len(k, "target", target.len(), n as usize)?;
    if let Some(bad) = target.iter().find(|&&t| t < 0 || t >= c as i32) {
        return Err(invalid(format!(
            "{k}: class index {bad} is out of range for {c} classes"
        )));
    }
    if !(0.0..=1.0).contains(&smoothing) {
        return Err(invalid(format!(
            "{k}: label smoothing {smoothing} is outside [0, 1]"
        )));
    }
    Ok(())
}

/// The sum of the per-sample losses; `stats` (2·N) receives what the backward needs.
#[napi(catch_unwind)]
pub fn cross_entropy_forward(
    x: Float32Array,
    target: Int32Array,
    mut stats: Float32Array,
    n: u32,
    c: u32,
    label_smoothing: f64,
) -> Result<f64> {
    const K: &str = "crossEntropyForward";
    // `stable`: the class indices checked are the ones used, even on shared memory.
    let (x, target) = (x.view()?, target.stable()?);
    check_ce(K, x.len(), &target, n, c, label_smoothing)?;
    same_len(K, "stats", stats.view()?.len(), 2 * n as usize)?;
    check_apart(
        K,
        "stats",
        span(stats.view()?),
        &[("x", span(x)), ("target", span(&target))],
    )?;
    // SAFETY: stats shares no memory with the inputs (checked above).
    let stats = unsafe { stats.view_mut() }?;
    Ok(loss::cross_entropy_forward(
        x,
        &target,
        stats,
        n as usize,
        c as usize,
        label_smoothing as f32,
    ))
}

#[napi(catch_unwind)]
#[allow(clippy::too_many_arguments)]
pub fn cross_entropy_backward(
    x: Float32Array,
    target: Int32Array,
    stats: Float32Array,
    mut dx: Float32Array,
    n: u32,
    c: u32,
    label_smoothing: f64,
    scale: f64,
) -> Result<()> {
    const K: &str = "crossEntropyBackward";
    // `stable`: the class indices checked are the ones used, even on shared memory.
    let (x, target, stats) = (x.view()?, target.stable()?, stats.view()?);
    check_ce(K, x.len(), &target, n, c, label_smoothing)?;
    same_len(K, "stats", stats.len(), 2 * n as usize)?;
    same_len(K, "gradInput", dx.view()?.len(), x.len())?;
    check_apart(
        K,
        "gradInput",
        span(dx.view()?),
        &[
            ("x", span(x)),
            ("target", span(&target)),
            ("stats", span(stats)),
        ],
    )?;
    // SAFETY: dx shares no memory with the inputs (checked above).
    let dx = unsafe { dx.view_mut() }?;
    loss::cross_entropy_backward(
        x,
        &target,
        stats,
        dx,
        n as usize,
        c as usize,
        label_smoothing as f32,
        scale as f32,
    );
    Ok(())
}

/// Σ (x - t)².
#[napi(catch_unwind)]
pub fn mse_forward(x: Float32Array, target: Float32Array) -> Result<f64> {
    let (x, target) = (x.view()?, target.view()?);
    same_len("mseForward", "target", target.len(), x.len())?;
    Ok(loss::mse_forward(x, target))
}

/// `dx = (x - t) · scale`.
#[napi(catch_unwind)]
pub fn mse_backward(
    x: Float32Array,
    target: Float32Array,
    mut dx: Float32Array,
    scale: f64,
) -> Result<()> {
    const K: &str = "mseBackward";
    let (x, target) = (x.view()?, target.view()?);
    same_len(K, "target", target.len(), x.len())?;
    same_len(K, "gradInput", dx.view()?.len(), x.len())?;
    check_disjoint(K, "gradInput", dx.view()?, &[("x", x), ("target", target)])?;
    // SAFETY: dx shares no memory with the inputs (checked above).
    let dx = unsafe { dx.view_mut() }?;
    loss::mse_backward(x, target, dx, scale as f32);
    Ok(())
}
