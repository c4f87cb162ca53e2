//! 2-D max and average pooling, and their global forms, over `[planes, H, W]` (NCHW with
//! planes = N·C), forward and backward. Semantics are PyTorch's CPU kernels:
//!
//! - Output size: `(in + 2p - d(k-1) - 1 + (ceil ? s-1 : 0)) / s + 1` rounded down, and in ceil
//!   mode one less when the last window would start past the input and its left padding.
//! - Max pooling: the first maximum of a window in row-major order wins (strict `>`), except that
//!   NaN always wins, so the *last* NaN of a window is the one recorded. A window whose valid
//!   elements are all -inf records its first valid element. `indices` hold the argmax as a flat
//!   index within the plane (`ih·W + iw`), as PyTorch's `return_indices`; backward adds each
//!   output gradient at its index.
//! - Average pooling: the sum of the window's valid elements divided by the window's size
//!   clipped to the padded input (`countIncludePad`: padding counts, the ceil-mode overhang past
//!   it does not) or to the input itself (`!countIncludePad`).
//!
//! Both are separable: a horizontal pass reduces each input row to one value per output column
//! (and, for max, the winning column), a vertical pass reduces `kh` of those rows. Doing the
//! columns first keeps the row-major tie-break: the vertical pass takes the first row holding the
//! maximum, the horizontal one the first column within it. For stride `s` each padded row is split
//! into `s` phases (positions `r, r+s, r+2s, ...`) so that every tap of every output column reads
//! contiguous memory and the passes vectorise. A plane (56×56 floats is 12 KiB) stays in L1.

use crate::multiversion;
use crate::simd;
use crate::threads::{self, GRAIN};
use std::ops::Range;

/// Accumulator lanes of the global reductions (fixed, so every instruction set gives the same bits).
const LANES: usize = 16;

/// One axis of a pooling window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Axis {
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub dilation: usize,
}

impl Axis {
    fn span(&self) -> usize {
        (self.kernel - 1) * self.dilation + 1
    }

    /// PyTorch's `pooling_output_shape` (may be 0 or negative for inputs that are too small).
    pub fn output_len(&self, input: usize, ceil_mode: bool) -> isize {
        let (s, p) = (self.stride as isize, self.padding as isize);
        let extra = if ceil_mode { s - 1 } else { 0 };
        let num = input as isize + 2 * p - self.span() as isize + extra;
        let mut out = num.div_euclid(s) + 1;
        // The last window must start inside the input or its left padding.
        if ceil_mode && (out - 1) * s >= input as isize + p {
            out -= 1;
        }
        out
    }

    /// Where output `o`'s window starts (negative inside the left padding).
    fn start(&self, o: usize) -> isize {
        (o * self.stride) as isize - self.padding as isize
    }

    /// The first tap of output `o`'s window that lands inside `[0, input)`, if any.
    fn first_valid(&self, o: usize, input: usize) -> Option<usize> {
        let start = self.start(o);
        let skip = if start < 0 {
            (-start as usize).div_ceil(self.dilation)
        } else {
            0
        };
        let pos = start + (skip * self.dilation) as isize;
        (skip < self.kernel && pos < input as isize).then_some(pos as usize)
    }

    /// The divisor of output `o` for average pooling (the axis' factor of it).
    fn avg_count(&self, o: usize, input: usize, count_include_pad: bool) -> usize {
        let start = self.start(o);
        let end = start + self.kernel as isize;
        let (lo, hi) = if count_include_pad {
            (start, end.min((input + self.padding) as isize))
        } else {
            (start.max(0), end.min(input as isize))
        };
        (hi - lo).max(0) as usize
    }
}

/// Checks a pooling configuration against an input of `input` elements along one axis and an
/// output of `output`; the error says what is wrong (the TypeScript layer words it for users).
fn check_axis(name: &str, a: Axis, input: usize, output: usize) -> Result<(), String> {
    if a.kernel == 0 || a.stride == 0 || a.dilation == 0 {
        return Err(format!(
            "{name}: kernel {}, stride {} and dilation {} must be positive",
            a.kernel, a.stride, a.dilation
        ));
    }
    // Window spans are added to positions in isize arithmetic (output_len, start).
    if (a.kernel - 1)
        .checked_mul(a.dilation)
        .is_none_or(|s| s > i32::MAX as usize)
    {
        return Err(format!(
            "{name}: kernel {} with dilation {} spans too far",
            a.kernel, a.dilation
        ));
    }
    if a.padding > a.kernel / 2 {
        return Err(format!(
            "{name}: padding {} is more than half the kernel {}",
            a.padding, a.kernel
        ));
    }
    let floor = a.output_len(input, false);
    let ceil = a.output_len(input, true);
    if output == 0 || (output as isize != floor && output as isize != ceil) {
        return Err(format!(
            "{name}: an output of {output} does not fit an input of {input} (expected {floor} or {ceil}, at least 1)"
        ));
    }
    // In time independent of the output size (2^31 windows would take seconds): a window that
    // starts inside the input is valid, so on the right the first window starting past it is the
    // first bad one. A window starting in the left padding has its first tap inside within a
    // dilation of 0: when the dilation is at most the input, only the kernel's reach decides,
    // which grows with `o`, so window 0 stands for all; wider dilations are checked one by one.
    let left = output.min(a.padding.div_ceil(a.stride));
    let suspects = if a.dilation <= input {
        left.min(1)
    } else {
        left
    };
    let past = (input + a.padding).div_ceil(a.stride);
    let bad = (0..suspects)
        .find(|&o| a.first_valid(o, input).is_none())
        .or((past < output).then_some(past));
    if let Some(o) = bad {
        return Err(format!("{name}: window {o} lies entirely in the padding"));
    }
    Ok(())
}

/// The geometry of a 2-D pooling: input `h × w`, output `oh × ow`, one [`Axis`] per dimension.
#[derive(Clone, Copy, Debug)]
pub struct Pool2d {
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub height: Axis,
    pub width: Axis,
}

impl Pool2d {
    /// Whether the geometry is one PyTorch would produce (the output size of floor or ceil
    /// mode, padding at most half the kernel, no window entirely in the padding).
    pub fn check(&self) -> Result<(), String> {
        check_axis("height", self.height, self.h, self.oh)?;
        check_axis("width", self.width, self.w, self.ow)?;
        if self
            .h
            .checked_mul(self.w)
            .is_none_or(|hw| hw > i32::MAX as usize)
        {
            return Err(format!("a {}×{} plane is too large", self.h, self.w));
        }
        Ok(())
    }

    fn in_plane(&self) -> usize {
        self.h * self.w
    }

    fn out_plane(&self) -> usize {
        self.oh * self.ow
    }
}

/// How a plane is laid out for the separable passes, and the per-output tables.
///
/// Padded positions along an axis with stride `s` are grouped by phase (`q % s`): the padded
/// row `q` goes to row slot `(q % s)·lh + q / s`, the padded column `q` of phase `q % s` to index
/// `q / s` of that phase's rows of `len` entries. A tap at offset `off` of every output then reads
/// one contiguous block: rows from slot `(off % s)·lh + off / s`, columns from index `off / s`
/// of phase `off % s`. So each tap of each pass is one flat loop over the whole plane (rows of
/// `len` entries, of which the first `ow` are outputs and the rest are ignored).
struct Layout {
    /// Row slots per row phase, and row phases (the height stride).
    lh: usize,
    /// Entries per row of a column phase (>= ow).
    len: usize,
    /// Elements per column phase: every row slot, plus room for the largest tap shift.
    pstride: usize,
    /// Per real input row `ih`: its row slot, if any window reaches it.
    slot: Vec<Option<usize>>,
    /// Horizontal taps: (column phase start + shift, tap offset j·d).
    htaps: Vec<(usize, i32)>,
    /// Vertical taps: (first entry of the block of row slots, tap offset i·d).
    vtaps: Vec<(usize, i32)>,
    /// `o·s - p`: the input column of tap 0 of output column `o` (negative in the padding).
    base_col: Vec<i32>,
    /// The input row of tap 0 of output row `oh`.
    base_row: Vec<i32>,
    /// The offset of the first valid tap of each output column / row (PyTorch's initial argmax).
    first_col: Vec<i32>,
    first_row: Vec<i32>,
    /// Average pooling's divisor per output.
    divisor: Vec<f32>,
}

