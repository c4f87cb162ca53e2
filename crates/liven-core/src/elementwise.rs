//! Elementwise arithmetic: Tensor's `add` / `sub` / `mul` / `div` with NumPy's (and PyTorch's)
//! broadcasting, its `sum` / `mean` over any set of dims, `argmax` along a dim, and the in-place
//! sum that nn.Add and a graph's gradient fan-out accumulate with.
//!
//! Shapes are row-major and right-aligned for broadcasting: a dim of size 1 (or a missing
//! leading dim) is stretched to the other operand's size. Both kinds of kernel first collapse
//! the shapes: size-1 dims are dropped and neighbouring dims that are laid out as one are merged,
//! so `[N, C, H, W] · [N, C, 1, 1]` runs as `[N·C, H·W] · [N·C, 1]` and equal shapes as one flat
//! loop. The innermost collapsed dim is the vectorised loop; an odometer carries the others.
//!
//! Arithmetic is float32, as PyTorch's for float tensors (a number operand arrives already
//! rounded to float32, as PyTorch rounds a Python scalar). Sums accumulate in float64, in a fixed
//! order that depends on neither the instruction set nor the thread count: each output element
//! is summed entirely by one thread.
//!
//! Every public kernel panics when lengths or shapes disagree; the `*_check` functions say why
//! first, and the N-API glue calls them.

use crate::multiversion;
use crate::simd::{self, Isa};
use crate::stream::{fill_blocks, should_stream};
use crate::threads::{for_each_chunk, GRAIN};

/// Rows of a broadcast shorter than this run as a plain loop, without dispatch.
const SHORT_ROW: usize = 16;

/// Accumulator lanes of a contiguous sum: fixed, so every instruction set adds in the same order.
const LANES: usize = 16;

/// The arithmetic of a binary kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    /// The operation numbered as in JavaScript's `BINARY_OPS`: 0 add, 1 sub, 2 mul, 3 div.
    pub fn from_code(code: u32) -> Option<BinaryOp> {
        match code {
            0 => Some(BinaryOp::Add),
            1 => Some(BinaryOp::Sub),
            2 => Some(BinaryOp::Mul),
            3 => Some(BinaryOp::Div),
            _ => None,
        }
    }
}

/// Binds `$f` to `op`'s arithmetic and runs `$body` once per operation, so each copy of the loop
/// is vectorised without a branch per element.
macro_rules! with_op {
    ($op:expr, $f:ident => $body:block) => {
        match $op {
            BinaryOp::Add => {
                let $f = |x: f32, y: f32| x + y;
                $body
            }
            BinaryOp::Sub => {
                let $f = |x: f32, y: f32| x - y;
                $body
            }
            BinaryOp::Mul => {
                let $f = |x: f32, y: f32| x * y;
                $body
            }
            BinaryOp::Div => {
                let $f = |x: f32, y: f32| x / y;
                $body
            }
        }
    };
}

fn apply(op: BinaryOp, x: f32, y: f32) -> f32 {
    with_op!(op, f => { f(x, y) })
}

multiversion! {
    /// `out = a op b`, both operands running.
    fn binary_vv_run(op: BinaryOp, a: &[f32], b: &[f32], out: &mut [f32]) {
        with_op!(op, f => {
            for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
                *o = f(x, y);
            }
        })
    }
}

multiversion! {
    /// `out = a op y`, `y` one value for the whole row.
    fn binary_vs_run(op: BinaryOp, a: &[f32], y: f32, out: &mut [f32]) {
        with_op!(op, f => {
            for (o, &x) in out.iter_mut().zip(a) {
                *o = f(x, y);
            }
        })
    }
}

multiversion! {
    /// `out = x op b`, `x` one value for the whole row.
    fn binary_sv_run(op: BinaryOp, x: f32, b: &[f32], out: &mut [f32]) {
        with_op!(op, f => {
            for (o, &y) in out.iter_mut().zip(b) {
                *o = f(x, y);
            }
        })
    }
}

multiversion! {
    fn add_into_run(target: &mut [f32], source: &[f32]) {
        for (t, &s) in target.iter_mut().zip(source) {
            *t += s;
        }
    }
}

/// The product of `dims`, or None when it overflows.
fn product(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |p, &d| p.checked_mul(d))
}

fn format_shape(shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    format!("[{}]", dims.join(", "))
}

/// The broadcast shape of `a` and `b` (right-aligned; a size-1 dim stretches), or why not.
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let rank = a.len().max(b.len());
    (0..rank)
        .map(|i| {
            let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
            let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
            match (da, db) {
                _ if da == db || db == 1 => Ok(da),
                (1, _) => Ok(db),
                _ => Err(format!(
                    "shapes {} and {} cannot be broadcast together (dim {i} of the result: {da} vs {db})",
                    format_shape(a),
                    format_shape(b)
                )),
            }
        })
        .collect()
}

