//! BatchNorm, GroupNorm, LayerNorm and L2Norm.

// Kernels take their slices and shape arguments one by one, as the JS side passes them.
#![allow(clippy::too_many_arguments)]

use crate::{check_outputs, invalid, output, same_len};
use liven_core::norm;
use napi::bindgen_prelude::Float32ArraySlice;
use napi::Result;
use napi_derive::napi;

/// `outer` of an `[outer, channels, inner]` input, or an error naming the kernel.
fn layout(kernel: &str, len: usize, channels: usize, inner: u32) -> Result<usize> {
    norm::norm_layout(len, channels, inner as usize).map_err(|e| invalid(format!("{kernel}: {e}")))
}

fn check_groups(kernel: &str, channels: usize, groups: u32) -> Result<()> {
    if groups == 0 || !channels.is_multiple_of(groups as usize) {
        return Err(invalid(format!(
            "{kernel}: {channels} channels are not divisible into {groups} groups"
        )));
    }
    Ok(())
}

/// Training-mode BatchNorm: writes the batch's per-channel mean and biased variance, and `y`.
#[napi]
pub fn batch_norm_forward_train(
    x: Float32ArraySlice,
    weight: Float32ArraySlice,
    bias: Float32ArraySlice,
    mut y: Float32ArraySlice,
    mut mean: Float32ArraySlice,
    mut variance: Float32ArraySlice,
    inner: u32,
    eps: f64,
) -> Result<()> {
    const K: &str = "batchNormForwardTrain";
    let c = weight.len();
    same_len(K, "y", y.len(), x.len())?;
    same_len(K, "bias", bias.len(), c)?;
    same_len(K, "mean", mean.len(), c)?;
    same_len(K, "variance", variance.len(), c)?;
    if layout(K, x.len(), c, inner)? * inner as usize == 0 {
        return Err(invalid(format!("{K}: no values per channel")));
    }
    check_outputs(
        K,
        &[("y", &y), ("mean", &mean), ("variance", &variance)],
        &[("x", &x), ("weight", &weight), ("bias", &bias)],
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (y, mean, variance) = unsafe { (output(&mut y), output(&mut mean), output(&mut variance)) };
    norm::batch_norm_forward_train(&x, &weight, &bias, y, mean, variance, inner as usize, eps);
    Ok(())
}

/// Eval-mode BatchNorm with the given (running) statistics.
#[napi]
pub fn batch_norm_forward_eval(
    x: Float32ArraySlice,
    weight: Float32ArraySlice,
    bias: Float32ArraySlice,
    mean: Float32ArraySlice,
    variance: Float32ArraySlice,
    mut y: Float32ArraySlice,
    inner: u32,
    eps: f64,
) -> Result<()> {
    const K: &str = "batchNormForwardEval";
    let c = weight.len();
    same_len(K, "y", y.len(), x.len())?;
    same_len(K, "bias", bias.len(), c)?;
    same_len(K, "mean", mean.len(), c)?;
    same_len(K, "variance", variance.len(), c)?;
    layout(K, x.len(), c, inner)?;
    let inputs = [
        ("x", &x[..]),
        ("weight", &weight[..]),
        ("bias", &bias[..]),
        ("mean", &mean[..]),
        ("variance", &variance[..]),
    ];
    check_outputs(K, &[("y", &y)], &inputs)?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let y = unsafe { output(&mut y) };
    norm::batch_norm_forward_eval(&x, &weight, &bias, &mean, &variance, y, inner as usize, eps);
    Ok(())
}

/// BatchNorm's backward with the statistics the forward used; adds into the parameter gradients.
#[napi]
pub fn batch_norm_backward(
    x: Float32ArraySlice,
    dy: Float32ArraySlice,
    weight: Float32ArraySlice,
    mean: Float32ArraySlice,
    variance: Float32ArraySlice,
    mut dx: Float32ArraySlice,
    mut dweight: Float32ArraySlice,
    mut dbias: Float32ArraySlice,
    inner: u32,
    eps: f64,
    training: bool,
) -> Result<()> {
    const K: &str = "batchNormBackward";
    let c = weight.len();
    same_len(K, "gradOutput", dy.len(), x.len())?;
    same_len(K, "gradInput", dx.len(), x.len())?;
    same_len(K, "mean", mean.len(), c)?;
    same_len(K, "variance", variance.len(), c)?;
    same_len(K, "gradWeight", dweight.len(), c)?;
    same_len(K, "gradBias", dbias.len(), c)?;
    layout(K, x.len(), c, inner)?;
    let inputs = [
        ("x", &x[..]),
        ("gradOutput", &dy[..]),
        ("weight", &weight[..]),
        ("mean", &mean[..]),
        ("variance", &variance[..]),
    ];
    check_outputs(
        K,
        &[
            ("gradInput", &dx),
            ("gradWeight", &dweight),
            ("gradBias", &dbias),
        ],
        &inputs,
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (dx, dw, db) = unsafe { (output(&mut dx), output(&mut dweight), output(&mut dbias)) };
    norm::batch_norm_backward(
        &x,
        &dy,
        &weight,
        &mean,
        &variance,
        dx,
        dw,
        db,
        inner as usize,
        eps,
        training,
    );
    Ok(())
}

/// GroupNorm: writes per-(sample, group) mean and biased variance, and `y`.
#[napi]
pub fn group_norm_forward(
    x: Float32ArraySlice,
    weight: Float32ArraySlice,
    bias: Float32ArraySlice,
    mut y: Float32ArraySlice,
    mut mean: Float32ArraySlice,
    mut variance: Float32ArraySlice,
    groups: u32,
    inner: u32,
    eps: f64,
) -> Result<()> {
    const K: &str = "groupNormForward";
    let c = weight.len();
    same_len(K, "y", y.len(), x.len())?;
    same_len(K, "bias", bias.len(), c)?;
    check_groups(K, c, groups)?;
    let outer = layout(K, x.len(), c, inner)?;
    same_len(K, "mean", mean.len(), outer * groups as usize)?;
    same_len(K, "variance", variance.len(), outer * groups as usize)?;
    check_outputs(
        K,
        &[("y", &y), ("mean", &mean), ("variance", &variance)],
        &[("x", &x), ("weight", &weight), ("bias", &bias)],
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (y, mean, variance) = unsafe { (output(&mut y), output(&mut mean), output(&mut variance)) };
    norm::group_norm_forward(
        &x,
        &weight,
        &bias,
        y,
        mean,
        variance,
        groups as usize,
        inner as usize,
        eps,
    );
    Ok(())
}

/// GroupNorm's backward with the forward's statistics; adds into the parameter gradients.
#[napi]
pub fn group_norm_backward(
    x: Float32ArraySlice,
    dy: Float32ArraySlice,
    weight: Float32ArraySlice,
    mean: Float32ArraySlice,
    variance: Float32ArraySlice,
    mut dx: Float32ArraySlice,
    mut dweight: Float32ArraySlice,
    mut dbias: Float32ArraySlice,
    groups: u32,
    inner: u32,
    eps: f64,
) -> Result<()> {
    const K: &str = "groupNormBackward";
    let c = weight.len();
    same_len(K, "gradOutput", dy.len(), x.len())?;
    same_len(K, "gradInput", dx.len(), x.len())?;
    same_len(K, "gradWeight", dweight.len(), c)?;
    same_len(K, "gradBias", dbias.len(), c)?;
    check_groups(K, c, groups)?;
    let outer = layout(K, x.len(), c, inner)?;
    same_len(K, "mean", mean.len(), outer * groups as usize)?;
    same_len(K, "variance", variance.len(), outer * groups as usize)?;
    let inputs = [
        ("x", &x[..]),
        ("gradOutput", &dy[..]),
        ("weight", &weight[..]),
        ("mean", &mean[..]),
        ("variance", &variance[..]),
    ];
    check_outputs(
        K,
        &[
            ("gradInput", &dx),
            ("gradWeight", &dweight),
            ("gradBias", &dbias),
        ],
        &inputs,
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (dx, dw, db) = unsafe { (output(&mut dx), output(&mut dweight), output(&mut dbias)) };
    norm::group_norm_backward(
        &x,
        &dy,
        &weight,
        &mean,
        &variance,
        dx,
        dw,
        db,
        groups as usize,
        inner as usize,
        eps,
    );
    Ok(())
}

/// LayerNorm over rows of `weight.length` values: writes per-row mean and biased variance, and `y`.
#[napi]
pub fn layer_norm_forward(
    x: Float32ArraySlice,
    weight: Float32ArraySlice,
    bias: Float32ArraySlice,
    mut y: Float32ArraySlice,
    mut mean: Float32ArraySlice,
    mut variance: Float32ArraySlice,
    eps: f64,
) -> Result<()> {
    const K: &str = "layerNormForward";
    let d = weight.len();
    same_len(K, "y", y.len(), x.len())?;
    same_len(K, "bias", bias.len(), d)?;
    let rows = layout(K, x.len(), d, 1)?;
    same_len(K, "mean", mean.len(), rows)?;
    same_len(K, "variance", variance.len(), rows)?;
    check_outputs(
        K,
        &[("y", &y), ("mean", &mean), ("variance", &variance)],
        &[("x", &x), ("weight", &weight), ("bias", &bias)],
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (y, mean, variance) = unsafe { (output(&mut y), output(&mut mean), output(&mut variance)) };
    norm::layer_norm_forward(&x, &weight, &bias, y, mean, variance, eps);
    Ok(())
}

/// LayerNorm's backward with the forward's statistics; adds into the parameter gradients.
#[napi]
pub fn layer_norm_backward(
    x: Float32ArraySlice,
    dy: Float32ArraySlice,
    weight: Float32ArraySlice,
    mean: Float32ArraySlice,
    variance: Float32ArraySlice,
    mut dx: Float32ArraySlice,
    mut dweight: Float32ArraySlice,
    mut dbias: Float32ArraySlice,
    eps: f64,
) -> Result<()> {
    const K: &str = "layerNormBackward";
    let d = weight.len();
    same_len(K, "gradOutput", dy.len(), x.len())?;
    same_len(K, "gradInput", dx.len(), x.len())?;
    same_len(K, "gradWeight", dweight.len(), d)?;
    same_len(K, "gradBias", dbias.len(), d)?;
    let rows = layout(K, x.len(), d, 1)?;
    same_len(K, "mean", mean.len(), rows)?;
    same_len(K, "variance", variance.len(), rows)?;
    let inputs = [
        ("x", &x[..]),
        ("gradOutput", &dy[..]),
        ("weight", &weight[..]),
        ("mean", &mean[..]),
        ("variance", &variance[..]),
    ];
    check_outputs(
        K,
        &[
            ("gradInput", &dx),
            ("gradWeight", &dweight),
            ("gradBias", &dbias),
        ],
        &inputs,
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (dx, dw, db) = unsafe { (output(&mut dx), output(&mut dweight), output(&mut dbias)) };
    norm::layer_norm_backward(&x, &dy, &weight, &mean, &variance, dx, dw, db, eps);
    Ok(())
}

/// L2Norm along the middle dimension of `[outer, weight.length, inner]`; writes `y` and the norms.
#[napi]
pub fn l2_norm_forward(
    x: Float32ArraySlice,
    weight: Float32ArraySlice,
    mut y: Float32ArraySlice,
    mut norm: Float32ArraySlice,
    inner: u32,
    eps: f64,
) -> Result<()> {
    const K: &str = "l2NormForward";
    same_len(K, "y", y.len(), x.len())?;
    let outer = layout(K, x.len(), weight.len(), inner)?;
    same_len(K, "norm", norm.len(), outer * inner as usize)?;
    check_outputs(
        K,
        &[("y", &y), ("norm", &norm)],
        &[("x", &x), ("weight", &weight)],
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (y, nrm) = unsafe { (output(&mut y), output(&mut norm)) };
    norm::l2_norm_forward(&x, &weight, y, nrm, inner as usize, eps);
    Ok(())
}

/// L2Norm's backward with the forward's norms; adds into the weight's gradient.
#[napi]
pub fn l2_norm_backward(
    x: Float32ArraySlice,
    dy: Float32ArraySlice,
    weight: Float32ArraySlice,
    norm: Float32ArraySlice,
    mut dx: Float32ArraySlice,
    mut dweight: Float32ArraySlice,
    inner: u32,
    eps: f64,
) -> Result<()> {
    const K: &str = "l2NormBackward";
    same_len(K, "gradOutput", dy.len(), x.len())?;
    same_len(K, "gradInput", dx.len(), x.len())?;
    same_len(K, "gradWeight", dweight.len(), weight.len())?;
    let outer = layout(K, x.len(), weight.len(), inner)?;
    same_len(K, "norm", norm.len(), outer * inner as usize)?;
    let inputs = [
        ("x", &x[..]),
        ("gradOutput", &dy[..]),
        ("weight", &weight[..]),
        ("norm", &norm[..]),
    ];
    check_outputs(K, &[("gradInput", &dx), ("gradWeight", &dweight)], &inputs)?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (dx, dw) = unsafe { (output(&mut dx), output(&mut dweight)) };
    norm::l2_norm_backward(&x, &dy, &weight, &norm, dx, dw, inner as usize, eps);
    Ok(())
}
