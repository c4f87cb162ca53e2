//! BatchNorm, GroupNorm, LayerNorm and L2Norm.

// Kernels take their slices and shape arguments one by one, as the JS side passes them.
#![allow(clippy::too_many_arguments)]

use crate::{check_outputs, invalid, same_len, Float32Array};
use liven_core::norm;
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
#[napi(catch_unwind)]
pub fn batch_norm_forward_train(
    x: Float32Array,
    weight: Float32Array,
    bias: Float32Array,
    mut y: Float32Array,
    mut mean: Float32Array,
    mut variance: Float32Array,
    inner: u32,
    eps: f64,
) -> Result<()> {
    const K: &str = "batchNormForwardTrain";
    let (x, weight, bias) = (x.view()?, weight.view()?, bias.view()?);
    let c = weight.len();
    same_len(K, "y", y.view()?.len(), x.len())?;
    same_len(K, "bias", bias.len(), c)?;
    same_len(K, "mean", mean.view()?.len(), c)?;
    same_len(K, "variance", variance.view()?.len(), c)?;
    if layout(K, x.len(), c, inner)? * inner as usize == 0 {
        return Err(invalid(format!("{K}: no values per channel")));
    }
    check_outputs(
        K,
        &[
            ("y", y.view()?),
            ("mean", mean.view()?),
            ("variance", variance.view()?),
        ],
        &[("x", x), ("weight", weight), ("bias", bias)],
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (y, mean, variance) = unsafe { (y.view_mut()?, mean.view_mut()?, variance.view_mut()?) };
    norm::batch_norm_forward_train(x, weight, bias, y, mean, variance, inner as usize, eps);
    Ok(())
}

/// Eval-mode BatchNorm with the given (running) statistics.
#[napi(catch_unwind)]
pub fn batch_norm_forward_eval(
    x: Float32Array,
    weight: Float32Array,
    bias: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    mut y: Float32Array,
    inner: u32,
    eps: f64,
) -> Result<()> {
    const K: &str = "batchNormForwardEval";
    let (x, weight, bias, mean, variance) = (
        x.view()?,
        weight.view()?,
        bias.view()?,
        mean.view()?,
        variance.view()?,
    );
    let c = weight.len();
    same_len(K, "y", y.view()?.len(), x.len())?;
    same_len(K, "bias", bias.len(), c)?;
    same_len(K, "mean", mean.len(), c)?;
    same_len(K, "variance", variance.len(), c)?;
    layout(K, x.len(), c, inner)?;
    let inputs = [
        ("x", x),
        ("weight", weight),
        ("bias", bias),
        ("mean", mean),
        ("variance", variance),
    ];
    check_outputs(K, &[("y", y.view()?)], &inputs)?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let y = unsafe { y.view_mut()? };
    norm::batch_norm_forward_eval(x, weight, bias, mean, variance, y, inner as usize, eps);
    Ok(())
}

/// BatchNorm's backward with the statistics the forward used; adds into the parameter gradients.
#[napi(catch_unwind)]
pub fn batch_norm_backward(
    x: Float32Array,
    dy: Float32Array,
    weight: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    mut dx: Float32Array,
    mut dweight: Float32Array,
    mut dbias: Float32Array,
    inner: u32,
    eps: f64,
    training: bool,
) -> Result<()> {
    const K: &str = "batchNormBackward";
    let (x, dy, weight, mean, variance) = (
        x.view()?,
        dy.view()?,
        weight.view()?,
        mean.view()?,
        variance.view()?,
    );
    let c = weight.len();
    same_len(K, "gradOutput", dy.len(), x.len())?;
    same_len(K, "gradInput", dx.view()?.len(), x.len())?;
    same_len(K, "mean", mean.len(), c)?;
    same_len(K, "variance", variance.len(), c)?;
    same_len(K, "gradWeight", dweight.view()?.len(), c)?;
    same_len(K, "gradBias", dbias.view()?.len(), c)?;
    layout(K, x.len(), c, inner)?;
    let inputs = [
        ("x", x),
        ("gradOutput", dy),
        ("weight", weight),
        ("mean", mean),
        ("variance", variance),
    ];
    check_outputs(
        K,
        &[
            ("gradInput", dx.view()?),
            ("gradWeight", dweight.view()?),
            ("gradBias", dbias.view()?),
        ],
        &inputs,
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (dx, dw, db) = unsafe { (dx.view_mut()?, dweight.view_mut()?, dbias.view_mut()?) };
    norm::batch_norm_backward(
        x,
        dy,
        weight,
        mean,
        variance,
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
#[napi(catch_unwind)]
pub fn group_norm_forward(
    x: Float32Array,
    weight: Float32Array,
    bias: Float32Array,
    mut y: Float32Array,
    mut mean: Float32Array,
    mut variance: Float32Array,
    groups: u32,
    inner: u32,
    eps: f64,
) -> Result<()> {
    const K: &str = "groupNormForward";
    let (x, weight, bias) = (x.view()?, weight.view()?, bias.view()?);
    let c = weight.len();
    same_len(K, "y", y.view()?.len(), x.len())?;
    same_len(K, "bias", bias.len(), c)?;
    check_groups(K, c, groups)?;
    let outer = layout(K, x.len(), c, inner)?;
    same_len(K, "mean", mean.view()?.len(), outer * groups as usize)?;
    same_len(
        K,
        "variance",
        variance.view()?.len(),
        outer * groups as usize,
    )?;
    check_outputs(
        K,
        &[
            ("y", y.view()?),
            ("mean", mean.view()?),
            ("variance", variance.view()?),
        ],
        &[("x", x), ("weight", weight), ("bias", bias)],
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (y, mean, variance) = unsafe { (y.view_mut()?, mean.view_mut()?, variance.view_mut()?) };
    norm::group_norm_forward(
        x,
        weight,
        bias,
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
#[napi(catch_unwind)]
pub fn group_norm_backward(
    x: Float32Array,
    dy: Float32Array,
    weight: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    mut dx: Float32Array,
    mut dweight: Float32Array,
    mut dbias: Float32Array,
    groups: u32,
    inner: u32,
    eps: f64,
) -> Result<()> {
    const K: &str = "groupNormBackward";
    let (x, dy, weight, mean, variance) = (
        x.view()?,
        dy.view()?,
        weight.view()?,
        mean.view()?,
        variance.view()?,
    );
    let c = weight.len();
    same_len(K, "gradOutput", dy.len(), x.len())?;
    same_len(K, "gradInput", dx.view()?.len(), x.len())?;
    same_len(K, "gradWeight", dweight.view()?.len(), c)?;
    same_len(K, "gradBias", dbias.view()?.len(), c)?;
    check_groups(K, c, groups)?;
    let outer = layout(K, x.len(), c, inner)?;
    same_len(K, "mean", mean.len(), outer * groups as usize)?;
    same_len(K, "variance", variance.len(), outer * groups as usize)?;
    let inputs = [
        ("x", x),
        ("gradOutput", dy),
        ("weight", weight),
        ("mean", mean),
        ("variance", variance),
    ];
    check_outputs(
        K,
        &[
            ("gradInput", dx.view()?),
            ("gradWeight", dweight.view()?),
            ("gradBias", dbias.view()?),
        ],
        &inputs,
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (dx, dw, db) = unsafe { (dx.view_mut()?, dweight.view_mut()?, dbias.view_mut()?) };
    norm::group_norm_backward(
        x,
        dy,
        weight,
        mean,
        variance,
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
#[napi(catch_unwind)]
pub fn layer_norm_forward(
    x: Float32Array,
    weight: Float32Array,
    bias: Float32Array,
    mut y: Float32Array,
    mut mean: Float32Array,
    mut variance: Float32Array,
    eps: f64,
) -> Result<()> {
    const K: &str = "layerNormForward";
    let (x, weight, bias) = (x.view()?, weight.view()?, bias.view()?);
    let d = weight.len();
    same_len(K, "y", y.view()?.len(), x.len())?;
    same_len(K, "bias", bias.len(), d)?;
    let rows = layout(K, x.len(), d, 1)?;
    same_len(K, "mean", mean.view()?.len(), rows)?;
    same_len(K, "variance", variance.view()?.len(), rows)?;
    check_outputs(
        K,
        &[
            ("y", y.view()?),
            ("mean", mean.view()?),
            ("variance", variance.view()?),
        ],
        &[("x", x), ("weight", weight), ("bias", bias)],
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (y, mean, variance) = unsafe { (y.view_mut()?, mean.view_mut()?, variance.view_mut()?) };
    norm::layer_norm_forward(x, weight, bias, y, mean, variance, eps);
    Ok(())
}

/// LayerNorm's backward with the forward's statistics; adds into the parameter gradients.
#[napi(catch_unwind)]
pub fn layer_norm_backward(
    x: Float32Array,
    dy: Float32Array,
    weight: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    mut dx: Float32Array,
    mut dweight: Float32Array,
    mut dbias: Float32Array,
    eps: f64,
) -> Result<()> {
    const K: &str = "layerNormBackward";
    let (x, dy, weight, mean, variance) = (
        x.view()?,
        dy.view()?,
        weight.view()?,
        mean.view()?,
        variance.view()?,
    );
    let d = weight.len();
    same_len(K, "gradOutput", dy.len(), x.len())?;
    same_len(K, "gradInput", dx.view()?.len(), x.len())?;
    same_len(K, "gradWeight", dweight.view()?.len(), d)?;
    same_len(K, "gradBias", dbias.view()?.len(), d)?;
    let rows = layout(K, x.len(), d, 1)?;
    same_len(K, "mean", mean.len(), rows)?;
    same_len(K, "variance", variance.len(), rows)?;
    let inputs = [
        ("x", x),
        ("gradOutput", dy),
        ("weight", weight),
        ("mean", mean),
        ("variance", variance),
    ];
    check_outputs(
        K,
        &[
            ("gradInput", dx.view()?),
            ("gradWeight", dweight.view()?),
            ("gradBias", dbias.view()?),
        ],
        &inputs,
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (dx, dw, db) = unsafe { (dx.view_mut()?, dweight.view_mut()?, dbias.view_mut()?) };
    norm::layer_norm_backward(x, dy, weight, mean, variance, dx, dw, db, eps);
    Ok(())
}

/// L2Norm along the middle dimension of `[outer, weight.length, inner]`; writes `y` and the norms.
#[napi(catch_unwind)]
pub fn l2_norm_forward(
    x: Float32Array,
    weight: Float32Array,
    mut y: Float32Array,
    mut norm: Float32Array,
    inner: u32,
    eps: f64,
) -> Result<()> {
    const K: &str = "l2NormForward";
    let (x, weight) = (x.view()?, weight.view()?);
    same_len(K, "y", y.view()?.len(), x.len())?;
    let outer = layout(K, x.len(), weight.len(), inner)?;
    same_len(K, "norm", norm.view()?.len(), outer * inner as usize)?;
    check_outputs(
        K,
        &[("y", y.view()?), ("norm", norm.view()?)],
        &[("x", x), ("weight", weight)],
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (y, nrm) = unsafe { (y.view_mut()?, norm.view_mut()?) };
    norm::l2_norm_forward(x, weight, y, nrm, inner as usize, eps);
    Ok(())
}

/// L2Norm's backward with the forward's norms; adds into the weight's gradient.
#[napi(catch_unwind)]
pub fn l2_norm_backward(
    x: Float32Array,
    dy: Float32Array,
    weight: Float32Array,
    norm: Float32Array,
    mut dx: Float32Array,
    mut dweight: Float32Array,
    inner: u32,
    eps: f64,
) -> Result<()> {
    const K: &str = "l2NormBackward";
    let (x, dy, weight, norm) = (x.view()?, dy.view()?, weight.view()?, norm.view()?);
    same_len(K, "gradOutput", dy.len(), x.len())?;
    same_len(K, "gradInput", dx.view()?.len(), x.len())?;
    same_len(K, "gradWeight", dweight.view()?.len(), weight.len())?;
    let outer = layout(K, x.len(), weight.len(), inner)?;
    same_len(K, "norm", norm.len(), outer * inner as usize)?;
    let inputs = [
        ("x", x),
        ("gradOutput", dy),
        ("weight", weight),
        ("norm", norm),
    ];
    check_outputs(
        K,
        &[("gradInput", dx.view()?), ("gradWeight", dweight.view()?)],
        &inputs,
    )?;
    // SAFETY: check_outputs just above found every output disjoint from the others and the inputs.
    let (dx, dw) = unsafe { (dx.view_mut()?, dweight.view_mut()?) };
    norm::l2_norm_backward(x, dy, weight, norm, dx, dw, inner as usize, eps);
    Ok(())
}
