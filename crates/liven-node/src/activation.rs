//! ReLU, LeakyReLU, PReLU, the smooth and bounded activations, and Dropout's mask product.

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

/// The checks and the call every elementwise forward shares: `y` as long as `x` and apart from it.
fn unary(
    kernel: &str,
    x: Float32Array,
    mut y: Float32Array,
    f: impl FnOnce(&[f32], &mut [f32]),
) -> Result<()> {
    let x = x.view()?;
    same_len(kernel, "y", y.view()?.len(), x.len())?;
    check_disjoint(kernel, "y", y.view()?, &[("x", x)])?;
    // SAFETY: checked disjoint from every other argument just above.
    let y = unsafe { y.view_mut() }?;
    f(x, y);
    Ok(())
}

/// The checks and the call every elementwise backward shares.
fn unary_backward(
    kernel: &str,
    x: Float32Array,
    dy: Float32Array,
    mut dx: Float32Array,
    f: impl FnOnce(&[f32], &[f32], &mut [f32]),
) -> Result<()> {
    let (x, dy) = (x.view()?, dy.view()?);
    same_len(kernel, "gradOutput", dy.len(), x.len())?;
    same_len(kernel, "gradInput", dx.view()?.len(), x.len())?;
    check_disjoint(
        kernel,
        "gradInput",
        dx.view()?,
        &[("x", x), ("gradOutput", dy)],
    )?;
    // SAFETY: checked disjoint from every other argument just above.
    let dx = unsafe { dx.view_mut() }?;
    f(x, dy, dx);
    Ok(())
}

/// ELU, CELU and SELU: `(alpha, 1, 1)`, `(alpha, 1, 1/alpha)`, `(α, λ, 1)`.
#[napi(catch_unwind)]
pub fn elu_forward(
    x: Float32Array,
    y: Float32Array,
    alpha: f64,
    scale: f64,
    input_scale: f64,
) -> Result<()> {
    unary("eluForward", x, y, |x, y| {
        activation::elu_forward(x, y, alpha as f32, scale as f32, input_scale as f32)
    })
}

#[napi(catch_unwind)]
pub fn elu_backward(
    x: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    alpha: f64,
    scale: f64,
    input_scale: f64,
) -> Result<()> {
    unary_backward("eluBackward", x, dy, dx, |x, dy, dx| {
        activation::elu_backward(x, dy, dx, alpha as f32, scale as f32, input_scale as f32)
    })
}

/// `tanh`: PyTorch's `approximate: 'tanh'`.
#[napi(catch_unwind)]
pub fn gelu_forward(x: Float32Array, y: Float32Array, tanh: bool) -> Result<()> {
    unary("geluForward", x, y, |x, y| {
        activation::gelu_forward(x, y, tanh)
    })
}

#[napi(catch_unwind)]
pub fn gelu_backward(
    x: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    tanh: bool,
) -> Result<()> {
    unary_backward("geluBackward", x, dy, dx, |x, dy, dx| {
        activation::gelu_backward(x, dy, dx, tanh)
    })
}

#[napi(catch_unwind)]
pub fn silu_forward(x: Float32Array, y: Float32Array) -> Result<()> {
    unary("siluForward", x, y, activation::silu_forward)
}

#[napi(catch_unwind)]
pub fn silu_backward(x: Float32Array, dy: Float32Array, dx: Float32Array) -> Result<()> {
    unary_backward("siluBackward", x, dy, dx, activation::silu_backward)
}

#[napi(catch_unwind)]
pub fn mish_forward(x: Float32Array, y: Float32Array) -> Result<()> {
    unary("mishForward", x, y, activation::mish_forward)
}

#[napi(catch_unwind)]
pub fn mish_backward(x: Float32Array, dy: Float32Array, dx: Float32Array) -> Result<()> {
    unary_backward("mishBackward", x, dy, dx, activation::mish_backward)
}

