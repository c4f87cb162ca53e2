//! ReLU, LeakyReLU and PReLU.

use crate::{check_disjoint, check_outputs, invalid, output, same_len};
use liven_core::activation;
use napi::bindgen_prelude::Float32ArraySlice;
use napi::Result;
use napi_derive::napi;

fn check_prelu(kernel: &str, len: usize, channels: usize, inner: u32) -> Result<()> {
    activation::prelu_check(len, channels, inner as usize)
        .map_err(|e| invalid(format!("{kernel}: {e}")))
}

#[napi]
pub fn relu_forward(x: Float32ArraySlice, mut y: Float32ArraySlice) -> Result<()> {
    same_len("reluForward", "y", y.len(), x.len())?;
    check_disjoint("reluForward", "y", &y, &[("x", &x)])?;
    // SAFETY: checked disjoint from every other argument just above.
    let y = unsafe { output(&mut y) };
    activation::relu_forward(&x, y);
    Ok(())
}

#[napi]
pub fn relu_backward(
    x: Float32ArraySlice,
    dy: Float32ArraySlice,
    mut dx: Float32ArraySlice,
) -> Result<()> {
    same_len("reluBackward", "gradOutput", dy.len(), x.len())?;
    same_len("reluBackward", "gradInput", dx.len(), x.len())?;
    check_disjoint(
        "reluBackward",
        "gradInput",
        &dx,
        &[("x", &x), ("gradOutput", &dy)],
    )?;
    // SAFETY: checked disjoint from every other argument just above.
    let dx = unsafe { output(&mut dx) };
    activation::relu_backward(&x, &dy, dx);
    Ok(())
}

#[napi]
pub fn leaky_relu_forward(
    x: Float32ArraySlice,
    mut y: Float32ArraySlice,
    negative_slope: f64,
) -> Result<()> {
    same_len("leakyReluForward", "y", y.len(), x.len())?;
    check_disjoint("leakyReluForward", "y", &y, &[("x", &x)])?;
    // SAFETY: checked disjoint from every other argument just above.
    let y = unsafe { output(&mut y) };
    activation::leaky_relu_forward(&x, y, negative_slope as f32);
    Ok(())
}

#[napi]
pub fn leaky_relu_backward(
    x: Float32ArraySlice,
    dy: Float32ArraySlice,
    mut dx: Float32ArraySlice,
    negative_slope: f64,
) -> Result<()> {
    same_len("leakyReluBackward", "gradOutput", dy.len(), x.len())?;
    same_len("leakyReluBackward", "gradInput", dx.len(), x.len())?;
    check_disjoint(
        "leakyReluBackward",
        "gradInput",
        &dx,
        &[("x", &x), ("gradOutput", &dy)],
    )?;
    // SAFETY: checked disjoint from every other argument just above.
    let dx = unsafe { output(&mut dx) };
    activation::leaky_relu_backward(&x, &dy, dx, negative_slope as f32);
    Ok(())
}

/// `inner`: elements per channel per sample (H·W for `[N, C, H, W]`), ignored for one slope.
#[napi]
pub fn prelu_forward(
    x: Float32ArraySlice,
    weight: Float32ArraySlice,
    mut y: Float32ArraySlice,
    inner: u32,
) -> Result<()> {
    same_len("preluForward", "y", y.len(), x.len())?;
    check_prelu("preluForward", x.len(), weight.len(), inner)?;
    check_disjoint("preluForward", "y", &y, &[("x", &x), ("weight", &weight)])?;
    // SAFETY: checked disjoint from every other argument just above.
    let y = unsafe { output(&mut y) };
    activation::prelu_forward(&x, &weight, y, inner as usize);
    Ok(())
}

/// Writes the input gradient and adds the slopes' gradient into `gradWeight`.
#[napi]
pub fn prelu_backward(
    x: Float32ArraySlice,
    weight: Float32ArraySlice,
    dy: Float32ArraySlice,
    mut dx: Float32ArraySlice,
    mut dweight: Float32ArraySlice,
    inner: u32,
) -> Result<()> {
    const K: &str = "preluBackward";
    same_len(K, "gradOutput", dy.len(), x.len())?;
    same_len(K, "gradInput", dx.len(), x.len())?;
    same_len(K, "gradWeight", dweight.len(), weight.len())?;
    check_prelu(K, x.len(), weight.len(), inner)?;
    let inputs = [
        ("x", &x[..]),
        ("weight", &weight[..]),
        ("gradOutput", &dy[..]),
    ];
    check_outputs(K, &[("gradInput", &dx), ("gradWeight", &dweight)], &inputs)?;
    // SAFETY: both outputs checked disjoint from each other and the inputs just above.
    let (dx, dweight) = unsafe { (output(&mut dx), output(&mut dweight)) };
    activation::prelu_backward(&x, &weight, &dy, dx, dweight, inner as usize);
    Ok(())
}

/// Copies `x` into `y` with the kernels' threading: the bandwidth reference for benchmarks.
#[napi]
pub fn copy(x: Float32ArraySlice, mut y: Float32ArraySlice) -> Result<()> {
    same_len("copy", "y", y.len(), x.len())?;
    check_disjoint("copy", "y", &y, &[("x", &x)])?;
    // SAFETY: checked disjoint from every other argument just above.
    let y = unsafe { output(&mut y) };
    activation::copy(&x, y);
    Ok(())
}