impl Layout {
    fn new(g: &Pool2d, count_include_pad: bool) -> Layout {
        let (ah, aw) = (g.height, g.width);
        let lh = ((g.oh - 1) * ah.stride + ah.span()).div_ceil(ah.stride);
        let len = ((g.ow - 1) * aw.stride + aw.span()).div_ceil(aw.stride);
        let rows = ah.stride * lh;
        let slack = (aw.span() - 1) / aw.stride + 1;
        let pstride = rows * len + slack;
        let slot = (0..g.h)
            .map(|ih| {
                let q = ih + ah.padding;
                (q < rows).then(|| (q % ah.stride) * lh + q / ah.stride)
            })
            .collect();
        let htaps = (0..aw.kernel)
            .map(|j| {
                let off = j * aw.dilation;
                ((off % aw.stride) * pstride + off / aw.stride, off as i32)
            })
            .collect();
        let vtaps = (0..ah.kernel)
            .map(|i| {
                let off = i * ah.dilation;
                (((off % ah.stride) * lh + off / ah.stride) * len, off as i32)
            })
            .collect();
        let first = |a: Axis, o: usize, input: usize| {
            (a.first_valid(o, input).unwrap() as isize - a.start(o)) as i32
        };
        Layout {
            lh,
            len,
            pstride,
            slot,
            htaps,
            vtaps,
            base_col: (0..g.ow).map(|o| aw.start(o) as i32).collect(),
            base_row: (0..g.oh).map(|o| ah.start(o) as i32).collect(),
            first_col: (0..g.ow).map(|o| first(aw, o, g.w)).collect(),
            first_row: (0..g.oh).map(|o| first(ah, o, g.h)).collect(),
            divisor: (0..g.oh)
                .flat_map(|oh| {
                    let ch = ah.avg_count(oh, g.h, count_include_pad);
                    (0..g.ow).map(move |ow| (ch * aw.avg_count(ow, g.w, count_include_pad)) as f32)
                })
                .collect(),
        }
    }

    fn rows(&self, g: &Pool2d) -> usize {
        g.height.stride * self.lh
    }
}

/// Where input column `iw` of a row goes: (column phase, index in the phase's row), if used.
#[inline(always)]
fn col_place(iw: usize, s: usize, p: usize, len: usize) -> Option<(usize, usize)> {
    let q = iw + p;
    (q / s < len).then_some((q % s, q / s))
}

/// Copies input row `row` into its row slot (`at` = slot · len) of every column phase.
#[inline(always)]
fn split_row(row: &[f32], phases: &mut [f32], at: usize, s: usize, p: usize, l: &Layout) {
    let (len, ps) = (l.len, l.pstride);
    let mut done = 0;
    if s == 2 {
        // Pairs (x[2m], x[2m+1]) go to two phases at consecutive indices: a stride-2 access that
        // the compiler turns into shuffles.
        let (ka, kb) = (p / 2, p.div_ceil(2));
        let m = (row.len() / 2)
            .min(len.saturating_sub(ka))
            .min(len.saturating_sub(kb));
        let (lo, hi) = phases.split_at_mut(ps);
        let (pa, pb) = if p.is_multiple_of(2) {
            (lo, hi)
        } else {
            (hi, lo)
        };
        let pa = &mut pa[at + ka..at + ka + m];
        let pb = &mut pb[at + kb..at + kb + m];
        for ((a, b), pair) in pa.iter_mut().zip(pb.iter_mut()).zip(row.chunks_exact(2)) {
            *a = pair[0];
            *b = pair[1];
        }
        done = 2 * m;
    } else if s == 1 && p < len {
        let m = row.len().min(len - p);
        for (d, &v) in phases[at + p..at + p + m].iter_mut().zip(row) {
            *d = v;
        }
        done = m;
    }
    for (iw, &v) in row.iter().enumerate().skip(done) {
        if let Some((r, k)) = col_place(iw, s, p, len) {
            phases[r * ps + at + k] = v;
        }
    }
}

/// The inverse of [`split_row`]: input columns that no window reaches get 0.
#[inline(always)]
fn merge_row(row: &mut [f32], phases: &[f32], at: usize, s: usize, p: usize, l: &Layout) {
    let (len, ps) = (l.len, l.pstride);
    let mut done = 0;
    if s == 2 {
        let (ka, kb) = (p / 2, p.div_ceil(2));
        let m = (row.len() / 2)
            .min(len.saturating_sub(ka))
            .min(len.saturating_sub(kb));
        let (lo, hi) = phases.split_at(ps);
        let (pa, pb) = if p.is_multiple_of(2) {
            (lo, hi)
        } else {
            (hi, lo)
        };
        let (pa, pb) = (&pa[at + ka..at + ka + m], &pb[at + kb..at + kb + m]);
        for ((&a, &b), pair) in pa.iter().zip(pb).zip(row.chunks_exact_mut(2)) {
            pair[0] = a;
            pair[1] = b;
        }
        done = 2 * m;
    } else if s == 1 && p < len {
        let m = row.len().min(len - p);
        for (d, &v) in row.iter_mut().zip(&phases[at + p..at + p + m]) {
            *d = v;
        }
        done = m;
    }
    for (iw, v) in row.iter_mut().enumerate().skip(done) {
        *v = match col_place(iw, s, p, len) {
            Some((r, k)) => phases[r * ps + at + k],
            None => 0.0,
        };
    }
}

/// Scratch buffers of one task.
struct Scratch {
    /// Column phases of the padded plane (padding holds the pad value for good: only the
    /// positions of input elements are written, the same ones for every plane).
    phases: Vec<f32>,
    /// Horizontal pass results per row slot, and their winning tap offsets.
    h: Vec<f32>,
    harg: Vec<i32>,
    /// Vertical pass results per output row (rows of `len`), and their winning tap offsets.
    v: Vec<f32>,
    /// The winner's offset from the window's first tap (row offset · W + column offset).
    vrow: Vec<i32>,
}

impl Scratch {
    fn new(g: &Pool2d, l: &Layout, pad: f32, with_args: bool) -> Scratch {
        let (rows, len) = (l.rows(g), l.len);
        let args = |n: usize| if with_args { vec![0; n] } else { Vec::new() };
        Scratch {
            phases: vec![pad; g.width.stride * l.pstride],
            h: vec![0.0; rows * len],
            harg: args(rows * len),
            v: vec![0.0; g.oh * len],
            vrow: args(g.oh * len),
        }
    }

    fn empty() -> Scratch {
        Scratch {
            phases: Vec::new(),
            h: Vec::new(),
            harg: Vec::new(),
            v: Vec::new(),
            vrow: Vec::new(),
        }
    }
}

/// Splits one input plane into the scratch's column phases.
#[inline(always)]
fn load_plane(x: &[f32], g: &Pool2d, l: &Layout, sc: &mut Scratch) {
    for (ih, slot) in l.slot.iter().enumerate() {
        if let Some(slot) = slot {
            let row = &x[ih * g.w..(ih + 1) * g.w];
            split_row(
                row,
                &mut sc.phases,
                slot * l.len,
                g.width.stride,
                g.width.padding,
                l,
            );
        }
    }
}

