//! Worker threads, and helpers: they run a runner's `Send` tasks, also
//! between runs. A helper is a thread inside `Handle::block_on`, which runs
//! the runner's `Send` tasks while its own future waits.
//!
//! A worker looks at `stopping` before every task it takes, so close stops
//! it after at most the poll it is in, even when tasks keep waking each
//! other (a worker that drained its queue first would never stop). Close
//! then joins every worker that exits within the close timeout; one stuck
//! inside a poll is left to finish that poll on its own, after which it
//! polls nothing more: it drops what is left in the `Send` queue and exits.
//!
//! A worker or helper that finds the queue empty watches it for a moment
//! before it sleeps ([`Workers::watch`]), and a push wakes a sleeper only
//! if no wake-up is on its way to each one already ([`Workers::notify_one`]):
//! when one thread fans tasks out to a worker that keeps up with it, the
//! worker would otherwise sleep and be woken again for nearly every task.
//! With one worker and 100,000 tiny tasks (`fan_out_100k`) that was 1,500
//! to 5,000 context switches and about 6,000 futex calls per run, which
//! took 1.7 x as long as without workers.

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{self, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use concurrent_queue::ConcurrentQueue;
use event_listener::Event;
use futures_lite::FutureExt;

use async_io::Timer;

use crate::lifecycle::Closed;
use crate::local;
use crate::scheduler::{Driver, Runnable};
use crate::shared::Shared;
use crate::wait::{self, noop_waker, Deadline};

/// A runner's worker threads.
pub(crate) struct Workers {
    /// How many there are.
    count: usize,
    /// Wakes idle workers.
    work: Event,
    /// Tells workers to exit and helpers to stop helping.
    stopping: AtomicBool,
    /// Workers that have exited; `exited` is notified as each one does,
    /// and as each helper leaves.
    done: AtomicUsize,
    exited: Event,
    /// Workers and helpers asleep, waiting for `work`: a schedule notifies
    /// only when there is one (`SeqCst` with the queue's push: a thread going
    /// to sleep either sees the new task or is counted here). Exact: each
    /// thread counts itself in and out (also when its wait is dropped), since
    /// the virtual clock reads it.
    sleeping: AtomicUsize,
    /// Wake-ups on their way: sent since a thread last went to sleep, and
    /// not yet received (a woken sleeper takes one off). A schedule notifies
    /// only while there are fewer of them than sleepers, so a run of pushes
    /// wakes a sleeper once rather than notifying (and taking the event's
    /// lock) on every push until it is up. A hint that only errs high (a
    /// wake-up to a thread that leaves without it may reach no one): a
    /// thread going to sleep resets it to 0 before it looks at the queue
    /// (see [`notify_one`](Self::notify_one)).
    waking: AtomicUsize,
    /// Threads inside `Handle::block_on` for this runner. `SeqCst`, with
    /// `stopping`: a helper that enlists either is seen by close or sees
    /// `stopping`.
    helpers: AtomicUsize,
    /// The threads, to join at close.
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Workers {
    pub(super) fn new(count: usize) -> Workers {
        Workers {
            count,
            work: Event::new(),
            stopping: AtomicBool::new(false),
            done: AtomicUsize::new(0),
            exited: Event::new(),
            helpers: AtomicUsize::new(0),
            sleeping: AtomicUsize::new(0),
            waking: AtomicUsize::new(0),
            handles: Mutex::new(Vec::new()),
        }
    }

    /// Whether `Send` tasks have anyone besides the runner's thread to run
    /// them.
    pub(super) fn any(&self) -> bool {
        self.count > 0 || self.helpers.load(Ordering::Relaxed) > 0
    }

    /// Wakes one more sleeping worker or helper, if any sleeps and no
    /// wake-up is on its way to each sleeper already. Call after the push
    /// that it announces.
    ///
    /// Additional, not `notify(1)`: that one does nothing while a listener
    /// is notified and not yet awake, so two tasks pushed back to back would
    /// wake one worker and leave the other asleep while the second task waits.
    ///
    /// Skipping loses no task: a push skips only if it read `waking` as
    /// counting a wake-up sent after the last thread went to sleep (every
    /// sleep resets it, `SeqCst`, before looking at the queue). Each such
    /// wake-up went to a listener that existed then (a sleeper's, or the
    /// next one's if a leaving thread drops it: event-listener passes a
    /// notification on), and a thread it wakes runs tasks until the queue is
    /// empty and looks again before it sleeps; a thread that goes to sleep
    /// after our read resets `waking` after it too, so it sees our push.
    pub(super) fn notify_one(&self) {
        if self.any() {
            atomic::fence(Ordering::SeqCst);
            let sleeping = self.sleeping.load(Ordering::SeqCst);
            if sleeping > 0
                && self
                    .waking
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |waking| {
                        (waking < sleeping).then_some(waking + 1)
                    })
                    .is_ok()
            {
                self.work.notify_additional(1);
            }
        }
    }

    /// How many workers and helpers are awake: running a task, about to take
    /// one, or (a helper) polling its own future. `SeqCst`, with the count
    /// `sleep` keeps: read before a look at the queues, a thread that is
    /// counted asleep here took nothing that the look missed.
    pub(crate) fn awake(&self) -> usize {
        let all = self.count + self.helpers.load(Ordering::SeqCst);
        all.saturating_sub(self.sleeping.load(Ordering::SeqCst))
    }

    /// Waits for `work` unless `global` has something or close stopped us.
    /// With a virtual clock, a thread going to sleep tells the runner's loop:
    /// the clock does not jump while a worker or helper is awake (see
    /// [`awake`](Self::awake)), so the loop looks again.
    async fn sleep(&self, shared: &Shared, global: &ConcurrentQueue<Runnable>) {
        let listener = self.work.listen();
        self.sleeping.fetch_add(1, Ordering::SeqCst);
        // Counted out also if the wait is dropped (a helper's own future
        // finished): a count left too high would let the clock jump.
        let _asleep = Asleep(&self.sleeping);
        self.waking.store(0, Ordering::SeqCst);
        if shared.clock.is_virtual() {
            shared.scheduler.wake_loop();
        }
        if global.is_empty() && !self.is_stopping() {
            listener.await;
            // One wake-up fewer on its way, counted before this thread
            // leaves the sleepers: a push in between sees a sleeper with
            // no wake-up on its way, and wakes it (two tasks pushed back to
            // back run on two workers).
            let _ = self
                .waking
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |waking| {
                    waking.checked_sub(1)
                });
        }
    }

    /// Watches `global` for a moment before the caller sleeps; returns
    /// whether a task showed up (or close stopped us) meanwhile. A thread
    /// that fans tasks out pushes one every few hundred nanoseconds, and a
    /// worker that keeps up with it would otherwise empty the queue, sleep
    /// and be woken for nearly every push: a futex wake on the pushing
    /// thread and a futex wait on this one each time, several microseconds
    /// of system calls for a task that takes less than one. A sleeper costs
    /// nothing, so the watch is short (tokio's workers likewise look for
    /// work once more, without sleeping, before they park). It ends with a
    /// few yields: when the pushing thread shares this thread's CPU, a
    /// yield lets it fill the queue, and the next look finds a batch.
    fn watch(&self, global: &ConcurrentQueue<Runnable>) -> bool {
        for turn in 0..WATCH + YIELDS {
            if !global.is_empty() || self.is_stopping() {
                return true;
            }
            if turn < WATCH {
                std::hint::spin_loop();
            } else {
                thread::yield_now();
            }
        }
        false
    }

    pub(super) fn notify_all(&self) {
        if self.any() {
            self.work.notify(usize::MAX);
        }
    }

    /// Starts the worker threads of `shared`.
    ///
    /// # Panics
    ///
    /// If the OS refuses a thread.
    pub(crate) fn start(shared: &Arc<Shared>) {
        let workers = &shared.scheduler.workers;
        if workers.count == 0 {
            return;
        }
        let mut handles = workers
            .handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for index in 0..workers.count {
            let shared = shared.clone();
            let handle = thread::Builder::new()
                .name(format!("runner-worker-{index}"))
                .spawn(move || work(shared))
                .unwrap_or_else(|error| panic!("failed to start a runner worker thread: {error}"));
            handles.push(handle);
        }
    }

    /// Tells the workers to stop, waits up to `timeout` for them (and the
    /// helpers) to leave, and joins the workers that did. Returns the
    /// deadline it kept, for close's next wait (the same `timeout` counts
    /// from when there was anything to wait for).
    pub(crate) fn stop(&self, timeout: Duration) -> Deadline {
        self.stopping.store(true, Ordering::SeqCst);
        if self.count == 0 && self.helpers.load(Ordering::SeqCst) == 0 {
            return Deadline::After(timeout);
        }
        let deadline = wait::deadline_after(timeout);
        self.work.notify(usize::MAX);
        let all_exited = || {
            self.done.load(Ordering::Acquire) == self.count
                && self.helpers.load(Ordering::SeqCst) == 0
        };
        let exited = wait::condition(&self.exited, all_exited);
        wait::park_on(wait::with_deadline(deadline, exited));
        let handles =
            std::mem::take(&mut *self.handles.lock().unwrap_or_else(PoisonError::into_inner));
        for handle in handles {
            // A worker counts itself done just before its thread ends: wait
            // for the thread too (its locals' teardown), within the deadline,
            // so that no worker thread outlives close.
            while !handle.is_finished() && deadline.map_or(true, |at| Instant::now() < at) {
                std::thread::sleep(Duration::from_micros(20));
            }
            if handle.is_finished() {
                // Workers catch every panic of the tasks they run.
                let _ = handle.join();
            }
        }
        Deadline::At(deadline)
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// Runs `future` on this thread, running the `Send` tasks of `shared`
/// meanwhile, as a worker would; `None` if the runner closes first (or had
/// begun to). With a virtual clock, the helper drives it when the runner
/// does no real work, as the runner's loop would: so
/// `handle.block_on(runner::sleep(d))` returns on an idle runner.
pub(crate) fn help<F: Future>(shared: &Arc<Shared>, future: Pin<&mut F>) -> Option<F::Output> {
    let workers = &shared.scheduler.workers;
    workers.helpers.fetch_add(1, Ordering::SeqCst);
    let _leave = Leave(shared);
    if workers.stopping.load(Ordering::SeqCst) || !shared.lifecycle.is_open() {
        return None;
    }
    let _running = local::work(shared.clone());
    shared.registry.ticks.mark();
    // tokio: the helper polls its future and tasks in the runner's tokio context.
    #[cfg(feature = "tokio")]
    let _tokio = crate::tokio::enter_run(&shared.tokio);
    // A task the caller's future awaits may be dropped by close (or by a
    // worker or helper leaving after it) at any point of a poll, the first
    // one included: awaited here, it unwinds with `Closed` (see `task.rs`),
    // which `block_on` answers.
    let mut future = future;
    // Its wakers are runner's own (a no-op one, then the parker's): noted as
    // such, so that a `Task` awaited with them hands them to async-task.
    let mut poll_own =
        move |cx: &mut Context<'_>| match panic::catch_unwind(AssertUnwindSafe(|| {
            local::polled_with(cx, |cx| future.as_mut().poll(cx))
        })) {
            Ok(polled) => polled.map(Some),
            Err(payload) if payload.is::<Closed>() => Poll::Ready(None),
            Err(payload) => panic::resume_unwind(payload),
        };
    // A future that is ready at once costs no parker and no queue.
    if let Poll::Ready(output) = poll_own(&mut Context::from_waker(noop_waker())) {
        return output;
    }
    // The caller's future is polled only until close cancels the runner's
    // tasks: from then on the tasks it may await are being dropped, and
    // `block_on` answers `Closed` rather than polling a future that would
    // find its task gone. A drop that wakes us happened after the state
    // moved, so we see it.
    let own = std::future::poll_fn(|cx| {
        if shared.lifecycle.is_cancelled() || workers.is_stopping() {
            return Poll::Ready(None);
        }
        poll_own(cx)
    });
    let global = shared.scheduler.global();
    let helping = async {
        let mut ran = 0usize;
        // With a virtual clock: since when this helper has found nothing to do.
        let mut idle_since: Option<Instant> = None;
        loop {
            if workers.is_stopping() {
                return None;
            }
            if let Ok(runnable) = global.pop() {
                idle_since = None;
                // tracing: the caller's spans cover its own future, not the tasks.
                #[cfg(feature = "tracing")]
                let _hidden = crate::spans::hide();
                super::run(runnable);
                ran += 1;
                // Let the helper's own future have its turn now and then;
                // read the coarse clock that dates polls.
                if ran % super::BUDGET == 0 {
                    futures_lite::future::yield_now().await;
                    shared.registry.ticks.mark();
                }
                continue;
            }
            if workers.watch(global) {
                continue;
            }
            let Some(next) = shared.scheduler.idle_clock(shared, Driver::Helper) else {
                idle_since = None;
                workers.sleep(shared, global).await;
                shared.registry.ticks.mark();
                continue;
            };
            // Idle with a timer pending: after the threshold, jump to it.
            let since = *idle_since.get_or_insert_with(Instant::now);
            let left = shared.clock.threshold.saturating_sub(since.elapsed());
            if left.is_zero() {
                idle_since = None;
                shared.clock.jump_to(next, &shared.panics);
                continue;
            }
            let threshold = async {
                Timer::after(left).await;
            };
            workers.sleep(shared, global).or(threshold).await;
        }
    };
    // Polled again at once with the real waker, so no wake is lost; the
    // thread parks the plain way: the runner's own thread drives the reactor.
    // The runner's tasks run here: their `Polled` find it in `polling`.
    local::polling(shared, || wait::park_on(own.or(helping)))
}

