//! Per-unit statistics of an activation layer, for the dying-ReLU monitor (`diag` in the
//! TypeScript API).
//!
//! An activation is `outer × units × inner` elements in row-major order: `[N, F]` has
//! outer = N, units = F, inner = 1; `[N, C, H, W]` has units = C (channels) and inner = H·W.
//! [`unit_stats`] makes one pass over the pre-activation `pre` and the output `y` and merges,
//! per unit, into a window accumulator `acc` of [`FIELDS`] × units `f64`s, field-major
//! (`acc[field * units + unit]`):
//!
//! | field | merged as | what |
//! | --- | --- | --- |
//! | [`ACTIVE`] | sum | pre-activations that are not `<= 0` (positive or NaN): the unit is dead while this is 0 |
//! | [`ZEROS`] | sum | outputs exactly `0` (or `-0`) |
//! | [`MAX_ABS`] | max | largest `|y|` (start at 0) |
//! | [`SUM_ABS`] | sum | `Σ |y|` |
//! | [`SUM`] | sum | `Σ y` |
//! | [`SUM_SQ`] | sum | `Σ y²` |
//! | [`MIN`], [`MAX`] | min, max | of `y` (start at +∞ and −∞) |
//! | [`SATURATED`] | sum | outputs in the flat parts of a bounded activation: `y <= lo` or `y >= hi` (none when the bounds are NaN) |
//!
//! Counts, extremes and `max |y|` are exact. Sums are taken per lane in `f32` over blocks of at
//! most 64 elements and accumulated in `f64` (see [`FLUSH`]): within about 4e-6 of the exact
//! sums, relative to the sum of magnitudes.
//! Min and max skip NaN; a NaN or infinite output shows in the sums. Every reduction uses
//! fixed lanes, so the result has the same bits at every instruction-set level and thread
//! count. `pre` and `y` may be the same slice: for ReLU, and for a LeakyReLU/PReLU whose slopes
//! are all positive, `y <= 0` exactly when `x <= 0`, and reading `y` twice costs one stream.
//!
//! [`sampled_histogram`] adds a histogram of `y` with fixed symmetric log2 bins, from at most
//! `max_samples` elements chosen by stratified sampling (one pseudo-random element in each of
//! `max_samples` equal blocks), so its cost does not grow with the activation.

use crate::multiversion;
use crate::simd;
use crate::threads::{self, GRAIN};

pub const ACTIVE: usize = 0;
pub const ZEROS: usize = 1;
pub const MAX_ABS: usize = 2;
pub const SUM_ABS: usize = 3;
pub const SUM: usize = 4;
pub const SUM_SQ: usize = 5;
pub const MIN: usize = 6;
pub const MAX: usize = 7;
pub const SATURATED: usize = 8;
/// Accumulator fields per unit.
pub const FIELDS: usize = 9;

/// Accumulator lanes: element `i` of a run goes to lane `i % LANES`; fixed, so every
/// instruction set adds in the same order.
const LANES: usize = 16;

/// Blocks of LANES elements whose sums are taken in `f32` before they are added into the `f64`
/// totals: an `f32` sum of at most FLUSH values per lane is within FLUSH·2⁻²⁴ ≈ 4e-6 of the
/// exact one (relative to the sum of magnitudes), and adding in `f32` halves the work per element.
const FLUSH: usize = 64;

/// Per-lane partial statistics of one call.
#[derive(Clone, Copy)]
struct Lanes {
    /// Pre-activations `<= 0` (a plain compare, which vectorises; `active` is the rest).
    inactive: [u32; LANES],
    zeros: [u32; LANES],
    /// Outputs `<= lo` or `>= hi`.
    saturated: [u32; LANES],
    max_abs: [f32; LANES],
    min: [f32; LANES],
    max: [f32; LANES],
    /// Sums of the current group of at most FLUSH blocks.
    part_abs: [f32; LANES],
    part: [f32; LANES],
    part_sq: [f32; LANES],
    sum_abs: [f64; LANES],
    sum: [f64; LANES],
    sum_sq: [f64; LANES],
}