multiversion! {
    #[allow(clippy::too_many_arguments)]
    fn max_pool_planes(x: &[f32], y: &mut [f32], idx: &mut [u32], g: &Pool2d, l: &Layout, sc: &mut Scratch) {
        let (ow, len) = (g.ow, l.len);
        let n = l.rows(g) * len;
        let m = g.oh * len;
        let ip = g.in_plane();
        for (p, (y, idx)) in y.chunks_exact_mut(g.out_plane()).zip(idx.chunks_exact_mut(g.out_plane())).enumerate() {
            load_plane(&x[p * ip..(p + 1) * ip], g, l, sc);
            // Horizontal: per row slot and output column, the first maximum of the taps (NaN
            // wins). The winning offsets need no initial value: an entry that nothing won stays
            // -inf, never wins the vertical pass, and gets PyTorch's first valid index below.
            sc.h.fill(f32::NEG_INFINITY);
            for &(at, off) in &l.htaps {
                let src = &sc.phases[at..at + n];
                for ((b, a), &v) in sc.h.iter_mut().zip(sc.harg.iter_mut()).zip(src) {
                    let take = v > *b || v.is_nan();
                    *b = if take { v } else { *b };
                    *a = if take { off } else { *a };
                }
            }
            // Vertical: the first row holding the maximum (the last holding NaN); the winner's
            // offset from the window's first tap is kept as one number, row · W + column.
            let w = g.w as i32;
            sc.v.fill(f32::NEG_INFINITY);
            for &(at, off) in &l.vtaps {
                let (hv, ha) = (&sc.h[at..at + m], &sc.harg[at..at + m]);
                let row = off * w;
                for (((b, o), &v), &a) in sc.v.iter_mut().zip(sc.vrow.iter_mut()).zip(hv).zip(ha) {
                    let take = v > *b || v.is_nan();
                    *b = if take { v } else { *b };
                    *o = if take { row + a } else { *o };
                }
            }
            for oh in 0..g.oh {
                let t = oh * len..oh * len + ow;
                let (row, first_row) = (l.base_row[oh] * w, l.first_row[oh] * w);
                let (vv, vo) = (&sc.v[t.clone()], &sc.vrow[t]);
                let out = y[oh * ow..(oh + 1) * ow].iter_mut().zip(idx[oh * ow..(oh + 1) * ow].iter_mut());
                let cols = l.base_col.iter().zip(&l.first_col);
                for (((y, i), (&v, &o)), (&b, &f)) in out.zip(vv.iter().zip(vo)).zip(cols) {
                    *y = v;
                    // Nothing beat -inf: PyTorch keeps the window's first valid element.
                    let o = if v == f32::NEG_INFINITY { first_row + f } else { o };
                    *i = (row + b + o) as u32;
                }
            }
        }
    }
}

/// Runs `f(group, first)` over the taps in groups of up to 3, so that the sums below keep a
/// group's running result in registers (one pass over the plane per group, not per tap).
#[inline(always)]
fn tap_groups(taps: &[(usize, i32)], mut f: impl FnMut(&[(usize, i32)], bool)) {
    for (i, group) in taps.chunks(3).enumerate() {
        f(group, i == 0);
    }
}

/// Sum over `K` taps of `src` (tap `j` from `taps[j].0`) into `acc`, added to it unless `first`.
#[inline(always)]
fn sum_taps<const K: usize>(src: &[f32], taps: &[(usize, i32)], acc: &mut [f32], first: bool) {
    let n = acc.len();
    let s: [&[f32]; K] = std::array::from_fn(|j| &src[taps[j].0..taps[j].0 + n]);
    for (t, a) in acc.iter_mut().enumerate() {
        let mut sum = if first { 0.0 } else { *a };
        for s in &s {
            sum += s[t];
        }
        *a = sum;
    }
}

#[inline(always)]
fn sum_group(src: &[f32], taps: &[(usize, i32)], acc: &mut [f32], first: bool) {
    match taps.len() {
        1 => sum_taps::<1>(src, taps, acc, first),
        2 => sum_taps::<2>(src, taps, acc, first),
        _ => sum_taps::<3>(src, taps, acc, first),
    }
}

multiversion! {
    fn avg_pool_planes(x: &[f32], y: &mut [f32], g: &Pool2d, l: &Layout, sc: &mut Scratch) {
        let (ow, len) = (g.ow, l.len);
        for (x, y) in x.chunks_exact(g.in_plane()).zip(y.chunks_exact_mut(g.out_plane())) {
            load_plane(x, g, l, sc);
            tap_groups(&l.htaps, |taps, first| sum_group(&sc.phases, taps, &mut sc.h, first));
            tap_groups(&l.vtaps, |taps, first| sum_group(&sc.h, taps, &mut sc.v, first));
            for oh in 0..g.oh {
                let src = &sc.v[oh * len..oh * len + ow];
                let d = &l.divisor[oh * ow..(oh + 1) * ow];
                for ((y, &v), &d) in y[oh * ow..(oh + 1) * ow].iter_mut().zip(src).zip(d) {
                    *y = v / d;
                }
            }
        }
    }
}

multiversion! {
    /// One plane of average-pooling backward into `dx` (the plane's `h × w` elements): the
    /// forward's passes transposed.
    fn avg_pool_backward_plane(dy: &[f32], dx: &mut [f32], g: &Pool2d, l: &Layout, sc: &mut Scratch) {
        let (ow, len) = (g.ow, l.len);
        let n = l.rows(g) * len;
        let m = g.oh * len;
        // Each output's share, in rows of `len` whose tails stay 0.
        for oh in 0..g.oh {
            let d = &l.divisor[oh * ow..(oh + 1) * ow];
            for ((v, &gy), &d) in sc.v[oh * len..oh * len + ow].iter_mut().zip(&dy[oh * ow..(oh + 1) * ow]).zip(d) {
                *v = gy / d;
            }
        }
        sc.h.fill(0.0);
        for &(at, _) in &l.vtaps {
            for (a, &v) in sc.h[at..at + m].iter_mut().zip(&sc.v) {
                *a += v;
            }
        }
        sc.phases.fill(0.0);
        for &(at, _) in &l.htaps {
            for (a, &v) in sc.phases[at..at + n].iter_mut().zip(&sc.h) {
                *a += v;
            }
        }
        for (ih, slot) in l.slot.iter().enumerate() {
            let row = &mut dx[ih * g.w..(ih + 1) * g.w];
            match slot {
                Some(slot) => merge_row(row, &sc.phases, slot * len, g.width.stride, g.width.padding, l),
                None => row.fill(0.0),
            }
        }
    }
}

/// Runs `f(planes, x, out_a, out_b)` over groups of whole planes, in parallel for large inputs.
/// `a` and `b` hold `a_per` and `b_per` elements per plane.
pub(crate) fn for_plane_groups<A: Send, B: Send>(
    planes: usize,
    in_per: usize,
    a: &mut [A],
    a_per: usize,
    b: &mut [B],
    b_per: usize,
    f: impl Fn(Range<usize>, &mut [A], &mut [B]) + Sync,
) {
    // Small work never looks at the pool.
    let per_task = (GRAIN / in_per.max(1)).max(1);
    if planes < 2 * per_task {
        return f(0..planes, a, b);
    }
    let threads = threads::num_threads();
    if threads == 1 {
        return f(0..planes, a, b);
    }
    let per_task = per_task.max(planes.div_ceil(threads * 4));
    let mut tasks = Vec::new();
    let (mut a, mut b) = (a, b);
    for start in (0..planes).step_by(per_task) {
        let n = per_task.min(planes - start);
        let (a_now, a_rest) = std::mem::take(&mut a).split_at_mut(n * a_per);
        let (b_now, b_rest) = std::mem::take(&mut b).split_at_mut(n * b_per);
        tasks.push((start..start + n, a_now, b_now));
        (a, b) = (a_rest, b_rest);
    }
    threads::map_tasks(tasks, |_, (r, a, b)| f(r, a, b));
}

/// Whether the separable layout's tables and per-task scratch stay within a few planes' worth of
/// memory. Their size follows the strides and the kernel, not the input: a height stride of
/// 2^31 - 1 on a 1×1 plane asks for 2^31 row slots (8 GB), a kernel of 2^31 rows for as many
/// taps. Geometries that don't fit take the window loops below, which need no scratch.
fn layout_fits(g: &Pool2d) -> bool {
    let (ah, aw) = (g.height, g.width);
    let elements = || -> Option<usize> {
        // Row slots per row phase (`Layout::lh`), entries per column-phase row (`Layout::len`).
        let slots = |a: Axis, out: usize| {
            Some(((out - 1).checked_mul(a.stride)?.checked_add(a.span())?).div_ceil(a.stride))
        };
        let (lh, len) = (slots(ah, g.oh)?, slots(aw, g.ow)?);
        let h = ah.stride.checked_mul(lh)?.checked_mul(len)?;
        let phases = h.checked_add(aw.span())?.checked_mul(aw.stride)?;
        let v = g.oh.checked_mul(len)?;
        let tables = ah.kernel + aw.kernel + g.h + g.oh + g.ow + g.out_plane();
        [phases, h, h, v, v]
            .iter()
            .try_fold(tables, |n, &m| n.checked_add(m))
    };
    elements().is_some_and(|n| n <= 8 * (g.in_plane() + g.out_plane()) + 4096)
}