/// Counts a sleeping worker or helper out of [`Workers::sleeping`].
struct Asleep<'a>(&'a AtomicUsize);

impl Drop for Asleep<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a helper out, also on unwinding, and tells close; drops what a
/// poll that outlasted close left behind.
struct Leave<'a>(&'a Shared);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        drop_abandoned(self.0);
        let workers = &self.0.scheduler.workers;
        workers.helpers.fetch_sub(1, Ordering::SeqCst);
        workers.exited.notify(usize::MAX);
    }
}

/// On a worker or helper leaving after close cancelled the runner's tasks:
/// drops the tasks that close abandoned to a poll on this thread (or any
/// other) and that are left registered, now that their polls are over.
/// Close has dropped every other task, so only `Send` tasks are left.
fn drop_abandoned(shared: &Shared) {
    if !shared.lifecycle.is_cancelled() {
        return;
    }
    for _ in 0..ROUNDS {
        for waker in shared.registry.wakers() {
            waker.wake();
        }
        if !shared.scheduler.drop_queued(true) {
            break;
        }
    }
}

/// How many times [`Workers::watch`] looks at the queue, a spin-loop hint
/// apart, before the thread sleeps: a few microseconds.
const WATCH: usize = 64;

/// How many times [`Workers::watch`] then yields the CPU before the thread
/// sleeps.
const YIELDS: usize = 4;