impl Lanes {
    #[inline(always)]
    fn new() -> Lanes {
        Lanes {
            inactive: [0; LANES],
            zeros: [0; LANES],
            saturated: [0; LANES],
            max_abs: [0.0; LANES],
            min: [f32::INFINITY; LANES],
            max: [f32::NEG_INFINITY; LANES],
            part_abs: [0.0; LANES],
            part: [0.0; LANES],
            part_sq: [0.0; LANES],
            sum_abs: [0.0; LANES],
            sum: [0.0; LANES],
            sum_sq: [0.0; LANES],
        }
    }

    /// Adds element `p`, `v` into lane `l`; `lo`, `hi` are the saturation bounds.
    #[inline(always)]
    fn add(&mut self, l: usize, p: f32, v: f32, (lo, hi): (f32, f32)) {
        self.inactive[l] += (p <= 0.0) as u32;
        self.zeros[l] += (v == 0.0) as u32;
        self.saturated[l] += (v <= lo || v >= hi) as u32;
        let a = v.abs();
        self.max_abs[l] = if a > self.max_abs[l] {
            a
        } else {
            self.max_abs[l]
        };
        self.min[l] = if v < self.min[l] { v } else { self.min[l] };
        self.max[l] = if v > self.max[l] { v } else { self.max[l] };
        self.part_abs[l] += a;
        self.part[l] += v;
        self.part_sq[l] += v * v;
    }

    /// Adds a full block: element `l` into lane `l`. One short loop per field, each of which
    /// the compiler turns into a vector instruction or two.
    #[inline(always)]
    fn add_block(&mut self, p: &[f32; LANES], v: &[f32; LANES], (lo, hi): (f32, f32)) {
        for (n, &p) in self.inactive.iter_mut().zip(p) {
            *n += (p <= 0.0) as u32;
        }
        for (n, &v) in self.zeros.iter_mut().zip(v) {
            *n += (v == 0.0) as u32;
        }
        for (n, &v) in self.saturated.iter_mut().zip(v) {
            *n += (v <= lo || v >= hi) as u32;
        }
        for (m, &v) in self.max_abs.iter_mut().zip(v) {
            let a = v.abs();
            *m = if a > *m { a } else { *m };
        }
        for (m, &v) in self.min.iter_mut().zip(v) {
            *m = if v < *m { v } else { *m };
        }
        for (m, &v) in self.max.iter_mut().zip(v) {
            *m = if v > *m { v } else { *m };
        }
        for (s, &v) in self.part_abs.iter_mut().zip(v) {
            *s += v.abs();
        }
        for (s, &v) in self.part.iter_mut().zip(v) {
            *s += v;
        }
        for (s, &v) in self.part_sq.iter_mut().zip(v) {
            *s += v * v;
        }
    }

    /// Moves the `f32` partial sums into the `f64` totals.
    #[inline(always)]
    fn flush(&mut self) {
        for l in 0..LANES {
            self.sum_abs[l] += self.part_abs[l] as f64;
            self.sum[l] += self.part[l] as f64;
            self.sum_sq[l] += self.part_sq[l] as f64;
        }
        self.part_abs = [0.0; LANES];
        self.part = [0.0; LANES];
        self.part_sq = [0.0; LANES];
    }

    /// Adds `pre[i]`, `y[i]` into lane `i % LANES`, flushing every FLUSH blocks and at the end.
    #[inline(always)]
    fn add_run(&mut self, pre: &[f32], y: &[f32], bounds: (f32, f32)) {
        for (pg, yg) in pre.chunks(FLUSH * LANES).zip(y.chunks(FLUSH * LANES)) {
            let mut p_chunks = pg.chunks_exact(LANES);
            let mut y_chunks = yg.chunks_exact(LANES);
            for (p, v) in (&mut p_chunks).zip(&mut y_chunks) {
                self.add_block(p.try_into().unwrap(), v.try_into().unwrap(), bounds);
            }
            let tail = p_chunks.remainder().iter().zip(y_chunks.remainder());
            for (l, (&p, &v)) in tail.enumerate() {
                self.add(l, p, v, bounds);
            }
            self.flush();
        }
    }