/// Checks a binary kernel's arguments: each operand's length is its shape's product and `out`
/// has the broadcast shape's.
pub fn binary_check(
    a_len: usize,
    a_shape: &[usize],
    b_len: usize,
    b_shape: &[usize],
    out_len: usize,
) -> Result<(), String> {
    for (name, len, shape) in [("a", a_len, a_shape), ("b", b_len, b_shape)] {
        match product(shape) {
            Some(n) if n == len => {}
            _ => {
                return Err(format!(
                    "{name} has {len} elements but its shape {} needs {}",
                    format_shape(shape),
                    product(shape).map_or("more than fit in memory".into(), |n| n.to_string())
                ))
            }
        }
    }
    let shape = broadcast_shape(a_shape, b_shape)?;
    match product(&shape) {
        Some(n) if n == out_len => Ok(()),
        n => Err(format!(
            "out has {out_len} elements, expected {} (shape {})",
            n.map_or("more than fit in memory".into(), |n| n.to_string()),
            format_shape(&shape)
        )),
    }
}

/// One dim of a collapsed broadcast: its size and each operand's stride (0 where broadcast).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Dim {
    size: usize,
    sa: usize,
    sb: usize,
}

/// The broadcast of `a_shape` and `b_shape` as a few collapsed dims, outermost first; at least
/// one (of size 1 when every dim is).
fn broadcast_plan(a_shape: &[usize], b_shape: &[usize]) -> Vec<Dim> {
    let out = broadcast_shape(a_shape, b_shape).expect("checked by binary_check");
    // Each operand's row-major strides read against `out`, 0 where it is stretched or missing.
    let strides = |shape: &[usize]| {
        let mut s = vec![0; out.len()];
        let mut stride = 1;
        for (i, &d) in shape.iter().enumerate().rev() {
            let o = out.len() - shape.len() + i;
            s[o] = if d == 1 { 0 } else { stride };
            stride *= d;
        }
        s
    };
    let (sa, sb) = (strides(a_shape), strides(b_shape));
    // From the innermost dim out: drop size-1 dims, and merge a dim into the one inside it when
    // both operands step over it as one (stride = inner stride × inner size; 0 = 0 × n too).
    let mut dims: Vec<Dim> = Vec::new();
    for i in (0..out.len()).rev() {
        let d = Dim {
            size: out[i],
            sa: sa[i],
            sb: sb[i],
        };
        if d.size == 1 {
            continue;
        }
        match dims.last_mut() {
            Some(inner) if d.sa == inner.sa * inner.size && d.sb == inner.sb * inner.size => {
                inner.size *= d.size;
            }
            _ => dims.push(d),
        }
    }
    if dims.is_empty() {
        dims.push(Dim {
            size: 1,
            sa: 0,
            sb: 0,
        });
    }
    dims.reverse();
    dims
}

/// Writes elements `start..start + out.len()` of the broadcast `a op b` into `out`.
fn binary_range(
    isa: Isa,
    op: BinaryOp,
    a: &[f32],
    b: &[f32],
    dims: &[Dim],
    start: usize,
    out: &mut [f32],
) {
    let (outer, last) = dims.split_at(dims.len() - 1);
    let last = last[0];
    // The odometer over the outer dims at `start`, and the operands' offsets there.
    let mut index = vec![0; outer.len()];
    let mut rest = start / last.size;
    let mut column = start % last.size;
    let (mut ia, mut ib) = (column * last.sa, column * last.sb);
    for (d, i) in outer.iter().zip(index.iter_mut()).rev() {
        *i = rest % d.size;
        rest /= d.size;
        ia += *i * d.sa;
        ib += *i * d.sb;
    }
    let mut done = 0;
    while done < out.len() {
        let n = (last.size - column).min(out.len() - done);
        let o = &mut out[done..done + n];
        match (last.sa, last.sb) {
            // Short rows ([N, 3] + [3]): a dispatched vector loop per row would cost more than the row.
            _ if n < SHORT_ROW => {
                for (j, o) in o.iter_mut().enumerate() {
                    *o = apply(op, a[ia + j * last.sa], b[ib + j * last.sb]);
                }
            }
            (0, 0) => o.fill(apply(op, a[ia], b[ib])),
            (_, 0) => binary_vs_run(isa, op, &a[ia..ia + n], b[ib], o),
            (0, _) => binary_sv_run(isa, op, a[ia], &b[ib..ib + n], o),
            _ => binary_vv_run(isa, op, &a[ia..ia + n], &b[ib..ib + n], o),
        }
        done += n;
        // Back to the row's start, then one step of the odometer over the outer dims.
        ia -= column * last.sa;
        ib -= column * last.sb;
        column = 0;
        for (d, i) in outer.iter().zip(index.iter_mut()).rev() {
            *i += 1;
            ia += d.sa;
            ib += d.sb;
            if *i < d.size {
                break;
            }
            ia -= d.sa * d.size;
            ib -= d.sb * d.size;
            *i = 0;
        }
    }
}

