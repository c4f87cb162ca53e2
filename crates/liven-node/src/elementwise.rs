//! Tensor's elementwise helpers (broadcast arithmetic, sums over dims, argmax) and the in-place
//! sum of nn.Add and a graph's gradient fan-out.

use crate::{
    check_apart, check_disjoint, invalid, same_len, span, Float32Array, Int32Array, Uint32Array,
};
use liven_core::elementwise::{self, BinaryOp};
use napi::Result;
use napi_derive::napi;

fn to_usize(shape: &[u32]) -> Vec<usize> {
    shape.iter().map(|&d| d as usize).collect()
}

/// `out = a op b` with broadcasting: `op` 0 add, 1 sub, 2 mul, 3 div; `aShape` and `bShape` are
/// the operands' shapes (right-aligned), `out` has their broadcast shape's size.
#[napi(catch_unwind)]
pub fn binary_broadcast(
    a: Float32Array,
    a_shape: Uint32Array,
    b: Float32Array,
    b_shape: Uint32Array,
    mut out: Float32Array,
    op: u32,
) -> Result<()> {
    const K: &str = "binaryBroadcast";
    let (a, b) = (a.view()?, b.view()?);
    let (a_shape, b_shape) = (to_usize(&a_shape.stable()?), to_usize(&b_shape.stable()?));
    let op = BinaryOp::from_code(op).ok_or_else(|| {
        invalid(format!(
            "{K}: op {op} is not 0 (add), 1 (sub), 2 (mul) or 3 (div)"
        ))
    })?;
    elementwise::binary_check(a.len(), &a_shape, b.len(), &b_shape, out.view()?.len())
        .map_err(|e| invalid(format!("{K}: {e}")))?;
    check_disjoint(K, "out", out.view()?, &[("a", a), ("b", b)])?;
    // SAFETY: checked disjoint from every other argument just above (the shapes are copies).
    let out = unsafe { out.view_mut() }?;
    elementwise::binary(op, a, &a_shape, b, &b_shape, out);
    Ok(())
}

/// `target += source` elementwise (same length).
#[napi(catch_unwind)]
pub fn add_into(mut target: Float32Array, source: Float32Array) -> Result<()> {
    const K: &str = "addInto";
    let source = source.view()?;
    same_len(K, "source", source.len(), target.view()?.len())?;
    check_disjoint(K, "target", target.view()?, &[("source", source)])?;
    // SAFETY: checked disjoint from the other argument just above.
    let target = unsafe { target.view_mut() }?;
    elementwise::add_into(target, source);
    Ok(())
}

/// The sums of `x` (shape `shape`) over `dims` (distinct, increasing) divided by `divisor`, into
/// `out` (the other dims' size), accumulated in float64.
#[napi(catch_unwind)]
pub fn sum_dims(
    x: Float32Array,
    shape: Uint32Array,
    dims: Uint32Array,
    mut out: Float32Array,
    divisor: f64,
) -> Result<()> {
    const K: &str = "sumDims";
    let x = x.view()?;
    let (shape, reduced) = (to_usize(&shape.stable()?), to_usize(&dims.stable()?));
    elementwise::sum_dims_check(x.len(), &shape, &reduced, out.view()?.len())
        .map_err(|e| invalid(format!("{K}: {e}")))?;
    check_disjoint(K, "out", out.view()?, &[("x", x)])?;
    // SAFETY: checked disjoint from every other argument just above (the shapes are copies).
    let out = unsafe { out.view_mut() }?;
    elementwise::sum_dims(x, &shape, &reduced, out, divisor);
    Ok(())
}

/// The index of the largest value along the middle dim of `[outer, size, inner]` into `out`
/// (`outer · inner`): NaN counts as the largest, the first of equal maxima wins.
#[napi(catch_unwind)]
pub fn argmax_along(
    x: Float32Array,
    outer: u32,
    size: u32,
    inner: u32,
    mut out: Int32Array,
) -> Result<()> {
    const K: &str = "argmaxAlong";
    let x = x.view()?;
    let (outer, size, inner) = (outer as usize, size as usize, inner as usize);
    let fits = outer.checked_mul(size).and_then(|n| n.checked_mul(inner)) == Some(x.len());
    if size == 0 || size > i32::MAX as usize || !fits {
        return Err(invalid(format!(
            "{K}: x has {} elements, not [{outer}, {size}, {inner}] with size from 1 to 2^31 - 1",
            x.len()
        )));
    }
    same_len(K, "out", out.view()?.len(), outer * inner)?;
    check_apart(K, "out", span(out.view()?), &[("x", span(x))])?;
    // SAFETY: checked apart from x just above.
    let out = unsafe { out.view_mut() }?;
    elementwise::argmax_along(x, outer, size, inner, out);
    Ok(())
}

/// Copies `rows` rows of `len` elements, row `r` from `src[r·srcStride..]` to `dst[r·dstStride..]`
/// (nn.Cat; pass subarrays for offsets); the rest of `dst` is left as it is.
#[napi(catch_unwind)]
pub fn copy_rows(
    src: Float32Array,
    src_stride: u32,
    mut dst: Float32Array,
    dst_stride: u32,
    rows: u32,
    len: u32,
) -> Result<()> {
    const K: &str = "copyRows";
    let src = src.view()?;
    let (ss, ds, rows, len) = (
        src_stride as usize,
        dst_stride as usize,
        rows as usize,
        len as usize,
    );
    elementwise::copy_rows_check(src.len(), ss, dst.view()?.len(), ds, rows, len)
        .map_err(|e| invalid(format!("{K}: {e}")))?;
    check_disjoint(K, "dst", dst.view()?, &[("src", src)])?;
    // SAFETY: checked disjoint from the other array just above.
    let dst = unsafe { dst.view_mut() }?;
    elementwise::copy_rows(src, ss, dst, ds, rows, len);
    Ok(())
}
