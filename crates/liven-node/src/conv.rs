//! Conv2d (NCHW, weight `[out, in/groups, kh, kw]`).

use crate::{check_disjoint, check_outputs, invalid, output, same_len};
use liven_core::conv::{self, Conv2dGeometry};
use napi::bindgen_prelude::Float32ArraySlice;
use napi::Result;
use napi_derive::napi;

/// The shape of one Conv2d call; in JavaScript the fields are camelCase (`inChannels`, `padH`).
#[napi(object, js_name = "Conv2dShape")]
pub struct Conv2dShape {
    pub batch: u32,
    pub in_channels: u32,
    pub height: u32,
    pub width: u32,
    pub out_channels: u32,
    pub kernel_h: u32,
    pub kernel_w: u32,
    pub stride_h: u32,
    pub stride_w: u32,
    pub pad_h: u32,
    pub pad_w: u32,
    pub dilation_h: u32,
    pub dilation_w: u32,
    pub groups: u32,
}

fn geometry(kernel: &str, s: &Conv2dShape) -> Result<Conv2dGeometry> {
    let g = Conv2dGeometry {
        batch: s.batch as usize,
        in_channels: s.in_channels as usize,
        height: s.height as usize,
        width: s.width as usize,
        out_channels: s.out_channels as usize,
        kernel_h: s.kernel_h as usize,
        kernel_w: s.kernel_w as usize,
        stride_h: s.stride_h as usize,
        stride_w: s.stride_w as usize,
        pad_h: s.pad_h as usize,
        pad_w: s.pad_w as usize,
        dilation_h: s.dilation_h as usize,
        dilation_w: s.dilation_w as usize,
        groups: s.groups as usize,
    };
    g.check().map_err(|e| invalid(format!("{kernel}: {e}")))?;
    Ok(g)
}

#[napi(js_name = "conv2dForward")]
pub fn conv2d_forward(
    x: Float32ArraySlice,
    weight: Float32ArraySlice,
    bias: Option<Float32ArraySlice>,
    mut y: Float32ArraySlice,
    shape: Conv2dShape,
) -> Result<()> {
    const K: &str = "conv2dForward";
    let g = geometry(K, &shape)?;
    same_len(K, "x", x.len(), g.input_len())?;
    same_len(K, "weight", weight.len(), g.weight_len())?;
    same_len(K, "y", y.len(), g.output_len())?;
    let bias = bias.as_deref();
    if let Some(b) = bias {
        same_len(K, "bias", b.len(), g.out_channels)?;
    }
    let mut inputs = vec![("x", &x[..]), ("weight", &weight[..])];
    inputs.extend(bias.map(|b| ("bias", b)));
    check_disjoint(K, "y", &y, &inputs)?;
    // SAFETY: every output was checked disjoint from the inputs and the other outputs just above.
    let y = unsafe { output(&mut y) };
    conv::conv2d_forward(&x, &weight, bias, y, &g);
    Ok(())
}

/// Writes the input gradient and adds into the weight and bias gradients.
#[napi(js_name = "conv2dBackward")]
pub fn conv2d_backward(
    x: Float32ArraySlice,
    weight: Float32ArraySlice,
    dy: Float32ArraySlice,
    mut dx: Float32ArraySlice,
    mut dweight: Float32ArraySlice,
    mut dbias: Option<Float32ArraySlice>,
    shape: Conv2dShape,
) -> Result<()> {
    const K: &str = "conv2dBackward";
    let g = geometry(K, &shape)?;
    same_len(K, "x", x.len(), g.input_len())?;
    same_len(K, "weight", weight.len(), g.weight_len())?;
    same_len(K, "gradOutput", dy.len(), g.output_len())?;
    same_len(K, "gradInput", dx.len(), g.input_len())?;
    same_len(K, "gradWeight", dweight.len(), g.weight_len())?;
    if let Some(db) = &dbias {
        same_len(K, "gradBias", db.len(), g.out_channels)?;
    }
    let inputs = [
        ("x", &x[..]),
        ("weight", &weight[..]),
        ("gradOutput", &dy[..]),
    ];
    let mut outputs = vec![("gradInput", &dx[..]), ("gradWeight", &dweight[..])];
    outputs.extend(dbias.as_deref().map(|db| ("gradBias", db)));
    check_outputs(K, &outputs, &inputs)?;
    // SAFETY: every output was checked disjoint from the inputs and the other outputs just above.
    let (dx, dweight) = unsafe { (output(&mut dx), output(&mut dweight)) };
    // SAFETY: as for the other outputs, just above.
    let dbias = dbias.as_mut().map(|db| unsafe { output(db) });
    conv::conv2d_backward(&x, &weight, &dy, dx, dweight, dbias, &g);
    Ok(())
}
