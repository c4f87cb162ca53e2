//! Winograd's F(2×2, 3×3) for 3×3 convolutions with stride 1 and padding 1 (ResNet's and
//! VGG's): 16 multiplications per 2×2 output tile and channel pair instead of 36.
//!
//! Each 4×4 input tile d (tiles 2 apart, overlapping by 2) becomes V = Bᵀ·d·B, each 3×3 filter
//! g becomes U = G·g·Gᵀ, and a 2×2 output tile is Aᵀ·(Σ_c U ⊙ V)·A. The sum over channels at
//! each of the 16 positions ξ is a matrix product on [`sgemm`]: M_ξ [out × tiles] =
//! U_ξ [out × in] · V_ξ [in × tiles], over the tiles of several samples at once.
//!
//! - The input gradient is the same convolution of dy with the filters flipped and their
//!   channels swapped (padding 1 is its own transpose for a 3×3 kernel).
//! - The weight gradient follows from the same algebra: dU_ξ = Σ_tiles (A·dY·Aᵀ)_ξ · V_ξ, one
//!   product per position with the tiles as the inner dimension, and dg = Gᵀ·dU·G.
//!
//! The transforms add and subtract neighbouring inputs, so an infinity or NaN spreads where
//! the direct convolution would not (∞ − ∞), and values near f32's limit can overflow where
//! it would not: every pass checks its results and returns `false` when one is not finite,
//! and the caller recomputes it by the im2col path (which then defines the result).
//! Rounding: inputs and outputs pass through a few additions and halvings; on the tests'
//! random data the results stay within 1e-5 relative of the direct sums' (F(4×4, 3×3) would
//! need 36 positions but loses about 1e-4: not used).

// The transforms take their scratch from the caller (one allocation per chunk, not per plane)
// and the shapes as separate numbers: more arguments than clippy's default.
#![allow(clippy::too_many_arguments)]

use super::{add_bias_gradient, all_finite, optional_chunks, Conv2dGeometry};
use crate::gemm::{sgemm, Operand, Par};
use crate::scratch::{padded_stride, Scratch};
use crate::simd;
use crate::threads;

/// Whether `g` is a convolution this path computes.
pub(super) fn applies(g: &Conv2dGeometry) -> bool {
    (g.kernel_h, g.kernel_w, g.stride_h, g.stride_w) == (3, 3, 1, 1)
        && (g.pad_h, g.pad_w, g.dilation_h, g.dilation_w, g.groups) == (1, 1, 1, 1, 1)
        && g.height * g.width >= MIN_PLANE
        && g.in_channels.min(g.out_channels) >= MIN_CHANNELS
}

/// Planes smaller than this take the im2col path, and so do layers with fewer channels on
/// either side: the transforms cost per plane and the 16 products per tile are thin. One
/// thread, forward / backward, Winograd against im2col (`examples/convprof.rs`; batch 16
/// unless said; a loaded machine, so ±10%):
///
/// | layer | Winograd | im2col |
/// | --- | --- | --- |
/// | 64→64 on 28×28, batch 32 | 8.5 / 18.2 ms | 10.0 / 21.3 ms |
/// | 64→64 on 56×56, batch 8 | 7.5 / 19.2 ms | 9.8 / 21.4 ms |
/// | 128→128 on 28×28 | 21.5 / 54.2 ms | 26.9 / 61.7 ms |
/// | 48→48 on 28×28, batch 32 | 8.2 / 23.3 ms | 10.0 / 26.8 ms |
/// | 32→32 on 28×28, batch 32 | 3.5 / 8.4 ms | 3.1 / 8.7 ms |
/// | 1→8 on 28×28, batch 64 | 0.68 / 1.54 ms | 0.11 / 0.22 ms |
/// | 128→128 on 14×14 | 4.0 / 9.7 ms | 4.7 / 9.5 ms |
/// | 64→64 on 8×8 | 0.68 / 1.71 ms | 0.52 / 1.11 ms |
/// | 256→256 on 7×7 (odd sides waste a quarter of the tiles) | 8.0 / 14.6 ms | 4.7 / 9.6 ms |
const MIN_PLANE: usize = 24 * 24;
const MIN_CHANNELS: usize = 48;