/// The input positions of one window's taps.
type Taps = std::iter::StepBy<Range<usize>>;

/// The taps of window `o` that lie inside the input (never none: `check` refuses such windows).
fn window(a: Axis, o: usize, input: usize) -> Taps {
    let first = a
        .first_valid(o, input)
        .expect("checked: no window lies in the padding");
    let end = (a.start(o) + a.span() as isize).min(input as isize) as usize;
    (first..end).step_by(a.dilation)
}

/// Max pooling window by window (PyTorch's loops) for geometries the layout does not fit.
fn max_pool_direct(x: &[f32], y: &mut [f32], idx: &mut [u32], g: &Pool2d) {
    let (ip, op) = (g.in_plane(), g.out_plane());
    let planes = y.chunks_exact_mut(op).zip(idx.chunks_exact_mut(op));
    for ((y, idx), x) in planes.zip(x.chunks_exact(ip)) {
        for oh in 0..g.oh {
            for ow in 0..g.ow {
                let cols = window(g.width, ow, g.w);
                // Nothing beats -inf: PyTorch keeps the window's first valid element.
                let first = |mut taps: Taps| taps.next().expect("windows are not empty");
                let start = first(window(g.height, oh, g.h)) * g.w + first(cols.clone());
                let (mut best, mut arg) = (f32::NEG_INFINITY, start);
                for ih in window(g.height, oh, g.h) {
                    for iw in cols.clone() {
                        let v = x[ih * g.w + iw];
                        if v > best || v.is_nan() {
                            (best, arg) = (v, ih * g.w + iw);
                        }
                    }
                }
                y[oh * g.ow + ow] = best;
                idx[oh * g.ow + ow] = arg as u32;
            }
        }
    }
}

/// Average pooling window by window for geometries the layout does not fit.
fn avg_pool_direct(x: &[f32], y: &mut [f32], g: &Pool2d, count_include_pad: bool) {
    for (y, x) in y
        .chunks_exact_mut(g.out_plane())
        .zip(x.chunks_exact(g.in_plane()))
    {
        for_windows(g, count_include_pad, |o, rows, cols, divisor| {
            let sum = rows
                .flat_map(|ih| cols.clone().map(move |iw| ih * g.w + iw))
                .fold(0.0, |sum, i| sum + x[i]);
            y[o] = sum / divisor;
        });
    }
}

/// One plane of average-pooling backward (`dx` overwritten: each element gets the shares of the
/// windows that hold it) for geometries the layout does not fit.
fn avg_pool_backward_direct(dy: &[f32], dx: &mut [f32], g: &Pool2d, count_include_pad: bool) {
    dx.fill(0.0);
    for_windows(g, count_include_pad, |o, rows, cols, divisor| {
        let share = dy[o] / divisor;
        for ih in rows {
            for iw in cols.clone() {
                dx[ih * g.w + iw] += share;
            }
        }
    });
}

/// Calls `f(output, rows, columns, divisor)` for every average-pooling window.
fn for_windows(g: &Pool2d, count_include_pad: bool, mut f: impl FnMut(usize, Taps, Taps, f32)) {
    for oh in 0..g.oh {
        let ch = g.height.avg_count(oh, g.h, count_include_pad);
        for ow in 0..g.ow {
            let divisor = (ch * g.width.avg_count(ow, g.w, count_include_pad)) as f32;
            let (rows, cols) = (window(g.height, oh, g.h), window(g.width, ow, g.w));
            f(oh * g.ow + ow, rows, cols, divisor);
        }
    }
}

fn check_lengths(kernel: &str, g: &Pool2d, planes: usize, lens: &[(&str, usize, usize)]) {
    if let Err(e) = g.check() {
        panic!("{kernel}: {e}");
    }
    for &(name, got, per) in lens {
        assert!(
            got == planes * per,
            "{kernel}: {name} has {got} elements, expected {}",
            planes * per
        );
    }
}

/// Max pooling forward: writes `y` and the argmax `indices` (flat within each plane).
pub fn max_pool2d_forward(x: &[f32], y: &mut [f32], indices: &mut [u32], planes: usize, g: Pool2d) {
    let (ip, op) = (g.in_plane(), g.out_plane());
    check_lengths(
        "max_pool2d_forward",
        &g,
        planes,
        &[
            ("x", x.len(), ip),
            ("y", y.len(), op),
            ("indices", indices.len(), op),
        ],
    );
    if planes == 0 {
        return;
    }
    if !layout_fits(&g) {
        return for_plane_groups(planes, ip, y, op, indices, op, |r, y, idx| {
            max_pool_direct(&x[r.start * ip..r.end * ip], y, idx, &g)
        });
    }
    let isa = simd::active();
    let l = Layout::new(&g, true);
    for_plane_groups(planes, ip, y, op, indices, op, |r, y, idx| {
        let mut sc = Scratch::new(&g, &l, f32::NEG_INFINITY, true);
        let x = &x[r.start * ip..r.end * ip];
        max_pool_planes(isa, x, y, idx, &g, &l, &mut sc);
    });
}

/// Writes `dx` plane by plane with `per_plane(plane, out, scratch)`, in parallel for large
/// inputs. Plain stores: with streaming stores (stream.rs) the backward passes measured up to 2x
/// slower on the benchmark's 26 MB gradients, which the next kernel reads back from the cache.
fn write_planes(
    dx: &mut [f32],
    planes: usize,
    in_per: usize,
    per_plane: impl Fn(usize, &mut [f32], &mut Scratch) + Sync,
    scratch: impl Fn() -> Scratch + Sync,
) {
    let mut none: [u8; 0] = [];
    for_plane_groups(planes, in_per, dx, in_per, &mut none, 0, |r, dx, _| {
        let mut sc = scratch();
        for (p, out) in r.zip(dx.chunks_exact_mut(in_per.max(1))) {
            per_plane(p, out, &mut sc);
        }
    });
}

/// Max pooling backward: `dx` (overwritten) gets each output gradient at its argmax.
pub fn max_pool2d_backward(dy: &[f32], indices: &[u32], dx: &mut [f32], planes: usize, g: Pool2d) {
    let (ip, op) = (g.in_plane(), g.out_plane());
    check_lengths(
        "max_pool2d_backward",
        &g,
        planes,
        &[
            ("dy", dy.len(), op),
            ("indices", indices.len(), op),
            ("dx", dx.len(), ip),
        ],
    );
    // An index outside its plane panics at the (bounds-checked) scatter below.
    write_planes(
        dx,
        planes,
        ip,
        |p, out, _| {
            out.fill(0.0);
            let r = p * op..(p + 1) * op;
            for (&i, &g) in indices[r.clone()].iter().zip(&dy[r]) {
                out[i as usize] += g;
            }
        },
        Scratch::empty,
    );
}

pub fn avg_pool2d_forward(
    x: &[f32],
    y: &mut [f32],
    planes: usize,
    g: Pool2d,
    count_include_pad: bool,
) {
    let (ip, op) = (g.in_plane(), g.out_plane());
    check_lengths(
        "avg_pool2d_forward",
        &g,
        planes,
        &[("x", x.len(), ip), ("y", y.len(), op)],
    );
    if planes == 0 {
        return;
    }
    let mut none: [u8; 0] = [];
    if !layout_fits(&g) {
        return for_plane_groups(planes, ip, y, op, &mut none, 0, |r, y, _| {
            avg_pool_direct(&x[r.start * ip..r.end * ip], y, &g, count_include_pad)
        });
    }
    let isa = simd::active();
    let l = Layout::new(&g, count_include_pad);
    for_plane_groups(planes, ip, y, op, &mut none, 0, |r, y, _| {
        let mut sc = Scratch::new(&g, &l, 0.0, false);
        avg_pool_planes(isa, &x[r.start * ip..r.end * ip], y, &g, &l, &mut sc);
    });
}

