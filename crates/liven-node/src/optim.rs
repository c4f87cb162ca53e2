//! Optimiser updates and gradient clipping. The TypeScript optimisers check options, shapes and
//! the gradients' finiteness first; these checks keep a direct call memory-safe.

use crate::{check_disjoint, invalid, output, same_len};
use liven_core::optim;
use napi::bindgen_prelude::Float32ArraySlice;
use napi::Result;
use napi_derive::napi;

/// One SGD step in place; `momentumBuffer` is required when momentum is not 0, and
/// `firstStep` says it has not been filled yet.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn sgd_step(
    mut param: Float32ArraySlice,
    grad: Float32ArraySlice,
    momentum_buffer: Option<Float32ArraySlice>,
    lr: f64,
    momentum: f64,
    dampening: f64,
    weight_decay: f64,
    nesterov: bool,
    first_step: bool,
) -> Result<()> {
    const K: &str = "sgdStep";
    same_len(K, "grad", grad.len(), param.len())?;
    check_disjoint(K, "param", &param, &[("grad", &grad)])?;
    let hp = optim::Sgd {
        lr,
        momentum,
        dampening,
        weight_decay,
        nesterov,
    };
    match momentum_buffer {
        Some(mut buf) => {
            same_len(K, "momentumBuffer", buf.len(), param.len())?;
            check_disjoint(
                K,
                "momentumBuffer",
                &buf,
                &[("param", &param), ("grad", &grad)],
            )?;
            // SAFETY: every output was checked disjoint from the other arguments just above.
            let (p, b) = unsafe { (output(&mut param), output(&mut buf)) };
            optim::sgd_step(p, &grad, Some(b), hp, first_step);
        }
        None if momentum != 0.0 => {
            return Err(invalid(format!(
                "{K}: momentum {momentum} needs a momentumBuffer"
            )));
        }
        // SAFETY: param was checked disjoint from grad, the only other array, at the top.
        None => optim::sgd_step(unsafe { output(&mut param) }, &grad, None, hp, first_step),
    }
    Ok(())
}

/// One Adagrad step in place; `step` counts from 1.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn adagrad_step(
    mut param: Float32ArraySlice,
    grad: Float32ArraySlice,
    mut state_sum: Float32ArraySlice,
    lr: f64,
    lr_decay: f64,
    weight_decay: f64,
    eps: f64,
    step: u32,
) -> Result<()> {
    const K: &str = "adagradStep";
    same_len(K, "grad", grad.len(), param.len())?;
    same_len(K, "stateSum", state_sum.len(), param.len())?;
    if step < 1 {
        return Err(invalid(format!("{K}: steps count from 1, got {step}")));
    }
    check_disjoint(
        K,
        "param",
        &param,
        &[("grad", &grad), ("stateSum", &state_sum)],
    )?;
    check_disjoint(K, "stateSum", &state_sum, &[("grad", &grad)])?;
    // SAFETY: every output was checked disjoint from the other arguments just above.
    let (p, s) = unsafe { (output(&mut param), output(&mut state_sum)) };
    let hp = optim::Adagrad {
        lr,
        lr_decay,
        weight_decay,
        eps,
    };
    optim::adagrad_step(p, &grad, s, hp, step as u64);
    Ok(())
}

/// One Adam step in place (AdamW's decoupled weight decay when `decoupled`); `step` counts
/// from 1.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn adam_step(
    mut param: Float32ArraySlice,
    grad: Float32ArraySlice,
    mut exp_avg: Float32ArraySlice,
    mut exp_avg_sq: Float32ArraySlice,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    step: u32,
    decoupled: bool,
) -> Result<()> {
    const K: &str = "adamStep";
    same_len(K, "grad", grad.len(), param.len())?;
    same_len(K, "expAvg", exp_avg.len(), param.len())?;
    same_len(K, "expAvgSq", exp_avg_sq.len(), param.len())?;
    if step < 1 {
        return Err(invalid(format!("{K}: steps count from 1, got {step}")));
    }
    check_disjoint(
        K,
        "param",
        &param,
        &[
            ("grad", &grad),
            ("expAvg", &exp_avg),
            ("expAvgSq", &exp_avg_sq),
        ],
    )?;
    check_disjoint(
        K,
        "expAvg",
        &exp_avg,
        &[("grad", &grad), ("expAvgSq", &exp_avg_sq)],
    )?;
    check_disjoint(K, "expAvgSq", &exp_avg_sq, &[("grad", &grad)])?;
    // SAFETY: every output was checked disjoint from the other arguments just above.
    let (p, m, v) = unsafe {
        (
            output(&mut param),
            output(&mut exp_avg),
            output(&mut exp_avg_sq),
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
    optim::adam_step(p, &grad, m, v, hp, step as u64);
    Ok(())
}

/// The index of the first NaN or infinity, or -1.
#[napi]
pub fn non_finite_index(x: Float32ArraySlice) -> f64 {
    optim::non_finite_index(&x).map_or(-1.0, |i| i as f64)
}

/// Σ x², accumulated in float64.
#[napi]
pub fn sum_squares(x: Float32ArraySlice) -> f64 {
    optim::sum_squares(&x)
}

/// max |x| (0 when empty, NaN when any element is NaN).
#[napi]
pub fn max_abs(x: Float32ArraySlice) -> f64 {
    optim::max_abs(&x) as f64
}

/// x = c·x in place.
#[napi]
pub fn scale_in_place(mut x: Float32ArraySlice, c: f64) {
    // SAFETY: the only array of this call, so nothing else aliases it.
    optim::scale_in_place(unsafe { output(&mut x) }, c as f32);
}

/// x = min(max(x, lo), hi) in place; NaN stays NaN.
#[napi]
pub fn clamp_in_place(mut x: Float32ArraySlice, lo: f64, hi: f64) {
    // SAFETY: the only array of this call, so nothing else aliases it.
    optim::clamp_in_place(unsafe { output(&mut x) }, lo as f32, hi as f32);
}