/// Tiles of one plane: `th` rows of `tw`, each 2×2 outputs (the last row or column half
/// empty when the plane's side is odd).
#[derive(Clone, Copy)]
struct Tiles {
    h: usize,
    w: usize,
    th: usize,
    tw: usize,
}

impl Tiles {
    fn of(g: &Conv2dGeometry) -> Self {
        let (h, w) = (g.height, g.width);
        Tiles {
            h,
            w,
            th: h.div_ceil(2),
            tw: w.div_ceil(2),
        }
    }

    /// Columns per plane in the transformed matrices: each row of tiles and one unused.
    fn per_plane(&self) -> usize {
        self.th * (self.tw + 1)
    }
}

/// Samples whose tiles share one set of products: at least `MIN_COLUMNS` tiles, while the 16
/// transformed matrices of the wider side stay within the budget.
fn samples_per_product(g: &Conv2dGeometry, t: &Tiles) -> usize {
    let tiles = t.per_plane();
    let wide = g.in_channels.max(g.out_channels);
    let wanted = super::MIN_COLUMNS.div_ceil(tiles);
    let fits = (super::COL_BUDGET / (16 * wide * tiles)).max(1);
    let per = wanted.min(fits).clamp(1, g.batch);
    g.batch.div_ceil(g.batch.div_ceil(per))
}

/// G·(a, b, c) for G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1].
fn expand([a, b, c]: [f32; 3]) -> [f32; 4] {
    [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c]
}

/// Gᵀ·(a, b, c, d).
fn reduce([a, b, c, d]: [f32; 4]) -> [f32; 3] {
    [a + 0.5 * (b + c), 0.5 * (b - c), 0.5 * (b + c) + d]
}

/// U = G·g·Gᵀ for every filter: `w` `[rows, cols, 3, 3]` (filter (r, c) at r·cols + c) into
/// `u` `[16, rows, cols]`. With `flip` the filters are read rotated by 180° and with rows and
/// columns swapped (`w` `[cols, rows, 3, 3]`): the input gradient's filters.
fn transform_weights(w: &[f32], rows: usize, cols: usize, flip: bool, u: &mut [f32]) {
    let plane = rows * cols;
    for r in 0..rows {
        for c in 0..cols {
            let f = if flip { c * rows + r } else { r * cols + c };
            let src = &w[f * 9..f * 9 + 9];
            let g = |i: usize, j: usize| {
                if flip {
                    src[8 - 3 * i - j]
                } else {
                    src[3 * i + j]
                }
            };
            // G·g column by column (gg[j][i] = (G·g)[i][j]), then ·Gᵀ row by row.
            let gg: [[f32; 4]; 3] = std::array::from_fn(|j| expand([g(0, j), g(1, j), g(2, j)]));
            for i in 0..4 {
                let row = expand([gg[0][i], gg[1][i], gg[2][i]]);
                for (j, v) in row.into_iter().enumerate() {
                    u[(4 * i + j) * plane + r * cols + c] = v;
                }
            }
        }
    }
}

/// dg = Gᵀ·dU·G for every filter, added into `dw` `[rows, cols, 3, 3]` from `du` `[16, rows, cols]`.
fn add_weight_gradient(du: &[f32], rows: usize, cols: usize, dw: &mut [f32]) {
    let plane = rows * cols;
    for (f, dg) in dw.chunks_exact_mut(9).enumerate() {
        let m = |i: usize, j: usize| du[(4 * i + j) * plane + f];
        // Gᵀ·dU column by column (q[j][i] = (Gᵀ·dU)[i][j]), then ·G row by row.
        let q: [[f32; 3]; 4] =
            std::array::from_fn(|j| reduce([m(0, j), m(1, j), m(2, j), m(3, j)]));
        for (i, out) in dg.chunks_exact_mut(3).enumerate() {
            let row = reduce([q[0][i], q[1][i], q[2][i], q[3][i]]);
            out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
        }
    }
}

/// `out[k] = f(a[k], b[k])` over the common length: a loop the compiler vectorises.
#[inline(always)]
fn zip_map(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = f(x, y);
    }
}