/// `out = a op b` elementwise, `a` and `b` (row-major, shapes `a_shape` and `b_shape`) broadcast
/// to their common shape, which `out` has.
pub fn binary(
    op: BinaryOp,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    out: &mut [f32],
) {
    if let Err(e) = binary_check(a.len(), a_shape, b.len(), b_shape, out.len()) {
        panic!("binary: {e}");
    }
    if out.is_empty() {
        return;
    }
    let dims = broadcast_plan(a_shape, b_shape);
    let isa = simd::active();
    let stream = should_stream(out.len());
    for_each_chunk(out, GRAIN, |start, chunk| {
        fill_blocks(chunk, stream, |offset, block| {
            binary_range(isa, op, a, b, &dims, start + offset, block)
        })
    });
}

/// `target += source` elementwise (same length): nn.Add's sum of more than two inputs and the
/// gradient sum at a graph's fan-out.
pub fn add_into(target: &mut [f32], source: &[f32]) {
    assert!(
        target.len() == source.len(),
        "add_into: source has {} elements, expected {}",
        source.len(),
        target.len()
    );
    let isa = simd::active();
    for_each_chunk(target, GRAIN, |s, t| {
        add_into_run(isa, t, &source[s..s + t.len()])
    });
}

// ---- Row copies (nn.Cat) ------------------------------------------------------------------

/// Checks a row copy: every row lies inside its array, and the destination's rows do not overlap.
pub fn copy_rows_check(
    src_len: usize,
    src_stride: usize,
    dst_len: usize,
    dst_stride: usize,
    rows: usize,
    len: usize,
) -> Result<(), String> {
    if rows == 0 || len == 0 {
        return Ok(());
    }
    if rows > 1 && dst_stride < len {
        return Err(format!(
            "dst rows of {len} elements {dst_stride} apart overlap"
        ));
    }
    for (name, have, stride) in [("src", src_len, src_stride), ("dst", dst_len, dst_stride)] {
        let need = (rows - 1)
            .checked_mul(stride)
            .and_then(|n| n.checked_add(len));
        if need.is_none_or(|n| n > have) {
            return Err(format!(
                "{name} has {have} elements, too few for {rows} rows of {len} elements {stride} apart"
            ));
        }
    }
    Ok(())
}

/// Copies `rows` rows of `len` elements, row `r` from `src[r·src_stride..]` to
/// `dst[r·dst_stride..]`, leaving the rest of `dst` as it is: nn.Cat's forward (each input into
/// its columns of the output) and backward (each input's columns back out of the gradient).
pub fn copy_rows(
    src: &[f32],
    src_stride: usize,
    dst: &mut [f32],
    dst_stride: usize,
    rows: usize,
    len: usize,
) {
    if let Err(e) = copy_rows_check(src.len(), src_stride, dst.len(), dst_stride, rows, len) {
        panic!("copy_rows: {e}");
    }
    if rows == 0 || len == 0 {
        return;
    }
    // One row's stride is its length; the rows are then `[r·ds, r·ds + len)` of the region.
    let ds = if rows == 1 { len } else { dst_stride };
    let region = &mut dst[..(rows - 1) * ds + len];
    // Each chunk of the region copies the parts of the rows that fall inside it.
    for_each_chunk(region, GRAIN, |start, chunk| {
        let end = start + chunk.len();
        for r in start / ds..end.div_ceil(ds).min(rows) {
            let (lo, hi) = ((r * ds).max(start), (r * ds + len).min(end));
            if lo < hi {
                let from = r * src_stride + (lo - r * ds);
                chunk[lo - start..hi - start].copy_from_slice(&src[from..from + (hi - lo)]);
            }
        }
    });
}

// ---- Sums over dims ------------------------------------------------------------------------

