//! Conv2d (NCHW, weight `[out, in/groups, kh, kw]`).

use crate::{check_disjoint, check_outputs, invalid, same_len, view_opt, Float32Array};
use liven_core::conv::{self, Conv2dGeometry};
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
    // The kernel unfolds each sample into a (channels/groups · kh · kw) × (outH · outW) matrix
    // (and its gradient), per thread: a size that follows the product of the kernel and the
    // output, which small arrays can make terabytes (a 2^20-row kernel padded to a 2^20-row
    // output). Pointwise convolutions unfold nothing.
    let pointwise = (
        g.kernel_h, g.kernel_w, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
    ) == (1, 1, 1, 1, 0, 0);
    let unfolded = (g.in_channels / g.groups) * g.kernel_h * g.kernel_w * g.out_h() * g.out_w();
    if g.batch > 0 && !pointwise && unfolded > UNFOLD_LIMIT {
        return Err(invalid(format!(
            "{kernel}: the unfolded input of {unfolded} elements (channels/groups × kernel × output positions) is over the limit of {UNFOLD_LIMIT}"
        )));
    }
    Ok(g)
}

/// The largest unfolded sample, in elements (512 MiB; VGG-16's first layers at 224×224 unfold 29M).
pub const UNFOLD_LIMIT: usize = 1 << 27;

/// `shape` is an object whose properties are read (running any getter) before the arrays' memory
/// is looked up; see the crate's docs.
#[napi(js_name = "conv2dForward", catch_unwind)]
pub fn conv2d_forward(
    x: Float32Array,
    weight: Float32Array,
    bias: Option<Float32Array>,
    mut y: Float32Array,
    shape: Conv2dShape,
) -> Result<()> {
    const K: &str = "conv2dForward";
    let g = geometry(K, &shape)?;
    let (x, weight, bias) = (x.view()?, weight.view()?, view_opt(&bias)?);
    same_len(K, "x", x.len(), g.input_len())?;
    same_len(K, "weight", weight.len(), g.weight_len())?;
    same_len(K, "y", y.view()?.len(), g.output_len())?;
    if let Some(b) = bias {
        same_len(K, "bias", b.len(), g.out_channels)?;
    }
    let mut inputs = vec![("x", x), ("weight", weight)];
    inputs.extend(bias.map(|b| ("bias", b)));
    check_disjoint(K, "y", y.view()?, &inputs)?;
    // SAFETY: every output was checked disjoint from the inputs and the other outputs just above.
    let y = unsafe { y.view_mut() }?;
    conv::conv2d_forward(x, weight, bias, y, &g);
    Ok(())
}

/// Writes the input gradient (unless `dx` is null: training does not need the input's) and
/// adds into the weight and bias gradients.
#[napi(js_name = "conv2dBackward", catch_unwind)]
pub fn conv2d_backward(
    x: Float32Array,
    weight: Float32Array,
    dy: Float32Array,
    mut dx: Option<Float32Array>,
    mut dweight: Float32Array,
    mut dbias: Option<Float32Array>,
    shape: Conv2dShape,
) -> Result<()> {
    const K: &str = "conv2dBackward";
    let g = geometry(K, &shape)?;
    let (x, weight, dy) = (x.view()?, weight.view()?, dy.view()?);
    same_len(K, "x", x.len(), g.input_len())?;
    same_len(K, "weight", weight.len(), g.weight_len())?;
    same_len(K, "gradOutput", dy.len(), g.output_len())?;
    if let Some(dx) = view_opt(&dx)? {
        same_len(K, "gradInput", dx.len(), g.input_len())?;
    }
    same_len(K, "gradWeight", dweight.view()?.len(), g.weight_len())?;
    if let Some(db) = view_opt(&dbias)? {
        same_len(K, "gradBias", db.len(), g.out_channels)?;
    }
    let inputs = [("x", x), ("weight", weight), ("gradOutput", dy)];
    let mut outputs: Vec<_> = view_opt(&dx)?
        .map(|dx| ("gradInput", dx))
        .into_iter()
        .collect();
    outputs.push(("gradWeight", dweight.view()?));
    outputs.extend(view_opt(&dbias)?.map(|db| ("gradBias", db)));
    check_outputs(K, &outputs, &inputs)?;
    // SAFETY: every output was checked disjoint from the inputs and the other outputs just above.
    let dweight = unsafe { dweight.view_mut() }?;
    // SAFETY: as for the other outputs, just above.
    let dx = dx.as_mut().map(|dx| unsafe { dx.view_mut() }).transpose()?;
    // SAFETY: as for the other outputs, just above.
    let dbias = dbias
        .as_mut()
        .map(|db| unsafe { db.view_mut() })
        .transpose()?;
    conv::conv2d_backward(x, weight, dy, dx, dweight, dbias, &g);
    Ok(())
}
