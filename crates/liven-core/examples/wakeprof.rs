//! How long a helper takes to join a split after the pool sat idle for a while: lingering
//! helpers (`threads::LINGER`) join at once, parked ones after a wake-up.
//! `cargo run --release --example wakeprof -p liven-core`
use liven_core::threads;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn med(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn spin(d: Duration) {
    let s = Instant::now();
    while s.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn main() {
    threads::set_num_threads(2);
    let base = Instant::now();
    for gap_us in [0u64, 5, 20, 50, 100, 200, 500, 2000] {
        let mut lat = vec![];
        for _ in 0..200 {
            spin(Duration::from_micros(gap_us));
            let start = AtomicU64::new(u64::MAX);
            let t0 = base.elapsed().as_nanos() as u64;
            let me = std::thread::current().id();
            // Piece 0 on the caller waits up to 1 ms for a helper to take piece 1.
            threads::for_each_piece(2, |i| {
                if std::thread::current().id() != me {
                    start.store(base.elapsed().as_nanos() as u64, Ordering::Relaxed);
                } else if i == 0 {
                    let s = Instant::now();
                    while start.load(Ordering::Relaxed) == u64::MAX
                        && s.elapsed() < Duration::from_millis(1)
                    {
                        std::hint::spin_loop();
                    }
                }
            });
            let s = start.load(Ordering::Relaxed);
            lat.push(if s == u64::MAX {
                1e6
            } else {
                (s - t0) as f64 / 1e3
            });
        }
        let p90 = {
            let mut l = lat.clone();
            l.sort_by(|a, b| a.partial_cmp(b).unwrap());
            l[l.len() * 9 / 10]
        };
        println!(
            "idle gap {gap_us:>5} us: helper joins after median {:.1} us, p90 {:.1} us",
            med(lat),
            p90
        );
    }
}