/// Average pooling backward: writes `dx` (overwritten).
pub fn avg_pool2d_backward(
    dy: &[f32],
    dx: &mut [f32],
    planes: usize,
    g: Pool2d,
    count_include_pad: bool,
) {
    let (ip, op) = (g.in_plane(), g.out_plane());
    check_lengths(
        "avg_pool2d_backward",
        &g,
        planes,
        &[("dy", dy.len(), op), ("dx", dx.len(), ip)],
    );
    if planes == 0 {
        return;
    }
    if !layout_fits(&g) {
        let plane = |p, out: &mut [f32], _: &mut Scratch| {
            avg_pool_backward_direct(&dy[p * op..(p + 1) * op], out, &g, count_include_pad)
        };
        return write_planes(dx, planes, ip, plane, Scratch::empty);
    }
    let isa = simd::active();
    let l = Layout::new(&g, count_include_pad);
    write_planes(
        dx,
        planes,
        ip,
        |p, out, sc| avg_pool_backward_plane(isa, &dy[p * op..(p + 1) * op], out, &g, &l, sc),
        || Scratch::new(&g, &l, 0.0, false),
    );
}

multiversion! {
    #[allow(clippy::too_many_arguments)]
    fn plane_sum(x: &[f32]) -> f32 {
        let mut acc = [0.0f32; LANES];
        let mut chunks = x.chunks_exact(LANES);
        for c in &mut chunks {
            for l in 0..LANES {
                acc[l] += c[l];
            }
        }
        for (l, &v) in chunks.remainder().iter().enumerate() {
            acc[l] += v;
        }
        acc.iter().sum()
    }
}

multiversion! {
    /// The maximum and its index: the first maximum, or the last NaN.
    #[allow(clippy::too_many_arguments)]
    fn plane_argmax(x: &[f32]) -> (f32, u32) {
        let mut best = [f32::NEG_INFINITY; LANES];
        // A lane whose values are all -inf reports its first index.
        let mut arg: [u32; LANES] = std::array::from_fn(|l| l as u32);
        let mut chunks = x.chunks_exact(LANES);
        let mut i = 0u32;
        for c in &mut chunks {
            for l in 0..LANES {
                let v = c[l];
                let take = v > best[l] || v.is_nan();
                best[l] = if take { v } else { best[l] };
                arg[l] = if take { i + l as u32 } else { arg[l] };
            }
            i += LANES as u32;
        }
        for (l, &v) in chunks.remainder().iter().enumerate() {
            if v > best[l] || v.is_nan() {
                best[l] = v;
                arg[l] = i + l as u32;
            }
        }
        // Each lane saw its indices in increasing order; combine the lanes by the same rule.
        let (mut b, mut a) = (best[0], arg[0]);
        for l in 1..LANES.min(x.len()) {
            let (v, i) = (best[l], arg[l]);
            let better = if b.is_nan() {
                v.is_nan() && i > a
            } else {
                v.is_nan() || v > b || (v == b && i < a)
            };
            if better {
                (b, a) = (v, i);
            }
        }
        (b, a)
    }
}

/// `[planes, hw]` → `[planes]`: the mean of each plane.
pub fn global_avg_pool_forward(x: &[f32], y: &mut [f32], hw: usize) {
    assert!(
        x.len() == y.len() * hw && hw > 0,
        "global_avg_pool_forward: x has {} elements, expected {} × {hw}",
        x.len(),
        y.len()
    );
    let isa = simd::active();
    let mut none: [u8; 0] = [];
    for_plane_groups(y.len(), hw, y, 1, &mut none, 0, |r, y, _| {
        for (p, out) in r.zip(y.iter_mut()) {
            *out = plane_sum(isa, &x[p * hw..(p + 1) * hw]) / hw as f32;
        }
    });
}

/// `dx[p, i] = dy[p] / hw` (overwritten).
pub fn global_avg_pool_backward(dy: &[f32], dx: &mut [f32], hw: usize) {
    assert!(
        dx.len() == dy.len() * hw && hw > 0,
        "global_avg_pool_backward: dx has {} elements, expected {} × {hw}",
        dx.len(),
        dy.len()
    );
    write_planes(
        dx,
        dy.len(),
        hw,
        |p, out, _| out.fill(dy[p] / hw as f32),
        Scratch::empty,
    );
}

/// `[planes, hw]` → `[planes]`: the maximum of each plane and its index (first max, last NaN).
pub fn global_max_pool_forward(x: &[f32], y: &mut [f32], indices: &mut [u32], hw: usize) {
    assert!(
        x.len() == y.len() * hw && indices.len() == y.len() && hw > 0,
        "global_max_pool_forward: x has {} elements and indices {}, expected {} × {hw} and {}",
        x.len(),
        indices.len(),
        y.len(),
        y.len()
    );
    let isa = simd::active();
    let planes = y.len();
    for_plane_groups(planes, hw, y, 1, indices, 1, |r, y, idx| {
        for ((p, out), i) in r.zip(y.iter_mut()).zip(idx.iter_mut()) {
            (*out, *i) = plane_argmax(isa, &x[p * hw..(p + 1) * hw]);
        }
    });
}

/// `dx` (overwritten) is zero except `dy[p]` at each plane's index.
pub fn global_max_pool_backward(dy: &[f32], indices: &[u32], dx: &mut [f32], hw: usize) {
    assert!(
        dx.len() == dy.len() * hw && indices.len() == dy.len() && hw > 0,
        "global_max_pool_backward: dx has {} elements and indices {}, expected {} × {hw} and {}",
        dx.len(),
        indices.len(),
        dy.len(),
        dy.len()
    );
    if let Some(bad) = indices.iter().find(|&&i| i as usize >= hw) {
        panic!("global_max_pool_backward: index {bad} is outside a plane of {hw} elements");
    }
    write_planes(
        dx,
        dy.len(),
        hw,
        |p, out, _| {
            out.fill(0.0);
            out[indices[p] as usize] = dy[p];
        },
        Scratch::empty,
    );
}

/// PyTorch's adaptive pooling bin `i` of `out` over an axis of `input`:
/// `⌊i·input/out⌋ .. ⌈(i+1)·input/out⌉` (bins overlap when `out` does not divide `input`).
pub fn adaptive_bin(i: usize, input: usize, out: usize) -> Range<usize> {
    (i * input / out)..((i + 1) * input).div_ceil(out)
}

/// The sizes of an adaptive pooling of `[planes, h, w]` into `[planes, oh, ow]`; the error says
/// what is wrong.
pub fn adaptive_check(h: usize, w: usize, oh: usize, ow: usize) -> Result<(), String> {
    if h == 0 || w == 0 || oh == 0 || ow == 0 {
        return Err(format!(
            "input {h}×{w} and output {oh}×{ow} must have positive sizes"
        ));
    }
    Ok(())
}

fn adaptive_lengths(kernel: &str, dims: [usize; 5], input: (&str, usize), output: (&str, usize)) {
    let [planes, h, w, oh, ow] = dims;
    if let Err(e) = adaptive_check(h, w, oh, ow) {
        panic!("{kernel}: {e}");
    }
    for ((name, len), per) in [(input, h * w), (output, oh * ow)] {
        assert!(
            len == planes * per,
            "{kernel}: {name} has {len} elements, expected {planes} × {per}"
        );
    }
}