    /// Lanes `range` folded, in lane order, into the statistics of one unit that has `count`
    /// elements in them (after the last flush).
    fn fold(&self, range: std::ops::Range<usize>, count: usize) -> [f64; FIELDS] {
        let mut s = [0.0; FIELDS];
        s[ACTIVE] = count as f64;
        s[MIN] = f64::INFINITY;
        s[MAX] = f64::NEG_INFINITY;
        for l in range {
            s[ACTIVE] -= self.inactive[l] as f64;
            s[ZEROS] += self.zeros[l] as f64;
            s[SATURATED] += self.saturated[l] as f64;
            s[MAX_ABS] = s[MAX_ABS].max(self.max_abs[l] as f64);
            s[SUM_ABS] += self.sum_abs[l];
            s[SUM] += self.sum[l];
            s[SUM_SQ] += self.sum_sq[l];
            s[MIN] = s[MIN].min(self.min[l] as f64);
            s[MAX] = s[MAX].max(self.max[l] as f64);
        }
        s
    }
}

multiversion! {
    /// One unit of a layout with `inner > 1`: its run of `inner` elements in each of `outer`
    /// samples, `stride` apart, starting at `start`.
    #[allow(clippy::too_many_arguments)]
    fn unit_lanes(pre: &[f32], y: &[f32], start: usize, stride: usize, inner: usize, outer: usize, bounds: (f32, f32)) -> Lanes {
        let mut lanes = Lanes::new();
        for n in 0..outer {
            let r = n * stride + start..n * stride + start + inner;
            lanes.add_run(&pre[r.clone()], &y[r], bounds);
        }
        lanes
    }
}

/// Rows the column path takes at a time: few enough that their cache lines stay in L1 while
/// one block of LANES units is updated (rows of a wide layer are far apart), many enough that
/// a block's accumulators, loaded once, serve several rows.
const ROW_GROUP: usize = 8;

multiversion! {
    /// Blocks of LANES adjacent units of an `[outer, units]` layout (inner = 1), one unit per
    /// lane, starting at unit `col0`: `blocks[b]` holds units `col0 + b·LANES ..`. Rows are
    /// read in order, ROW_GROUP at a time, and the sums flushed every FLUSH rows.
    #[allow(clippy::too_many_arguments)]
    fn column_lanes(pre: &[f32], y: &[f32], col0: usize, units: usize, outer: usize, blocks: &mut [Lanes], bounds: (f32, f32)) {
        for flush_group in (0..outer).step_by(FLUSH) {
            let flush_end = outer.min(flush_group + FLUSH);
            for group in (flush_group..flush_end).step_by(ROW_GROUP) {
                let rows = group..flush_end.min(group + ROW_GROUP);
                for (b, lanes) in blocks.iter_mut().enumerate() {
                    let col = col0 + b * LANES;
                    let width = LANES.min(units - col);
                    if width == LANES {
                        // A local copy lives in registers over the rows; the slice element would
                        // be stored back after every row.
                        let mut local = *lanes;
                        for n in rows.clone() {
                            let r = n * units + col..n * units + col + LANES;
                            local.add_block(pre[r.clone()].try_into().unwrap(), y[r].try_into().unwrap(), bounds);
                        }
                        *lanes = local;
                    } else {
                        for n in rows.clone() {
                            let r = n * units + col..n * units + col + width;
                            for (l, (&p, &v)) in pre[r.clone()].iter().zip(&y[r]).enumerate() {
                                lanes.add(l, p, v, bounds);
                            }
                        }
                    }
                }
            }
            for lanes in blocks.iter_mut() {
                lanes.flush();
            }
        }
    }
}

/// Whether `len` elements form an activation of `units` units with `inner` elements per unit
/// per sample; the error says why not.
pub fn layout_check(len: usize, units: usize, inner: usize) -> Result<(), String> {
    if units == 0 || inner == 0 {
        return Err(format!(
            "units ({units}) and inner ({inner}) must be positive"
        ));
    }
    if !len.is_multiple_of(units * inner) {
        return Err(format!(
            "{len} elements are not a whole number of [{units} units × {inner}] blocks"
        ));
    }
    Ok(())
}

