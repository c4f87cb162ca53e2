//! Max and average pooling, and their global forms.

use crate::{check_apart, invalid, same_len, span, Float32Array, Uint32Array};
use liven_core::pool::{self, Axis, Pool2d};
use napi::Result;
use napi_derive::napi;

/// Input `h × w`, output `oh × ow`, kernel, stride, padding and dilation per dimension.
#[napi(object)]
pub struct Pool2dGeometry {
    pub h: u32,
    pub w: u32,
    pub oh: u32,
    pub ow: u32,
    pub kh: u32,
    pub kw: u32,
    pub sh: u32,
    pub sw: u32,
    pub ph: u32,
    pub pw: u32,
    pub dh: u32,
    pub dw: u32,
}

fn geometry(kernel: &str, g: &Pool2dGeometry) -> Result<Pool2d> {
    let axis = |k: u32, s: u32, p: u32, d: u32| Axis {
        kernel: k as usize,
        stride: s as usize,
        padding: p as usize,
        dilation: d as usize,
    };
    let p = Pool2d {
        h: g.h as usize,
        w: g.w as usize,
        oh: g.oh as usize,
        ow: g.ow as usize,
        height: axis(g.kh, g.sh, g.ph, g.dh),
        width: axis(g.kw, g.sw, g.pw, g.dw),
    };
    p.check().map_err(|e| invalid(format!("{kernel}: {e}")))?;
    Ok(p)
}

fn check_indices(kernel: &str, indices: &[u32], plane: usize) -> Result<()> {
    // The largest index, by a fold that vectorises (a search with early exit does not).
    let largest = indices.iter().fold(0, |m, &i| m.max(i));
    if indices.is_empty() || (largest as usize) < plane {
        return Ok(());
    }
    Err(invalid(format!(
        "{kernel}: index {largest} is outside a plane of {plane} elements"
    )))
}

fn plane_sizes(p: &Pool2d) -> (usize, usize) {
    (p.h * p.w, p.oh * p.ow)
}

#[napi(js_name = "maxPool2dForward", catch_unwind)]
pub fn max_pool2d_forward(
    x: Float32Array,
    mut y: Float32Array,
    mut indices: Uint32Array,
    planes: u32,
    g: Pool2dGeometry,
) -> Result<()> {
    const K: &str = "maxPool2dForward";
    let x = x.view()?;
    let p = geometry(K, &g)?;
    let (ip, op) = plane_sizes(&p);
    let planes = planes as usize;
    same_len(K, "x", x.len(), planes * ip)?;
    same_len(K, "y", y.view()?.len(), planes * op)?;
    same_len(K, "indices", indices.view()?.len(), planes * op)?;
    check_apart(
        K,
        "y",
        span(y.view()?),
        &[("x", span(x)), ("indices", span(indices.view()?))],
    )?;
    check_apart(K, "indices", span(indices.view()?), &[("x", span(x))])?;
    // SAFETY: checked above that the outputs share no memory with each other or the input.
    let (y, indices) = unsafe { (y.view_mut()?, indices.view_mut()?) };
    pool::max_pool2d_forward(x, y, indices, planes, p);
    Ok(())
}

#[napi(js_name = "maxPool2dBackward", catch_unwind)]
pub fn max_pool2d_backward(
    dy: Float32Array,
    indices: Uint32Array,
    mut dx: Float32Array,
    planes: u32,
    g: Pool2dGeometry,
) -> Result<()> {
    const K: &str = "maxPool2dBackward";
    // `stable`: the indices checked are the ones used, even on shared memory.
    let (dy, indices) = (dy.view()?, indices.stable()?);
    let p = geometry(K, &g)?;
    let (ip, op) = plane_sizes(&p);
    let planes = planes as usize;
    same_len(K, "gradOutput", dy.len(), planes * op)?;
    same_len(K, "indices", indices.len(), planes * op)?;
    same_len(K, "gradInput", dx.view()?.len(), planes * ip)?;
    check_indices(K, &indices, ip)?;
    check_apart(
        K,
        "gradInput",
        span(dx.view()?),
        &[("gradOutput", span(dy)), ("indices", span(&indices))],
    )?;
    // SAFETY: dx shares no memory with the inputs (checked above).
    let dx = unsafe { dx.view_mut()? };
    pool::max_pool2d_backward(dy, &indices, dx, planes, p);
    Ok(())
}