multiversion! {
    #[allow(clippy::too_many_arguments)]
    /// One plane: the rows of bin `i` summed column by column (contiguous, so it vectorises),
    /// then each column bin of that sum.
    fn adaptive_avg_plane(x: &[f32], y: &mut [f32], h: usize, w: usize, oh: usize, ow: usize, rows: &mut [f32]) {
        for (i, y_row) in y.chunks_exact_mut(ow).enumerate() {
            let bin_h = adaptive_bin(i, h, oh);
            let kh = bin_h.len();
            rows.fill(0.0);
            for ih in bin_h {
                for (r, &v) in rows.iter_mut().zip(&x[ih * w..(ih + 1) * w]) {
                    *r += v;
                }
            }
            for (j, out) in y_row.iter_mut().enumerate() {
                let bin_w = adaptive_bin(j, w, ow);
                let kw = bin_w.len();
                let sum: f32 = rows[bin_w].iter().sum();
                *out = sum / (kh * kw) as f32;
            }
        }
    }
}

multiversion! {
    #[allow(clippy::too_many_arguments)]
    /// One plane's gradient (overwritten): each output gradient over its bin's size, added to
    /// every element of the bin.
    fn adaptive_avg_plane_backward(dy: &[f32], dx: &mut [f32], h: usize, w: usize, oh: usize, ow: usize) {
        dx.fill(0.0);
        for (i, dy_row) in dy.chunks_exact(ow).enumerate() {
            let bin_h = adaptive_bin(i, h, oh);
            let kh = bin_h.len();
            for ih in bin_h {
                let dx_row = &mut dx[ih * w..(ih + 1) * w];
                for (j, &g) in dy_row.iter().enumerate() {
                    let bin_w = adaptive_bin(j, w, ow);
                    let share = g / (kh * bin_w.len()) as f32;
                    for d in &mut dx_row[bin_w] {
                        *d += share;
                    }
                }
            }
        }
    }
}

/// Adaptive average pooling, `[planes, h, w]` → `[planes, oh, ow]`: each output is the mean of
/// its bin (see [`adaptive_bin`]).
#[allow(clippy::too_many_arguments)]
pub fn adaptive_avg_pool2d_forward(
    x: &[f32],
    y: &mut [f32],
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
) {
    adaptive_lengths(
        "adaptive_avg_pool2d_forward",
        [planes, h, w, oh, ow],
        ("x", x.len()),
        ("y", y.len()),
    );
    let isa = simd::active();
    let mut none: [u8; 0] = [];
    for_plane_groups(planes, h * w, y, oh * ow, &mut none, 0, |r, y, _| {
        let mut rows = vec![0.0f32; w];
        for (p, out) in r.zip(y.chunks_exact_mut(oh * ow)) {
            adaptive_avg_plane(
                isa,
                &x[p * h * w..(p + 1) * h * w],
                out,
                h,
                w,
                oh,
                ow,
                &mut rows,
            );
        }
    });
}

/// Adaptive average pooling backward: `dx` (overwritten) gets each output gradient spread
/// evenly over its bin, summed where bins overlap.
#[allow(clippy::too_many_arguments)]
pub fn adaptive_avg_pool2d_backward(
    dy: &[f32],
    dx: &mut [f32],
    planes: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
) {
    adaptive_lengths(
        "adaptive_avg_pool2d_backward",
        [planes, h, w, oh, ow],
        ("dx", dx.len()),
        ("dy", dy.len()),
    );
    let isa = simd::active();
    let mut none: [u8; 0] = [];
    for_plane_groups(planes, h * w, dx, h * w, &mut none, 0, |r, dx, _| {
        for (p, out) in r.zip(dx.chunks_exact_mut(h * w)) {
            adaptive_avg_plane_backward(
                isa,
                &dy[p * oh * ow..(p + 1) * oh * ow],
                out,
                h,
                w,
                oh,
                ow,
            );
        }
    });
}

#[cfg(test)]
mod adaptive_tests {
    use super::*;
    use crate::simd::{supported, with_isa};
    use crate::testutil::uniform;

    /// The definition in f64: each output the mean of its bin; the gradient scattered back.
    fn reference(
        x: &[f32],
        dy: &[f32],
        planes: usize,
        [h, w, oh, ow]: [usize; 4],
    ) -> (Vec<f64>, Vec<f64>) {
        let mut y = vec![0.0; planes * oh * ow];
        let mut dx = vec![0.0; planes * h * w];
        for p in 0..planes {
            for i in 0..oh {
                for j in 0..ow {
                    let (bh, bw) = (adaptive_bin(i, h, oh), adaptive_bin(j, w, ow));
                    let n = (bh.len() * bw.len()) as f64;
                    let o = p * oh * ow + i * ow + j;
                    for ih in bh {
                        for iw in bw.clone() {
                            y[o] += x[p * h * w + ih * w + iw] as f64 / n;
                            dx[p * h * w + ih * w + iw] += dy[o] as f64 / n;
                        }
                    }
                }
            }
        }
        (y, dx)
    }

    #[test]
    fn bins_are_pytorchs() {
        // torch: 5 → 3 gives [0, 2), [1, 4), [3, 5); 2 → 3 gives [0, 1), [0, 2), [1, 2).
        let bins = |input, out| {
            (0..out)
                .map(|i| adaptive_bin(i, input, out))
                .collect::<Vec<_>>()
        };
        assert_eq!(bins(5, 3), [0..2, 1..4, 3..5]);
        assert_eq!(bins(2, 3), [0..1, 0..2, 1..2]);
        assert_eq!(bins(7, 1)[0], 0..7);
    }

    #[test]
    fn forward_and_backward_match_the_definition_at_every_level() {
        // Divisible, overlapping, upsampling, global, and enough planes to run in parallel.
        let shapes = [
            (3, [4, 6, 2, 3]),
            (2, [5, 7, 3, 4]),
            (2, [2, 3, 5, 4]),
            (4, [9, 9, 1, 1]),
            (700, [14, 14, 5, 3]),
        ];
        for isa in supported() {
            with_isa(isa, || {
                for (planes, dims @ [h, w, oh, ow]) in shapes {
                    let x = uniform(planes * h * w, 1, 2.0);
                    let dy = uniform(planes * oh * ow, 2, 1.0);
                    let (want_y, want_dx) = reference(&x, &dy, planes, dims);
                    let mut y = vec![f32::NAN; want_y.len()];
                    let mut dx = vec![f32::NAN; want_dx.len()];
                    adaptive_avg_pool2d_forward(&x, &mut y, planes, h, w, oh, ow);
                    adaptive_avg_pool2d_backward(&dy, &mut dx, planes, h, w, oh, ow);
                    for (got, want) in y.iter().zip(&want_y).chain(dx.iter().zip(&want_dx)) {
                        assert!(
                            (*got as f64 - want).abs() <= 1e-6 * (1.0 + want.abs()),
                            "{isa} {planes}×{dims:?}: {got} vs {want}"
                        );
                    }
                }
            });
        }
    }

    #[test]
    #[should_panic(expected = "expected 2 × 12")]
    fn wrong_lengths_panic_with_the_sizes() {
        let mut y = vec![0.0; 4];
        adaptive_avg_pool2d_forward(&[0.0; 20], &mut y, 2, 3, 4, 1, 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{supported, with_isa};

    /// Values in [-2, 2) on a coarse grid (so windows tie), with NaN and -inf mixed in.
    fn sample(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                match i % 101 {
                    7 => f32::NAN,
                    30 => f32::NEG_INFINITY,
                    _ => ((s >> 40) % 64) as f32 / 16.0 - 2.0,
                }
            })
            .collect()
    }

    fn axis(kernel: usize, stride: usize, padding: usize, dilation: usize) -> Axis {
        Axis {
            kernel,
            stride,
            padding,
            dilation,
        }
    }

    fn geometry(h: usize, w: usize, ay: Axis, ax: Axis, ceil: bool) -> Pool2d {
        Pool2d {
            h,
            w,
            oh: ay.output_len(h, ceil) as usize,
            ow: ax.output_len(w, ceil) as usize,
            height: ay,
            width: ax,
        }
    }