/// How many times a leaving thread goes back for tasks that dropping made.
const ROUNDS: usize = 100;

/// The body of a worker thread: run `Send` tasks, one at a time, until told
/// to stop.
fn work(shared: Arc<Shared>) {
    let _running = local::work(shared.clone());
    // tokio: the worker polls tasks in the runner's tokio context.
    #[cfg(feature = "tokio")]
    let _tokio = crate::tokio::enter_run(&shared.tokio);
    let scheduler = &shared.scheduler;
    let workers = &scheduler.workers;
    let global = scheduler.global();
    // The runner's tasks run here: their `Polled` find it in `polling`.
    local::polling(&shared, || {
        async_io::block_on(async {
            let mut ran = 0usize;
            loop {
                if workers.is_stopping() {
                    return;
                }
                if let Ok(runnable) = global.pop() {
                    super::run(runnable);
                    ran += 1;
                    // The coarse clock that dates polls, every budget of tasks.
                    if ran % super::BUDGET == 0 {
                        shared.registry.ticks.mark();
                    }
                    continue;
                }
                if workers.watch(global) {
                    continue;
                }
                workers.sleep(&shared, global).await;
                shared.registry.ticks.mark();
            }
        })
    });
    // A poll that outlasted close may have rescheduled its task, or left it
    // registered: drop it (and anything else left) here, where nobody will
    // poll it again.
    scheduler.drop_queued(true);
    drop_abandoned(&shared);
    workers.done.fetch_add(1, Ordering::AcqRel);
    workers.exited.notify(usize::MAX);
}