/// Splits a plane (`h`×`w`, shifted by `shift` rows and columns, zero elsewhere) into its four
/// quadrants of alternating rows and columns: element (r, c) of the shifted plane goes to
/// `q[(r % 2)·2 + c % 2]` at (r / 2)·`stride` + c / 2. Each quadrant holds `rows` rows. Only
/// the plane's positions are written: `q` starts zeroed and can be reused for planes of the
/// same size (the padding stays 0).
#[inline(always)]
fn quadrants(
    x: &[f32],
    h: usize,
    w: usize,
    shift: usize,
    stride: usize,
    rows: usize,
    q: &mut [f32],
) {
    let len = rows * stride;
    for (r, row) in x.chunks_exact(w).take(h).enumerate() {
        let (rr, cs) = (r + shift, shift);
        let at = (rr % 2) * 2 * len + (rr / 2) * stride;
        // Columns c with (c + shift) even go to quadrant column (c + shift) / 2 of the even one.
        let (first, second) = q[at..].split_at_mut(len);
        let (even, odd) = if cs == 0 {
            (first, second)
        } else {
            (second, first)
        };
        let mut pairs = row.chunks_exact(2);
        for (k, pair) in (&mut pairs).enumerate() {
            // c = 2k goes to column (2k + cs) / 2 = k (cs = 0 or 1) of the (cs % 2) quadrant.
            even[k] = pair[0];
            odd[k + cs] = pair[1];
        }
        if let [last] = pairs.remainder() {
            even[w / 2] = *last;
        }
    }
}

crate::multiversion! {
    /// V = Bᵀ·d·B for every tile of one plane `x` (`h`×`w`, padding 1), written to
    /// `v[ξ·xi_stride + ty·(tw + 1) + tx]`: the tiles row by row, each row followed by one
    /// unused column, so that each step is one long loop over all the plane's tiles.
    fn transform_input_run(x: &[f32], h: usize, w: usize, tw: usize, v: &mut [f32], xi_stride: usize, q: &mut [f32], hor: &mut [f32]) {
        let (th, s) = (h.div_ceil(2), tw + 1);
        let n = th * s;
        // Padded element (2ty + i, 2tx + j) of tile (ty, tx) is quadrant (i % 2, j % 2) at
        // f + (i / 2)·s + j / 2, where f = ty·s + tx.
        quadrants(x, h, w, 1, s, th + 2, q);
        let len = (th + 2) * s;
        let d = |i: usize, j: usize| &q[((i % 2) * 2 + j % 2) * len + (i / 2) * s + j / 2..][..n];
        for i in 0..4 {
            // Bᵀ along each tile row: d0 − d2, d1 + d2, d2 − d1, d1 − d3.
            let out = |j: usize| (4 * i + j) * n;
            zip_map(&mut hor[out(0)..][..n], d(i, 0), d(i, 2), |a, b| a - b);
            zip_map(&mut hor[out(1)..][..n], d(i, 1), d(i, 2), |a, b| a + b);
            zip_map(&mut hor[out(2)..][..n], d(i, 2), d(i, 1), |a, b| a - b);
            zip_map(&mut hor[out(3)..][..n], d(i, 1), d(i, 3), |a, b| a - b);
        }
        for j in 0..4 {
            // ... and down each column.
            let r = |i: usize| &hor[(4 * i + j) * n..][..n];
            let out = |i: usize| (4 * i + j) * xi_stride;
            zip_map(&mut v[out(0)..][..n], r(0), r(2), |a, b| a - b);
            zip_map(&mut v[out(1)..][..n], r(1), r(2), |a, b| a + b);
            zip_map(&mut v[out(2)..][..n], r(2), r(1), |a, b| a - b);
            zip_map(&mut v[out(3)..][..n], r(1), r(3), |a, b| a - b);
        }
    }
}

