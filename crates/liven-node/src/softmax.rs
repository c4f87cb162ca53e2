//! Softmax and log-softmax along one dimension of `[outer, dim, inner]`.

use crate::{check_disjoint, same_len, Float32Array};
use liven_core::softmax;
use napi::Result;
use napi_derive::napi;

type Forward = fn(&[f32], &mut [f32], usize, usize, usize);
type Backward = fn(&[f32], &[f32], &mut [f32], usize, usize, usize);

/// The element count, or usize::MAX (which no array has) when the product wraps around: a
/// wrapped product could equal a short array's length.
fn size(outer: u32, dim: u32, inner: u32) -> usize {
    (outer as usize)
        .checked_mul(dim as usize)
        .and_then(|n| n.checked_mul(inner as usize))
        .unwrap_or(usize::MAX)
}

fn forward(
    k: &str,
    f: Forward,
    x: Float32Array,
    mut y: Float32Array,
    (outer, dim, inner): (u32, u32, u32),
) -> Result<()> {
    let x = x.view()?;
    same_len(k, "x", x.len(), size(outer, dim, inner))?;
    same_len(k, "y", y.view()?.len(), x.len())?;
    check_disjoint(k, "y", y.view()?, &[("x", x)])?;
    // SAFETY: y shares no memory with x (checked above).
    let y = unsafe { y.view_mut() }?;
    f(x, y, outer as usize, dim as usize, inner as usize);
    Ok(())
}

fn backward(
    k: &str,
    f: Backward,
    y: Float32Array,
    dy: Float32Array,
    mut dx: Float32Array,
    (outer, dim, inner): (u32, u32, u32),
) -> Result<()> {
    let (y, dy) = (y.view()?, dy.view()?);
    same_len(k, "y", y.len(), size(outer, dim, inner))?;
    same_len(k, "gradOutput", dy.len(), y.len())?;
    same_len(k, "gradInput", dx.view()?.len(), y.len())?;
    check_disjoint(k, "gradInput", dx.view()?, &[("y", y), ("gradOutput", dy)])?;
    // SAFETY: dx shares no memory with the inputs (checked above).
    let dx = unsafe { dx.view_mut() }?;
    f(y, dy, dx, outer as usize, dim as usize, inner as usize);
    Ok(())
}

#[napi(catch_unwind)]
pub fn softmax_forward(
    x: Float32Array,
    y: Float32Array,
    outer: u32,
    dim: u32,
    inner: u32,
) -> Result<()> {
    forward(
        "softmaxForward",
        softmax::softmax_forward,
        x,
        y,
        (outer, dim, inner),
    )
}

/// From softmax's output `y`.
#[napi(catch_unwind)]
pub fn softmax_backward(
    y: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    outer: u32,
    dim: u32,
    inner: u32,
) -> Result<()> {
    backward(
        "softmaxBackward",
        softmax::softmax_backward,
        y,
        dy,
        dx,
        (outer, dim, inner),
    )
}

#[napi(catch_unwind)]
pub fn log_softmax_forward(
    x: Float32Array,
    y: Float32Array,
    outer: u32,
    dim: u32,
    inner: u32,
) -> Result<()> {
    forward(
        "logSoftmaxForward",
        softmax::log_softmax_forward,
        x,
        y,
        (outer, dim, inner),
    )
}

/// From log-softmax's output `y`.
#[napi(catch_unwind)]
pub fn log_softmax_backward(
    y: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    outer: u32,
    dim: u32,
    inner: u32,
) -> Result<()> {
    backward(
        "logSoftmaxBackward",
        softmax::log_softmax_backward,
        y,
        dy,
        dx,
        (outer, dim, inner),
    )
}
