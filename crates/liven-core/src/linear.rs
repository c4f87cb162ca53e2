//! Linear (fully connected) layer: y = x·Wᵀ + b, with x `[rows, in]`, W `[out, in]` (PyTorch's
//! layout), b `[out]`. `rows` is the product of every leading dimension of the input.

use crate::gemm::{sgemm, Operand, Par};

fn check_len(kernel: &str, what: &str, got: usize, want: usize) {
    assert!(
        got == want,
        "{kernel}: {what} has {got} elements, expected {want}"
    );
}

fn check(kernel: &str, x: usize, w: usize, bias: Option<usize>, rows: usize, i: usize, o: usize) {
    check_len(kernel, "x", x, rows * i);
    check_len(kernel, "weight", w, o * i);
    if let Some(b) = bias {
        check_len(kernel, "bias", b, o);
    }
}

/// y `[rows, out]` = x `[rows, in]` · weightᵀ + bias.
pub fn linear_forward(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    rows: usize,
    in_features: usize,
    out_features: usize,
) {
    let (r, i, o) = (rows, in_features, out_features);
    check(
        "linear_forward",
        x.len(),
        weight.len(),
        bias.map(<[f32]>::len),
        r,
        i,
        o,
    );
    check_len("linear_forward", "y", y.len(), r * o);
    // The bias goes in first and the product is added to it (beta = 1): one pass over y.
    let beta = match bias {
        Some(b) => {
            for row in y.chunks_exact_mut(o) {
                row.copy_from_slice(b);
            }
            1.0
        }
        None => 0.0,
    };
    sgemm(
        r,
        o,
        i,
        1.0,
        Operand::n(x, i),
        Operand::t(weight, i),
        beta,
        y,
        o,
        Par::Auto,
    );
}

/// Writes dx = dy·W (when `dx` is given: training skips the input's gradient) and adds
/// dW += dyᵀ·x and db += Σ_rows dy.
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    rows: usize,
    in_features: usize,
    out_features: usize,
) {
    let (r, i, o) = (rows, in_features, out_features);
    let kernel = "linear_backward";
    check(
        kernel,
        x.len(),
        weight.len(),
        dbias.as_ref().map(|b| b.len()),
        r,
        i,
        o,
    );
    check_len(kernel, "gradOutput", dy.len(), r * o);
    if let Some(dx) = &dx {
        check_len(kernel, "gradInput", dx.len(), r * i);
    }
    check_len(kernel, "gradWeight", dweight.len(), o * i);
    if let Some(dx) = dx {
        sgemm(
            r,
            i,
            o,
            1.0,
            Operand::n(dy, o),
            Operand::n(weight, i),
            0.0,
            dx,
            i,
            Par::Auto,
        );
    }
    sgemm(
        o,
        i,
        r,
        1.0,
        Operand::t(dy, o),
        Operand::n(x, i),
        1.0,
        dweight,
        i,
        Par::Auto,
    );
    if let Some(db) = dbias {
        // Row by row, so the sum vectorises across features and is the same on every level.
        for row in dy.chunks_exact(o) {
            for (b, g) in db.iter_mut().zip(row) {
                *b += g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd;
    use crate::testutil::uniform;

    fn close(got: &[f32], want: &[f64], what: &str) {
        for (idx, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (*g as f64 - w).abs() <= 1e-4 * (1.0 + w.abs()),
                "{what}[{idx}]: {g} vs {w}"
            );
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    #[should_panic(expected = "linear_backward: gradInput has 5 elements, expected 6")]
    fn a_given_input_gradient_must_have_the_input_length() {
        let (mut dx, mut dw) = (vec![0.0; 5], vec![0.0; 6]);
        linear_backward(
            &[0.0; 6],
            &[0.0; 6],
            &[0.0; 4],
            Some(&mut dx),
            &mut dw,
            None,
            2,
            3,
            2,
        );
    }

    #[test]
    fn matches_the_definition_at_every_level() {
        for isa in simd::supported() {
            simd::with_isa(isa, || {
                for &(r, i, o) in &[(1, 1, 1), (3, 5, 2), (37, 19, 23), (128, 160, 96)] {
                    let (x, w, b, dy) = (
                        uniform(r * i, 1, 0.5),
                        uniform(o * i, 2, 0.5),
                        uniform(o, 3, 0.5),
                        uniform(r * o, 4, 0.5),
                    );
                    let mut y = vec![f32::NAN; r * o];
                    linear_forward(&x, &w, Some(&b), &mut y, r, i, o);
                    let want: Vec<f64> = (0..r * o)
                        .map(|idx| {
                            let (n, j) = (idx / o, idx % o);
                            b[j] as f64
                                + (0..i)
                                    .map(|p| x[n * i + p] as f64 * w[j * i + p] as f64)
                                    .sum::<f64>()
                        })
                        .collect();
                    close(&y, &want, &format!("{isa} y"));

                    let mut dx = vec![f32::NAN; r * i];
                    let mut dw = vec![1.0; o * i];
                    let mut db = vec![1.0; o];
                    linear_backward(&x, &w, &dy, Some(&mut dx), &mut dw, Some(&mut db), r, i, o);
                    let want_dx: Vec<f64> = (0..r * i)
                        .map(|idx| {
                            let (n, p) = (idx / i, idx % i);
                            (0..o)
                                .map(|j| dy[n * o + j] as f64 * w[j * i + p] as f64)
                                .sum()
                        })
                        .collect();
                    let want_dw: Vec<f64> = (0..o * i)
                        .map(|idx| {
                            let (j, p) = (idx / i, idx % i);
                            1.0 + (0..r)
                                .map(|n| dy[n * o + j] as f64 * x[n * i + p] as f64)
                                .sum::<f64>()
                        })
                        .collect();
                    let want_db: Vec<f64> = (0..o)
                        .map(|j| 1.0 + (0..r).map(|n| dy[n * o + j] as f64).sum::<f64>())
                        .collect();
                    close(&dx, &want_dx, &format!("{isa} dx"));
                    close(&dw, &want_dw, &format!("{isa} dw"));
                    close(&db, &want_db, &format!("{isa} db"));

                    // Without the input gradient: the same parameter gradients, bit for bit.
                    let (mut dw2, mut db2) = (vec![1.0; o * i], vec![1.0; o]);
                    linear_backward(&x, &w, &dy, None, &mut dw2, Some(&mut db2), r, i, o);
                    assert_eq!(bits(&dw2), bits(&dw), "{isa} dw without dx");
                    assert_eq!(bits(&db2), bits(&db), "{isa} db without dx");

                    let mut y2 = vec![0.0; r * o];
                    linear_forward(&x, &w, None, &mut y2, r, i, o);
                    for (idx, v) in y2.iter().enumerate() {
                        let diff = y[idx] - b[idx % o];
                        assert!((v - diff).abs() <= 1e-4, "{isa} no bias");
                    }
                }
            });
        }
    }
}