crate::multiversion! {
    /// One output plane `y` (`h`×`w`) = Aᵀ·M·A of its tiles (laid out as
    /// [`transform_input_run`] writes them) + `bias`.
    fn transform_output_run(m: &[f32], xi_stride: usize, h: usize, w: usize, tw: usize, bias: f32, y: &mut [f32], t: &mut [f32], out: &mut [f32]) {
        let (th, s) = (h.div_ceil(2), tw + 1);
        let n = th * s;
        let at = |xi: usize| &m[xi * xi_stride..][..n];
        // Aᵀ down the columns: z0 + z1 + z2 (t[j]), z1 − z2 − z3 (t[4 + j]).
        for j in 0..4 {
            let (z0, z1, z2, z3) = (at(j), at(4 + j), at(8 + j), at(12 + j));
            for (k, out) in t[j * n..(j + 1) * n].iter_mut().enumerate() {
                *out = z0[k] + z1[k] + z2[k];
            }
            for (k, out) in t[(4 + j) * n..(5 + j) * n].iter_mut().enumerate() {
                *out = z1[k] - z2[k] - z3[k];
            }
        }
        // ... and along the rows, with the bias: out[2a] left, out[2a + 1] right column.
        for a in 0..2 {
            let z = |j: usize| &t[(4 * a + j) * n..][..n];
            let (z0, z1, z2, z3) = (z(0), z(1), z(2), z(3));
            for (k, o) in out[2 * a * n..(2 * a + 1) * n].iter_mut().enumerate() {
                *o = z0[k] + z1[k] + z2[k] + bias;
            }
            for (k, o) in out[(2 * a + 1) * n..(2 * a + 2) * n].iter_mut().enumerate() {
                *o = z1[k] - z2[k] - z3[k] + bias;
            }
        }
        for (r, row) in y.chunks_exact_mut(w).take(h).enumerate() {
            let (a, base) = (r % 2, (r / 2) * s);
            let left = &out[2 * a * n + base..][..tw];
            let right = &out[(2 * a + 1) * n + base..][..tw];
            let mut pairs = row.chunks_exact_mut(2);
            for ((pair, &l), &rv) in (&mut pairs).zip(left).zip(right) {
                pair[0] = l;
                pair[1] = rv;
            }
            if let [last] = pairs.into_remainder() {
                *last = left[w / 2];
            }
        }
    }
}

crate::multiversion! {
    /// A·dY·Aᵀ for every 2×2 tile of one output-gradient plane `dy` (`h`×`w`; outside it, 0),
    /// laid out as [`transform_input_run`] writes (the unused columns get 0).
    fn transform_gradient_run(dy: &[f32], h: usize, w: usize, tw: usize, z: &mut [f32], xi_stride: usize, q: &mut [f32], hor: &mut [f32]) {
        let (th, s) = (h.div_ceil(2), tw + 1);
        let n = th * s;
        // Element (2ty + a, 2tx + b) is quadrant (a, b) at ty·s + tx.
        quadrants(dy, h, w, 0, s, th + 1, q);
        let len = (th + 1) * s;
        let d = |a: usize, b: usize| &q[(a * 2 + b) * len..][..n];
        // hor[4a + j]: A along tile row a: e, e + o, e − o, −o.
        for a in 0..2 {
            let (e, o) = (d(a, 0), d(a, 1));
            hor[4 * a * n..][..n].copy_from_slice(e);
            zip_map(&mut hor[(4 * a + 1) * n..][..n], e, o, |x, y| x + y);
            zip_map(&mut hor[(4 * a + 2) * n..][..n], e, o, |x, y| x - y);
            zip_map(&mut hor[(4 * a + 3) * n..][..n], o, o, |x, _| -x);
        }
        // A down the columns: h0, h0 + h1, h0 − h1, −h1.
        for j in 0..4 {
            let (h0, h1) = (&hor[j * n..][..n], &hor[(4 + j) * n..][..n]);
            let at = |i: usize| (4 * i + j) * xi_stride;
            z[at(0)..][..n].copy_from_slice(h0);
            zip_map(&mut z[at(1)..][..n], h0, h1, |x, y| x + y);
            zip_map(&mut z[at(2)..][..n], h0, h1, |x, y| x - y);
            zip_map(&mut z[at(3)..][..n], h1, h1, |x, _| -x);
        }
    }
}

