//! Linear: y = x·Wᵀ + b.

use crate::{check_disjoint, check_outputs, output, same_len};
use liven_core::linear;
use napi::bindgen_prelude::Float32ArraySlice;
use napi::Result;
use napi_derive::napi;

#[napi]
pub fn linear_forward(
    x: Float32ArraySlice,
    weight: Float32ArraySlice,
    bias: Option<Float32ArraySlice>,
    mut y: Float32ArraySlice,
    rows: u32,
    in_features: u32,
    out_features: u32,
) -> Result<()> {
    const K: &str = "linearForward";
    let (r, i, o) = (rows as usize, in_features as usize, out_features as usize);
    same_len(K, "x", x.len(), r * i)?;
    same_len(K, "weight", weight.len(), o * i)?;
    same_len(K, "y", y.len(), r * o)?;
    let bias = bias.as_deref();
    if let Some(b) = bias {
        same_len(K, "bias", b.len(), o)?;
    }
    let mut inputs = vec![("x", &x[..]), ("weight", &weight[..])];
    inputs.extend(bias.map(|b| ("bias", b)));
    check_disjoint(K, "y", &y, &inputs)?;
    // SAFETY: every output was checked disjoint from the inputs and the other outputs just above.
    let y = unsafe { output(&mut y) };
    linear::linear_forward(&x, &weight, bias, y, r, i, o);
    Ok(())
}

/// Writes the input gradient and adds into the weight and bias gradients.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    x: Float32ArraySlice,
    weight: Float32ArraySlice,
    dy: Float32ArraySlice,
    mut dx: Float32ArraySlice,
    mut dweight: Float32ArraySlice,
    mut dbias: Option<Float32ArraySlice>,
    rows: u32,
    in_features: u32,
    out_features: u32,
) -> Result<()> {
    const K: &str = "linearBackward";
    let (r, i, o) = (rows as usize, in_features as usize, out_features as usize);
    same_len(K, "x", x.len(), r * i)?;
    same_len(K, "weight", weight.len(), o * i)?;
    same_len(K, "gradOutput", dy.len(), r * o)?;
    same_len(K, "gradInput", dx.len(), r * i)?;
    same_len(K, "gradWeight", dweight.len(), o * i)?;
    if let Some(db) = &dbias {
        same_len(K, "gradBias", db.len(), o)?;
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
    linear::linear_backward(&x, &weight, &dy, dx, dweight, dbias, r, i, o);
    Ok(())
}
