//! The thread pool the kernels share.
//!
//! One pool for the whole process, however many Node worker threads call in: concurrent calls
//! queue their work on the same threads instead of each bringing its own, so the machine is
//! never oversubscribed. `set_num_threads(1)` makes every kernel serial and every result
//! independent of scheduling.

use rayon::prelude::*;
use std::sync::{Arc, RwLock};

struct Pool {
    threads: usize,
    /// `None` when `threads == 1`: serial work needs no pool.
    pool: Option<Arc<rayon::ThreadPool>>,
}

static POOL: RwLock<Option<Pool>> = RwLock::new(None);

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn build(threads: usize) -> Pool {
    let pool = (threads > 1).then(|| {
        Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("liven-{i}"))
                .build()
                .expect("failed to start the liven thread pool"),
        )
    });
    Pool { threads, pool }
}

/// Sets how many threads kernels may use (at least 1). Work already running finishes on the
/// old pool.
pub fn set_num_threads(threads: usize) {
    let threads = threads.max(1);
    let mut guard = POOL.write().unwrap_or_else(|e| e.into_inner());
    if guard.as_ref().map(|p| p.threads) != Some(threads) {
        *guard = Some(build(threads));
    }
}

/// How many threads kernels may use; the machine's cores until [`set_num_threads`] is called.
pub fn num_threads() -> usize {
    current().0
}

thread_local! {
    /// This thread's own budget ([`set_thread_budget`]): when set, it replaces the process-wide
    /// pool for kernels called from this thread.
    static BUDGET: std::cell::RefCell<Option<Pool>> = const { std::cell::RefCell::new(None) };
}

/// Gives the calling thread its own thread budget for the kernels it calls, or (`None`) puts it
/// back on the process-wide pool. Meant for Node worker threads that each run their own jobs:
/// with the shared pool, two workers each splitting work `num_threads()` ways oversubscribe the
/// cores. A budget of 1 runs this thread's kernels serially on it (results bit-identical to
/// `set_num_threads(1)`); a budget of k gives it a pool of its own with k threads, dropped when
/// the thread ends. Kernels nested inside that pool's work run serially, as the outer split
/// already uses the budget. Other threads are unaffected; `num_threads()` on this thread
/// reports the budget.
pub fn set_thread_budget(threads: Option<usize>) {
    BUDGET.with(|b| {
        let mut b = b.borrow_mut();
        match threads.map(|t| t.max(1)) {
            None => *b = None,
            Some(t) if b.as_ref().map(|p| p.threads) != Some(t) => *b = Some(build_own(t)),
            Some(_) => {}
        }
    });
}

/// The calling thread's own budget, if [`set_thread_budget`] gave it one.
pub fn thread_budget() -> Option<usize> {
    BUDGET.with(|b| b.borrow().as_ref().map(|p| p.threads))
}

/// A budget's pool: like [`build`], but its threads have a budget of 1 themselves, so nested
/// kernels stay inside the budget instead of reaching for the process-wide pool.
fn build_own(threads: usize) -> Pool {
    let pool = (threads > 1).then(|| {
        Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("liven-own-{i}"))
                .start_handler(|_| set_thread_budget(Some(1)))
                .build()
                .expect("failed to start a liven thread pool"),
        )
    });
    Pool { threads, pool }
}

fn current() -> (usize, Option<Arc<rayon::ThreadPool>>) {
    if let Some(own) = BUDGET.with(|b| b.borrow().as_ref().map(|p| (p.threads, p.pool.clone()))) {
        return own;
    }
    if let Some(p) = POOL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return (p.threads, p.pool.clone());
    }
    let mut guard = POOL.write().unwrap_or_else(|e| e.into_inner());
    let p = guard.get_or_insert_with(|| build(default_threads()));
    (p.threads, p.pool.clone())
}

/// Splits `out` into chunks of at least `grain` elements, calls `f(start, chunk)` for each,
/// where `start` is the chunk's offset in `out` (so `f` can slice its inputs to match), and
/// returns what the calls return, in chunk order. Runs as one chunk when `out` is shorter than
/// two grains or the pool has one thread.
pub fn map_chunks<T: Send, R: Send>(
    out: &mut [T],
    grain: usize,
    f: impl Fn(usize, &mut [T]) -> R + Sync,
) -> Vec<R> {
    let grain = grain.max(1);
    // Small work never looks at the pool: the lookup costs more than such a kernel.
    if out.len() < 2 * grain {
        return vec![f(0, out)];
    }
    let (threads, pool) = current();
    match pool {
        Some(pool) => {
            // A few chunks per thread balance the load without paying much per chunk.
            let chunk = out.len().div_ceil(threads * 4).max(grain);
            pool.install(|| {
                out.par_chunks_mut(chunk)
                    .enumerate()
                    .map(|(i, c)| f(i * chunk, c))
                    .collect()
            })
        }
        _ => vec![f(0, out)],
    }
}

/// Runs `f` inside the pool, so that rayon calls in it (including other crates') use the pool's
/// threads; directly when the pool has one thread. Returns the thread count `f` may use.
pub fn install<R: Send>(f: impl FnOnce(usize) -> R + Send) -> R {
    match current() {
        (threads, Some(pool)) => pool.install(|| f(threads)),
        (_, None) => f(1),
    }
}

/// [`map_chunks`] for work that returns nothing.
pub fn for_each_chunk<T: Send>(out: &mut [T], grain: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    map_chunks(out, grain, f);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_runs_on_the_pool_with_its_thread_count() {
        let n = install(|threads| {
            assert_eq!(threads, num_threads());
            rayon::current_num_threads()
        });
        assert!(n == num_threads() || num_threads() == 1);
    }

    #[test]
    fn a_thread_budget_is_this_threads_own() {
        let global = num_threads();
        std::thread::spawn(move || {
            assert_eq!(thread_budget(), None);
            set_thread_budget(Some(1));
            assert_eq!((num_threads(), thread_budget()), (1, Some(1)));
            assert!(current().1.is_none(), "a budget of 1 is serial");
            // Serial: every chunk runs on this thread.
            let me = std::thread::current().id();
            let mut out = vec![0u8; 100_000];
            let ids = map_chunks(&mut out, 10, |_, _| std::thread::current().id());
            assert!(ids.iter().all(|&id| id == me));
            set_thread_budget(Some(3));
            assert_eq!(num_threads(), 3);
            let n = install(|threads| (threads, rayon::current_num_threads()));
            assert_eq!(n, (3, 3));
            // The budget's own threads run nested kernels serially.
            assert_eq!(install(|_| thread_budget()), Some(1));
            set_thread_budget(None);
            assert_eq!(num_threads(), global);
        })
        .join()
        .unwrap();
        assert_eq!(thread_budget(), None);
    }

    #[test]
    fn chunks_cover_the_output_exactly_once() {
        let mut out = vec![0u32; 100_003];
        for_each_chunk(&mut out, 1000, |start, c| {
            for (i, v) in c.iter_mut().enumerate() {
                *v += (start + i) as u32;
            }
        });
        assert!(out.iter().enumerate().all(|(i, &v)| v == i as u32));
    }
}