/// Transforms the planes of `channels` channels of every sample in `x` into `v`
/// `[16, channels, ld]` (column s·tiles + tile for sample s).
fn transform_inputs(x: &[f32], t: &Tiles, channels: usize, v: &mut [f32], ld: usize) {
    let isa = simd::active();
    let (plane, tiles) = (t.h * t.w, t.per_plane());
    let (mut q, mut hor) = (
        vec![0.0; 4 * (t.th + 2) * (t.tw + 1)],
        vec![0.0; 16 * tiles],
    );
    for (s, sample) in x.chunks_exact(channels * plane).enumerate() {
        for (c, p) in sample.chunks_exact(plane).enumerate() {
            let v = &mut v[c * ld + s * tiles..];
            transform_input_run(isa, p, t.h, t.w, t.tw, v, channels * ld, &mut q, &mut hor);
        }
    }
}

/// One chunk of samples of the convolution `x` (`cin` channels) → `y` (`cout` channels) with
/// transformed filters `u` `[16, cout, cin]`: y is written.
fn convolve_chunk(
    t: &Tiles,
    cin: usize,
    cout: usize,
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    v: &mut [f32],
    m: &mut [f32],
    par: Par,
) {
    let (plane, tiles) = (t.h * t.w, t.per_plane());
    let n = x.len() / (cin * plane) * tiles;
    let ld = padded_stride(n);
    transform_inputs(x, t, cin, v, ld);
    for xi in 0..16 {
        let a = Operand::n(&u[xi * cout * cin..(xi + 1) * cout * cin], cin);
        let b = Operand::n(&v[xi * cin * ld..], ld);
        sgemm(
            cout,
            n,
            cin,
            1.0,
            a,
            b,
            0.0,
            &mut m[xi * cout * ld..],
            ld,
            par,
        );
    }
    let isa = simd::active();
    let (mut cols, mut rows) = (vec![0.0; 8 * tiles], vec![0.0; 4 * tiles]);
    for (s, sample) in y.chunks_exact_mut(cout * plane).enumerate() {
        for (o, p) in sample.chunks_exact_mut(plane).enumerate() {
            let b = bias.map_or(0.0, |b| b[o]);
            let m = &m[o * ld + s * tiles..];
            transform_output_run(
                isa,
                m,
                cout * ld,
                t.h,
                t.w,
                t.tw,
                b,
                p,
                &mut cols,
                &mut rows,
            );
        }
    }
}

/// How the batch runs ([`super::split_batch`]): `(samples per product, Some(samples per task))`
/// over the pool, or `(per, None)` for one chunk after another with split products.
fn split(g: &Conv2dGeometry, t: &Tiles, tasks_per_thread: usize) -> (usize, Option<usize>) {
    super::split_batch(
        g,
        samples_per_product(g, t),
        super::work(g),
        tasks_per_thread,
    )
}

/// y = conv(x, weight) + bias; `false` (y then undefined) when a result is not finite.
pub(super) fn forward(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    g: &Conv2dGeometry,
) -> bool {
    let t = Tiles::of(g);
    let (cin, cout) = (g.in_channels, g.out_channels);
    let mut u = Scratch::new(16 * cout * cin);
    transform_weights(weight, cout, cin, false, &mut u);
    let (per, run) = split(g, &t, super::TASKS_PER_THREAD);
    let (in_n, out_n) = (g.input_len() / g.batch, g.output_len() / g.batch);
    let len = |c: usize| 16 * c * padded_stride(per * t.per_plane());
    let chunks = |y: &mut [f32], x: &[f32], par: Par| {
        let (mut v, mut m) = (Scratch::new(len(cin)), Scratch::new(len(cout)));
        for (y_c, x_c) in y.chunks_mut(per * out_n).zip(x.chunks(per * in_n)) {
            convolve_chunk(&t, cin, cout, x_c, &u, bias, y_c, &mut v, &mut m, par);
        }
    };
    super::forward_runs(y, x, (in_n, out_n), run, chunks);
    all_finite(y)
}