/// Checks a sum's arguments: `x` has `shape`'s product of elements, `dims` are distinct valid
/// dims in increasing order, and `out` has the product of the other dims.
pub fn sum_dims_check(
    len: usize,
    shape: &[usize],
    dims: &[usize],
    out_len: usize,
) -> Result<(), String> {
    match product(shape) {
        Some(n) if n == len => {}
        _ => {
            return Err(format!(
                "x has {len} elements, which shape {} does not",
                format_shape(shape)
            ))
        }
    }
    if dims.windows(2).any(|w| w[0] >= w[1]) || dims.last().is_some_and(|&d| d >= shape.len()) {
        return Err(format!(
            "dims {} must be distinct dims of shape {} in increasing order",
            format_shape(dims),
            format_shape(shape)
        ));
    }
    let kept: Vec<usize> = (0..shape.len())
        .filter(|d| !dims.contains(d))
        .map(|d| shape[d])
        .collect();
    // An empty x can have a kept size past usize (`[0, 2^32, 2^32]` summed over dim 0).
    match product(&kept) {
        Some(want) if want == out_len => Ok(()),
        want => Err(format!(
            "out has {out_len} elements, expected {}",
            want.map_or("more than fit in memory".into(), |n| n.to_string())
        )),
    }
}

/// One dim of a collapsed sum: its size, its stride in `x`, and whether it is summed over.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Axis {
    size: usize,
    stride: usize,
    reduced: bool,
}

/// `shape` with size-1 dims dropped and neighbours of the same kind merged, outermost first.
fn sum_plan(shape: &[usize], dims: &[usize]) -> Vec<Axis> {
    let mut axes: Vec<Axis> = Vec::new();
    let mut stride = 1;
    for (i, &size) in shape.iter().enumerate().rev() {
        let reduced = dims.contains(&i);
        if size != 1 {
            match axes.last_mut() {
                Some(inner) if inner.reduced == reduced => inner.size *= size,
                _ => axes.push(Axis {
                    size,
                    stride,
                    reduced,
                }),
            }
        }
        stride *= size;
    }
    axes.reverse();
    axes
}

/// The offsets in `x` of every index of `axes` (row-major order), an odometer.
struct Offsets<'a> {
    axes: &'a [Axis],
    index: Vec<usize>,
    offset: usize,
    left: usize,
}

impl<'a> Offsets<'a> {
    /// The offsets from the `start`-th index on.
    fn from(axes: &'a [Axis], start: usize) -> Self {
        let total: usize = axes.iter().map(|a| a.size).product();
        let mut index = vec![0; axes.len()];
        let (mut rest, mut offset) = (start, 0);
        for (a, i) in axes.iter().zip(index.iter_mut()).rev() {
            *i = rest % a.size;
            rest /= a.size;
            offset += *i * a.stride;
        }
        Offsets {
            axes,
            index,
            offset,
            left: total.saturating_sub(start),
        }
    }
}

impl Iterator for Offsets<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let current = self.offset;
        for (a, i) in self.axes.iter().zip(self.index.iter_mut()).rev() {
            *i += 1;
            self.offset += a.stride;
            if *i < a.size {
                break;
            }
            self.offset -= a.stride * a.size;
            *i = 0;
        }
        Some(current)
    }
}

multiversion! {
    /// Σ x in float64, over `LANES` lanes then across them: the same bits at every level.
    fn run_sum_run(x: &[f32]) -> f64 {
        let mut acc = [0.0f64; LANES];
        let mut chunks = x.chunks_exact(LANES);
        for c in &mut chunks {
            for l in 0..LANES {
                acc[l] += c[l] as f64;
            }
        }
        for (l, &v) in chunks.remainder().iter().enumerate() {
            acc[l] += v as f64;
        }
        acc.iter().sum()
    }
}

multiversion! {
    fn accumulate_run(acc: &mut [f64], x: &[f32]) {
        for (a, &v) in acc.iter_mut().zip(x) {
            *a += v as f64;
        }
    }
}