/// Merges the statistics of one forward (`pre` → `y`, `[outer, units, inner]`) into the window
/// accumulator `acc` (`FIELDS × units`, field-major; see the module documentation). Outputs
/// `<= lo` or `>= hi` count as saturated; NaN bounds count none (an activation without flat parts).
#[allow(clippy::too_many_arguments)]
pub fn unit_stats(
    pre: &[f32],
    y: &[f32],
    units: usize,
    inner: usize,
    acc: &mut [f64],
    lo: f32,
    hi: f32,
) {
    assert!(
        pre.len() == y.len(),
        "unit_stats: pre has {} elements, y {}",
        pre.len(),
        y.len()
    );
    if let Err(e) = layout_check(y.len(), units, inner) {
        panic!("unit_stats: {e}");
    }
    assert!(
        acc.len() == FIELDS * units,
        "unit_stats: acc has {} elements, expected {}",
        acc.len(),
        FIELDS * units
    );
    let isa = simd::active();
    let outer = y.len() / (units * inner);
    // Per unit (inner > 1) or per block of LANES units (inner = 1): the statistics of each unit.
    // Merges one unit's statistics of this call into the window.
    let mut merge = |u: usize, s: [f64; FIELDS]| {
        let field = |f: usize| f * units + u;
        for f in [ACTIVE, ZEROS, SUM_ABS, SUM, SUM_SQ, SATURATED] {
            acc[field(f)] += s[f];
        }
        acc[field(MAX_ABS)] = acc[field(MAX_ABS)].max(s[MAX_ABS]);
        acc[field(MIN)] = acc[field(MIN)].min(s[MIN]);
        acc[field(MAX)] = acc[field(MAX)].max(s[MAX]);
    };
    if inner > 1 {
        let one = |u: usize| {
            unit_lanes(
                isa,
                pre,
                y,
                u * inner,
                units * inner,
                inner,
                outer,
                (lo, hi),
            )
            .fold(0..LANES, outer * inner)
        };
        for (u, s) in map_units(y.len(), units, one).into_iter().enumerate() {
            merge(u, s);
        }
    } else {
        // Blocks of LANES units; a thread takes a run of whole blocks (and all rows).
        let blocks = units.div_ceil(LANES);
        let per_task = if y.len() < 2 * GRAIN {
            blocks
        } else {
            blocks.div_ceil(threads::num_threads() * 2).max(1)
        };
        let task = |t: usize| {
            let first = t * per_task;
            let mut lanes: Vec<Lanes> = (first..blocks.min(first + per_task))
                .map(|_| Lanes::new())
                .collect();
            column_lanes(
                isa,
                pre,
                y,
                first * LANES,
                units,
                outer,
                &mut lanes,
                (lo, hi),
            );
            lanes
        };
        let done = map_units(y.len(), blocks.div_ceil(per_task), task);
        for (b, block) in done.iter().flatten().enumerate() {
            let col = b * LANES;
            for l in 0..LANES.min(units - col) {
                merge(col + l, block.fold(l..l + 1, outer));
            }
        }
    }
}

/// `f(i)` for `i` in `0..count`, in order; in parallel over `i` when the activation is large.
/// Each `f(i)` is independent, so the result does not depend on the thread count.
fn map_units<R: Send>(len: usize, count: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    if len < 2 * GRAIN || count < 2 {
        return (0..count).map(f).collect();
    }
    // `f` carries the caller's instruction-set level, so pool threads use it too.
    threads::map_tasks((0..count).collect(), |_, i| f(i))
}

/// Smallest and largest binary exponent with a bin of its own: |y| in [2^E, 2^(E+1)).
pub const HIST_MIN_EXP: i32 = -14;
pub const HIST_MAX_EXP: i32 = 9;
const OCTAVES: usize = (HIST_MAX_EXP - HIST_MIN_EXP + 1) as usize;
/// Bins: OCTAVES negative ones (most negative first), one for ±0, OCTAVES positive ones.
/// Magnitudes below 2^HIST_MIN_EXP go to the innermost bins, above 2^(HIST_MAX_EXP+1) (and
/// infinities) to the outermost; NaN is not counted.
pub const HIST_BINS: usize = 2 * OCTAVES + 1;

/// The histogram bin of `v`, or None for NaN.
#[inline]
pub fn histogram_bin(v: f32) -> Option<usize> {
    if v.is_nan() {
        return None;
    }
    // The biased exponent field: subnormals read as -127, infinities as 128; both clamp.
    let exp = ((v.to_bits() >> 23) & 0xff) as i32 - 127;
    let octave = (exp.clamp(HIST_MIN_EXP, HIST_MAX_EXP) - HIST_MIN_EXP) as usize;
    // Selects rather than branches: the sign of a pre-activation, and whether a ReLU output is
    // 0, are coin flips that a branch predictor would miss half the time.
    let signed = if v > 0.0 {
        OCTAVES + 1 + octave
    } else {
        OCTAVES - 1 - octave
    };
    Some(if v == 0.0 { OCTAVES } else { signed })
}

