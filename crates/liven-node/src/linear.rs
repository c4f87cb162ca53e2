//! Linear: y = x·Wᵀ + b.

use crate::{check_disjoint, check_outputs, same_len, view_opt, Float32Array};
use liven_core::linear;
use napi::Result;
use napi_derive::napi;

#[napi(catch_unwind)]
pub fn linear_forward(
    x: Float32Array,
    weight: Float32Array,
    bias: Option<Float32Array>,
    mut y: Float32Array,
    rows: u32,
    in_features: u32,
    out_features: u32,
) -> Result<()> {
    const K: &str = "linearForward";
    let (r, i, o) = (rows as usize, in_features as usize, out_features as usize);
    let (x, weight, bias) = (x.view()?, weight.view()?, view_opt(&bias)?);
    same_len(K, "x", x.len(), r * i)?;
    same_len(K, "weight", weight.len(), o * i)?;
    same_len(K, "y", y.view()?.len(), r * o)?;
    if let Some(b) = bias {
        same_len(K, "bias", b.len(), o)?;
    }
    let mut inputs = vec![("x", x), ("weight", weight)];
    inputs.extend(bias.map(|b| ("bias", b)));
    check_disjoint(K, "y", y.view()?, &inputs)?;
    // SAFETY: every output was checked disjoint from the inputs and the other outputs just above.
    let y = unsafe { y.view_mut() }?;
    // With no output features the (empty) bias has no rows to go into: the kernel's row split
    // would divide by zero.
    let bias = bias.filter(|_| o > 0);
    linear::linear_forward(x, weight, bias, y, r, i, o);
    Ok(())
}

/// Writes the input gradient (unless `dx` is null: training does not need the input's) and
/// adds into the weight and bias gradients.
#[napi(catch_unwind)]
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    x: Float32Array,
    weight: Float32Array,
    dy: Float32Array,
    mut dx: Option<Float32Array>,
    mut dweight: Float32Array,
    mut dbias: Option<Float32Array>,
    rows: u32,
    in_features: u32,
    out_features: u32,
) -> Result<()> {
    const K: &str = "linearBackward";
    let (r, i, o) = (rows as usize, in_features as usize, out_features as usize);
    let (x, weight, dy) = (x.view()?, weight.view()?, dy.view()?);
    same_len(K, "x", x.len(), r * i)?;
    same_len(K, "weight", weight.len(), o * i)?;
    same_len(K, "gradOutput", dy.len(), r * o)?;
    if let Some(dx) = view_opt(&dx)? {
        same_len(K, "gradInput", dx.len(), r * i)?;
    }
    same_len(K, "gradWeight", dweight.view()?.len(), o * i)?;
    if let Some(db) = view_opt(&dbias)? {
        same_len(K, "gradBias", db.len(), o)?;
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
        .transpose()?
        .filter(|_| o > 0); // empty, and the kernel's row split would divide by zero
    linear::linear_backward(x, weight, dy, dx, dweight, dbias, r, i, o);
    Ok(())
}