#[napi(catch_unwind)]
pub fn sigmoid_forward(x: Float32Array, y: Float32Array) -> Result<()> {
    unary("sigmoidForward", x, y, activation::sigmoid_forward)
}

#[napi(catch_unwind)]
pub fn sigmoid_backward(x: Float32Array, dy: Float32Array, dx: Float32Array) -> Result<()> {
    unary_backward("sigmoidBackward", x, dy, dx, activation::sigmoid_backward)
}

#[napi(catch_unwind)]
pub fn tanh_forward(x: Float32Array, y: Float32Array) -> Result<()> {
    unary("tanhForward", x, y, activation::tanh_forward)
}

#[napi(catch_unwind)]
pub fn tanh_backward(x: Float32Array, dy: Float32Array, dx: Float32Array) -> Result<()> {
    unary_backward("tanhBackward", x, dy, dx, activation::tanh_backward)
}

#[napi(catch_unwind)]
pub fn softplus_forward(x: Float32Array, y: Float32Array, beta: f64, threshold: f64) -> Result<()> {
    unary("softplusForward", x, y, |x, y| {
        activation::softplus_forward(x, y, beta as f32, threshold as f32)
    })
}

#[napi(catch_unwind)]
pub fn softplus_backward(
    x: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    beta: f64,
    threshold: f64,
) -> Result<()> {
    unary_backward("softplusBackward", x, dy, dx, |x, dy, dx| {
        activation::softplus_backward(x, dy, dx, beta as f32, threshold as f32)
    })
}

/// ReLU6 is `(0, 6)`.
#[napi(catch_unwind)]
pub fn hardtanh_forward(x: Float32Array, y: Float32Array, min: f64, max: f64) -> Result<()> {
    unary("hardtanhForward", x, y, |x, y| {
        activation::hardtanh_forward(x, y, min as f32, max as f32)
    })
}

#[napi(catch_unwind)]
pub fn hardtanh_backward(
    x: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    min: f64,
    max: f64,
) -> Result<()> {
    unary_backward("hardtanhBackward", x, dy, dx, |x, dy, dx| {
        activation::hardtanh_backward(x, dy, dx, min as f32, max as f32)
    })
}

#[napi(catch_unwind)]
pub fn hardswish_forward(x: Float32Array, y: Float32Array) -> Result<()> {
    unary("hardswishForward", x, y, activation::hardswish_forward)
}

#[napi(catch_unwind)]
pub fn hardswish_backward(x: Float32Array, dy: Float32Array, dx: Float32Array) -> Result<()> {
    unary_backward(
        "hardswishBackward",
        x,
        dy,
        dx,
        activation::hardswish_backward,
    )
}

#[napi(catch_unwind)]
pub fn hardsigmoid_forward(x: Float32Array, y: Float32Array) -> Result<()> {
    unary("hardsigmoidForward", x, y, activation::hardsigmoid_forward)
}

#[napi(catch_unwind)]
pub fn hardsigmoid_backward(x: Float32Array, dy: Float32Array, dx: Float32Array) -> Result<()> {
    unary_backward(
        "hardsigmoidBackward",
        x,
        dy,
        dx,
        activation::hardsigmoid_backward,
    )
}

/// Dropout's forward and backward: `y = x · mask`.
#[napi(catch_unwind)]
pub fn dropout_apply(x: Float32Array, mask: Float32Array, mut y: Float32Array) -> Result<()> {
    const K: &str = "dropoutApply";
    let (x, mask) = (x.view()?, mask.view()?);
    same_len(K, "mask", mask.len(), x.len())?;
    same_len(K, "y", y.view()?.len(), x.len())?;
    check_disjoint(K, "y", y.view()?, &[("x", x), ("mask", mask)])?;
    // SAFETY: checked disjoint from every other argument just above.
    let y = unsafe { y.view_mut() }?;
    activation::dropout_apply(x, mask, y);
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