/// The sums over `dims` of `x` (shape `shape`; `dims` distinct and increasing) divided by
/// `divisor` (1 for a sum, the count for a mean), into `out`, which has the other dims in their
/// order. Accumulated in float64 and rounded once; an empty sum is 0 (so 0 / 0 is NaN).
pub fn sum_dims(x: &[f32], shape: &[usize], dims: &[usize], out: &mut [f32], divisor: f64) {
    if let Err(e) = sum_dims_check(x.len(), shape, dims, out.len()) {
        panic!("sum_dims: {e}");
    }
    if x.is_empty() {
        out.fill((0.0 / divisor) as f32);
        return;
    }
    let axes = sum_plan(shape, dims);
    let isa = simd::active();
    let reduced: Vec<Axis> = axes.iter().copied().filter(|a| a.reduced).collect();
    let mut kept: Vec<Axis> = axes.iter().copied().filter(|a| !a.reduced).collect();
    // Each output element is the sum of x.len() / out.len() elements; a chunk of outputs should
    // cover about GRAIN of them.
    let grain = GRAIN.div_ceil(x.len() / out.len());
    match axes.last() {
        Some(last) if !last.reduced => {
            // Rows of `columns` outputs, each summed over the reduced axes as whole row slices.
            let columns = last.size;
            kept.pop();
            for_each_chunk(out, grain, |start, chunk| {
                let mut acc = vec![0.0f64; columns.min(chunk.len())];
                let mut done = 0;
                let mut rows = Offsets::from(&kept, start / columns);
                let mut column = start % columns;
                while done < chunk.len() {
                    let n = (columns - column).min(chunk.len() - done);
                    let base = rows.next().expect("the chunk lies inside out") + column;
                    let acc = &mut acc[..n];
                    acc.fill(0.0);
                    for r in Offsets::from(&reduced, 0) {
                        accumulate_run(isa, acc, &x[base + r..base + r + n]);
                    }
                    for (o, &a) in chunk[done..done + n].iter_mut().zip(acc.iter()) {
                        *o = (a / divisor) as f32;
                    }
                    done += n;
                    column = 0;
                }
            });
        }
        Some(last) => {
            // Each output sums runs of `run` contiguous elements.
            let run = last.size;
            let outer = &reduced[..reduced.len() - 1];
            for_each_chunk(out, grain, |start, chunk| {
                for (o, base) in chunk.iter_mut().zip(Offsets::from(&kept, start)) {
                    let total: f64 = Offsets::from(outer, 0)
                        .map(|r| run_sum_run(isa, &x[base + r..base + r + run]))
                        .sum();
                    *o = (total / divisor) as f32;
                }
            });
        }
        // Every dim has size 1: one element, summed over nothing or over size-1 dims alike.
        None => out[0] = (x[0] as f64 / divisor) as f32,
    }
}

// ---- argmax --------------------------------------------------------------------------------

