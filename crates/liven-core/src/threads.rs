//! The thread pool the kernels share.
//!
//! One pool for the whole process, however many Node worker threads call in: concurrent calls
//! queue their work on the same threads instead of each bringing its own, so the machine is
//! never oversubscribed. `set_num_threads(1)` makes every kernel serial and every result
//! independent of scheduling.

use std::sync::atomic::{AtomicUsize, Ordering};
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

fn current() -> (usize, Option<Arc<rayon::ThreadPool>>) {
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
    let threads = if out.len() < 2 * grain {
        1
    } else {
        num_threads()
    };
    if threads == 1 {
        return vec![f(0, out)];
    }
    // A few chunks per thread balance the load (a core taken by another process leaves its
    // share to the others) without paying much per chunk.
    let chunk = out.len().div_ceil(threads * 4).max(grain);
    let (len, base) = (out.len(), SendPtr(out.as_mut_ptr()));
    let results: Vec<std::sync::Mutex<Option<R>>> = (0..len.div_ceil(chunk))
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    for_each_piece(results.len(), |i| {
        let start = i * chunk;
        let end = (start + chunk).min(len);
        // SAFETY: pieces are distinct indices, so the ranges [start, end) are disjoint and
        // inside `out`, which stays mutably borrowed until every piece has run.
        let c = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), end - start) };
        let r = f(start, c);
        *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
    });
    results
        .into_iter()
        .map(|r| {
            r.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("every piece ran")
        })
        .collect()
}

/// A pointer that may cross threads; whoever dereferences it answers for exclusivity.
pub struct SendPtr<T>(pub *mut T);
// Not derived: the derive would demand `T: Copy`.
impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SendPtr<T> {}
// SAFETY: a plain address; every dereference is an unsafe block that argues its own soundness.
unsafe impl<T> Send for SendPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SendPtr<T> {}
impl<T> SendPtr<T> {
    /// The address (a method, so closures capture the whole `SendPtr`, not its field).
    pub fn get(self) -> *mut T {
        self.0
    }
}

/// Calls `f(i)` once for every `i` in `0..pieces`, on the calling thread and up to
/// `num_threads() - 1` of the pool's threads, in no fixed order; returns when all have run.
///
/// Why not a rayon parallel iterator: Node's thread calling a kernel is not one of the pool's
/// threads, so `install` would park it and wake pool threads for all the work (two wake-ups
/// per call, each tens of microseconds on a busy VM, with the caller idle meanwhile). Here the
/// caller takes pieces itself and the helpers take whatever is left when they get a core:
/// pieces are claimed one at a time from a shared counter, so a helper that another process
/// keeps off its core costs nothing — the caller does its pieces, and the helper, when it
/// finally runs, finds none left and never touches `f`. The caller only ever waits for a
/// helper that is running a piece. Called from one of the pool's threads (nested inside other
/// parallel work) the helpers queue behind that work and take pieces only if a thread is idle,
/// so nesting never oversubscribes the pool.
pub fn for_each_piece(pieces: usize, f: impl Fn(usize) + Sync) {
    let pool = if pieces > 1 { current().1 } else { None };
    let Some(pool) = pool else {
        (0..pieces).for_each(f);
        return;
    };
    let helpers = (pool.current_num_threads() - 1).min(pieces - 1).max(1);
    let f: &(dyn Fn(usize) + Sync) = &f;
    // SAFETY: only the lifetime is erased. `Shared::run` dereferences `work` only between a
    // successful `enter` and the matching `leave`, and `Finish` (below, dropped before `f` goes
    // out of scope, even when the caller unwinds) closes the split and waits for every entered
    // helper to leave; a helper that starts later sees it closed and returns.
    let work: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
    let shared = Arc::new(Shared {
        work,
        pieces,
        next: AtomicUsize::new(0),
        state: AtomicUsize::new(0),
        panic: std::sync::Mutex::new(None),
    });
    for _ in 0..helpers {
        let s = Arc::clone(&shared);
        pool.spawn(move || {
            if s.enter() {
                s.run();
                s.leave();
            }
        });
    }
    let finish = Finish(&shared);
    shared.run();
    drop(finish);
    let payload = shared
        .panic
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(payload) = payload {
        std::panic::resume_unwind(payload);
    }
}

