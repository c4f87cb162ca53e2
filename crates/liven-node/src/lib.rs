//! N-API glue: argument checks and zero-copy views of JavaScript `Float32Array`s; the work is
//! done by `liven_core`.
//!
//! The TypeScript layer validates shapes and throws typed errors; the checks here are the last
//! line that keeps a direct or buggy call memory-safe: lengths must agree and an output may not
//! share memory with any other argument (that would alias a `&mut [f32]`).

use liven_core::{activation, simd, threads};
use napi::bindgen_prelude::Float32ArraySlice;
use napi::{Error, Result, Status};
use napi_derive::napi;

fn invalid(message: String) -> Error {
    Error::new(Status::InvalidArg, message)
}

fn overlaps(a: &[f32], b: &[f32]) -> bool {
    let (a0, b0) = (a.as_ptr() as usize, b.as_ptr() as usize);
    !a.is_empty() && !b.is_empty() && a0 < b0 + size_of_val(b) && b0 < a0 + size_of_val(a)
}

/// Checks that the output `out` shares no memory with any of `others`.
fn check_disjoint(kernel: &str, name: &str, out: &[f32], others: &[(&str, &[f32])]) -> Result<()> {
    match others.iter().find(|(_, other)| overlaps(out, other)) {
        Some((other, _)) => Err(invalid(format!(
            "{kernel}: {name} shares memory with {other}; outputs must be separate arrays"
        ))),
        None => Ok(()),
    }
}

/// A mutable view of an output array that [`check_disjoint`] has cleared.
///
/// SAFETY (for the caller): the array must share no memory with any other slice made for the
/// same call. The JavaScript array outlives the call, which runs synchronously.
unsafe fn output<'a>(out: &'a mut Float32ArraySlice) -> &'a mut [f32] {
    unsafe { out.as_mut() }
}

fn same_len(kernel: &str, name: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(invalid(format!(
            "{kernel}: {name} has {got} elements, expected {want}"
        )))
    }
}

fn check_prelu(kernel: &str, len: usize, channels: usize, inner: u32) -> Result<()> {
    activation::prelu_check(len, channels, inner as usize)
        .map_err(|e| invalid(format!("{kernel}: {e}")))
}

/// The instruction set the kernels use: "avx512", "avx2", "neon" or "scalar".
#[napi]
pub fn simd_level() -> &'static str {
    simd::detected_level().name()
}

/// Every instruction set this CPU supports, lowest first.
#[napi]
pub fn supported_simd_levels() -> Vec<&'static str> {
    simd::supported().into_iter().map(|i| i.name()).collect()
}

#[napi]
pub fn set_num_threads(threads: u32) {
    threads::set_num_threads(threads as usize);
}

#[napi]
pub fn get_num_threads() -> u32 {
    threads::num_threads() as u32
}

#[napi]
pub fn relu_forward(x: Float32ArraySlice, mut y: Float32ArraySlice) -> Result<()> {
    same_len("reluForward", "y", y.len(), x.len())?;
    check_disjoint("reluForward", "y", &y, &[("x", &x)])?;
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
    check_disjoint(
        K,
        "gradInput",
        &dx,
        &[&inputs[..], &[("gradWeight", &dweight)]].concat(),
    )?;
    check_disjoint(K, "gradWeight", &dweight, &inputs)?;
    let (dx, dweight) = unsafe { (output(&mut dx), output(&mut dweight)) };
    activation::prelu_backward(&x, &weight, &dy, dx, dweight, inner as usize);
    Ok(())
}

/// Copies `x` into `y` with the kernels' threading: the bandwidth reference for benchmarks.
#[napi]
pub fn copy(x: Float32ArraySlice, mut y: Float32ArraySlice) -> Result<()> {
    same_len("copy", "y", y.len(), x.len())?;
    check_disjoint("copy", "y", &y, &[("x", &x)])?;
    let y = unsafe { output(&mut y) };
    activation::copy(&x, y);
    Ok(())
}
