//! Times sgemm serially and split over 2 threads for square sizes: how PARALLEL_MIN_MACS was chosen.
//! `cargo run --release --example gemmprof -p liven-core`
use liven_core::gemm::*;
use std::time::Instant;
fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
fn time(threads: usize, n: usize, force: bool) -> f64 {
    liven_core::threads::set_num_threads(threads);
    let a = vec![0.5f32; n * n];
    let b = vec![0.25f32; n * n];
    let mut c = vec![0f32; n * n];
    let reps = (1 << 24) / (n * n * n) + 1;
    let mut t = vec![];
    for _ in 0..9 {
        let s = Instant::now();
        for _ in 0..reps {
            if force && threads > 1 {
                // SAFETY: the matrices are Vecs of exactly the sizes and strides passed.
                liven_core::threads::install(|t| unsafe {
                    gemm::gemm(
                        n,
                        n,
                        n,
                        c.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        a.as_ptr(),
                        1,
                        n as isize,
                        b.as_ptr(),
                        1,
                        n as isize,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::Rayon(t),
                    )
                });
            } else {
                sgemm(
                    n,
                    n,
                    n,
                    1.0,
                    Operand::n(&a, n),
                    Operand::n(&b, n),
                    0.0,
                    &mut c,
                    n,
                    Par::Serial,
                );
            }
        }
        t.push(s.elapsed().as_secs_f64() / reps as f64);
    }
    med(t)
}
fn main() {
    for n in [32, 48, 64, 96, 128, 160, 192, 256] {
        let (s, p) = (time(1, n, false), time(2, n, true));
        println!(
            "{n}^3 = {} MACs: serial {:.1} us, 2 threads {:.1} us, speed-up {:.2}",
            n * n * n,
            s * 1e6,
            p * 1e6,
            s / p
        );
    }
}
