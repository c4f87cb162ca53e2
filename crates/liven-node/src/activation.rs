//! ReLU, LeakyReLU and PReLU.

use crate::{check_disjoint, check_outputs, invalid, same_len, Float32Array};
use liven_core::activation;
use napi::Result;
use napi_derive::napi;

fn check_prelu(kernel: &str, len: usize, channels: usize, inner: u32) -> Result<()> {
    activation::prelu_check(len, channels, inner as usize)
        .map_err(|e| invalid(format!("{kernel}: {e}")))
}

#[napi(catch_unwind)]
pub fn relu_forward(x: Float32Array, mut y: Float32Array) -> Result<()> {
    let x = x.view()?;
    same_len("reluForward", "y", y.view()?.len(), x.len())?;
    check_disjoint("reluForward", "y", y.view()?, &[("x", x)])?;
    // SAFETY: checked disjoint from every other argument just above.
    let y = unsafe { y.view_mut() }?;
    activation::relu_forward(x, y);
    Ok(())
}

#[napi(catch_unwind)]
pub fn relu_backward(x: Float32Array, dy: Float32Array, mut dx: Float32Array) -> Result<()> {
    let (x, dy) = (x.view()?, dy.view()?);
    same_len("reluBackward", "gradOutput", dy.len(), x.len())?;
    same_len("reluBackward", "gradInput", dx.view()?.len(), x.len())?;
    check_disjoint(
        "reluBackward",
        "gradInput",
        dx.view()?,
        &[("x", x), ("gradOutput", dy)],
    )?;
    // SAFETY: checked disjoint from every other argument just above.
    let dx = unsafe { dx.view_mut() }?;
    activation::relu_backward(x, dy, dx);
    Ok(())
}

#[napi(catch_unwind)]
pub fn leaky_relu_forward(x: Float32Array, mut y: Float32Array, negative_slope: f64) -> Result<()> {
    let x = x.view()?;
    same_len("leakyReluForward", "y", y.view()?.len(), x.len())?;
    check_disjoint("leakyReluForward", "y", y.view()?, &[("x", x)])?;
    // SAFETY: checked disjoint from every other argument just above.
    let y = unsafe { y.view_mut() }?;
    activation::leaky_relu_forward(x, y, negative_slope as f32);
    Ok(())
}

#[napi(catch_unwind)]
pub fn leaky_relu_backward(
    x: Float32Array,
    dy: Float32Array,
    mut dx: Float32Array,
    negative_slope: f64,
) -> Result<()> {
    let (x, dy) = (x.view()?, dy.view()?);
    same_len("leakyReluBackward", "gradOutput", dy.len(), x.len())?;
    same_len("leakyReluBackward", "gradInput", dx.view()?.len(), x.len())?;
    check_disjoint(
        "leakyReluBackward",
        "gradInput",
        dx.view()?,
        &[("x", x), ("gradOutput", dy)],
    )?;
    // SAFETY: checked disjoint from every other argument just above.
    let dx = unsafe { dx.view_mut() }?;
    activation::leaky_relu_backward(x, dy, dx, negative_slope as f32);
    Ok(())
}

/// `inner`: elements per channel per sample (H·W for `[N, C, H, W]`), ignored for one slope.
#[napi(catch_unwind)]
pub fn prelu_forward(
    x: Float32Array,
    weight: Float32Array,
    mut y: Float32Array,
    inner: u32,
) -> Result<()> {
    let (x, weight) = (x.view()?, weight.view()?);
    same_len("preluForward", "y", y.view()?.len(), x.len())?;
    check_prelu("preluForward", x.len(), weight.len(), inner)?;
    check_disjoint(
        "preluForward",
        "y",
        y.view()?,
        &[("x", x), ("weight", weight)],
    )?;
    // SAFETY: checked disjoint from every other argument just above.
    let y = unsafe { y.view_mut() }?;
    activation::prelu_forward(x, weight, y, inner as usize);
    Ok(())
}

/// Writes the input gradient and adds the slopes' gradient into `gradWeight`.
#[napi(catch_unwind)]
pub fn prelu_backward(
    x: Float32Array,
    weight: Float32Array,
    dy: Float32Array,
    mut dx: Float32Array,
    mut dweight: Float32Array,
    inner: u32,
) -> Result<()> {
    const K: &str = "preluBackward";
    let (x, weight, dy) = (x.view()?, weight.view()?, dy.view()?);
    same_len(K, "gradOutput", dy.len(), x.len())?;
    same_len(K, "gradInput", dx.view()?.len(), x.len())?;
    same_len(K, "gradWeight", dweight.view()?.len(), weight.len())?;
    check_prelu(K, x.len(), weight.len(), inner)?;
    let inputs = [("x", x), ("weight", weight), ("gradOutput", dy)];
    let outputs = [("gradInput", dx.view()?), ("gradWeight", dweight.view()?)];
    check_outputs(K, &outputs, &inputs)?;
    // SAFETY: both outputs checked disjoint from each other and the inputs just above.
    let (dx, dweight) = unsafe { (dx.view_mut()?, dweight.view_mut()?) };
    activation::prelu_backward(x, weight, dy, dx, dweight, inner as usize);
    Ok(())
}

/// Copies `x` into `y` with the kernels' threading: the bandwidth reference for benchmarks.
#[napi(catch_unwind)]
pub fn copy(x: Float32Array, mut y: Float32Array) -> Result<()> {
    let x = x.view()?;
    same_len("copy", "y", y.view()?.len(), x.len())?;
    check_disjoint("copy", "y", y.view()?, &[("x", x)])?;
    // SAFETY: checked disjoint from every other argument just above.
    let y = unsafe { y.view_mut() }?;
    activation::copy(x, y);
    Ok(())
}
