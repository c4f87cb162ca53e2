//! Times conv2d_forward + conv2d_backward for each convolution of two training steps, the small
//! CNN of benches/suites/training.js (batch 64) and ResNet-18 on batch 16 of 3×32×32, at the given
//! thread count, to see which layers scale and which do not.
//! `cargo run --release --example convsteps -p liven-core -- THREADS [REPS]`
use liven_core::conv::*;
use std::time::Instant;

/// (batch, in, size, out, kernel, stride, padding, how many of it per step)
type Layer = (usize, usize, usize, usize, usize, usize, usize, usize);

const LAYERS: [(&str, Layer); 15] = [
    ("cnn 1→8 28²", (64, 1, 28, 8, 3, 1, 1, 1)),
    ("cnn 8→16 14²", (64, 8, 14, 16, 3, 1, 1, 1)),
    ("resnet conv1 3→64 7×7/2", (16, 3, 32, 64, 7, 2, 3, 1)),
    ("resnet 64→64 8²", (16, 64, 8, 64, 3, 1, 1, 4)),
    ("resnet 64→128 /2", (16, 64, 8, 128, 3, 2, 1, 1)),
    ("resnet 64→128 1×1/2", (16, 64, 8, 128, 1, 2, 0, 1)),
    ("resnet 128→128 4²", (16, 128, 4, 128, 3, 1, 1, 3)),
    ("resnet 128→256 /2", (16, 128, 4, 256, 3, 2, 1, 1)),
    ("resnet 128→256 1×1/2", (16, 128, 4, 256, 1, 2, 0, 1)),
    ("resnet 256→256 2²", (16, 256, 2, 256, 3, 1, 1, 3)),
    ("resnet 256→512 /2", (16, 256, 2, 512, 3, 2, 1, 1)),
    ("resnet 256→512 1×1/2", (16, 256, 2, 512, 1, 2, 0, 1)),
    ("resnet 512→512 1²", (16, 512, 1, 512, 3, 1, 1, 3)),
    ("issue 64→64 28² (Winograd)", (32, 64, 28, 64, 3, 1, 1, 1)),
    ("cnn 1→8 28² batch 8", (8, 1, 28, 8, 3, 1, 1, 1)),
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("a number"))
        .collect();
    liven_core::threads::set_num_threads(args.first().copied().unwrap_or(1));
    let reps = args.get(1).copied().unwrap_or(31);
    let mut total = [0.0; 2];
    for (name, (batch, cin, size, cout, k, s, p, count)) in LAYERS {
        let g = Conv2dGeometry {
            batch,
            in_channels: cin,
            height: size,
            width: size,
            out_channels: cout,
            kernel_h: k,
            kernel_w: k,
            stride_h: s,
            stride_w: s,
            pad_h: p,
            pad_w: p,
            dilation_h: 1,
            dilation_w: 1,
            groups: 1,
        };
        let x: Vec<f32> = (0..g.input_len()).map(|i| (i % 7) as f32 * 0.1).collect();
        let w: Vec<f32> = (0..g.weight_len()).map(|i| (i % 5) as f32 * 0.1).collect();
        let b = vec![0.1f32; cout];
        let mut y = vec![0f32; g.output_len()];
        let (mut dx, mut dw) = (vec![0f32; g.input_len()], vec![0f32; g.weight_len()]);
        let mut db = vec![0f32; cout];
        let (mut tf, mut tb) = (vec![], vec![]);
        for _ in 0..reps {
            let t = Instant::now();
            conv2d_forward(&x, &w, Some(&b), &mut y, &g);
            tf.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            conv2d_backward(&x, &w, &y, Some(&mut dx), &mut dw, Some(&mut db), &g);
            tb.push(t.elapsed().as_secs_f64());
        }
        let (f, bw) = (median(tf) * 1e3, median(tb) * 1e3);
        let part = if name.starts_with("cnn 1→8 28² b") || name.starts_with("issue") {
            None
        } else if name.starts_with("cnn") {
            Some(0)
        } else {
            Some(1)
        };
        if let Some(i) = part {
            total[i] += (f + bw) * count as f64;
        }
        println!("{name:<30} forward {f:7.3} ms  backward {bw:7.3} ms  (×{count})");
    }
    println!(
        "per step: small CNN {:.2} ms, ResNet-18 {:.2} ms",
        total[0], total[1]
    );
}
