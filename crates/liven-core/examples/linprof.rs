//! The three products of a Linear layer's forward and backward, and the copy of Wᵀ that the
//! forward makes: where the time goes.
//! `cargo run --release --example linprof -p liven-core [-- ROWS IN OUT [THREADS]]`
//!
//! At one thread (the default) the figures are the thread's CPU time; at more, wall time.
use liven_core::gemm::{sgemm, Operand, Par};
use liven_core::{linear, threads};

/// This thread's CPU time in seconds (Linux): unlike the wall clock, it stops while other
/// processes hold the core, so a loaded machine still gives usable one-thread figures.
fn cpu_time() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").expect("Linux schedstat");
    s.split_whitespace().next().unwrap().parse::<f64>().unwrap() / 1e9
}

fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let (r, i, o) = if a.len() >= 3 {
        (a[0], a[1], a[2])
    } else {
        (512, 1024, 1024)
    };
    let nthreads = a.get(3).copied().unwrap_or(1);
    threads::set_num_threads(nthreads);
    let start = std::time::Instant::now();
    let now = || {
        if nthreads == 1 {
            cpu_time()
        } else {
            start.elapsed().as_secs_f64()
        }
    };
    let x: Vec<f32> = (0..r * i).map(|v| (v % 13) as f32 * 0.1 - 0.6).collect();
    let w: Vec<f32> = (0..o * i).map(|v| (v % 7) as f32 * 0.1 - 0.3).collect();
    let b = vec![0.1f32; o];
    let dy: Vec<f32> = (0..r * o).map(|v| (v % 5) as f32 * 0.1 - 0.2).collect();
    let (mut y, mut dx, mut dw, mut db) = (
        vec![0.0; r * o],
        vec![0.0; r * i],
        vec![0.0; o * i],
        vec![0.0; o],
    );
    // The copy `sgemm` makes of Wᵀ for the forward, rows padded as there.
    let ldt = o + 16;
    let mut wt = vec![0.0; i * ldt];
    let isa = liven_core::simd::active();
    let mut t = [vec![], vec![], vec![], vec![], vec![], vec![]];
    // Enough repetitions for ~100 ms per figure: schedstat advances in scheduler ticks.
    let reps = ((10usize << 30) / (r * i * o)).max(1);
    for _ in 0..5 {
        for (k, times) in t.iter_mut().enumerate() {
            let s = now();
            // The copy is ~1/20 of a product: more repetitions for as many ticks.
            let reps = if k == 5 { reps * 20 } else { reps };
            for _ in 0..reps {
                match k {
                    0 => sgemm(
                        r,
                        o,
                        i,
                        1.0,
                        Operand::n(&x, i),
                        Operand::t(&w, i),
                        0.0,
                        &mut y,
                        o,
                        Par::Auto,
                    ),
                    1 => sgemm(
                        r,
                        i,
                        o,
                        1.0,
                        Operand::n(&dy, o),
                        Operand::n(&w, i),
                        0.0,
                        &mut dx,
                        i,
                        Par::Auto,
                    ),
                    2 => sgemm(
                        o,
                        i,
                        r,
                        1.0,
                        Operand::t(&dy, o),
                        Operand::n(&x, i),
                        1.0,
                        &mut dw,
                        i,
                        Par::Auto,
                    ),
                    5 => liven_core::transpose::transpose(isa, o, i, &w, i, &mut wt, ldt),
                    3 => linear::linear_forward(&x, &w, Some(&b), &mut y, r, i, o),
                    4 => linear::linear_backward(
                        &x,
                        &w,
                        &dy,
                        Some(&mut dx),
                        &mut dw,
                        Some(&mut db),
                        r,
                        i,
                        o,
                    ),
                    _ => unreachable!(),
                }
            }
            times.push((now() - s) / reps as f64);
        }
    }
    let macs = (r * i * o) as f64;
    let names = [
        "y = x·Wᵀ",
        "dx = dy·W",
        "dW += dyᵀ·x",
        "linear_forward",
        "linear_backward",
        "Wᵀ copy",
    ];
    for (k, v) in t.into_iter().enumerate() {
        let m = med(v);
        if k == 5 {
            let gb = (2 * i * o * size_of::<f32>()) as f64 / m / 1e9;
            println!(
                "{r}x{i}->{o} {:<16} {:>9.1} us  {gb:>5.1} GB/s",
                names[k],
                m * 1e6
            );
            continue;
        }
        let gf = if k == 4 { 4.0 } else { 2.0 } * macs / m / 1e9;
        println!(
            "{r}x{i}->{o} {nthreads}T {:<16} {:>9.1} us  {gf:>5.0} GF/s",
            names[k],
            m * 1e6
        );
    }
}
