//! Optimiser updates and gradient clipping. The TypeScript optimisers check options, shapes and
//! the gradients' finiteness first; these checks keep a direct call memory-safe.

use crate::{check_disjoint, invalid, same_len, Float32Array};
use liven_core::optim;
use napi::Result;
use napi_derive::napi;

/// One SGD step in place; `momentumBuffer` is required when momentum is not 0, and
/// `firstStep` says it has not been filled yet.
#[napi(catch_unwind)]
#[allow(clippy::too_many_arguments)]
pub fn sgd_step(
    mut param: Float32Array,
    grad: Float32Array,
    momentum_buffer: Option<Float32Array>,
    lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    first_step: bool,
) -> Result<()> {
    const K: &str = "sgdStep";
    let grad = grad.view()?;
    same_len(K, "grad", grad.len(), param.view()?.len())?;
    check_disjoint(K, "param", param.view()?, &[("grad", grad)])?;
    let hp = optim::Sgd {
        lr,
        momentum,
        dampening,
        weight_decay,
        nesterov,
    };
    match momentum_buffer {
        Some(mut buf) => {
            same_len(K, "momentumBuffer", buf.view()?.len(), grad.len())?;
            check_disjoint(
                K,
                "momentumBuffer",
                buf.view()?,
                &[("param", param.view()?), ("grad", grad)],
            )?;
            // SAFETY: every output was checked disjoint from the other arguments just above.
            let (p, b) = unsafe { (param.view_mut()?, buf.view_mut()?) };
            optim::sgd_step(p, grad, Some(b), hp, first_step);
        }
        None if momentum != 0.0 => {
            return Err(invalid(format!(
                "{K}: momentum {momentum} needs a momentumBuffer"
            )));
        }
        // SAFETY: param was checked disjoint from grad, the only other array, at the top.
        None => optim::sgd_step(unsafe { param.view_mut() }?, grad, None, hp, first_step),
    }
    Ok(())
}

/// One Adagrad step in place; `step` counts from 1.
#[napi(catch_unwind)]
#[allow(clippy::too_many_arguments)]
pub fn adagrad_step(
    mut param: Float32Array,
    grad: Float32Array,
    mut state_sum: Float32Array,
    lr: f64,
    lr_decay: f64,
    weight_decay: f64,
    eps: f64,
    step: u32,
) -> Result<()> {
    const K: &str = "adagradStep";
    let grad = grad.view()?;
    same_len(K, "grad", grad.len(), param.view()?.len())?;
    same_len(K, "stateSum", state_sum.view()?.len(), grad.len())?;
    if step < 1 {
        return Err(invalid(format!("{K}: steps count from 1, got {step}")));
    }
    check_disjoint(
        K,
        "param",
        param.view()?,
        &[("grad", grad), ("stateSum", state_sum.view()?)],
    )?;
    check_disjoint(K, "stateSum", state_sum.view()?, &[("grad", grad)])?;
    // SAFETY: every output was checked disjoint from the other arguments just above.
    let (p, s) = unsafe { (param.view_mut()?, state_sum.view_mut()?) };
    let hp = optim::Adagrad {
        lr,
        lr_decay,
        weight_decay,
        eps,
    };
    optim::adagrad_step(p, grad, s, hp, step as u64);
    Ok(())
}

/// One Adam step in place (AdamW's decoupled weight decay when `decoupled`); `step` counts
/// from 1.
#[napi(catch_unwind)]
#[allow(clippy::too_many_arguments)]
pub fn adam_step(
    mut param: Float32Array,
    grad: Float32Array,
    mut exp_avg: Float32Array,
    mut exp_avg_sq: Float32Array,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    step: u32,
    decoupled: bool,
) -> Result<()> {
    const K: &str = "adamStep";
    let grad = grad.view()?;
    same_len(K, "grad", grad.len(), param.view()?.len())?;
    same_len(K, "expAvg", exp_avg.view()?.len(), grad.len())?;
    same_len(K, "expAvgSq", exp_avg_sq.view()?.len(), grad.len())?;
    if step < 1 {
        return Err(invalid(format!("{K}: steps count from 1, got {step}")));
    }
    check_disjoint(
        K,
        "param",
        param.view()?,
        &[
            ("grad", grad),
            ("expAvg", exp_avg.view()?),
            ("expAvgSq", exp_avg_sq.view()?),
        ],
    )?;
    check_disjoint(
        K,
        "expAvg",
        exp_avg.view()?,
        &[("grad", grad), ("expAvgSq", exp_avg_sq.view()?)],
    )?;
    check_disjoint(K, "expAvgSq", exp_avg_sq.view()?, &[("grad", grad)])?;
    // SAFETY: every output was checked disjoint from the other arguments just above.
    let (p, m, v) = unsafe {
        (
            param.view_mut()?,
            exp_avg.view_mut()?,
            exp_avg_sq.view_mut()?,
        )
    };
    let hp = optim::Adam {
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        decoupled,
    };
    optim::adam_step(p, grad, m, v, hp, step as u64);
    Ok(())
}

/// The index of the first NaN or infinity, or -1.
#[napi(catch_unwind)]
pub fn non_finite_index(x: Float32Array) -> Result<f64> {
    Ok(optim::non_finite_index(x.view()?).map_or(-1.0, |i| i as f64))
}

/// Σ x², accumulated in float64.
#[napi(catch_unwind)]
pub fn sum_squares(x: Float32Array) -> Result<f64> {
    Ok(optim::sum_squares(x.view()?))
}

/// max |x| (0 when empty, NaN when any element is NaN).
#[napi(catch_unwind)]
pub fn max_abs(x: Float32Array) -> Result<f64> {
    Ok(optim::max_abs(x.view()?) as f64)
}

/// x = c·x in place.
#[napi(catch_unwind)]
pub fn scale_in_place(mut x: Float32Array, c: f64) -> Result<()> {
    // SAFETY: the only array of this call, so nothing else aliases it.
    optim::scale_in_place(unsafe { x.view_mut() }?, c as f32);
    Ok(())
}

/// x = min(max(x, lo), hi) in place; NaN stays NaN.
#[napi(catch_unwind)]
pub fn clamp_in_place(mut x: Float32Array, lo: f64, hi: f64) -> Result<()> {
    // SAFETY: the only array of this call, so nothing else aliases it.
    optim::clamp_in_place(unsafe { x.view_mut() }?, lo as f32, hi as f32);
    Ok(())
}