/// The state one [`for_each_piece`] call shares with its helpers.
struct Shared {
    /// The caller's closure, its lifetime erased (see `for_each_piece` for why that holds).
    work: &'static (dyn Fn(usize) + Sync),
    pieces: usize,
    /// The next unclaimed piece.
    next: AtomicUsize,
    /// [`CLOSED`] once the caller is done, plus the number of helpers inside `run`.
    state: AtomicUsize,
    /// The first panic of a helper, re-raised on the caller's thread.
    panic: std::sync::Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

const CLOSED: usize = 1 << (usize::BITS - 1);

impl Shared {
    /// Registers a helper; false once the caller has closed the split.
    fn enter(&self) -> bool {
        self.state
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |s| {
                (s & CLOSED == 0).then_some(s + 1)
            })
            .is_ok()
    }

    fn leave(&self) {
        self.state.fetch_sub(1, Ordering::Release);
    }

    /// Claims and runs pieces until none are left. A panic stops this thread's share (the
    /// others finish theirs) and is kept for the caller.
    fn run(&self) {
        // `for_each_piece` keeps the closure alive for every call made between `enter` and
        // `leave`, and for the caller's own call.
        let work = self.work;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.pieces {
                break;
            }
            work(i);
        }));
        if let Err(payload) = result {
            // Nobody else should start a piece after a failure.
            self.next.store(self.pieces, Ordering::Relaxed);
            self.panic
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(payload);
        }
    }
}

/// Closes the split and waits for the helpers inside it, also when the caller unwinds.
struct Finish<'a>(&'a Shared);

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let state = &self.0.state;
        state.fetch_or(CLOSED, Ordering::AcqRel);
        // Helpers still inside are running their last piece: wait by spinning briefly, then by
        // yielding the core (on an oversubscribed machine the helper may need it).
        let mut spins = 0u32;
        while state.load(Ordering::Acquire) != CLOSED {
            if spins < 1000 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
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
    fn chunks_cover_the_output_exactly_once() {
        let mut out = vec![0u32; 100_003];
        for_each_chunk(&mut out, 1000, |start, c| {
            for (i, v) in c.iter_mut().enumerate() {
                *v += (start + i) as u32;
            }
        });
        assert!(out.iter().enumerate().all(|(i, &v)| v == i as u32));
    }

    #[test]
    fn pieces_run_once_each_on_several_threads_and_panics_reach_the_caller() {
        set_num_threads(3);
        let hits: Vec<AtomicUsize> = (0..64).map(|_| AtomicUsize::new(0)).collect();
        for_each_piece(64, |i| {
            hits[i].fetch_add(1, Ordering::Relaxed);
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
        // A panic in any piece, on a helper or on the caller, comes back to the caller once the
        // other pieces have stopped touching the borrowed data.
        for bad in [0, 63] {
            let r = std::panic::catch_unwind(|| {
                for_each_piece(64, |i| assert!(i != bad, "piece {i} failed"));
            });
            let msg = r.expect_err("the panic propagates");
            let msg = msg.downcast_ref::<String>().expect("a formatted message");
            assert_eq!(msg, &format!("piece {bad} failed"));
        }
        // Nested: from inside the pool, and inside a parallel loop on it.
        let mut seen = install(|_| {
            let seen = std::sync::Mutex::new(vec![]);
            for_each_piece(5, |i| {
                for_each_piece(3, |j| seen.lock().unwrap().push(i * 3 + j));
            });
            seen.into_inner().unwrap()
        });
        seen.sort();
        assert_eq!(seen, (0..15).collect::<Vec<_>>());
    }
}