/// The element indices [`sampled_histogram`] reads for `len` elements: all of them when
/// `len <= max_samples`, else one in each of `max_samples` blocks (block `i` is
/// `[⌊i·len/max⌋, ⌊(i+1)·len/max⌋)`), at an offset drawn with xorshift32 from `seed` (0 is
/// replaced by 1) and scaled to the block by its top 16 bits. No division per sample.
pub fn sample_indices(len: usize, max_samples: usize, seed: u32) -> impl Iterator<Item = usize> {
    let all = len <= max_samples;
    let count = if all { len } else { max_samples };
    let (q, r) = (
        len.checked_div(count).unwrap_or(0),
        len.checked_rem(count).unwrap_or(0),
    );
    let mut s = if seed == 0 { 1 } else { seed };
    let (mut start, mut rem) = (0usize, 0usize);
    (0..count).map(move |i| {
        if all {
            return i;
        }
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        // The block's width: q, plus 1 where the remainder carries over.
        rem += r;
        let width = q + usize::from(rem >= count);
        if rem >= count {
            rem -= count;
        }
        let k = start + (((s >> 16) as u64 * width as u64) >> 16) as usize;
        start += width;
        k
    })
}

/// Adds one count per sampled element of `y` to its bin of `hist` (`HIST_BINS` entries).
pub fn sampled_histogram(y: &[f32], max_samples: usize, seed: u32, hist: &mut [f64]) {
    assert!(
        hist.len() == HIST_BINS,
        "sampled_histogram: hist has {} elements, expected {HIST_BINS}",
        hist.len()
    );
    // Four count tables in turn: ReLU outputs pile into the zero bin, and one table would make
    // every increment wait for the previous one.
    let mut counts = [[0u32; HIST_BINS]; 4];
    for (j, i) in sample_indices(y.len(), max_samples, seed).enumerate() {
        if let Some(b) = histogram_bin(y[i]) {
            counts[j & 3][b] += 1;
        }
    }
    for (b, h) in hist.iter_mut().enumerate() {
        *h += counts.iter().map(|c| c[b] as f64).sum::<f64>();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::{supported, with_isa, Isa};

    fn sample(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                match i % 89 {
                    3 => 0.0,
                    7 => -0.0,
                    _ => ((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.5,
                }
            })
            .collect()
    }

    fn relu(x: &[f32]) -> Vec<f32> {
        x.iter().map(|&v| if 0.0 > v { 0.0 } else { v }).collect()
    }

    /// The statistics element by element, in f64.
    fn reference(
        pre: &[f32],
        y: &[f32],
        units: usize,
        inner: usize,
        (lo, hi): (f32, f32),
    ) -> Vec<f64> {
        let mut acc = fresh(units);
        for (i, (&p, &v)) in pre.iter().zip(y).enumerate() {
            let u = (i / inner) % units;
            let at = |f: usize| f * units + u;
            acc[at(ACTIVE)] += if p <= 0.0 { 0.0 } else { 1.0 };
            acc[at(ZEROS)] += if v == 0.0 { 1.0 } else { 0.0 };
            acc[at(SATURATED)] += if v <= lo || v >= hi { 1.0 } else { 0.0 };
            acc[at(MAX_ABS)] = acc[at(MAX_ABS)].max(v.abs() as f64);
            acc[at(SUM_ABS)] += v.abs() as f64;
            acc[at(SUM)] += v as f64;
            acc[at(SUM_SQ)] += v as f64 * v as f64;
            acc[at(MIN)] = acc[at(MIN)].min(v as f64);
            acc[at(MAX)] = acc[at(MAX)].max(v as f64);
        }
        acc
    }

    fn fresh(units: usize) -> Vec<f64> {
        let mut acc = vec![0.0; FIELDS * units];
        acc[MIN * units..(MIN + 1) * units].fill(f64::INFINITY);
        acc[MAX * units..(MAX + 1) * units].fill(f64::NEG_INFINITY);
        acc
    }

    fn close(got: &[f64], want: &[f64], units: usize, what: &str) {
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            let f = i / units;
            // Sums: within 1e-5 of the sum of magnitudes (Σ|y| for Σy, itself for Σy²).
            let scale = match f {
                SUM_ABS | SUM => want[SUM_ABS * units + i % units],
                _ => w.abs(),
            };
            let ok = if [SUM_ABS, SUM, SUM_SQ].contains(&f) {
                (g - w).abs() <= 1e-5 * scale.max(1e-30)
            } else {
                g == w
            };
            assert!(
                ok,
                "{what}: field {f} unit {} is {g}, expected {w}",
                i % units
            );
        }
    }

    /// (outer, units, inner): [N, F] with widths around the lane count, [N, C, H, W], and
    /// sizes past the parallel threshold in both layouts.
    const LAYOUTS: [(usize, usize, usize); 8] = [
        (1, 1, 1),
        (5, 15, 1),
        (3, 16, 1),
        (7, 37, 1),
        (2, 3, 17),
        (4, 5, 49),
        (300, 300, 1),
        (6, 9, GRAIN / 3),
    ];

    #[test]
    fn unit_stats_match_the_definitions_at_every_level() {
        for isa in supported() {
            with_isa(isa, || {
                for (outer, units, inner) in LAYOUTS {
                    let x = sample(outer * units * inner, 1 + units as u64);
                    let y = relu(&x);
                    let mut acc = fresh(units);
                    // ReLU's outputs counted as saturated at 0 and from 1.5 up.
                    let bounds = (0.0, 1.5);
                    unit_stats(&x, &y, units, inner, &mut acc, bounds.0, bounds.1);
                    let what = format!("{isa} {outer}×{units}×{inner}");
                    close(&acc, &reference(&x, &y, units, inner, bounds), units, &what);
                    // Merging a second call adds to the window.
                    unit_stats(&x, &y, units, inner, &mut acc, bounds.0, bounds.1);
                    let mut twice = reference(&x, &y, units, inner, bounds);
                    for f in [ACTIVE, ZEROS, SUM_ABS, SUM, SUM_SQ, SATURATED] {
                        for v in &mut twice[f * units..(f + 1) * units] {
                            *v *= 2.0;
                        }
                    }
                    close(&acc, &twice, units, &format!("{what}, twice"));
                }
            });
        }
    }

    #[test]
    fn unit_stats_are_bit_identical_across_levels() {
        let (outer, units, inner) = (8, 6, GRAIN / 2);
        let x = sample(outer * units * inner, 9);
        let run = || {
            let mut acc = fresh(units);
            unit_stats(&x, &x, units, inner, &mut acc, -1.0, 1.0);
            acc
        };
        let reference = with_isa(Isa::Scalar, run);
        for isa in supported() {
            let got = with_isa(isa, run);
            assert!(
                got.iter()
                    .zip(&reference)
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{isa}"
            );
        }
    }

    #[test]
    fn a_unit_is_active_only_where_its_pre_activation_is_not_at_most_zero() {
        // Unit 0 negative everywhere, unit 1 positive once, unit 2 zero and NaN.
        let pre = [-1.0, -1.0, 0.0, -2.0, 3.0, f32::NAN, -0.0, -1.0, -0.0];
        let y = relu(&pre);
        let mut acc = fresh(3);
        unit_stats(&pre, &y, 3, 1, &mut acc, f32::NAN, f32::NAN);
        assert_eq!(&acc[ACTIVE * 3..ACTIVE * 3 + 3], &[0.0, 1.0, 1.0]);
        assert!(acc[SUM * 3 + 2].is_nan());
        // ReLU's output can stand in for its input.
        let mut from_y = fresh(3);
        unit_stats(&y, &y, 3, 1, &mut from_y, f32::NAN, f32::NAN);
        assert_eq!(&from_y[ACTIVE * 3..ACTIVE * 3 + 3], &[0.0, 1.0, 1.0]);
    }

    #[test]
    fn saturated_counts_outputs_at_or_beyond_either_bound_and_none_for_nan_bounds() {
        // Two units of a sigmoid-like layer with bounds (0.01, 0.99); NaN is never saturated.
        let y = [0.01, 0.5, 0.995, 0.99, 0.0, f32::NAN, 0.011, 1.0];
        let mut acc = fresh(2);
        unit_stats(&y, &y, 2, 1, &mut acc, 0.01, 0.99);
        assert_eq!(&acc[SATURATED * 2..SATURATED * 2 + 2], &[3.0, 2.0]);
        let mut none = fresh(2);
        unit_stats(&y, &y, 2, 1, &mut none, f32::NAN, f32::NAN);
        assert_eq!(&none[SATURATED * 2..SATURATED * 2 + 2], &[0.0, 0.0]);
    }

    #[test]
    #[should_panic(expected = "not a whole number")]
    fn unit_stats_reject_a_layout_that_does_not_divide() {
        let mut acc = fresh(3);
        unit_stats(&[0.0; 10], &[0.0; 10], 3, 1, &mut acc, f32::NAN, f32::NAN);
    }

    #[test]
    fn histogram_bins_are_octaves_around_a_zero_bin() {
        let zero = OCTAVES;
        assert_eq!(histogram_bin(0.0), Some(zero));
        assert_eq!(histogram_bin(-0.0), Some(zero));
        assert_eq!(histogram_bin(f32::NAN), None);
        assert_eq!(
            histogram_bin(1.0),
            Some(zero + 1 + (0 - HIST_MIN_EXP) as usize)
        );
        assert_eq!(histogram_bin(1.99), histogram_bin(1.0));
        assert_eq!(histogram_bin(2.0), Some(histogram_bin(1.0).unwrap() + 1));
        assert_eq!(
            histogram_bin(-1.5),
            Some(zero - 1 - (0 - HIST_MIN_EXP) as usize)
        );
        assert_eq!(histogram_bin(1e-30), Some(zero + 1));
        assert_eq!(histogram_bin(f32::MIN_POSITIVE / 4.0), Some(zero + 1));
        assert_eq!(histogram_bin(-1e-30), Some(zero - 1));
        assert_eq!(histogram_bin(f32::INFINITY), Some(HIST_BINS - 1));
        assert_eq!(histogram_bin(f32::NEG_INFINITY), Some(0));
    }

    #[test]
    fn sampling_takes_everything_or_one_per_block() {
        let all: Vec<_> = sample_indices(10, 16, 5).collect();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        let len = 1000;
        let some: Vec<_> = sample_indices(len, 64, 5).collect();
        assert_eq!(some.len(), 64);
        for (i, &k) in some.iter().enumerate() {
            assert!(k >= i * len / 64 && k < (i + 1) * len / 64);
        }
        let y = sample(len, 3);
        let mut hist = vec![0.0; HIST_BINS];
        sampled_histogram(&y, 64, 5, &mut hist);
        assert_eq!(hist.iter().sum::<f64>(), 64.0);
    }
}