    /// Window by window, as PyTorch's CPU kernel loops.
    fn max_reference(x: &[f32], g: &Pool2d) -> (Vec<f32>, Vec<u32>) {
        let (mut y, mut idx) = (Vec::new(), Vec::new());
        for plane in x.chunks(g.h * g.w) {
            for oh in 0..g.oh {
                for ow in 0..g.ow {
                    let (mut best, mut arg) = (f32::NEG_INFINITY, None);
                    for i in 0..g.height.kernel {
                        for j in 0..g.width.kernel {
                            let ih = g.height.start(oh) + (i * g.height.dilation) as isize;
                            let iw = g.width.start(ow) + (j * g.width.dilation) as isize;
                            if ih < 0 || iw < 0 || ih >= g.h as isize || iw >= g.w as isize {
                                continue;
                            }
                            let at = ih as usize * g.w + iw as usize;
                            let v = plane[at];
                            if arg.is_none() {
                                arg = Some(at);
                            }
                            if v > best || v.is_nan() {
                                best = v;
                                arg = Some(at);
                            }
                        }
                    }
                    y.push(best);
                    idx.push(arg.unwrap() as u32);
                }
            }
        }
        (y, idx)
    }

    fn avg_reference(x: &[f32], g: &Pool2d, include_pad: bool) -> Vec<f32> {
        let mut y = Vec::new();
        for plane in x.chunks(g.h * g.w) {
            for oh in 0..g.oh {
                for ow in 0..g.ow {
                    let mut sum = 0.0f64;
                    for i in 0..g.height.kernel {
                        for j in 0..g.width.kernel {
                            let ih = g.height.start(oh) + i as isize;
                            let iw = g.width.start(ow) + j as isize;
                            if ih >= 0 && iw >= 0 && ih < g.h as isize && iw < g.w as isize {
                                sum += plane[ih as usize * g.w + iw as usize] as f64;
                            }
                        }
                    }
                    let d = g.height.avg_count(oh, g.h, include_pad)
                        * g.width.avg_count(ow, g.w, include_pad);
                    y.push((sum / d as f64) as f32);
                }
            }
        }
        y
    }

