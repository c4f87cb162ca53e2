//! The thread pool the kernels share.
//!
//! One pool for the whole process, however many Node worker threads call in: concurrent calls
//! queue their work on the same threads instead of each bringing its own, so the machine is
//! never oversubscribed. `set_num_threads(1)` makes every kernel serial and every result
//! independent of scheduling.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Work below which a kernel runs on the calling thread alone, in elements of an elementwise
/// pass (about 10 µs of streaming on one core); kernels cut larger work into chunks of at least
/// this many elements. Handing a piece to a helper costs the caller about a microsecond when a
/// helper is lingering after the last split ([`LINGER`]) and the helper ~25 µs to wake when it
/// is parked, so smaller work is done before a parked helper would start. Matrix products count
/// [`MACS_PER_ELEMENT`] multiply-adds as one element.
pub const GRAIN: usize = 1 << 15;

/// Multiply-adds of a matrix product counted as one element of work: a product is split from
/// `2 · GRAIN · MACS_PER_ELEMENT` = 2^23 multiply-adds. One core streams ~2–3 elements per ns
/// through a pass and multiplies-adds ~100 per ns, which would say ~40; but a product's panels
/// are larger pieces, and a helper that another process preempts inside one holds up the
/// caller for a time slice. The MNIST MLP at two threads on the loaded 2-core VM (load 5–8):
/// splitting from 2^21 multiply-adds (its 64×256×128 products too) gave 60–79k images/s where
/// 2^23 gave 92–101k; with the second core free both gave 145–165k (one thread: 112k).
pub const MACS_PER_ELEMENT: usize = 128;

/// Whether `work` (elements, or multiply-adds / [`MACS_PER_ELEMENT`]) is enough to split: at
/// least two grains. Every kernel decides with this, before it looks at the pool.
pub fn worth_splitting(work: usize) -> bool {
    work >= 2 * GRAIN
}

struct Pool {
    threads: usize,
    /// `None` when `threads == 1`: serial work needs no pool.
    pool: Option<Arc<Workers>>,
}

/// The helper threads of a pool: rayon's (for [`install`] and for waking helpers) and the
/// mailbox through which lingering helpers take the next split without being woken.
struct Workers {
    rayon: rayon::ThreadPool,
    mailbox: Mailbox,
}

static POOL: RwLock<Option<Pool>> = RwLock::new(None);

fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn build(threads: usize) -> Pool {
    let pool = (threads > 1).then(|| {
        Workers::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("liven-{i}")),
        )
    });
    Pool { threads, pool }
}

impl Workers {
    fn new(builder: rayon::ThreadPoolBuilder) -> Arc<Workers> {
        Arc::new(Workers {
            rayon: builder
                .build()
                .expect("failed to start the liven thread pool"),
            mailbox: Mailbox::default(),
        })
    }
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
        Workers::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("liven-own-{i}"))
                .start_handler(|_| set_thread_budget(Some(1))),
        )
    });
    Pool { threads, pool }
}

fn current() -> (usize, Option<Arc<Workers>>) {
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
    map_tasks(out.chunks_mut(chunk).collect(), |i, c| f(i * chunk, c))
}

