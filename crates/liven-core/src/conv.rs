//! 2-D convolution (PyTorch's Conv2d: cross-correlation, NCHW, weight `[out, in/groups, kh, kw]`).
//!
//! Each sample and group is one matrix product on [`sgemm`]: the input patches are unfolded
//! into a `[in/groups · kh · kw, outH · outW]` matrix ("im2col"), so
//! y_g = W_g · col, dcol = W_gᵀ · dy_g (folded back into dx, "col2im") and dW_g += dy_g · colᵀ.
//! A 1×1 kernel with stride 1 and no padding needs no unfolding: the input plane is already
//! that matrix. Samples are spread over the pool's threads (each runs its products serially,
//! with its own unfolding buffer; [`split_batch`]); with fewer samples than threads, or too
//! little work to split, the products themselves are split instead (or not at all).

use crate::gemm::{sgemm, Operand, Par};
use crate::scratch::{padded_stride, Scratch};
use crate::simd;
use crate::threads;

mod winograd;

/// The shape of one convolution call. Every field is at least 1 (padding at least 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeometry {
    pub batch: usize,
    pub in_channels: usize,
    pub height: usize,
    pub width: usize,
    pub out_channels: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_h: usize,
    pub pad_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub groups: usize,
}

fn out_size(input: usize, pad: usize, kernel: usize, stride: usize, dilation: usize) -> usize {
    let span = dilation * (kernel - 1) + 1;
    (input + 2 * pad)
        .checked_sub(span)
        .map_or(0, |r| r / stride + 1)
}

impl Conv2dGeometry {
    /// Explains what is wrong with the geometry, if anything.
    pub fn check(&self) -> Result<(), String> {
        let g = self;
        let positive = [
            ("in_channels", g.in_channels),
            ("out_channels", g.out_channels),
            ("kernel_h", g.kernel_h),
            ("kernel_w", g.kernel_w),
            ("stride_h", g.stride_h),
            ("stride_w", g.stride_w),
            ("dilation_h", g.dilation_h),
            ("dilation_w", g.dilation_w),
            ("groups", g.groups),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be positive"));
        }
        if !g.in_channels.is_multiple_of(g.groups) || !g.out_channels.is_multiple_of(g.groups) {
            return Err(format!(
                "in_channels {} and out_channels {} must be divisible by groups {}",
                g.in_channels, g.out_channels, g.groups
            ));
        }
        // Lengths are products of the sizes: one that wraps around could match a short array
        // and send the kernel out of bounds (a direct addon call can pass any u32).
        let product = |dims: &[usize]| {
            dims.iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .filter(|&n| n <= isize::MAX as usize / 4)
        };
        let (oh, ow) = (g.out_h(), g.out_w());
        let sizes = [
            [g.batch, g.in_channels, g.height, g.width],
            [
                g.out_channels,
                g.in_channels / g.groups,
                g.kernel_h,
                g.kernel_w,
            ],
            [g.batch, g.out_channels, oh, ow],
            [
                g.in_channels / g.groups,
                g.kernel_h,
                g.kernel_w,
                oh.saturating_mul(ow),
            ],
        ];
        if sizes.iter().any(|dims| product(dims).is_none()) {
            return Err(format!(
                "the sizes (batch {}, channels {} -> {}, {}x{} input, {}x{} kernel) overflow",
                g.batch, g.in_channels, g.out_channels, g.height, g.width, g.kernel_h, g.kernel_w
            ));
        }
        if g.out_h() == 0 || g.out_w() == 0 {
            return Err(format!(
                "kernel {}x{} (dilation {}x{}) is larger than the padded input {}x{}",
                g.kernel_h,
                g.kernel_w,
                g.dilation_h,
                g.dilation_w,
                g.height + 2 * g.pad_h,
                g.width + 2 * g.pad_w
            ));
        }
        Ok(())
    }

    pub fn out_h(&self) -> usize {
        out_size(
            self.height,
            self.pad_h,
            self.kernel_h,
            self.stride_h,
            self.dilation_h,
        )
    }

    pub fn out_w(&self) -> usize {
        out_size(
            self.width,
            self.pad_w,
            self.kernel_w,
            self.stride_w,
            self.dilation_w,
        )
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.in_channels * self.height * self.width
    }

    pub fn weight_len(&self) -> usize {
        self.out_channels * self.in_channels / self.groups * self.kernel_h * self.kernel_w
    }

    pub fn output_len(&self) -> usize {
        self.batch * self.out_channels * self.out_h() * self.out_w()
    }

    /// Input channels per group.
    fn cg(&self) -> usize {
        self.in_channels / self.groups
    }

    /// Output channels per group.
    fn og(&self) -> usize {
        self.out_channels / self.groups
    }

    /// Rows of the unfolded matrix: one per (channel, kernel row, kernel column) of a group.
    fn k(&self) -> usize {
        self.cg() * self.kernel_h * self.kernel_w
    }

    /// Output positions per plane.
    fn p(&self) -> usize {
        self.out_h() * self.out_w()
    }

    /// Whether the input plane is already the unfolded matrix.
    fn is_pointwise(&self) -> bool {
        self.kernel_h == 1
            && self.kernel_w == 1
            && self.stride_h == 1
            && self.stride_w == 1
            && self.pad_h == 0
            && self.pad_w == 0
    }

    /// Multiply-adds of one pass (forward, or each of the two backward products).
    fn macs(&self) -> usize {
        self.batch * self.out_channels * self.k() * self.p()
    }
}

fn check_len(kernel: &str, what: &str, got: usize, want: usize) {
    assert!(
        got == want,
        "{kernel}: {what} has {got} elements, expected {want}"
    );
}

fn check_geometry(kernel: &str, g: &Conv2dGeometry) {
    if let Err(e) = g.check() {
        panic!("{kernel}: {e}");
    }
}

/// The output columns `ow` whose input column `ow·stride + offset` lies in `0..width`.
fn valid_range(out: usize, width: usize, stride: usize, offset: isize) -> (usize, usize) {
    // offset = kj·dilation − pad; iw = ow·stride + offset.
    let lo = if offset >= 0 {
        0
    } else {
        ((-offset) as usize).div_ceil(stride)
    };
    let end = width as isize - offset; // iw < width  <=>  ow·stride < end
    let hi = if end <= 0 {
        0
    } else {
        (end as usize).div_ceil(stride)
    };
    (lo.min(out), hi.min(out).max(lo.min(out)))
}

/// For stride 1 and an output as wide as the input ("same" padding along W), one row of the
/// unfolded matrix is the whole input plane shifted by a constant: it can be copied as one
/// span, with the few positions that fall in the padding set to zero afterwards, instead of
/// one short copy per output row (28 floats on a 28×28 image: the call overhead dominated).
fn is_shift(g: &Conv2dGeometry) -> bool {
    g.stride_h == 1 && g.stride_w == 1 && g.out_w() == g.width
}

/// For one unfolded row (kernel tap `ki`, `kj`) in the shift layout: the flat offset from an
/// output position to its input position, the output rows whose input row exists, the span
/// of output positions whose shifted index lies inside the plane, and the valid columns.
struct Shift {
    shift: isize,
    rows: (usize, usize),
    span: (usize, usize),
    cols: (usize, usize),
}

fn shift_of(g: &Conv2dGeometry, ki: usize, kj: usize) -> Shift {
    let (h, w, oh, ow) = (g.height, g.width, g.out_h(), g.out_w());
    let dr = (ki * g.dilation_h) as isize - g.pad_h as isize;
    let dc = (kj * g.dilation_w) as isize - g.pad_w as isize;
    let shift = dr * w as isize + dc;
    let rows = valid_range(oh, h, 1, dr);
    // Positions o with o + shift inside the plane, within the valid rows. In isize and
    // clamped to the row: with padding past the dilated kernel's reach, -shift can exceed the
    // row and plane - shift can be negative; then the span is empty.
    let plane = (h * w) as isize;
    let len = (oh * ow) as isize;
    let d0 = ((rows.0 * ow) as isize).max(-shift).clamp(0, len);
    let d1 = ((rows.1 * ow) as isize).min(plane - shift).clamp(d0, len);
    let (d0, d1) = (d0 as usize, d1 as usize);
    Shift {
        shift,
        rows,
        span: (d0, d1),
        cols: valid_range(ow, w, 1, dc),
    }
}

