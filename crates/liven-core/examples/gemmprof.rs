//! Times sgemm on one thread, split by liven over the pool's threads (`Par::Auto`), and split
//! by the `gemm` crate's own rayon code, interleaved round by round so that load from other
//! processes hits all three alike; prints medians. How `threads::MACS_PER_ELEMENT` (the size
//! from which a product is split) and the panel split were chosen.
//! `cargo run --release --example gemmprof -p liven-core [-- THREADS [GAP_US]]`: GAP_US of
//! busy work between products stands for the JavaScript between the kernels of a training step
//! (a gap longer than `threads::LINGER` lets the helpers park).
use liven_core::gemm::*;
use liven_core::threads;
use std::time::Instant;

fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// C = A·Bᵀ (a Linear forward) with the crate's rayon split over the pool's threads.
fn crate_split(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    threads::install(|t| {
        // SAFETY: a is m×k, b is n×k and c is m×n, row-major, exactly as the strides say.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                k as isize,
                b.as_ptr(),
                k as isize,
                1,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(t),
            )
        }
    })
}

fn main() {
    let threads: usize = std::env::args().nth(1).map_or(2, |s| s.parse().unwrap());
    let gap =
        std::time::Duration::from_micros(std::env::args().nth(2).map_or(0, |s| s.parse().unwrap()));
    threads::set_num_threads(threads);
    // Linear forwards: the 512×1024→1024, the MNIST MLP's layers at batch 64, squares.
    let shapes = [
        (512, 1024, 1024),
        (64, 256, 784),
        (64, 784, 256),
        (256, 784, 64),
        (64, 128, 256),
        (64, 256, 128),
        (128, 256, 64),
        (128, 128, 128),
        (64, 64, 256),
        (64, 128, 64),
        (32, 128, 128),
        (64, 10, 128),
        (192, 192, 192),
        (256, 256, 256),
    ];
    for (m, n, k) in shapes {
        let a = vec![0.5f32; m * k];
        let b = vec![0.25f32; n * k];
        let mut c = vec![0f32; m * n];
        let reps = if gap.is_zero() {
            (1 << 26) / (m * n * k) + 1
        } else {
            20
        };
        let mut t = [vec![], vec![], vec![]];
        for _ in 0..15 {
            for (mode, times) in t.iter_mut().enumerate() {
                let s = Instant::now();
                let mut busy = std::time::Duration::ZERO;
                for _ in 0..reps {
                    let g = Instant::now();
                    while g.elapsed() < gap {
                        std::hint::spin_loop();
                    }
                    busy += g.elapsed();
                    match mode {
                        0 | 1 => sgemm(
                            m,
                            n,
                            k,
                            1.0,
                            Operand::n(&a, k),
                            Operand::t(&b, k),
                            0.0,
                            &mut c,
                            n,
                            if mode == 0 { Par::Serial } else { Par::Auto },
                        ),
                        _ => crate_split(m, n, k, &a, &b, &mut c),
                    }
                }
                times.push((s.elapsed() - busy).as_secs_f64() / reps as f64);
            }
        }
        let [s, l, r] = t.map(med);
        let gf = |t: f64| 2.0 * (m * n * k) as f64 / t / 1e9;
        println!(
            "{m}x{n}x{k} ({:.1}M MACs): serial {:.1} us ({:.0} GF/s); liven split {:.1} us ({:.2}x); crate split {:.1} us ({:.2}x)",
            (m * n * k) as f64 / 1e6,
            s * 1e6,
            gf(s),
            l * 1e6,
            s / l,
            r * 1e6,
            s / r
        );
    }
}