/// Writes dx (when given) and adds the weight and bias gradients; `false` when a result is not
/// finite (then dx is undefined and `dweight`, `dbias` are unchanged).
pub(super) fn backward(
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    mut dx: Option<&mut [f32]>,
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    g: &Conv2dGeometry,
) -> bool {
    let t = Tiles::of(g);
    let (cin, cout, tiles) = (g.in_channels, g.out_channels, t.per_plane());
    // The input gradient's filters, and its scratch, only when it is wanted.
    let with_dx = dx.is_some();
    let mut uflip = Scratch::new(if with_dx { 16 * cin * cout } else { 0 });
    if with_dx {
        transform_weights(weight, cin, cout, true, &mut uflip);
    }
    let (per, run) = split(g, &t, 1);
    let (in_n, out_n) = (g.input_len() / g.batch, g.output_len() / g.batch);
    let len = |c: usize| 16 * c * padded_stride(per * tiles);
    let dx_len = |c: usize| if with_dx { len(c) } else { 0 };
    // One run of chunks: dx, and the run's dU [16, cout, cin] (summed over its tiles).
    let chunks = |dx: Option<&mut [f32]>, x: &[f32], dy: &[f32], par: Par| -> Scratch {
        let mut du = Scratch::zeroed(16 * cout * cin);
        let (mut vy, mut m) = (Scratch::new(dx_len(cout)), Scratch::new(dx_len(cin)));
        let (mut vx, mut z) = (Scratch::new(len(cin)), Scratch::new(len(cout)));
        let (mut qz, mut hz) = (vec![0.0; 4 * (t.th + 1) * (t.tw + 1)], vec![0.0; 8 * tiles]);
        let chunked = optional_chunks(dx, per * in_n, x.len())
            .into_iter()
            .zip(x.chunks(per * in_n))
            .zip(dy.chunks(per * out_n));
        for ((dx_c, x_c), dy_c) in chunked {
            if let Some(dx_c) = dx_c {
                convolve_chunk(
                    &t, cout, cin, dy_c, &uflip, None, dx_c, &mut vy, &mut m, par,
                );
            }
            let n = dy_c.len() / out_n * tiles;
            let ld = padded_stride(n);
            transform_inputs(x_c, &t, cin, &mut vx, ld);
            let isa = simd::active();
            for (s, sample) in dy_c.chunks_exact(out_n).enumerate() {
                for (o, p) in sample.chunks_exact(t.h * t.w).enumerate() {
                    let z = &mut z[o * ld + s * tiles..];
                    transform_gradient_run(isa, p, t.h, t.w, t.tw, z, cout * ld, &mut qz, &mut hz);
                }
            }
            for xi in 0..16 {
                let a = Operand::n(&z[xi * cout * ld..], ld);
                let b = Operand::t(&vx[xi * cin * ld..], ld);
                let du = &mut du[xi * cout * cin..(xi + 1) * cout * cin];
                sgemm(cout, cin, n, 1.0, a, b, 1.0, du, cin, par);
            }
        }
        du
    };
    let du = match run {
        Some(run) => {
            let tasks = optional_chunks(dx.as_deref_mut(), run * in_n, x.len())
                .into_iter()
                .zip(x.chunks(run * in_n))
                .zip(dy.chunks(run * out_n))
                .collect();
            let partials = threads::map_tasks(tasks, |_, ((dx_r, x_r), dy_r)| {
                chunks(dx_r, x_r, dy_r, Par::Serial)
            });
            // In run order: the result depends on the thread count, not on scheduling.
            let mut parts = partials.into_iter();
            let mut du = parts.next().expect("at least one run");
            for p in parts {
                du.iter_mut().zip(p.iter()).for_each(|(a, b)| *a += b);
            }
            du
        }
        None => chunks(dx.as_deref_mut(), x, dy, Par::Auto),
    };
    let mut dw = Scratch::zeroed(weight.len());
    add_weight_gradient(&du, cout, cin, &mut dw);
    if dx.is_some_and(|dx| !all_finite(dx)) || !all_finite(&dw) {
        return false;
    }
    dweight.iter_mut().zip(dw.iter()).for_each(|(a, b)| *a += b);
    if let Some(db) = dbias {
        add_bias_gradient(db, dy, g.height * g.width);
    }
    true
}