/// The index of the largest value along the middle dim of `x` seen as `[outer, size, inner]`,
/// per (outer, inner) pair, into `out` (`outer · inner`): as PyTorch picks it, NaN counts as
/// larger than every number and the first of equal maxima wins.
pub fn argmax_along(x: &[f32], outer: usize, size: usize, inner: usize, out: &mut [i32]) {
    assert!(
        size > 0 && product(&[outer, size, inner]) == Some(x.len()) && out.len() == outer * inner,
        "argmax_along: {} elements and {} outputs do not make [{outer}, {size}, {inner}]",
        x.len(),
        out.len()
    );
    assert!(
        i32::try_from(size).is_ok(),
        "argmax_along: {size} entries along the dim exceed i32"
    );
    for_each_chunk(out, GRAIN.div_ceil(size), |start, chunk| {
        for (k, o) in chunk.iter_mut().enumerate() {
            let (p, i) = ((start + k) / inner, (start + k) % inner);
            let base = p * size * inner + i;
            let (mut best, mut best_value) = (0, x[base]);
            // Once a NaN is found it stays the answer.
            for s in 1..size {
                if best_value.is_nan() {
                    break;
                }
                let v = x[base + s * inner];
                if v > best_value || v.is_nan() {
                    (best, best_value) = (s, v);
                }
            }
            *o = best as i32;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{supported, with_isa};
    use crate::testutil::uniform;

    /// `a op b` by the definition: every output index mapped back into each operand.
    fn reference(
        op: BinaryOp,
        a: &[f32],
        a_shape: &[usize],
        b: &[f32],
        b_shape: &[usize],
    ) -> Vec<f32> {
        let out = broadcast_shape(a_shape, b_shape).unwrap();
        let n: usize = out.iter().product();
        let at = |data: &[f32], shape: &[usize], flat: usize| {
            // The operand's flat index of output element `flat`.
            let (mut rest, mut index, mut stride) = (flat, 0, 1);
            for i in (0..out.len()).rev() {
                let coord = rest % out[i];
                rest /= out[i];
                if let Some(k) = (i + shape.len()).checked_sub(out.len()) {
                    if shape[k] != 1 {
                        index += coord * stride;
                    }
                    stride *= shape[k];
                }
            }
            data[index]
        };
        // The arithmetic spelt out here, not through `with_op!`, so that the reference is independent.
        let arith = |x: f32, y: f32| match op {
            BinaryOp::Add => x + y,
            BinaryOp::Sub => x - y,
            BinaryOp::Mul => x * y,
            BinaryOp::Div => x / y,
        };
        (0..n)
            .map(|i| arith(at(a, a_shape, i), at(b, b_shape, i)))
            .collect()
    }

    fn with_specials(mut v: Vec<f32>) -> Vec<f32> {
        for (i, s) in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0]
            .into_iter()
            .enumerate()
        {
            if let Some(x) = v.get_mut(i * 7 + 3) {
                *x = s;
            }
        }
        v
    }

    const OPS: [BinaryOp; 4] = [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div];

    fn same_bits(got: &[f32], want: &[f32]) -> bool {
        got.len() == want.len()
            && got
                .iter()
                .zip(want)
                .all(|(g, w)| g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()))
    }

    #[test]
    fn binary_matches_the_definition_for_every_broadcast_at_every_level() {
        let cases: &[(&[usize], &[usize])] = &[
            (&[37], &[37]),
            (&[3, 5, 17], &[3, 5, 17]),
            (&[1 << 17], &[1 << 17]),
            (&[4, 3, 9, 7], &[4, 3, 1, 1]),
            (&[4, 3, 1, 1], &[4, 3, 9, 7]),
            (&[64, 3, 40, 40], &[3, 1, 1]),
            (&[33, 19], &[19]),
            (&[19], &[33, 19]),
            (&[33, 1], &[1, 19]),
            (&[5, 1, 7], &[1, 6, 1]),
            (&[2, 3, 4], &[]),
            (&[], &[2, 3, 4]),
            (&[], &[]),
            (&[1, 1], &[1]),
            (&[6, 1], &[6, 1]),
            (&[300, 2], &[300, 1]),
            (&[0, 3], &[3]),
            (&[2, 0], &[1, 1]),
            (&[3, 1 << 15], &[1, 1 << 15]),
        ];
        for isa in supported() {
            for (k, &(sa, sb)) in cases.iter().enumerate() {
                let a = with_specials(uniform(sa.iter().product(), 2 * k as u64 + 1, 3.0));
                let b = with_specials(uniform(sb.iter().product(), 2 * k as u64 + 2, 3.0));
                for op in OPS {
                    let want = reference(op, &a, sa, &b, sb);
                    let mut out = vec![f32::NAN; want.len()];
                    with_isa(isa, || binary(op, &a, sa, &b, sb, &mut out));
                    assert!(same_bits(&out, &want), "{isa} {op:?} {sa:?} {sb:?}");
                }
            }
        }
    }

    #[test]
    fn every_chunk_start_lands_on_its_element() {
        // binary_range from every start inside a broadcast equals the tail of the whole.
        let (sa, sb) = ([3usize, 1, 5], [4usize, 1]);
        let (a, b) = (uniform(15, 1, 1.0), uniform(4, 2, 1.0));
        let dims = broadcast_plan(&sa, &sb);
        let want = reference(BinaryOp::Sub, &a, &sa, &b, &sb);
        for start in 0..want.len() {
            let mut out = vec![0.0; want.len() - start];
            binary_range(Isa::Scalar, BinaryOp::Sub, &a, &b, &dims, start, &mut out);
            assert_eq!(out, want[start..], "start {start}");
        }
    }

    #[test]
    fn the_plan_collapses_what_runs_as_one() {
        let d = |size, sa, sb| Dim { size, sa, sb };
        assert_eq!(broadcast_plan(&[2, 3, 4], &[2, 3, 4]), [d(24, 1, 1)]);
        assert_eq!(
            broadcast_plan(&[8, 3, 5, 5], &[8, 3, 1, 1]),
            [d(24, 25, 1), d(25, 1, 0)]
        );
        assert_eq!(
            broadcast_plan(&[8, 3, 5, 5], &[3, 1, 1]),
            [d(8, 75, 0), d(3, 25, 1), d(25, 1, 0)]
        );
        assert_eq!(broadcast_plan(&[1, 1], &[]), [d(1, 0, 0)]);
        assert_eq!(broadcast_plan(&[4, 1], &[1, 6]), [d(4, 1, 0), d(6, 0, 1)]);
    }

    #[test]
    fn broadcast_errors_name_the_shapes() {
        assert_eq!(
            broadcast_shape(&[2, 3], &[4]).unwrap_err(),
            "shapes [2, 3] and [4] cannot be broadcast together (dim 1 of the result: 3 vs 4)"
        );
        assert_eq!(broadcast_shape(&[2, 1], &[3, 1, 5]).unwrap(), [3, 2, 5]);
        assert!(binary_check(6, &[2, 3], 3, &[3], 6).is_ok());
        assert!(binary_check(5, &[2, 3], 3, &[3], 6)
            .unwrap_err()
            .contains("a has 5 elements"));
        assert!(binary_check(6, &[2, 3], 2, &[3], 6)
            .unwrap_err()
            .contains("b has 2 elements"));
        assert!(binary_check(6, &[2, 3], 3, &[3], 7)
            .unwrap_err()
            .contains("out has 7 elements, expected 6"));
        assert!(binary_check(0, &[usize::MAX, 2, 0], 1, &[], 0).is_err());
        assert!(BinaryOp::from_code(4).is_none());
        let codes: Vec<Option<BinaryOp>> = (0..4).map(BinaryOp::from_code).collect();
        assert_eq!(codes, OPS.map(Some));
    }

    #[test]
    #[should_panic(expected = "binary: out has 5 elements, expected 6")]
    fn binary_panics_on_a_wrong_output() {
        binary(
            BinaryOp::Add,
            &[0.0; 6],
            &[2, 3],
            &[0.0; 3],
            &[3],
            &mut [0.0; 5],
        );
    }

    #[test]
    fn add_into_adds_at_every_level() {
        for isa in supported() {
            for n in [0, 1, 15, 16, 17, 100, 3 * GRAIN + 5] {
                let (t0, s) = (with_specials(uniform(n, 3, 2.0)), uniform(n, 4, 2.0));
                let mut t = t0.clone();
                with_isa(isa, || add_into(&mut t, &s));
                let want: Vec<f32> = t0.iter().zip(&s).map(|(a, b)| a + b).collect();
                assert!(same_bits(&t, &want), "{isa} n={n}");
            }
        }
    }

    /// The sum by the definition: every element added into its output in f64, row-major order.
    fn sum_reference(x: &[f32], shape: &[usize], dims: &[usize], divisor: f64) -> Vec<f32> {
        let kept: Vec<usize> = (0..shape.len()).filter(|d| !dims.contains(d)).collect();
        let n: usize = kept.iter().map(|&d| shape[d]).product();
        let mut acc = vec![0.0f64; n];
        for (flat, &v) in x.iter().enumerate() {
            let (mut rest, mut coords) = (flat, vec![0; shape.len()]);
            for d in (0..shape.len()).rev() {
                coords[d] = rest % shape[d];
                rest /= shape[d];
            }
            let o = kept.iter().fold(0, |o, &d| o * shape[d] + coords[d]);
            acc[o] += v as f64;
        }
        acc.iter().map(|&a| (a / divisor) as f32).collect()
    }

    #[test]
    fn sums_match_the_definition_over_every_set_of_dims_at_every_level() {
        // Four and five dims of sizes > 1 make alternating kept and summed axes: odometers of
        // several axes on both sides.
        let shapes: &[&[usize]] = &[
            &[3, 5, 7],
            &[2, 1, 33, 4],
            &[3, 4, 5, 6],
            &[2, 3, 2, 3, 2],
            &[70, 300],
            &[5, 1 << 14],
            &[1 << 14, 5],
            &[1],
            &[],
            &[4, 0, 3],
        ];
        for isa in supported() {
            for (k, &shape) in shapes.iter().enumerate() {
                let x = uniform(shape.iter().product(), k as u64 + 9, 2.0);
                for mask in 0..1usize << shape.len() {
                    let dims: Vec<usize> =
                        (0..shape.len()).filter(|d| mask >> d & 1 == 1).collect();
                    let count: usize = dims.iter().map(|&d| shape[d]).product();
                    for divisor in [1.0, count as f64] {
                        let want = sum_reference(&x, shape, &dims, divisor);
                        let mut out = vec![f32::NAN; want.len()];
                        with_isa(isa, || sum_dims(&x, shape, &dims, &mut out, divisor));
                        // Lanes add in another order than the reference: a few ulps of the f64.
                        for (i, (g, w)) in out.iter().zip(&want).enumerate() {
                            assert!(
                                (g - w).abs() <= 1e-6 * w.abs().max(1.0)
                                    || (g.is_nan() && w.is_nan()),
                                "{isa} {shape:?} {dims:?} /{divisor} [{i}]: {g} vs {w}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn sums_give_the_same_bits_at_every_level_and_propagate_nan() {
        let mut x = uniform(3 * 1000, 5, 1.0);
        x[1234] = f32::NAN;
        let results: Vec<Vec<f32>> = supported()
            .into_iter()
            .map(|isa| {
                let mut out = vec![0.0; 3];
                with_isa(isa, || sum_dims(&x, &[3, 1000], &[1], &mut out, 1.0));
                out
            })
            .collect();
        assert!(results[0][1].is_nan() && !results[0][0].is_nan() && !results[0][2].is_nan());
        assert!(results.iter().all(|r| same_bits(r, &results[0])));
    }

    #[test]
    fn the_sum_accumulates_in_float64() {
        let x = vec![0.1f32; 1 << 20];
        let mut out = [0.0];
        sum_dims(&x, &[1 << 20], &[0], &mut out, 1.0);
        assert_eq!(out[0], (0.1f32 as f64 * (1 << 20) as f64) as f32);
    }

    #[test]
    fn empty_sums_are_zero_and_empty_means_nan() {
        let mut out = [1.0; 3];
        sum_dims(&[], &[0, 3], &[0], &mut out, 1.0);
        assert_eq!(out, [0.0; 3]);
        sum_dims(&[], &[0, 3], &[0], &mut out, 0.0);
        assert!(out.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn sum_checks_name_what_is_wrong() {
        assert!(sum_dims_check(6, &[2, 3], &[1], 2).is_ok());
        assert!(sum_dims_check(6, &[2, 3], &[], 6).is_ok());
        assert!(sum_dims_check(5, &[2, 3], &[1], 2)
            .unwrap_err()
            .contains("x has 5 elements"));
        assert!(sum_dims_check(6, &[2, 3], &[1, 0], 1)
            .unwrap_err()
            .contains("increasing"));
        assert!(sum_dims_check(6, &[2, 3], &[1, 1], 2).is_err());
        assert!(sum_dims_check(6, &[2, 3], &[2], 6).is_err());
        assert!(sum_dims_check(6, &[2, 3], &[0], 2)
            .unwrap_err()
            .contains("out has 2 elements, expected 3"));
    }

    #[test]
    fn copy_rows_moves_each_row_and_nothing_else() {
        // Small rows, a row per chunk and rows cut by chunk boundaries (past the parallel grain).
        for (rows, len, src_stride, dst_stride) in [
            (5, 3, 3, 7),
            (1, 10, 0, 0),
            (3, 4, 6, 4),
            (70_000, 2, 2, 5),
            (3, 40_000, 40_000, 90_001),
            (4, 0, 1, 1),
            (0, 3, 3, 3),
        ] {
            let src = uniform((rows.max(1) - 1) * src_stride + len, 1, 1.0);
            let dst_len = (rows.max(1) - 1) * dst_stride + len + 3;
            let mut dst = vec![f32::NAN; dst_len];
            copy_rows(&src, src_stride, &mut dst, dst_stride, rows, len);
            let ds = if rows == 1 { len } else { dst_stride };
            for (i, &v) in dst.iter().enumerate() {
                let (r, c) = (i / ds.max(1), i % ds.max(1));
                if r < rows && c < len {
                    assert_eq!(
                        v,
                        src[r * src_stride + c],
                        "rows {rows} len {len}: dst[{i}]"
                    );
                } else {
                    assert!(v.is_nan(), "rows {rows} len {len}: dst[{i}] written");
                }
            }
        }
    }

    #[test]
    fn copy_rows_checks_the_bounds() {
        assert!(copy_rows_check(6, 3, 14, 7, 2, 3).is_ok());
        assert!(copy_rows_check(5, 3, 14, 7, 2, 3)
            .unwrap_err()
            .contains("src has 5 elements"));
        assert!(copy_rows_check(6, 3, 9, 7, 2, 3)
            .unwrap_err()
            .contains("dst has 9 elements"));
        assert!(copy_rows_check(6, 3, 14, 2, 2, 3)
            .unwrap_err()
            .contains("overlap"));
        assert!(copy_rows_check(0, 0, 0, 0, 0, 5).is_ok());
        assert!(copy_rows_check(3, 0, 3, 0, 1, 3).is_ok());
        assert!(copy_rows_check(1 << 20, usize::MAX, 1 << 20, usize::MAX, 3, 1).is_err());
    }

    #[test]
    fn argmax_picks_the_first_maximum_and_nan() {
        let x = [1.0, 3.0, 3.0, f32::NAN, 2.0, f32::NAN, 0.0, -1.0];
        let mut out = [0; 1];
        argmax_along(&x, 1, 8, 1, &mut out);
        assert_eq!(out, [3]);
        // [2, 4] along dim 1, and [4, 2] along dim 0 (inner 2).
        let mut out = [0; 2];
        argmax_along(&x, 2, 4, 1, &mut out);
        assert_eq!(out, [3, 1]);
        argmax_along(&x, 1, 4, 2, &mut out);
        assert_eq!(out, [1, 1]);
        // Ties without a NaN: the first of them.
        let ties = [2.0, 5.0, 5.0, 1.0, -1.0, -1.0, -1.0, -3.0];
        argmax_along(&ties, 2, 4, 1, &mut out);
        assert_eq!(out, [1, 0]);
        let mut columns = [0; 4];
        argmax_along(
            &[5.0, 1.0, 2.0, 2.0, 5.0, 0.0, 2.0, 3.0],
            1,
            2,
            4,
            &mut columns,
        );
        assert_eq!(columns, [0, 0, 0, 1]);
        let big = uniform(3 * GRAIN, 7, 1.0);
        let mut out = vec![0; GRAIN];
        argmax_along(&big, 1, 3, GRAIN, &mut out);
        for (i, &o) in out.iter().enumerate() {
            let col = [big[i], big[GRAIN + i], big[2 * GRAIN + i]];
            let want = (0..3).fold(0, |b, s| if col[s] > col[b] { s } else { b });
            assert_eq!(o as usize, want);
        }
    }
}
