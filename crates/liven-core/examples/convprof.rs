//! Times conv2d_forward / conv2d_backward for a 3×3, padding-1 layer, to profile it (e.g. under `perf`).
//! `cargo run --release --example convprof -p liven-core -- THREADS BATCH IN_CHANNELS SIZE OUT_CHANNELS [STRIDE [REPS]]`
use liven_core::conv::*;
use std::time::Instant;
fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    liven_core::threads::set_num_threads(args[0]);
    let stride = args.get(5).copied().unwrap_or(1);
    let reps = args.get(6).copied().unwrap_or(7);
    let g = Conv2dGeometry {
        batch: args[1],
        in_channels: args[2],
        height: args[3],
        width: args[3],
        out_channels: args[4],
        kernel_h: 3,
        kernel_w: 3,
        stride_h: stride,
        stride_w: stride,
        pad_h: 1,
        pad_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        groups: 1,
    };
    let x: Vec<f32> = (0..g.input_len()).map(|i| (i % 7) as f32 * 0.1).collect();
    let w: Vec<f32> = (0..g.weight_len()).map(|i| (i % 5) as f32 * 0.1).collect();
    let b = vec![0.1f32; g.out_channels];
    let mut y = vec![0f32; g.output_len()];
    let mut dx = vec![0f32; g.input_len()];
    let mut dw = vec![0f32; g.weight_len()];
    let mut db = vec![0f32; g.out_channels];
    let macs = (g.output_len() * g.in_channels * 9) as f64;
    let mut tf = vec![];
    let mut tb = vec![];
    for _ in 0..reps {
        let s = Instant::now();
        conv2d_forward(&x, &w, Some(&b), &mut y, &g);
        tf.push(s.elapsed().as_secs_f64());
        let s = Instant::now();
        conv2d_backward(&x, &w, &y, Some(&mut dx), &mut dw, Some(&mut db), &g);
        tb.push(s.elapsed().as_secs_f64());
    }
    let (f, bw) = (med(tf), med(tb));
    println!(
        "forward {:.2} ms {:.1} GF/s; backward {:.2} ms {:.1} GF/s",
        f * 1e3,
        2.0 * macs / f / 1e9,
        bw * 1e3,
        4.0 * macs / bw / 1e9
    );
}