/// Calls `f(i, task)` for every task (on the calling thread and the pool's, as
/// [`for_each_piece`]) and returns the results in task order. Each task is handed over by
/// value, so tasks may hold disjoint `&mut` slices of one output.
pub fn map_tasks<T: Send, R: Send>(tasks: Vec<T>, f: impl Fn(usize, T) -> R + Sync) -> Vec<R> {
    if tasks.len() < 2 {
        return tasks
            .into_iter()
            .enumerate()
            .map(|(i, t)| f(i, t))
            .collect();
    }
    enum Slot<T, R> {
        Todo(T),
        Done(R),
        Taken,
    }
    let slots: Vec<Mutex<Slot<T, R>>> = tasks
        .into_iter()
        .map(|t| Mutex::new(Slot::Todo(t)))
        .collect();
    let lock = |i: usize| slots[i].lock().unwrap_or_else(|e| e.into_inner());
    for_each_piece(slots.len(), |i| {
        let Slot::Todo(task) = std::mem::replace(&mut *lock(i), Slot::Taken) else {
            unreachable!("each piece runs once");
        };
        let r = f(i, task);
        *lock(i) = Slot::Done(r);
    });
    slots
        .into_iter()
        .map(
            |s| match s.into_inner().unwrap_or_else(|e| e.into_inner()) {
                Slot::Done(r) => r,
                _ => unreachable!("every piece ran"),
            },
        )
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
///
/// A helper that finished a split lingers for [`LINGER`] (see [`Mailbox`]): a training step
/// calls kernels a few microseconds of JavaScript apart, and a helper still lingering takes
/// the next split at once, where a parked one takes ~25 µs to wake on this kind of VM.
pub fn for_each_piece(pieces: usize, f: impl Fn(usize) + Sync) {
    let pool = if pieces > 1 && !backing_off() {
        current().1
    } else {
        None
    };
    let Some(pool) = pool else {
        (0..pieces).for_each(f);
        return;
    };
    let helpers = (pool.rayon.current_num_threads() - 1)
        .min(pieces - 1)
        .max(1);
    let f: &(dyn Fn(usize) + Sync) = &f;
    // SAFETY: only the lifetime is erased. `Shared::run` dereferences `work` only between a
    // successful `enter` and the matching `leave`, and `Finish` (below, dropped before `f` goes
    // out of scope, even when the caller unwinds) closes the split and waits for every entered
    // helper to leave; a helper that starts later (woken, or lingering in the mailbox) sees it
    // closed and returns.
    let work: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
    let shared = Arc::new(Shared {
        work,
        pieces,
        isa: crate::simd::active(),
        next: AtomicUsize::new(0),
        state: AtomicUsize::new(0),
        panic: Mutex::new(None),
    });
    let finish = Finish(&shared);
    // Lingering helpers take the split from the mailbox; only the rest are woken.
    let lingering = pool.mailbox.post(&shared);
    for _ in lingering.min(helpers)..helpers {
        let (s, p) = (Arc::clone(&shared), Arc::clone(&pool));
        pool.rayon.spawn(move || {
            s.help();
            drop(s);
            p.mailbox.linger();
        });
    }
    let started = Instant::now();
    let mine = shared.run();
    let ran = started.elapsed();
    let waiting = Instant::now();
    drop(finish);
    if mine > 0 && waiting.elapsed() > STALL + 2 * ran / mine as u32 {
        back_off();
    }
    let payload = shared
        .panic
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(payload) = payload {
        std::panic::resume_unwind(payload);
    }
}

/// A caller that waited this much longer than two of its own pieces for a helper to finish
/// one waited for a helper that lost its core mid-piece (another process preempted it): the
/// machine is oversubscribed, and splits run on the caller alone for [`BACK_OFF`].
const STALL: Duration = Duration::from_micros(200);

/// How long splits run on the caller alone after a [`STALL`]. Measured under load (MNIST MLP,
/// 2 threads, load average 7–8): the first layer's forward+backward took 850 µs per step with
/// lingering helpers that other processes kept preempting inside a panel, against 383 µs on
/// one thread. A stall costs a scheduler time slice (milliseconds), so one per back-off is at
/// most a few percent; on a quiet machine there are none.
const BACK_OFF: Duration = Duration::from_millis(100);

/// When the back-off ends, in nanoseconds since [`epoch`]; 0 for none.
static SERIAL_UNTIL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn since_epoch() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

fn back_off() {
    let until = since_epoch() + BACK_OFF.as_nanos() as u64;
    SERIAL_UNTIL.fetch_max(until, Ordering::Relaxed);
}

/// Whether splits run on the caller alone now (see [`STALL`]). Either way the pieces are the
/// same, so results do not change.
fn backing_off() -> bool {
    let until = SERIAL_UNTIL.load(Ordering::Relaxed);
    until != 0 && since_epoch() < until
}

/// How long a helper keeps watching the mailbox after a split before it goes back to rayon
/// (which parks it after ~30 µs of its own). Long enough to span the JavaScript and the small
/// serial kernels between two large kernels of a training step; short, because a lingering
/// helper holds a core (yielding it to any other runnable thread, so under load it costs little).
pub const LINGER: Duration = Duration::from_micros(200);

/// A yield that returns after this long ran another thread meanwhile: the core is contended,
/// and a lingering helper stops (rayon parks it).
const CONTENDED: Duration = Duration::from_micros(20);

/// Where a caller posts a split for the helpers lingering after the previous one.
///
/// A posted split is never needed for correctness: the caller claims pieces itself, so a helper
/// that misses a post (it stopped lingering a moment too early, or another caller posted over
/// it) only means less help.
#[derive(Default)]
struct Mailbox {
    /// The latest split; helpers that enter it after it was closed just leave.
    split: Mutex<Option<Arc<Shared>>>,
    /// Bumped by every post, so a lingering helper sees a new split without taking the lock.
    posted: AtomicUsize,
    /// Helpers watching the mailbox now.
    lingering: AtomicUsize,
}

thread_local! {
    /// Whether this thread is inside [`Mailbox::linger`] (a split it runs from there may post
    /// and spawn helpers of its own; those must not linger inside it).
    static LINGERING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Mailbox {
    /// Posts `split` and returns how many helpers were lingering to take it.
    fn post(&self, split: &Arc<Shared>) -> usize {
        *self.split.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(split));
        // SeqCst pairs with `linger`: either this load sees a helper that will see the post,
        // or that helper's final check of `posted` sees it.
        self.posted.fetch_add(1, Ordering::SeqCst);
        self.lingering.load(Ordering::SeqCst)
    }

    /// Takes the posted split, if it is newer than `seen`, and helps with it.
    fn take(&self, seen: &mut usize) -> bool {
        let now = self.posted.load(Ordering::SeqCst);
        if now == *seen {
            return false;
        }
        *seen = now;
        let split = self.split.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(split) = split {
            split.help();
        }
        true
    }

    /// Watches the mailbox for [`LINGER`] after the last split taken, then returns; sooner
    /// when the core is [`CONTENDED`].
    fn linger(&self) {
        self.linger_for(LINGER, CONTENDED);
    }

    fn linger_for(&self, linger: Duration, contended: Duration) {
        if LINGERING.with(|l| l.replace(true)) {
            return;
        }
        let mut seen = self.posted.load(Ordering::SeqCst);
        self.lingering.fetch_add(1, Ordering::SeqCst);
        let mut since = Instant::now();
        loop {
            if self.take(&mut seen) {
                since = Instant::now();
            } else if since.elapsed() >= linger {
                break;
            } else if rayon::yield_now() == Some(rayon::Yield::Executed) {
                // Work queued on the pool meanwhile (`install`'s): a lingering helper must not
                // hold it up.
                since = Instant::now();
            } else {
                // Gives the core to any other runnable thread; returns at once when there is
                // none, so the mailbox is checked about every microsecond. A yield that took
                // long gave the core away: other processes want it, and a helper spinning there
                // only delays them, and itself (the scheduler charges the spin to this thread,
                // which then loses the core mid-piece, where the caller waits for it).
                let yielded = Instant::now();
                std::thread::yield_now();
                if yielded.elapsed() >= contended {
                    break;
                }
            }
        }
        self.lingering.fetch_sub(1, Ordering::SeqCst);
        self.take(&mut seen);
        LINGERING.with(|l| l.set(false));
    }
}

/// The state one [`for_each_piece`] call shares with its helpers.
struct Shared {
    /// The caller's closure, its lifetime erased (see `for_each_piece` for why that holds).
    work: &'static (dyn Fn(usize) + Sync),
    pieces: usize,
    /// The caller's SIMD level ([`crate::simd::with_isa`] is per thread): helpers run its
    /// pieces at that level, so a piece computes the same bits on whichever thread runs it.
    isa: crate::simd::Isa,
    /// The next unclaimed piece.
    next: AtomicUsize,
    /// [`CLOSED`] once the caller is done, plus the number of helpers inside `run`.
    state: AtomicUsize,
    /// The first panic of a helper, re-raised on the caller's thread.
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
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

    /// A helper's share: the pieces left, unless the caller has closed the split.
    fn help(&self) {
        if self.enter() {
            crate::simd::with_isa(self.isa, || self.run());
            self.leave();
        }
    }

    /// Claims and runs pieces until none are left. A panic stops this thread's share (the
    /// others finish theirs) and is kept for the caller.
    /// Claims and runs pieces until none are left; returns how many it ran.
    fn run(&self) -> usize {
        // `for_each_piece` keeps the closure alive for every call made between `enter` and
        // `leave`, and for the caller's own call.
        let work = self.work;
        let mut ran = 0;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.pieces {
                break;
            }
            work(i);
            ran += 1;
        }));
        if let Err(payload) = result {
            // Nobody else should start a piece after a failure.
            self.next.store(self.pieces, Ordering::Relaxed);
            self.panic
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(payload);
        }
        ran
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
/// No kernel uses it: it parks the calling thread and wakes pool threads for all the work, and
/// its workers compete for the cores with helpers lingering after a [`for_each_piece`] (conv
/// was the last kernel on it; see BENCHMARKS.md, issue 15). Kernels split with [`map_tasks`] /
/// [`for_each_piece`]; this remains for examples that time other crates' rayon code.
pub fn install<R: Send>(f: impl FnOnce(usize) -> R + Send) -> R {
    match current() {
        (threads, Some(pool)) => pool.rayon.install(|| f(threads)),
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

    #[test]
    fn a_lingering_helper_takes_a_posted_split_and_stops_after_the_linger() {
        let mailbox = Arc::new(Mailbox::default());
        let m = Arc::clone(&mailbox);
        // A plain thread stands for a pool thread after its split; no give-up on contention,
        // so that a loaded machine cannot end the linger before the post.
        let helper =
            std::thread::spawn(move || m.linger_for(Duration::from_secs(3), Duration::MAX));
        let patient = Instant::now() + Duration::from_secs(20);
        let lingering = || mailbox.lingering.load(Ordering::SeqCst);
        while lingering() == 0 && Instant::now() < patient {
            std::thread::yield_now();
        }
        assert_eq!(lingering(), 1, "the helper watches the mailbox");
        static RAN_BY: Mutex<Option<std::thread::ThreadId>> = Mutex::new(None);
        let shared = Arc::new(Shared {
            work: &|_| *RAN_BY.lock().unwrap() = Some(std::thread::current().id()),
            pieces: 1,
            isa: crate::simd::active(),
            next: AtomicUsize::new(0),
            state: AtomicUsize::new(0),
            panic: Mutex::new(None),
        });
        assert_eq!(mailbox.post(&shared), 1, "the post finds the helper");
        while RAN_BY.lock().unwrap().is_none() && Instant::now() < patient {
            std::thread::yield_now();
        }
        drop(Finish(&shared));
        let by = RAN_BY.lock().unwrap().expect("the posted piece ran");
        assert_eq!(by, helper.thread().id(), "on the lingering helper");
        // The linger restarts after the split, ends 3 s later, and the helper leaves.
        helper.join().unwrap();
        assert_eq!(lingering(), 0);
        // A split posted now finds nobody.
        assert_eq!(mailbox.post(&shared), 0);
    }

    #[test]
    fn a_caller_that_waited_long_for_a_helper_runs_the_next_splits_alone() {
        // A thread budget: a pool of its own (the back-off itself is process-wide, and another
        // test's stall may set it meanwhile, hence the attempts).
        std::thread::spawn(|| {
            set_thread_budget(Some(2));
            let me = std::thread::current().id();
            let stalled = (0..5).any(|_| {
                SERIAL_UNTIL.store(0, Ordering::Relaxed);
                let start = Instant::now();
                let helped = std::sync::atomic::AtomicBool::new(false);
                // The helper's piece takes far longer than two of the caller's: a stall.
                for_each_piece(2, |_| {
                    if std::thread::current().id() != me {
                        helped.store(true, Ordering::Relaxed);
                        std::thread::sleep(start.elapsed() * 10 + Duration::from_millis(5));
                    } else {
                        while !helped.load(Ordering::Relaxed)
                            && start.elapsed() < Duration::from_secs(2)
                        {
                            std::thread::yield_now();
                        }
                    }
                });
                helped.load(Ordering::Relaxed)
            });
            assert!(stalled, "a helper took a piece");
            assert!(backing_off());
            let ids = Mutex::new(vec![]);
            for_each_piece(8, |_| ids.lock().unwrap().push(std::thread::current().id()));
            assert!(ids.into_inner().unwrap().iter().all(|&id| id == me));
            SERIAL_UNTIL.store(0, Ordering::Relaxed);
            assert!(!backing_off());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn tasks_run_once_each_and_results_come_back_in_order() {
        set_num_threads(3);
        let mut out = vec![0u32; 1000];
        let tasks: Vec<&mut [u32]> = out.chunks_mut(7).collect();
        let lens = map_tasks(tasks, |i, c| {
            c.iter_mut().for_each(|v| *v += i as u32 + 1);
            c.len()
        });
        assert_eq!(lens.len(), 1000usize.div_ceil(7));
        assert_eq!(lens.iter().sum::<usize>(), 1000);
        assert!(out
            .iter()
            .enumerate()
            .all(|(j, &v)| v == (j / 7) as u32 + 1));
        assert_eq!(map_tasks(vec![5], |i, t| (i, t)), vec![(0, 5)]);
        assert!(map_tasks(Vec::<u8>::new(), |_, t| t).is_empty());
    }

    #[test]
    fn splitting_starts_at_two_grains() {
        assert!(!worth_splitting(2 * GRAIN - 1));
        assert!(worth_splitting(2 * GRAIN));
    }
}