#[cfg(test)]
mod timing {
    use super::*;
    use crate::simd::{supported, with_isa};

    /// The fastest of many short batches: on a loaded machine the minimum is the best estimate.
    fn best(mut f: impl FnMut()) -> f64 {
        (0..300)
            .map(|_| {
                let t0 = std::time::Instant::now();
                for _ in 0..10 {
                    f();
                }
                t0.elapsed().as_secs_f64() / 10.0
            })
            .fold(f64::INFINITY, f64::min)
    }

    #[test]
    #[ignore]
    fn time_unit_stats() {
        for (outer, units, inner) in [
            (256, 1024, 1),
            (64, 16, 784),
            (64, 32, 196),
            (128, 64, 1024),
        ] {
            let n = outer * units * inner;
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
                .collect();
            for isa in supported() {
                with_isa(isa, || {
                    let mut acc = vec![0.0; FIELDS * units];
                    let mut y = vec![0.0; n];
                    let dt =
                        best(|| unit_stats(&x, &x, units, inner, &mut acc, f32::NAN, f32::NAN));
                    let dr = best(|| crate::activation::relu_forward(&x, &mut y));
                    let mut hist = vec![0.0; HIST_BINS];
                    let dh = best(|| sampled_histogram(&y, 1024, 7, &mut hist));
                    println!("  histogram of 1024: {:.2} us", dh * 1e6);
                    println!(
                        "{outer}x{units}x{inner} {isa}: stats {:.2} us ({:.3} ns/elem), relu {:.2} us",
                        dt * 1e6,
                        dt * 1e9 / n as f64,
                        dr * 1e6
                    );
                });
            }
        }
    }
}