    fn same(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()))
    }

    fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()) || (x.is_nan() && y.is_nan()))
    }

    /// (planes, h, w, height axis, width axis, ceil): the options, odd sizes, and one big
    /// enough to run in parallel.
    fn geometries() -> Vec<(usize, Pool2d)> {
        vec![
            (3, geometry(9, 9, axis(3, 2, 1, 1), axis(3, 2, 1, 1), false)),
            (2, geometry(7, 7, axis(2, 2, 0, 1), axis(2, 2, 0, 1), true)),
            (2, geometry(5, 5, axis(2, 2, 1, 1), axis(2, 2, 1, 1), true)),
            (2, geometry(8, 11, axis(3, 1, 1, 2), axis(2, 3, 1, 2), true)),
            (
                1,
                geometry(10, 13, axis(3, 2, 1, 1), axis(2, 3, 0, 1), false),
            ),
            (
                2,
                geometry(23, 37, axis(5, 3, 2, 1), axis(3, 4, 1, 2), true),
            ),
            (
                1,
                geometry(6, 40, axis(1, 1, 0, 1), axis(4, 1, 2, 1), false),
            ),
            (
                40,
                geometry(33, 31, axis(3, 2, 1, 1), axis(3, 2, 1, 1), true),
            ),
        ]
    }

    #[test]
    fn max_pool_matches_the_window_loops_at_every_level() {
        for isa in supported() {
            with_isa(isa, || {
                for (k, (planes, g)) in geometries().into_iter().enumerate() {
                    g.check().unwrap();
                    let x = sample(planes * g.h * g.w, k as u64);
                    let (want_y, want_i) = max_reference(&x, &g);
                    let mut y = vec![0.0; want_y.len()];
                    let mut idx = vec![0; want_y.len()];
                    max_pool2d_forward(&x, &mut y, &mut idx, planes, g);
                    assert!(same(&y, &want_y), "{isa} {g:?}");
                    assert_eq!(idx, want_i, "{isa} {g:?}");
                    let dy = sample(y.len(), 99);
                    let mut dx = vec![7.0; x.len()];
                    max_pool2d_backward(&dy, &idx, &mut dx, planes, g);
                    let mut want = vec![0.0f32; x.len()];
                    for (o, (&i, &d)) in idx.iter().zip(&dy).enumerate() {
                        want[o / (g.oh * g.ow) * g.h * g.w + i as usize] += d;
                    }
                    assert!(same(&dx, &want), "{isa} backward {g:?}");
                }
            });
        }
    }

    #[test]
    fn max_pool_windows_of_only_minus_infinity_report_their_first_valid_element() {
        // Nine values in ten are -inf, so many windows hold nothing else: PyTorch then keeps
        // the index of the window's first element inside the input.
        for isa in supported() {
            with_isa(isa, || {
                for (k, (planes, g)) in geometries().into_iter().enumerate() {
                    let x: Vec<f32> = sample(planes * g.h * g.w, k as u64)
                        .into_iter()
                        .map(|v| {
                            if v > 1.5 || v.is_nan() {
                                v
                            } else {
                                f32::NEG_INFINITY
                            }
                        })
                        .collect();
                    let (want_y, want_i) = max_reference(&x, &g);
                    assert!(want_y.contains(&f32::NEG_INFINITY), "{g:?}");
                    let mut y = vec![0.0; want_y.len()];
                    let mut idx = vec![0; want_y.len()];
                    max_pool2d_forward(&x, &mut y, &mut idx, planes, g);
                    assert!(same(&y, &want_y), "{isa} {g:?}");
                    assert_eq!(idx, want_i, "{isa} {g:?}");
                    // The window loops for geometries the layout does not fit, likewise.
                    max_pool_direct(&x, &mut y, &mut idx, &g);
                    assert!(same(&y, &want_y), "direct {g:?}");
                    assert_eq!(idx, want_i, "direct {g:?}");
                }
            });
        }
    }

    #[test]
    fn avg_pool_matches_the_window_loops_at_every_level() {
        for isa in supported() {
            with_isa(isa, || {
                for (k, (planes, mut g)) in geometries().into_iter().enumerate() {
                    g.height.dilation = 1;
                    g.width.dilation = 1;
                    g = geometry(
                        g.h,
                        g.w,
                        g.height,
                        g.width,
                        g.oh != g.height.output_len(g.h, false) as usize,
                    );
                    let x: Vec<f32> = sample(planes * g.h * g.w, k as u64)
                        .into_iter()
                        .map(|v| if v.is_finite() { v } else { 0.5 })
                        .collect();
                    for include_pad in [true, false] {
                        let want = avg_reference(&x, &g, include_pad);
                        let mut y = vec![0.0; want.len()];
                        avg_pool2d_forward(&x, &mut y, planes, g, include_pad);
                        assert!(close(&y, &want, 1e-6), "{isa} {g:?} {include_pad}");
                        // Backward is the transpose: <dy, avg(x)> = <avg^T(dy), x>.
                        let dy = sample(y.len(), 5)
                            .into_iter()
                            .map(|v| if v.is_finite() { v } else { 1.0 })
                            .collect::<Vec<_>>();
                        let mut dx = vec![7.0; x.len()];
                        avg_pool2d_backward(&dy, &mut dx, planes, g, include_pad);
                        let lhs: f64 = dy
                            .iter()
                            .zip(&want)
                            .map(|(&a, &b)| a as f64 * b as f64)
                            .sum();
                        let rhs: f64 = dx.iter().zip(&x).map(|(&a, &b)| a as f64 * b as f64).sum();
                        assert!(
                            (lhs - rhs).abs() < 1e-3 * (1.0 + lhs.abs()),
                            "{isa} {g:?}: {lhs} vs {rhs}"
                        );
                    }
                }
            });
        }
    }

    #[test]
    fn window_loops_match_the_reference_and_the_layout() {
        for (k, (planes, g)) in geometries().into_iter().enumerate() {
            let x = sample(planes * g.h * g.w, k as u64);
            let (want_y, want_i) = max_reference(&x, &g);
            let (mut y, mut idx) = (vec![0.0; want_y.len()], vec![0; want_y.len()]);
            max_pool_direct(&x, &mut y, &mut idx, &g);
            assert!(same(&y, &want_y), "{g:?}");
            assert_eq!(idx, want_i, "{g:?}");
            let mut g = g;
            (g.height.dilation, g.width.dilation) = (1, 1);
            let ceil = g.oh != g.height.output_len(g.h, false) as usize;
            let g = geometry(g.h, g.w, g.height, g.width, ceil);
            let x: Vec<f32> = x
                .iter()
                .map(|&v| if v.is_finite() { v } else { 0.5 })
                .collect();
            for include_pad in [true, false] {
                let want = avg_reference(&x, &g, include_pad);
                let mut y = vec![0.0; want.len()];
                avg_pool_direct(&x, &mut y, &g, include_pad);
                assert!(close(&y, &want, 1e-6), "{g:?} {include_pad}");
                let dy = sample(y.len(), 5)
                    .into_iter()
                    .map(|v| v.clamp(-2.0, 2.0))
                    .collect::<Vec<_>>();
                let mut want_dx = vec![0.0; x.len()];
                avg_pool2d_backward(&dy, &mut want_dx, planes, g, include_pad);
                let mut dx = vec![7.0; x.len()];
                let (ip, op) = (g.in_plane(), g.out_plane());
                for (dx, dy) in dx.chunks_exact_mut(ip).zip(dy.chunks_exact(op)) {
                    avg_pool_backward_direct(dy, dx, &g, include_pad);
                }
                assert!(close(&dx, &want_dx, 1e-5), "backward {g:?} {include_pad}");
            }
        }
    }

    #[test]
    fn strides_and_kernels_far_past_the_input_take_the_window_loops() {
        let far = (1 << 31) - 1;
        // MaxPool2d(1, stride [2^31 - 1, 1]) on one element and kin: the layout would want
        // 2^31 row slots (8 GB) per task.
        let strides = [
            geometry(1, 1, axis(1, far, 0, 1), axis(1, 1, 0, 1), false),
            geometry(3, 2, axis(1, far, 0, 1), axis(1, far, 0, 1), true),
            geometry(5, 4, axis(2, far, 1, 1), axis(3, 2, 1, 1), true),
        ];
        for g in strides {
            g.check().unwrap();
            assert!(!layout_fits(&g), "{g:?}");
            let x = sample(2 * g.h * g.w, 3);
            let (want_y, want_i) = max_reference(&x, &g);
            let (mut y, mut idx) = (vec![0.0; want_y.len()], vec![0; want_y.len()]);
            max_pool2d_forward(&x, &mut y, &mut idx, 2, g);
            assert!(same(&y, &want_y) && idx == want_i, "{g:?}");
            let x: Vec<f32> = x
                .iter()
                .map(|&v| if v.is_finite() { v } else { 0.5 })
                .collect();
            for include_pad in [true, false] {
                let want = avg_reference(&x, &g, include_pad);
                avg_pool2d_forward(&x, &mut y, 2, g, include_pad);
                assert!(close(&y, &want, 1e-6), "{g:?}");
            }
        }
        // A kernel of 2^31 - 1 rows padded around one element (2^31 taps for the layout).
        let g = geometry(1, 1, axis(far, 1, far / 2, 1), axis(1, 1, 0, 1), false);
        g.check().unwrap();
        assert!(!layout_fits(&g));
        let (mut y, mut idx) = ([0.0], [9]);
        max_pool2d_forward(&[-4.0], &mut y, &mut idx, 1, g);
        assert_eq!((y, idx), ([-4.0], [0]));
        avg_pool2d_forward(&[-4.0], &mut y, 1, g, false);
        assert_eq!(y, [-4.0]);
        let mut dx = [7.0];
        avg_pool2d_backward(&[6.0], &mut dx, 1, g, true);
        assert_eq!(dx, [6.0 / far as f32]);
        // Everyday geometries keep the layout.
        assert!(geometries().iter().all(|(_, g)| layout_fits(g)));
        let wide = geometry(1, 1, axis(1, 1, 0, far), axis(2, 1, 1, 1 << 31), false);
        assert!(wide.check().unwrap_err().contains("spans too far"));
    }

    #[test]
    fn the_padding_check_agrees_with_every_window() {
        let mut bad = 0;
        for input in 1..7 {
            for (k, s, p, d) in (1..5).flat_map(|k| {
                (1..4).flat_map(move |s| {
                    (0..=k / 2).flat_map(move |p| (1..9).map(move |d| (k, s, p, d)))
                })
            }) {
                let a = axis(k, s, p, d);
                for output in 1..=a.output_len(input, true).max(1) as usize + 1 {
                    let slow = (0..output).find(|&o| a.first_valid(o, input).is_none());
                    let fast = check_axis("h", a, input, output).err();
                    let fits = [false, true].map(|c| a.output_len(input, c) == output as isize);
                    if fits.contains(&true) {
                        bad += usize::from(slow.is_some());
                        assert_eq!(
                            fast,
                            slow.map(|o| format!("h: window {o} lies entirely in the padding")),
                            "{input} {a:?} {output}"
                        );
                    }
                }
            }
        }
        assert!(
            bad > 20,
            "only {bad} geometries with a window in the padding"
        );
    }

    #[test]
    fn global_pools_match_the_definition() {
        for isa in supported() {
            with_isa(isa, || {
                for hw in [1, 15, 16, 17, 100, GRAIN + 3] {
                    let planes = 3;
                    let x = sample(planes * hw, hw as u64);
                    let mut y = vec![0.0; planes];
                    let mut idx = vec![0; planes];
                    global_max_pool_forward(&x, &mut y, &mut idx, hw);
                    let g = Pool2d {
                        h: 1,
                        w: hw,
                        oh: 1,
                        ow: 1,
                        height: axis(1, 1, 0, 1),
                        width: axis(hw, 1, 0, 1),
                    };
                    let (want_y, want_i) = max_reference(&x, &g);
                    assert!(same(&y, &want_y), "{isa} {hw}");
                    assert_eq!(idx, want_i, "{isa} {hw}");
                    let finite: Vec<f32> = x
                        .iter()
                        .map(|&v| if v.is_finite() { v } else { 0.25 })
                        .collect();
                    global_avg_pool_forward(&finite, &mut y, hw);
                    for (p, &v) in y.iter().enumerate() {
                        let want = finite[p * hw..(p + 1) * hw]
                            .iter()
                            .map(|&v| v as f64)
                            .sum::<f64>()
                            / hw as f64;
                        assert!((v as f64 - want).abs() < 1e-5, "{isa} {hw}");
                    }
                    let mut dx = vec![7.0; x.len()];
                    global_avg_pool_backward(&[1.0, 2.0, 3.0], &mut dx, hw);
                    assert!(dx
                        .iter()
                        .enumerate()
                        .all(|(i, &v)| v == (i / hw + 1) as f32 / hw as f32));
                    global_max_pool_backward(&[1.0, 2.0, 3.0], &idx, &mut dx, hw);
                    assert_eq!(dx.iter().sum::<f32>(), 6.0);
                }
            });
        }
    }

    #[test]
    fn output_sizes_are_pytorchs() {
        // (input, kernel, stride, padding, dilation, ceil) → PyTorch's output size.
        let cases = [
            (7, 2, 2, 0, 1, false, 3),
            (7, 2, 2, 0, 1, true, 4),
            (5, 2, 2, 1, 1, true, 3), // the last window would start in the right padding
            (8, 3, 2, 1, 1, true, 5),
            (56, 3, 2, 1, 1, false, 28),
            (2, 3, 1, 0, 1, false, 0),
            (7, 3, 1, 1, 2, false, 5),
        ];
        for (input, k, s, p, d, ceil, want) in cases {
            assert_eq!(
                axis(k, s, p, d).output_len(input, ceil),
                want,
                "{input} {k} {s} {p} {d} {ceil}"
            );
        }
        let bad = geometry(5, 5, axis(3, 1, 2, 1), axis(3, 1, 0, 1), false);
        assert!(bad.check().unwrap_err().contains("more than half"));
        let empty = geometry(2, 2, axis(2, 1, 1, 3), axis(1, 1, 0, 1), false);
        assert!(empty
            .check()
            .unwrap_err()
            .contains("entirely in the padding"));
    }
}
