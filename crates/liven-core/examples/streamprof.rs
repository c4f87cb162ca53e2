//! ReLU forward+backward on 16M floats written with streaming stores and with ordinary ones,
//! against three plain copies of 16M floats, interleaved round by round; prints medians. How
//! `stream::should_stream` was decided for AMD CPUs.
//! `cargo run --release --example streamprof -p liven-core [-- THREADS]`
use liven_core::{activation, stream, threads};
use std::time::Instant;

fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// ReLU forward then backward, each output written through `fill_blocks` with `streamed`.
fn relu(x: &[f32], g: &[f32], y: &mut [f32], dx: &mut [f32], streamed: bool) {
    stream::fill_blocks(y, streamed, |o, blk| {
        for (v, &xv) in blk.iter_mut().zip(&x[o..]) {
            *v = if xv > 0.0 { xv } else { 0.0 };
        }
    });
    stream::fill_blocks(dx, streamed, |o, blk| {
        for ((v, &xv), &gv) in blk.iter_mut().zip(&x[o..]).zip(&g[o..]) {
            *v = if xv > 0.0 { gv } else { 0.0 };
        }
    });
}

fn main() {
    threads::set_num_threads(std::env::args().nth(1).map_or(1, |s| s.parse().unwrap()));
    let n = 1 << 24;
    let x: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
    let g = vec![1.0f32; n];
    let [mut a, mut b, mut y, mut dx] = [0; 4].map(|_| vec![0.0f32; n]);
    let mut t = [vec![], vec![], vec![], vec![]];
    for _ in 0..15 {
        let s = Instant::now();
        activation::copy(&x, &mut a);
        activation::copy(&g, &mut b);
        activation::copy(&a, &mut b);
        t[0].push(s.elapsed().as_secs_f64());
        let s = Instant::now();
        activation::relu_forward(&x, &mut y);
        activation::relu_backward(&x, &g, &mut dx);
        t[1].push(s.elapsed().as_secs_f64());
        for (k, streamed) in [(2, true), (3, false)] {
            let s = Instant::now();
            relu(&x, &g, &mut y, &mut dx, streamed);
            t[k].push(s.elapsed().as_secs_f64());
        }
    }
    let [c, k, s, d] = t.map(med);
    let ms = |v: f64| format!("{:.2} ms ({:.2} of 3 copies)", v * 1e3, c / v);
    println!(
        "3 copies {:.2} ms; liven relu fwd+bwd {} (streams: {}); one thread, streamed {}; stored directly {}",
        c * 1e3,
        ms(k),
        stream::should_stream(n),
        ms(s),
        ms(d)
    );
}