#[napi(js_name = "avgPool2dForward", catch_unwind)]
pub fn avg_pool2d_forward(
    x: Float32Array,
    mut y: Float32Array,
    planes: u32,
    g: Pool2dGeometry,
    count_include_pad: bool,
) -> Result<()> {
    const K: &str = "avgPool2dForward";
    let x = x.view()?;
    let p = geometry(K, &g)?;
    let (ip, op) = plane_sizes(&p);
    let planes = planes as usize;
    same_len(K, "x", x.len(), planes * ip)?;
    same_len(K, "y", y.view()?.len(), planes * op)?;
    check_apart(K, "y", span(y.view()?), &[("x", span(x))])?;
    // SAFETY: y shares no memory with x (checked above).
    let y = unsafe { y.view_mut()? };
    pool::avg_pool2d_forward(x, y, planes, p, count_include_pad);
    Ok(())
}

#[napi(js_name = "avgPool2dBackward", catch_unwind)]
pub fn avg_pool2d_backward(
    dy: Float32Array,
    mut dx: Float32Array,
    planes: u32,
    g: Pool2dGeometry,
    count_include_pad: bool,
) -> Result<()> {
    const K: &str = "avgPool2dBackward";
    let dy = dy.view()?;
    let p = geometry(K, &g)?;
    let (ip, op) = plane_sizes(&p);
    let planes = planes as usize;
    same_len(K, "gradOutput", dy.len(), planes * op)?;
    same_len(K, "gradInput", dx.view()?.len(), planes * ip)?;
    check_apart(
        K,
        "gradInput",
        span(dx.view()?),
        &[("gradOutput", span(dy))],
    )?;
    // SAFETY: dx shares no memory with dy (checked above).
    let dx = unsafe { dx.view_mut()? };
    pool::avg_pool2d_backward(dy, dx, planes, p, count_include_pad);
    Ok(())
}

fn check_global(kernel: &str, x: usize, planes: usize, hw: u32) -> Result<usize> {
    if hw == 0 {
        return Err(invalid(format!("{kernel}: planes are empty")));
    }
    same_len(kernel, "the input", x, planes * hw as usize)?;
    Ok(hw as usize)
}

/// `[planes, hw]` → `[planes]` means.
#[napi(catch_unwind)]
pub fn global_avg_pool_forward(x: Float32Array, mut y: Float32Array, hw: u32) -> Result<()> {
    const K: &str = "globalAvgPoolForward";
    let x = x.view()?;
    let hw = check_global(K, x.len(), y.view()?.len(), hw)?;
    check_apart(K, "y", span(y.view()?), &[("x", span(x))])?;
    // SAFETY: y shares no memory with x (checked above).
    let y = unsafe { y.view_mut()? };
    pool::global_avg_pool_forward(x, y, hw);
    Ok(())
}

#[napi(catch_unwind)]
pub fn global_avg_pool_backward(dy: Float32Array, mut dx: Float32Array, hw: u32) -> Result<()> {
    const K: &str = "globalAvgPoolBackward";
    let dy = dy.view()?;
    let hw = check_global(K, dx.view()?.len(), dy.len(), hw)?;
    check_apart(
        K,
        "gradInput",
        span(dx.view()?),
        &[("gradOutput", span(dy))],
    )?;
    // SAFETY: dx shares no memory with dy (checked above).
    let dx = unsafe { dx.view_mut()? };
    pool::global_avg_pool_backward(dy, dx, hw);
    Ok(())
}