/// Zeroes the positions of output rows `rows` whose column falls in the padding.
fn zero_padding_columns(row: &mut [f32], ow: usize, s: &Shift) {
    let (lo, hi) = s.cols;
    for r in s.rows.0..s.rows.1 {
        row[r * ow..r * ow + lo].fill(0.0);
        row[r * ow + hi..(r + 1) * ow].fill(0.0);
    }
}

/// Unfolds one group of one sample, `x` `[cg, H, W]`, into the first `outH·outW` columns of
/// `col`, `cg·kh·kw` rows `ld` apart (several samples share one unfolded matrix side by side).
fn im2col(g: &Conv2dGeometry, x: &[f32], col: &mut [f32], ld: usize) {
    let (h, w, oh, ow) = (g.height, g.width, g.out_h(), g.out_w());
    if is_shift(g) {
        let mut rows = col.chunks_mut(ld).map(|r| &mut r[..oh * ow]);
        for plane in x.chunks_exact(h * w).take(g.cg()) {
            for ki in 0..g.kernel_h {
                for kj in 0..g.kernel_w {
                    let row = rows.next().expect("col has cg·kh·kw rows");
                    let s = shift_of(g, ki, kj);
                    let (d0, d1) = s.span;
                    row[..d0].fill(0.0);
                    row[d1..].fill(0.0);
                    if d1 > d0 {
                        let src = (d0 as isize + s.shift) as usize;
                        row[d0..d1].copy_from_slice(&plane[src..src + (d1 - d0)]);
                    }
                    zero_padding_columns(row, ow, &s);
                }
            }
        }
        return;
    }
    let mut rows = col.chunks_mut(ld).map(|r| &mut r[..oh * ow]);
    for c in 0..g.cg() {
        let plane = &x[c * h * w..(c + 1) * h * w];
        for ki in 0..g.kernel_h {
            for kj in 0..g.kernel_w {
                let row = rows.next().expect("col has cg·kh·kw rows");
                let offset = (kj * g.dilation_w) as isize - g.pad_w as isize;
                let (lo, hi) = valid_range(ow, w, g.stride_w, offset);
                for (o_i, dst) in row.chunks_exact_mut(ow).enumerate() {
                    let ih = (o_i * g.stride_h + ki * g.dilation_h) as isize - g.pad_h as isize;
                    if ih < 0 || ih >= h as isize {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &plane[ih as usize * w..(ih as usize + 1) * w];
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    // An empty range (every column in the padding) can start left of the row.
                    if g.stride_w == 1 && hi > lo {
                        let s = (lo as isize + offset) as usize;
                        dst[lo..hi].copy_from_slice(&src[s..s + (hi - lo)]);
                    } else {
                        for (o_j, d) in dst[lo..hi].iter_mut().enumerate() {
                            *d = src[(((lo + o_j) * g.stride_w) as isize + offset) as usize];
                        }
                    }
                }
            }
        }
    }
}

/// Folds `col` (laid out as [`im2col`] writes it) back, adding each entry into the input
/// position it was unfolded from. `col` is scratch: the shift layout zeroes its entries that
/// came from the padding.
fn col2im(g: &Conv2dGeometry, col: &mut [f32], ld: usize, dx: &mut [f32]) {
    let (h, w, oh, ow) = (g.height, g.width, g.out_h(), g.out_w());
    if is_shift(g) {
        let mut rows = col.chunks_mut(ld).map(|r| &mut r[..oh * ow]);
        for plane in dx.chunks_exact_mut(h * w).take(g.cg()) {
            for ki in 0..g.kernel_h {
                for kj in 0..g.kernel_w {
                    let row = rows.next().expect("col has cg·kh·kw rows");
                    let s = shift_of(g, ki, kj);
                    // Padding entries would land on a neighbouring row's edge: make them 0.
                    zero_padding_columns(row, ow, &s);
                    let (d0, d1) = s.span;
                    if d1 > d0 {
                        let dst = (d0 as isize + s.shift) as usize;
                        for (d, v) in plane[dst..dst + (d1 - d0)].iter_mut().zip(&row[d0..d1]) {
                            *d += v;
                        }
                    }
                }
            }
        }
        return;
    }
    let mut rows = col.chunks(ld).map(|r| &r[..oh * ow]);
    for c in 0..g.cg() {
        let plane = &mut dx[c * h * w..(c + 1) * h * w];
        for ki in 0..g.kernel_h {
            for kj in 0..g.kernel_w {
                let row = rows.next().expect("col has cg·kh·kw rows");
                let offset = (kj * g.dilation_w) as isize - g.pad_w as isize;
                let (lo, hi) = valid_range(ow, w, g.stride_w, offset);
                for (o_i, src) in row.chunks_exact(ow).enumerate() {
                    let ih = (o_i * g.stride_h + ki * g.dilation_h) as isize - g.pad_h as isize;
                    if ih < 0 || ih >= h as isize {
                        continue;
                    }
                    let dst = &mut plane[ih as usize * w..(ih as usize + 1) * w];
                    if g.stride_w == 1 && hi > lo {
                        let s = (lo as isize + offset) as usize;
                        for (d, v) in dst[s..s + (hi - lo)].iter_mut().zip(&src[lo..hi]) {
                            *d += v;
                        }
                    } else {
                        for (o_j, v) in src[lo..hi].iter().enumerate() {
                            dst[(((lo + o_j) * g.stride_w) as isize + offset) as usize] += v;
                        }
                    }
                }
            }
        }
    }
}

/// Small planes are unfolded several samples side by side, so that each product has at least
/// this many columns: a product per sample of a 2×2 plane (ResNet's third stage) is a
/// matrix-vector product that packs the whole weight matrix for 4 columns, and the weight
/// gradient was read and written once per sample.
const MIN_COLUMNS: usize = 256;

/// ... but the shared unfolded matrix stays below this many elements (4 MiB).
const COL_BUDGET: usize = 1 << 20;

/// How many samples share one unfolded matrix (one set of products).
fn samples_per_product(g: &Conv2dGeometry) -> usize {
    let (k, p) = (g.k(), g.p());
    let wanted = MIN_COLUMNS.div_ceil(p);
    let fits = (COL_BUDGET / (k * p)).max(1);
    let per = wanted.min(fits).clamp(1, g.batch.max(1));
    // Even chunks: 16 samples at 6 per product run as 6, 5, 5 rather than 6, 6, 4.
    g.batch.div_ceil(g.batch.div_ceil(per))
}

/// The work of one pass in [`threads::worth_splitting`]'s elements: the unfolded matrix (written
/// by the unfolding, read by the products) and the multiply-adds. The small CNN's 1→8 layer on
/// `[64, 1, 28, 28]` is mostly unfolding (3.6M multiply-adds, 0.45M unfolded elements): split.
fn work(g: &Conv2dGeometry) -> usize {
    g.batch * g.groups * g.k() * g.p() + g.macs() / threads::MACS_PER_ELEMENT
}

/// How a pass runs on the pool: `(samples per product, Some(samples per task))` when runs of
/// whole chunks are spread over the pool (about `tasks_per_thread` tasks per thread, each
/// running its chunks' products serially), or `(per, None)` for one chunk after another with
/// the products themselves split. `per` is [`samples_per_product`]'s (or Winograd's) choice.
///
/// Splitting the batch beats splitting the products: a product's panels each pack the whole of
/// the other operand, and the unfolding and folding around the products run on the caller
/// alone. So when the pass is worth splitting, a batch that would be one product (small
/// planes: ResNet-18's 4×4 and 2×2 stages at 32×32) is cut into one chunk per thread instead.
/// The pieces depend on the thread count only, never on scheduling, and on one thread nothing
/// changes.
pub(crate) fn split_batch(
    g: &Conv2dGeometry,
    per: usize,
    work: usize,
    tasks_per_thread: usize,
) -> (usize, Option<usize>) {
    let threads = threads::num_threads();
    if threads == 1 || g.batch < threads || !threads::worth_splitting(work) {
        return (per, None);
    }
    let per = per.min(g.batch.div_ceil(threads));
    // Even chunks: 16 samples at 6 per product run as 6, 5, 5 rather than 6, 6, 4.
    let per = g.batch.div_ceil(g.batch.div_ceil(per));
    let chunks = g.batch.div_ceil(per);
    let tasks = (threads * tasks_per_thread).min(chunks);
    (per, Some(chunks.div_ceil(tasks) * per))
}

/// The kernel taps `first..end` along one axis that some output reads inside the input;
/// `None` when every tap reads only padding.
fn live_taps(
    out: usize,
    input: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    dilation: usize,
) -> Option<(usize, usize)> {
    let live = |t: &usize| {
        let (lo, hi) = valid_range(out, input, stride, (t * dilation) as isize - pad as isize);
        hi > lo
    };
    let first = (0..kernel).find(live)?;
    let last = (0..kernel).rev().find(live)?;
    Some((first, last + 1))
}

/// The same convolution without the kernel's outer taps that only ever meet padding: a 3×3,
/// padding-1 layer on a 1×1 plane (ResNet-18's last stage at 32×32) is a 1×1 convolution, and
/// its unfolded matrix was 8/9 zeros. Returns the smaller geometry and the first kept tap
/// (row, column), or `None` when every tap is used (or trimming would change the output).
fn trimmed(g: &Conv2dGeometry) -> Option<(Conv2dGeometry, usize, usize)> {
    let (oh, ow) = (g.out_h(), g.out_w());
    let (h0, h1) = live_taps(oh, g.height, g.kernel_h, g.stride_h, g.pad_h, g.dilation_h)?;
    let (w0, w1) = live_taps(ow, g.width, g.kernel_w, g.stride_w, g.pad_w, g.dilation_w)?;
    if h1 - h0 == g.kernel_h && w1 - w0 == g.kernel_w {
        return None;
    }
    let mut t = Conv2dGeometry {
        kernel_h: h1 - h0,
        kernel_w: w1 - w0,
        pad_h: g.pad_h.checked_sub(h0 * g.dilation_h)?,
        pad_w: g.pad_w.checked_sub(w0 * g.dilation_w)?,
        ..*g
    };
    // One output row or column reads the same taps whatever the stride; stride 1 can make
    // the trimmed layer pointwise (no unfolding at all).
    if oh == 1 && (Conv2dGeometry { stride_h: 1, ..t }).out_h() == 1 {
        t.stride_h = 1;
    }
    if ow == 1 && (Conv2dGeometry { stride_w: 1, ..t }).out_w() == 1 {
        t.stride_w = 1;
    }
    (t.out_h() == oh && t.out_w() == ow).then_some((t, h0, w0))
}

/// The taps of `weight` (`[out, in/groups, kh, kw]` for `g`) that `t` keeps, from (h0, w0).
fn trim_weight(
    g: &Conv2dGeometry,
    t: &Conv2dGeometry,
    h0: usize,
    w0: usize,
    weight: &[f32],
) -> Scratch {
    let mut kept = Scratch::new(t.weight_len());
    let (full, taps) = (g.kernel_h * g.kernel_w, kept_taps(g, t, h0, w0));
    let per = filters_per_task(weight.len(), full);
    let tasks = kept
        .chunks_mut(per * taps.len())
        .zip(weight.chunks(per * full))
        .collect();
    threads::map_tasks(tasks, |_, (kept, weight): (&mut [f32], &[f32])| {
        for (dst, all) in kept
            .chunks_exact_mut(taps.len())
            .zip(weight.chunks_exact(full))
        {
            for (d, &i) in dst.iter_mut().zip(&taps) {
                *d = all[i];
            }
        }
    });
    kept
}

/// Filters of `full` taps per task when a pass over a weight of `len` elements is split: the
/// whole weight (one task) unless it is worth splitting. ResNet-18's last stage at 32×32 reads
/// its 9 MiB weights three times per step (the finiteness check, the trimming, the trimmed
/// gradient's scatter) around products of a few microseconds.
fn filters_per_task(len: usize, full: usize) -> usize {
    let filters = len / full;
    if !threads::worth_splitting(len) {
        return filters.max(1);
    }
    filters
        .div_ceil(threads::num_threads() * TASKS_PER_THREAD)
        .max(1)
}

/// The offsets inside one `kh·kw` filter of the taps `t` keeps, from (h0, w0), in order.
fn kept_taps(g: &Conv2dGeometry, t: &Conv2dGeometry, h0: usize, w0: usize) -> Vec<usize> {
    let rows = h0..h0 + t.kernel_h;
    rows.flat_map(|ki| (w0..w0 + t.kernel_w).map(move |kj| ki * g.kernel_w + kj))
        .collect()
}

/// Adds a trimmed weight gradient into the full one's kept taps.
fn add_trimmed(
    g: &Conv2dGeometry,
    t: &Conv2dGeometry,
    h0: usize,
    w0: usize,
    part: &[f32],
    full: &mut [f32],
) {
    let (taps, len) = (kept_taps(g, t, h0, w0), g.kernel_h * g.kernel_w);
    let per = filters_per_task(full.len(), len);
    let tasks = full
        .chunks_mut(per * len)
        .zip(part.chunks(per * taps.len()))
        .collect();
    threads::map_tasks(tasks, |_, (full, part): (&mut [f32], &[f32])| {
        let filters = full.chunks_exact_mut(len);
        for (all, kept) in filters.zip(part.chunks_exact(taps.len())) {
            for (&i, v) in taps.iter().zip(kept) {
                all[i] += v;
            }
        }
    });
}

fn all_finite(v: &[f32]) -> bool {
    let isa = simd::active();
    if !threads::worth_splitting(v.len()) {
        return all_finite_run(isa, v);
    }
    let chunk = v.len().div_ceil(threads::num_threads() * TASKS_PER_THREAD);
    let parts = threads::map_tasks(v.chunks(chunk).collect(), |_, c| all_finite_run(isa, c));
    parts.into_iter().all(|finite| finite)
}

crate::multiversion! {
    /// Whether no element is infinite or NaN: x·0 is 0 for every finite x and NaN otherwise,
    /// and lane-wise sums of those vectorise (a short-circuiting `all` does not).
    fn all_finite_run(v: &[f32]) -> bool {
        let mut acc = [0.0f32; 16];
        let mut chunks = v.chunks_exact(16);
        for c in &mut chunks {
            for (a, x) in acc.iter_mut().zip(c) {
                *a += x * 0.0;
            }
        }
        let tail: f32 = chunks.remainder().iter().map(|x| x * 0.0).sum();
        acc.iter().sum::<f32>() + tail == 0.0
    }
}

/// y `[N, out, outH, outW]` = conv(x `[N, in, H, W]`, weight) + bias.
pub fn conv2d_forward(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    g: &Conv2dGeometry,
) {
    const K: &str = "conv2d_forward";
    check_geometry(K, g);
    check_len(K, "x", x.len(), g.input_len());
    check_len(K, "weight", weight.len(), g.weight_len());
    check_len(K, "y", y.len(), g.output_len());
    if let Some(b) = bias {
        check_len(K, "bias", b.len(), g.out_channels);
    }
    if g.batch == 0 {
        return;
    }
    if winograd::applies(g) && winograd::forward(x, weight, bias, y, g) {
        return;
    }
    // A dropped tap multiplies padding: 0·w is 0 unless w is infinite or NaN (PyTorch's
    // im2col path, whose NaN the fixtures pin down), so only finite weights are trimmed.
    if let Some((t, h0, w0)) = trimmed(g).filter(|_| all_finite(weight)) {
        let kept = trim_weight(g, &t, h0, w0, weight);
        return forward_unfolded(x, &kept, bias, y, &t);
    }
    forward_unfolded(x, weight, bias, y, g)
}

fn forward_unfolded(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    g: &Conv2dGeometry,
) {
    let (in_n, out_n) = (g.input_len() / g.batch, g.output_len() / g.batch);
    let (per, run) = split_batch(g, samples_per_product(g), work(g), TASKS_PER_THREAD);
    let chunks = |y: &mut [f32], x: &[f32], par: Par| {
        let mut bufs = Buffers::new(g, per, false);
        for (y_c, x_c) in y.chunks_mut(per * out_n).zip(x.chunks(per * in_n)) {
            forward_chunk(g, x_c, weight, bias, y_c, &mut bufs, par);
        }
    };
    forward_runs(y, x, (in_n, out_n), run, chunks);
}

/// Runs a forward pass's `chunks` over the batch: in runs of `run` samples spread over the pool
/// (each run's products serial), or, when `run` is `None`, as one run whose products split.
pub(super) fn forward_runs(
    y: &mut [f32],
    x: &[f32],
    (in_n, out_n): (usize, usize),
    run: Option<usize>,
    chunks: impl Fn(&mut [f32], &[f32], Par) + Sync,
) {
    match run {
        Some(run) => {
            let tasks = y
                .chunks_mut(run * out_n)
                .zip(x.chunks(run * in_n))
                .collect();
            threads::map_tasks(tasks, |_, (y_r, x_r)| chunks(y_r, x_r, Par::Serial));
        }
        None => chunks(y, x, Par::Auto),
    }
}

/// Tasks per thread when a forward pass spreads the batch over the pool: a few, so that a
/// helper kept off its core by another process leaves its share to the caller, which claims
/// tasks one by one ([`threads::for_each_piece`]). A backward pass has one task per thread:
/// each task sums its own weight gradient, and those are added in task order.
const TASKS_PER_THREAD: usize = 4;

/// Scratch of one thread: the unfolded input of a chunk of samples, its gradient (only for a
/// backward that computes the input gradient), and an output-shaped
/// `[out/groups, samples·outH·outW]` matrix for chunks of several samples, whose outputs (or
/// output gradients) are not one matrix in NCHW.
struct Buffers {
    col: Scratch,
    dcol: Scratch,
    mat: Scratch,
}

impl Buffers {
    fn new(g: &Conv2dGeometry, per: usize, with_dcol: bool) -> Self {
        let n = padded_stride(per * g.p());
        let col = if g.is_pointwise() && per == 1 {
            0
        } else {
            g.k() * n
        };
        Buffers {
            col: Scratch::new(col),
            dcol: Scratch::new(if with_dcol { col } else { 0 }),
            mat: Scratch::new(if per > 1 { g.og() * n } else { 0 }),
        }
    }
}

/// Unfolds group `gi` of every sample of the chunk `x` side by side into `col` (`n` columns).
fn unfold_chunk(g: &Conv2dGeometry, x: &[f32], gi: usize, col: &mut [f32], n: usize) {
    let (p, in_g, in_n) = (g.p(), g.cg() * g.height * g.width, g.input_len() / g.batch);
    for (si, x_n) in x.chunks_exact(in_n).enumerate() {
        im2col(g, &x_n[gi * in_g..][..in_g], &mut col[si * p..], n);
    }
}

/// The forward of a chunk of samples: per group, y_g = W_g · col over all of them at once.
fn forward_chunk(
    g: &Conv2dGeometry,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    bufs: &mut Buffers,
    par: Par,
) {
    let (k, p, og, in_g) = (g.k(), g.p(), g.og(), g.cg() * g.height * g.width);
    let out_n = g.output_len() / g.batch;
    let samples = y.len() / out_n;
    let (n, ld) = (samples * p, padded_stride(samples * p));
    for gi in 0..g.groups {
        let w_g = &weight[gi * og * k..(gi + 1) * og * k];
        let (cols, cols_ld): (&[f32], usize) = if g.is_pointwise() && samples == 1 {
            (&x[gi * in_g..(gi + 1) * in_g], p)
        } else {
            unfold_chunk(g, x, gi, &mut bufs.col, ld);
            (&bufs.col, ld)
        };
        if samples == 1 {
            // The output plane is the product's matrix: the bias goes in first, beta = 1.
            let y_g = &mut y[gi * og * p..(gi + 1) * og * p];
            let beta = match bias {
                Some(b) => {
                    for (plane, &bv) in y_g.chunks_exact_mut(p).zip(&b[gi * og..]) {
                        plane.fill(bv);
                    }
                    1.0
                }
                None => 0.0,
            };
            let (a, b) = (Operand::n(w_g, k), Operand::n(cols, cols_ld));
            sgemm(og, p, k, 1.0, a, b, beta, y_g, p, par);
        } else {
            let mat = &mut bufs.mat;
            sgemm(
                og,
                n,
                k,
                1.0,
                Operand::n(w_g, k),
                Operand::n(cols, ld),
                0.0,
                mat,
                ld,
                par,
            );
            for (y_n, si) in y.chunks_exact_mut(out_n).zip(0..) {
                for (o, plane) in y_n[gi * og * p..(gi + 1) * og * p]
                    .chunks_exact_mut(p)
                    .enumerate()
                {
                    let bv = bias.map_or(0.0, |b| b[gi * og + o]);
                    let src = &mat[o * ld + si * p..][..p];
                    plane.iter_mut().zip(src).for_each(|(d, v)| *d = v + bv);
                }
            }
        }
    }
}

/// Writes dx (when given: training skips the input's gradient, and with it the col2im and
/// the input-gradient products) and adds the weight (and bias) gradients into `dweight` (and
/// `dbias`), the same bits either way.
pub fn conv2d_backward(
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    g: &Conv2dGeometry,
) {
    const K: &str = "conv2d_backward";
    check_geometry(K, g);
    check_len(K, "x", x.len(), g.input_len());
    check_len(K, "weight", weight.len(), g.weight_len());
    check_len(K, "gradOutput", dy.len(), g.output_len());
    if let Some(dx) = &dx {
        check_len(K, "gradInput", dx.len(), g.input_len());
    }
    check_len(K, "gradWeight", dweight.len(), g.weight_len());
    if let Some(b) = &dbias {
        check_len(K, "gradBias", b.len(), g.out_channels);
    }
    if g.batch == 0 {
        return;
    }
    let (mut dx, mut dbias) = (dx, dbias);
    // Winograd gives up when its input gradient is not finite (an infinite weight), and the
    // im2col path then computes the weight gradient too: without dx, such weights go there
    // directly, so that the weight gradient is the same bits with or without dx.
    let winograd = winograd::applies(g) && (dx.is_some() || all_finite(weight));
    if winograd
        && winograd::backward(
            x,
            weight,
            dy,
            dx.as_deref_mut(),
            dweight,
            dbias.as_deref_mut(),
            g,
        )
    {
        return;
    }
    // A dropped tap's weight gradient is Σ dy·0 (padding): 0 unless dy has an infinity or a
    // NaN. Its input gradient lands only in the padding.
    if let Some((t, h0, w0)) = trimmed(g).filter(|_| all_finite(dy)) {
        let kept = trim_weight(g, &t, h0, w0, weight);
        let mut dkept = Scratch::zeroed(kept.len());
        backward_unfolded(x, &kept, dy, dx, &mut dkept, dbias, &t);
        add_trimmed(g, &t, h0, w0, &dkept, dweight);
        return;
    }
    backward_unfolded(x, weight, dy, dx, dweight, dbias, g)
}

fn backward_unfolded(
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    g: &Conv2dGeometry,
) {
    let (in_n, out_n) = (g.input_len() / g.batch, g.output_len() / g.batch);
    let (with_bias, with_dx) = (dbias.is_some(), dx.is_some());
    let (per, run) = split_batch(g, samples_per_product(g), work(g), 1);
    if let Some(run) = run {
        // Contiguous runs of samples, one per thread, each with its own weight and bias
        // gradient; the partial sums are then added in run order, so the result depends on
        // the thread count only, not on scheduling.
        let tasks = optional_chunks(dx, run * in_n, x.len())
            .into_iter()
            .zip(x.chunks(run * in_n))
            .zip(dy.chunks(run * out_n))
            .collect();
        let partials = threads::map_tasks(tasks, |_, ((dx_r, x_r), dy_r)| {
            let mut dw = Scratch::zeroed(g.weight_len());
            let mut db = vec![0.0; if with_bias { g.out_channels } else { 0 }];
            let mut bufs = Buffers::new(g, per, with_dx);
            for ((dx_c, x_c), dy_c) in optional_chunks(dx_r, per * in_n, x_r.len())
                .into_iter()
                .zip(x_r.chunks(per * in_n))
                .zip(dy_r.chunks(per * out_n))
            {
                let db = with_bias.then_some(&mut db[..]);
                let (dw, bufs) = (&mut dw[..], &mut bufs);
                backward_chunk(g, x_c, weight, dy_c, dx_c, dw, db, bufs, Par::Serial);
            }
            (dw, db)
        });
        let mut dbias = dbias;
        for (dw, db) in partials {
            dweight.iter_mut().zip(dw.iter()).for_each(|(a, b)| *a += b);
            if let Some(dbias) = dbias.as_deref_mut() {
                dbias.iter_mut().zip(&db).for_each(|(a, b)| *a += b);
            }
        }
    } else {
        let mut bufs = Buffers::new(g, per, with_dx);
        let mut dbias = dbias;
        for ((dx_c, x_c), dy_c) in optional_chunks(dx, per * in_n, x.len())
            .into_iter()
            .zip(x.chunks(per * in_n))
            .zip(dy.chunks(per * out_n))
        {
            let db = dbias.as_deref_mut();
            backward_chunk(
                g,
                x_c,
                weight,
                dy_c,
                dx_c,
                dweight,
                db,
                &mut bufs,
                Par::Auto,
            );
        }
    }
}

/// `dx` cut into chunks of `len` elements, or, without an input gradient, as many `None`s as
/// an array of `total` elements has chunks: the runs and chunks of samples stay the same.
pub(super) fn optional_chunks(
    dx: Option<&mut [f32]>,
    len: usize,
    total: usize,
) -> Vec<Option<&mut [f32]>> {
    match dx {
        Some(dx) => dx.chunks_mut(len).map(Some).collect(),
        None => (0..total.div_ceil(len)).map(|_| None).collect(),
    }
}

/// The backward of a chunk of samples: per group, dcol = W_gᵀ · dy_g (folded into dx, when
/// given) and dW_g += dy_g · colᵀ, each one product over all the chunk's samples.
#[allow(clippy::too_many_arguments)]
fn backward_chunk(
    g: &Conv2dGeometry,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    mut dx: Option<&mut [f32]>,
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    bufs: &mut Buffers,
    par: Par,
) {
    let (k, p, og, in_g) = (g.k(), g.p(), g.og(), g.cg() * g.height * g.width);
    let (in_n, out_n) = (g.input_len() / g.batch, g.output_len() / g.batch);
    let samples = dy.len() / out_n;
    let (n, ld) = (samples * p, padded_stride(samples * p));
    // One pointwise sample needs no unfolding: its planes are the products' matrices.
    let planes = g.is_pointwise() && samples == 1;
    if let Some(dx) = dx.as_deref_mut().filter(|_| !planes) {
        dx.fill(0.0);
    }
    let Buffers { col, dcol, mat } = bufs;
    // dy_g's row stride: the planes themselves for one sample, else the gathered matrix.
    let dy_ld = if samples == 1 { p } else { ld };
    for gi in 0..g.groups {
        let w_g = &weight[gi * og * k..(gi + 1) * og * k];
        let dw_g = &mut dweight[gi * og * k..(gi + 1) * og * k];
        let dy_g: &[f32] = if samples == 1 {
            &dy[gi * og * p..(gi + 1) * og * p]
        } else {
            for (dy_n, si) in dy.chunks_exact(out_n).zip(0..) {
                for (o, plane) in dy_n[gi * og * p..(gi + 1) * og * p]
                    .chunks_exact(p)
                    .enumerate()
                {
                    mat[o * ld + si * p..][..p].copy_from_slice(plane);
                }
            }
            mat
        };
        if planes {
            if let Some(dx) = dx.as_deref_mut() {
                let dx_g = &mut dx[gi * in_g..(gi + 1) * in_g];
                let (wt, dyn_) = (Operand::t(w_g, k), Operand::n(dy_g, p));
                sgemm(k, p, og, 1.0, wt, dyn_, 0.0, dx_g, p, par);
            }
            let x_g = &x[gi * in_g..(gi + 1) * in_g];
            let (dyn_, xt) = (Operand::n(dy_g, p), Operand::t(x_g, p));
            sgemm(og, k, p, 1.0, dyn_, xt, 1.0, dw_g, k, par);
            continue;
        }
        if let Some(dx) = dx.as_deref_mut() {
            let (wt, dyn_) = (Operand::t(w_g, k), Operand::n(dy_g, dy_ld));
            sgemm(k, n, og, 1.0, wt, dyn_, 0.0, dcol, ld, par);
            for (dx_n, si) in dx.chunks_exact_mut(in_n).zip(0..) {
                col2im(g, &mut dcol[si * p..], ld, &mut dx_n[gi * in_g..][..in_g]);
            }
        }
        unfold_chunk(g, x, gi, col, ld);
        let (dyn_, colt) = (Operand::n(dy_g, dy_ld), Operand::t(col, ld));
        sgemm(og, k, n, 1.0, dyn_, colt, 1.0, dw_g, k, par);
    }
    if let Some(db) = dbias {
        add_bias_gradient(db, dy, p);
    }
}

/// db[o] += the sum of dy's planes (`p` elements) of channel o, over every sample of `dy`.
fn add_bias_gradient(db: &mut [f32], dy: &[f32], p: usize) {
    for dy_n in dy.chunks_exact(db.len() * p) {
        for (b, plane) in db.iter_mut().zip(dy_n.chunks_exact(p)) {
            // Lane-wise partial sums vectorise and give the same bits on every level.
            let mut acc = [0.0f32; 16];
            let mut chunks = plane.chunks_exact(16);
            for c in &mut chunks {
                for (a, v) in acc.iter_mut().zip(c) {
                    *a += v;
                }
            }
            *b += acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd;
    use crate::testutil::uniform;

    /// The definition as direct loops, in f64: y, dx, dW (from zero), db.
    #[allow(clippy::type_complexity)]
    fn reference(
        g: &Conv2dGeometry,
        x: &[f32],
        w: &[f32],
        b: &[f32],
        dy: &[f32],
    ) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
        let (oh, ow, cg, og) = (g.out_h(), g.out_w(), g.cg(), g.og());
        let mut y = vec![0.0; g.output_len()];
        let mut dx = vec![0.0; g.input_len()];
        let mut dw = vec![0.0; g.weight_len()];
        let mut db = vec![0.0; g.out_channels];
        for n in 0..g.batch {
            for o in 0..g.out_channels {
                let gi = o / og;
                for i in 0..oh {
                    for j in 0..ow {
                        let yi = ((n * g.out_channels + o) * oh + i) * ow + j;
                        let mut acc = b[o] as f64;
                        db[o] += dy[yi] as f64;
                        for c in 0..cg {
                            for ki in 0..g.kernel_h {
                                for kj in 0..g.kernel_w {
                                    let ih = (i * g.stride_h + ki * g.dilation_h) as isize
                                        - g.pad_h as isize;
                                    let iw = (j * g.stride_w + kj * g.dilation_w) as isize
                                        - g.pad_w as isize;
                                    if ih < 0
                                        || iw < 0
                                        || ih >= g.height as isize
                                        || iw >= g.width as isize
                                    {
                                        continue;
                                    }
                                    let xi = ((n * g.in_channels + gi * cg + c) * g.height
                                        + ih as usize)
                                        * g.width
                                        + iw as usize;
                                    let wi = ((o * cg + c) * g.kernel_h + ki) * g.kernel_w + kj;
                                    acc += x[xi] as f64 * w[wi] as f64;
                                    dx[xi] += dy[yi] as f64 * w[wi] as f64;
                                    dw[wi] += dy[yi] as f64 * x[xi] as f64;
                                }
                            }
                        }
                        y[yi] = acc;
                    }
                }
            }
        }
        (y, dx, dw, db)
    }

    #[allow(clippy::too_many_arguments)]
    fn geometry(
        batch: usize,
        cin: usize,
        hw: (usize, usize),
        cout: usize,
        k: (usize, usize),
        stride: (usize, usize),
        pad: (usize, usize),
        dil: (usize, usize),
        groups: usize,
    ) -> Conv2dGeometry {
        Conv2dGeometry {
            batch,
            in_channels: cin,
            height: hw.0,
            width: hw.1,
            out_channels: cout,
            kernel_h: k.0,
            kernel_w: k.1,
            stride_h: stride.0,
            stride_w: stride.1,
            pad_h: pad.0,
            pad_w: pad.1,
            dilation_h: dil.0,
            dilation_w: dil.1,
            groups,
        }
    }

    #[test]
    #[should_panic(expected = "conv2d_forward: y has 5 elements, expected 4")]
    fn mismatched_lengths_panic_with_the_sizes() {
        // [1, 1, 2, 2] with a 1×1 kernel: 4 outputs (the glue checks lengths before calling).
        let g = geometry(1, 1, (2, 2), 1, (1, 1), (1, 1), (0, 0), (1, 1), 1);
        conv2d_forward(&[0.0; 4], &[1.0], None, &mut [0.0; 5], &g);
    }

    fn close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what} length");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (*g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }

    #[test]
    fn matches_direct_loops_at_every_level() {
        let cases = [
            geometry(2, 3, (7, 6), 4, (3, 2), (1, 1), (0, 0), (1, 1), 1),
            geometry(3, 4, (9, 8), 6, (3, 3), (2, 2), (1, 1), (1, 1), 2),
            geometry(1, 2, (8, 9), 3, (3, 3), (1, 2), (2, 1), (2, 2), 1),
            geometry(2, 6, (5, 5), 6, (3, 3), (1, 1), (1, 1), (1, 1), 6), // depthwise
            geometry(2, 8, (4, 5), 4, (1, 1), (1, 1), (0, 0), (1, 1), 2), // pointwise
            geometry(2, 3, (5, 4), 2, (1, 1), (2, 1), (1, 0), (1, 1), 1), // 1×1 with stride/pad
            geometry(1, 1, (3, 3), 1, (5, 5), (1, 1), (1, 1), (1, 1), 1), // kernel = padded input
            // Shift layout (stride 1, output as wide as the input) with partial rows:
            geometry(2, 3, (7, 6), 2, (3, 3), (1, 1), (0, 2), (2, 2), 1),
            geometry(1, 2, (4, 5), 3, (1, 3), (1, 1), (2, 1), (1, 1), 1),
            // Padding past the dilated taps' reach (found by __test__/properties.test.ts: a
            // tap's span started past the row's end and the copy panicked).
            geometry(1, 3, (2, 2), 6, (3, 2), (1, 1), (2, 1), (2, 2), 3),
            geometry(1, 1, (1, 3), 1, (3, 3), (1, 1), (2, 1), (2, 1), 1),
            // Every column of a tap in the padding, in the general layout.
            geometry(1, 3, (3, 1), 3, (2, 3), (2, 1), (0, 2), (1, 2), 3),
            geometry(5, 16, (12, 12), 16, (3, 3), (1, 1), (1, 1), (1, 1), 1), // past the threshold
            // Small planes: several samples per product (ResNet's later stages).
            geometry(5, 3, (2, 2), 5, (3, 3), (1, 1), (1, 1), (1, 1), 1),
            geometry(3, 5, (3, 5), 4, (3, 3), (2, 2), (1, 1), (1, 1), 1),
            geometry(3, 4, (3, 3), 4, (1, 1), (1, 1), (0, 0), (1, 1), 2), // pointwise, groups
            geometry(40, 17, (4, 4), 18, (3, 3), (1, 1), (1, 1), (1, 1), 1), // uneven chunks
            // Outer taps that only meet padding are dropped: 1×1 planes (a pointwise product),
            // a 2×2 plane at stride 2 (a 2×2 kernel), a 1×W row (a 1×3 kernel).
            geometry(7, 4, (1, 1), 6, (3, 3), (1, 1), (1, 1), (1, 1), 1),
            geometry(6, 4, (2, 2), 6, (3, 3), (2, 2), (1, 1), (1, 1), 2),
            geometry(3, 3, (1, 6), 5, (3, 3), (1, 1), (1, 1), (1, 1), 1),
            geometry(2, 2, (1, 1), 3, (5, 5), (3, 3), (2, 2), (1, 1), 1),
            geometry(1, 3, (1, 1), 2, (3, 3), (1, 1), (1, 1), (1, 1), 1), // batch 1
            // Trimmed, with a weight past two grains: trimming and scattering split by filters.
            geometry(2, 96, (1, 1), 97, (3, 3), (1, 1), (1, 1), (1, 1), 1),
        ];
        for isa in simd::supported() {
            simd::with_isa(isa, || {
                for (ci, g) in cases.iter().enumerate() {
                    g.check().unwrap();
                    let x = uniform(g.input_len(), 1 + ci as u64, 0.5);
                    let w = uniform(g.weight_len(), 2, 0.5);
                    let b = uniform(g.out_channels, 3, 0.5);
                    let dy = uniform(g.output_len(), 4, 0.5);
                    let (ry, rdx, rdw, rdb) = reference(g, &x, &w, &b, &dy);
                    let mut y = vec![f32::NAN; g.output_len()];
                    conv2d_forward(&x, &w, Some(&b), &mut y, g);
                    close(&y, &ry, &format!("{isa} case {ci} y"));
                    let mut dx = vec![f32::NAN; g.input_len()];
                    let mut dw = vec![0.0; g.weight_len()];
                    let mut db = vec![0.0; g.out_channels];
                    conv2d_backward(&x, &w, &dy, Some(&mut dx), &mut dw, Some(&mut db), g);
                    close(&dx, &rdx, &format!("{isa} case {ci} dx"));
                    close(&dw, &rdw, &format!("{isa} case {ci} dw"));
                    close(&db, &rdb, &format!("{isa} case {ci} db"));
                    // Gradients accumulate; no bias leaves y without it.
                    conv2d_backward(&x, &w, &dy, Some(&mut dx), &mut dw, None, g);
                    let twice: Vec<f64> = rdw.iter().map(|v| 2.0 * v).collect();
                    close(&dw, &twice, &format!("{isa} case {ci} dw accumulated"));
                    let mut y0 = vec![f32::NAN; g.output_len()];
                    conv2d_forward(&x, &w, None, &mut y0, g);
                    let p = g.out_h() * g.out_w();
                    let unbiased: Vec<f64> = ry
                        .iter()
                        .enumerate()
                        .map(|(i, v)| v - b[(i / p) % g.out_channels] as f64)
                        .collect();
                    close(&y0, &unbiased, &format!("{isa} case {ci} y without bias"));
                }
            });
        }
    }

    #[test]
    fn without_the_input_gradient_the_parameter_gradients_are_the_same_bits() {
        let cases = [
            geometry(3, 4, (9, 8), 6, (3, 3), (2, 2), (1, 1), (1, 1), 2), // im2col, groups
            geometry(2, 6, (5, 5), 6, (3, 3), (1, 1), (1, 1), (1, 1), 6), // depthwise
            geometry(2, 8, (16, 16), 4, (1, 1), (1, 1), (0, 0), (1, 1), 2), // pointwise planes
            geometry(3, 4, (3, 3), 4, (1, 1), (1, 1), (0, 0), (1, 1), 2), // pointwise, side by side
            geometry(5, 3, (2, 2), 5, (3, 3), (1, 1), (1, 1), (1, 1), 1), // side by side
            geometry(7, 4, (1, 1), 6, (3, 3), (1, 1), (1, 1), (1, 1), 1), // trimmed
            geometry(2, 3, (20, 20), 8, (7, 7), (2, 2), (3, 3), (1, 1), 1), // ResNet's stem
            geometry(5, 16, (12, 12), 16, (3, 3), (1, 1), (1, 1), (1, 1), 1), // samples over threads
            geometry(2, 48, (24, 24), 48, (3, 3), (1, 1), (1, 1), (1, 1), 1), // Winograd
        ];
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for isa in simd::supported() {
            simd::with_isa(isa, || {
                for (ci, g) in cases.iter().enumerate() {
                    let x = uniform(g.input_len(), 1 + ci as u64, 1.0);
                    let mut w = uniform(g.weight_len(), 2, 0.5);
                    let dy = uniform(g.output_len(), 3, 1.0);
                    // An infinite weight: Winograd refuses its input gradient, and the
                    // im2col path computes everything.
                    for infinite in [false, true] {
                        w[0] = if infinite { f32::INFINITY } else { 0.25 };
                        let (dw0, db0) = (
                            uniform(g.weight_len(), 4, 1.0),
                            uniform(g.out_channels, 5, 1.0),
                        );
                        let (mut dw, mut db) = (dw0.clone(), db0.clone());
                        let mut dx = vec![f32::NAN; g.input_len()];
                        conv2d_backward(&x, &w, &dy, Some(&mut dx), &mut dw, Some(&mut db), g);
                        let (mut dw_alone, mut db_alone) = (dw0.clone(), db0.clone());
                        conv2d_backward(&x, &w, &dy, None, &mut dw_alone, Some(&mut db_alone), g);
                        let what = format!("{isa} case {ci} infinite {infinite}");
                        assert_eq!(bits(&dw_alone), bits(&dw), "{what}: dw");
                        assert_eq!(bits(&db_alone), bits(&db), "{what}: db");
                        // ... and without a bias.
                        let mut dw_plain = dw0.clone();
                        conv2d_backward(&x, &w, &dy, None, &mut dw_plain, None, g);
                        assert_eq!(bits(&dw_plain), bits(&dw), "{what}: dw without bias");
                    }
                }
            });
        }
    }

    #[test]
    fn trimming_drops_only_taps_that_meet_padding_everywhere() {
        // 3×3, padding 1, on a 1×1 plane: only the centre tap, i.e. a pointwise product.
        let g = geometry(2, 4, (1, 1), 3, (3, 3), (2, 2), (1, 1), (1, 1), 1);
        let (t, h0, w0) = trimmed(&g).expect("trimmed");
        assert!(t.is_pointwise() && (h0, w0) == (1, 1), "{t:?}");
        // Stride 2 from 2×2 to 1×1: taps 1..3 along each axis, without padding.
        let g = geometry(2, 4, (2, 2), 3, (3, 3), (2, 2), (1, 1), (1, 1), 1);
        let (t, h0, w0) = trimmed(&g).expect("trimmed");
        assert_eq!(
            (t.kernel_h, t.kernel_w, t.pad_h, t.pad_w, h0, w0),
            (2, 2, 0, 0, 1, 1)
        );
        assert_eq!((t.out_h(), t.out_w()), (1, 1));
        // Every tap used: nothing to trim.
        for g in [
            geometry(2, 4, (2, 2), 3, (3, 3), (1, 1), (1, 1), (1, 1), 1),
            geometry(2, 4, (8, 8), 3, (3, 3), (2, 2), (1, 1), (1, 1), 1),
        ] {
            assert_eq!(trimmed(&g), None, "{g:?}");
        }
    }

    #[test]
    fn the_finiteness_check_finds_one_bad_value_in_any_piece() {
        threads::set_num_threads(3);
        let n = 4 * threads::GRAIN + 5;
        let mut v = uniform(n, 1, 1.0);
        assert!(all_finite(&v));
        for (at, bad) in [
            (0, f32::NAN),
            (n / 2, f32::INFINITY),
            (n - 1, f32::NEG_INFINITY),
        ] {
            v[at] = bad;
            assert!(!all_finite(&v), "{bad} at {at}");
            v[at] = 0.5;
        }
    }

    #[test]
    fn a_dropped_tap_still_multiplies_padding_by_its_nonfinite_weight_or_gradient() {
        // As PyTorch's im2col path (the special-values fixture): 0·∞ = NaN in the padding.
        let g = geometry(3, 2, (1, 1), 2, (3, 3), (1, 1), (1, 1), (1, 1), 1);
        let x = uniform(g.input_len(), 1, 1.0);
        let mut w = uniform(g.weight_len(), 2, 1.0);
        w[9] = f32::INFINITY; // output channel 0, input 0, a corner tap
        let mut y = vec![0.0; g.output_len()];
        conv2d_forward(&x, &w, None, &mut y, &g);
        for (i, v) in y.iter().enumerate() {
            assert_eq!(v.is_nan(), i % 2 == 0, "y[{i}] = {v}");
        }
        let mut dy = uniform(g.output_len(), 3, 1.0);
        dy[3] = f32::NEG_INFINITY; // sample 1, output channel 1
        let (mut dx, mut dw) = (vec![0.0; g.input_len()], vec![0.0; g.weight_len()]);
        conv2d_backward(&x, &w, &dy, Some(&mut dx), &mut dw, None, &g);
        for (i, v) in dw.iter().enumerate() {
            // Output channel 1's every tap meets the infinite gradient: the centre through x,
            // the others through the padding's zeros.
            assert_eq!(v.is_nan(), i >= 18 && i % 9 != 4, "dw[{i}] = {v}");
        }
    }

    /// The largest |a − b| / (1 + |b|).
    fn max_rel(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
            .fold(0.0, f32::max)
    }

    #[test]
    fn winograd_matches_the_im2col_path_at_every_level() {
        let cases = [
            geometry(2, 3, (20, 20), 5, (3, 3), (1, 1), (1, 1), (1, 1), 1),
            geometry(1, 17, (21, 23), 18, (3, 3), (1, 1), (1, 1), (1, 1), 1), // odd sides, batch 1
            geometry(3, 2, (1, 401), 3, (3, 3), (1, 1), (1, 1), (1, 1), 1),   // one row
            geometry(5, 1, (27, 15), 1, (3, 3), (1, 1), (1, 1), (1, 1), 1),
            geometry(9, 16, (28, 28), 16, (3, 3), (1, 1), (1, 1), (1, 1), 1), // threads, chunks
        ];
        for isa in simd::supported() {
            simd::with_isa(isa, || {
                for (ci, g) in cases.iter().enumerate() {
                    let x = uniform(g.input_len(), 10 + ci as u64, 1.0);
                    let w = uniform(g.weight_len(), 20 + ci as u64, 0.5);
                    let b = uniform(g.out_channels, 30, 0.5);
                    let dy = uniform(g.output_len(), 40 + ci as u64, 1.0);
                    let mut want = vec![f32::NAN; g.output_len()];
                    forward_unfolded(&x, &w, Some(&b), &mut want, g);
                    let mut y = vec![f32::NAN; g.output_len()];
                    assert!(winograd::forward(&x, &w, Some(&b), &mut y, g));
                    let e = max_rel(&y, &want);
                    assert!(e < 1e-5, "{isa} case {ci} y: {e}");

                    let (mut dx0, mut dw0, mut db0) = (
                        vec![f32::NAN; g.input_len()],
                        uniform(g.weight_len(), 5, 1.0),
                        uniform(g.out_channels, 6, 1.0),
                    );
                    let (mut dx, mut dw, mut db) =
                        (vec![f32::NAN; g.input_len()], dw0.clone(), db0.clone());
                    backward_unfolded(&x, &w, &dy, Some(&mut dx0), &mut dw0, Some(&mut db0), g);
                    let done =
                        winograd::backward(&x, &w, &dy, Some(&mut dx), &mut dw, Some(&mut db), g);
                    assert!(done, "{isa} case {ci}");
                    for (what, got, want) in
                        [("dx", &dx, &dx0), ("dw", &dw, &dw0), ("db", &db, &db0)]
                    {
                        let e = max_rel(got, want);
                        // dW sums up to 7,056 products per element (9 samples of 28×28). Below
                        // the best level the products are `gemm::portable`'s, which sums them
                        // one by one: each path lands ~6e-5 from the f64 sums. (Its split used
                        // to run on pool threads at the best level: helpers now take the
                        // caller's.) At the best level 4.1e-5 with the pool at 3 threads (set
                        // by gemm's split test running alongside) and a transposed operand
                        // copied as stored (`gemm::sgemm`).
                        let tol = match what {
                            "dw" if isa != crate::gemm::best_level() => 2e-4,
                            "dw" => 6e-5,
                            _ => 1e-5,
                        };
                        assert!(e < tol, "{isa} case {ci} {what}: {e}");
                    }
                }
            });
        }
    }

    #[test]
    fn winograd_serves_wide_layers_on_large_planes() {
        let g =
            |c: usize, hw: usize| geometry(1, c, (hw, hw), c, (3, 3), (1, 1), (1, 1), (1, 1), 1);
        assert!(winograd::applies(&g(48, 24)) && winograd::applies(&g(512, 56)));
        assert!(!winograd::applies(&g(47, 24)) && !winograd::applies(&g(48, 23)));
        let other = geometry(1, 64, (28, 28), 64, (3, 3), (2, 2), (1, 1), (1, 1), 1);
        assert!(!winograd::applies(&other));
        // Through the public functions, against the im2col path.
        let g = geometry(2, 48, (24, 25), 50, (3, 3), (1, 1), (1, 1), (1, 1), 1);
        assert!(winograd::applies(&g));
        let x = uniform(g.input_len(), 1, 1.0);
        let w = uniform(g.weight_len(), 2, 0.2);
        let dy = uniform(g.output_len(), 3, 1.0);
        let (mut y, mut want) = (vec![0.0; g.output_len()], vec![0.0; g.output_len()]);
        conv2d_forward(&x, &w, None, &mut y, &g);
        forward_unfolded(&x, &w, None, &mut want, &g);
        assert!(max_rel(&y, &want) < 1e-5);
        let (mut dx, mut dw) = (vec![0.0; g.input_len()], vec![0.0; g.weight_len()]);
        let (mut dx0, mut dw0) = (vec![0.0; g.input_len()], vec![0.0; g.weight_len()]);
        conv2d_backward(&x, &w, &dy, Some(&mut dx), &mut dw, None, &g);
        backward_unfolded(&x, &w, &dy, Some(&mut dx0), &mut dw0, None, &g);
        assert!(max_rel(&dx, &dx0) < 1e-5 && max_rel(&dw, &dw0) < 4e-5);
    }

    #[test]
    fn every_path_repeats_bit_for_bit_on_one_thread_with_reused_scratch() {
        // The second call of each runs on the first's spare buffers (stale contents).
        std::thread::spawn(|| {
            threads::set_thread_budget(Some(1));
            let cases = [
                geometry(3, 48, (24, 26), 50, (3, 3), (1, 1), (1, 1), (1, 1), 1), // Winograd
                geometry(16, 24, (2, 2), 20, (3, 3), (1, 1), (1, 1), (1, 1), 1),  // side by side
                geometry(5, 16, (1, 1), 8, (3, 3), (1, 1), (1, 1), (1, 1), 1),    // trimmed
                geometry(2, 8, (9, 7), 6, (3, 3), (2, 1), (1, 1), (1, 1), 2),     // im2col
            ];
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for g in &cases {
                let x = uniform(g.input_len(), 1, 1.0);
                let w = uniform(g.weight_len(), 2, 0.3);
                let b = uniform(g.out_channels, 3, 0.3);
                let dy = uniform(g.output_len(), 4, 1.0);
                let run = || {
                    let mut y = vec![0.0; g.output_len()];
                    conv2d_forward(&x, &w, Some(&b), &mut y, g);
                    let (mut dx, mut dw) = (vec![0.0; g.input_len()], vec![0.0; g.weight_len()]);
                    let mut db = vec![0.0; g.out_channels];
                    conv2d_backward(&x, &w, &dy, Some(&mut dx), &mut dw, Some(&mut db), g);
                    [bits(&y), bits(&dx), bits(&dw), bits(&db)]
                };
                assert_eq!(run(), run(), "{g:?}");
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn winograd_hands_nonfinite_results_to_the_im2col_path() {
        // ∞ − ∞ in the transforms would make NaN where the direct sums give ±∞.
        let g = geometry(2, 48, (24, 24), 48, (3, 3), (1, 1), (1, 1), (1, 1), 1);
        assert!(winograd::applies(&g));
        let mut x = uniform(g.input_len(), 1, 1.0);
        x[45] = f32::INFINITY;
        let w = uniform(g.weight_len(), 2, 0.5);
        let mut y = vec![0.0; g.output_len()];
        assert!(!winograd::forward(&x, &w, None, &mut y, &g));
        let mut want = vec![0.0; g.output_len()];
        forward_unfolded(&x, &w, None, &mut want, &g);
        conv2d_forward(&x, &w, None, &mut y, &g);
        assert_eq!(
            y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert!(want.iter().any(|v| v.is_infinite()));

        // A refused backward leaves the gradients as they were, for the im2col path to add to.
        let mut dy = uniform(g.output_len(), 3, 1.0);
        dy[7] = f32::NAN;
        let x = uniform(g.input_len(), 1, 1.0);
        let (mut dx, mut dw, mut db) = (
            vec![0.0; g.input_len()],
            vec![1.0; g.weight_len()],
            vec![2.0; 48],
        );
        assert!(!winograd::backward(
            &x,
            &w,
            &dy,
            Some(&mut dx),
            &mut dw,
            Some(&mut db),
            &g
        ));
        assert!(dw.iter().all(|&v| v == 1.0) && db.iter().all(|&v| v == 2.0));
        let (mut dx0, mut dw0, mut db0) = (
            vec![0.0; g.input_len()],
            vec![1.0; g.weight_len()],
            vec![2.0; 48],
        );
        backward_unfolded(&x, &w, &dy, Some(&mut dx0), &mut dw0, Some(&mut db0), &g);
        conv2d_backward(&x, &w, &dy, Some(&mut dx), &mut dw, Some(&mut db), &g);
        for (got, want) in [(&dx, &dx0), (&dw, &dw0), (&db, &db0)] {
            let bits = |v: &Vec<f32>| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(got), bits(want));
        }
    }

    #[test]
    fn bad_geometry_is_explained() {
        let g = geometry(1, 3, (4, 4), 4, (3, 3), (1, 1), (0, 0), (1, 1), 2);
        assert!(g.check().unwrap_err().contains("divisible by groups"));
        let g = geometry(1, 2, (2, 2), 2, (3, 3), (1, 1), (0, 0), (1, 1), 1);
        assert!(g
            .check()
            .unwrap_err()
            .contains("larger than the padded input"));
        let g = geometry(1, 2, (4, 4), 2, (3, 3), (0, 1), (0, 0), (1, 1), 1);
        assert!(g.check().unwrap_err().contains("stride_h"));
        // 2^16 of everything: the input and output lengths wrap around to exactly 0.
        let n = 1 << 16;
        let g = geometry(n, n, (n, n), n, (1, 1), (1, 1), (0, 0), (1, 1), n);
        assert!(g.check().unwrap_err().contains("overflow"));
    }
}