/// `[planes, hw]` → `[planes]` maxima and their indices within each plane.
#[napi(catch_unwind)]
pub fn global_max_pool_forward(
    x: Float32Array,
    mut y: Float32Array,
    mut indices: Uint32Array,
    hw: u32,
) -> Result<()> {
    const K: &str = "globalMaxPoolForward";
    let x = x.view()?;
    let hw = check_global(K, x.len(), y.view()?.len(), hw)?;
    same_len(K, "indices", indices.view()?.len(), y.view()?.len())?;
    check_apart(
        K,
        "y",
        span(y.view()?),
        &[("x", span(x)), ("indices", span(indices.view()?))],
    )?;
    check_apart(K, "indices", span(indices.view()?), &[("x", span(x))])?;
    // SAFETY: the outputs share no memory with each other or the input (checked above).
    let (y, indices) = unsafe { (y.view_mut()?, indices.view_mut()?) };
    pool::global_max_pool_forward(x, y, indices, hw);
    Ok(())
}

#[napi(catch_unwind)]
pub fn global_max_pool_backward(
    dy: Float32Array,
    indices: Uint32Array,
    mut dx: Float32Array,
    hw: u32,
) -> Result<()> {
    const K: &str = "globalMaxPoolBackward";
    // `stable`: the indices checked are the ones used, even on shared memory.
    let (dy, indices) = (dy.view()?, indices.stable()?);
    let hw = check_global(K, dx.view()?.len(), dy.len(), hw)?;
    same_len(K, "indices", indices.len(), dy.len())?;
    check_indices(K, &indices, hw)?;
    check_apart(
        K,
        "gradInput",
        span(dx.view()?),
        &[("gradOutput", span(dy)), ("indices", span(&indices))],
    )?;
    // SAFETY: dx shares no memory with the inputs (checked above).
    let dx = unsafe { dx.view_mut()? };
    pool::global_max_pool_backward(dy, &indices, dx, hw);
    Ok(())
}

/// Checks the sizes of an adaptive pooling of `planes` planes; returns them as `usize`.
fn adaptive_dims(kernel: &str, dims: [u32; 5]) -> Result<[usize; 5]> {
    let [planes, h, w, oh, ow] = dims.map(|d| d as usize);
    pool::adaptive_check(h, w, oh, ow).map_err(|e| invalid(format!("{kernel}: {e}")))?;
    Ok([planes, h, w, oh, ow])
}

/// `[planes, h, w]` → `[planes, oh, ow]`: the mean of each of PyTorch's adaptive bins.
#[allow(clippy::too_many_arguments)]
#[napi(js_name = "adaptiveAvgPool2dForward", catch_unwind)]
pub fn adaptive_avg_pool2d_forward(
    x: Float32Array,
    mut y: Float32Array,
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
) -> Result<()> {
    const K: &str = "adaptiveAvgPool2dForward";
    let x = x.view()?;
    let [planes, h, w, oh, ow] = adaptive_dims(K, [planes, h, w, oh, ow])?;
    same_len(K, "x", x.len(), planes * h * w)?;
    same_len(K, "y", y.view()?.len(), planes * oh * ow)?;
    check_apart(K, "y", span(y.view()?), &[("x", span(x))])?;
    // SAFETY: checked apart from the input just above.
    let y = unsafe { y.view_mut() }?;
    pool::adaptive_avg_pool2d_forward(x, y, planes, h, w, oh, ow);
    Ok(())
}

/// Overwrites `dx` with each output gradient spread evenly over its bin.
#[allow(clippy::too_many_arguments)]
#[napi(js_name = "adaptiveAvgPool2dBackward", catch_unwind)]
pub fn adaptive_avg_pool2d_backward(
    dy: Float32Array,
    mut dx: Float32Array,
    planes: u32,
    h: u32,
    w: u32,
    oh: u32,
    ow: u32,
) -> Result<()> {
    const K: &str = "adaptiveAvgPool2dBackward";
    let dy = dy.view()?;
    let [planes, h, w, oh, ow] = adaptive_dims(K, [planes, h, w, oh, ow])?;
    same_len(K, "gradOutput", dy.len(), planes * oh * ow)?;
    same_len(K, "gradInput", dx.view()?.len(), planes * h * w)?;
    check_apart(
        K,
        "gradInput",
        span(dx.view()?),
        &[("gradOutput", span(dy))],
    )?;
    // SAFETY: checked apart from the input just above.
    let dx = unsafe { dx.view_mut() }?;
    pool::adaptive_avg_pool2d_backward(dy, dx, planes, h, w, oh, ow);
    Ok(())
}
