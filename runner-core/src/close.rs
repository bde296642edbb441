//! The close sequence, [`CloseReport`], [`on_close`] and [`closing`].
//!
//! Close follows CPython's `Runner.close`, in four numbered steps, each
//! bounded by the close timeout (step 2: each cleanup):
//!
//! 1. cancel the pending tasks: wake [`closing`]; if any task waits on it,
//!    run the loop until the tasks finish or the timeout; from then on no
//!    task is polled (the lifecycle is cancelled); stop the workers; drop
//!    the futures of the tasks left, each in its own context, waiting for
//!    wakes in flight, except those a worker is still polling at the
//!    timeout (abandoned);
//! 2. run the [`on_close`] cleanups, last registered first, each within the
//!    timeout, then drop the tasks they spawned; repeat while that
//!    registers more cleanups;
//! 3. wait for the blocking jobs;
//! 4. mark the runner closed, drop whatever a late `Drop` spawned or
//!    registered, and release the runner's context.
//!
//! Nothing in it can panic out: every future, value and waker that user
//! code supplies is dropped or woken inside `catch_unwind` (see `poll`), and
//! every wait parks the plain way, so close works while the thread's locals
//! are being destroyed (a `Runner` in a `thread_local!`).

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::context::{self, OwnContext};
use crate::debug;
use crate::hooks::{self, Cleanup};
use crate::lifecycle::State;
use crate::local;
use crate::poll::{Origin, Polled};
use crate::scheduler::{self, Park};
use crate::shared::Shared;
use crate::spans::TaskSpan;
use crate::wait::{self, Deadline};

/// How many times close goes back for work that dropping or cleaning up
/// made (a `Drop` that spawns, a cleanup that registers another).
const ROUNDS: usize = 100;

/// What [`Runner::close`](crate::Runner::close) did.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// runner.spawn(std::future::pending::<()>()).detach();
/// let report = runner.close();
/// assert_eq!(report.cancelled, 1);
/// assert_eq!(report.dropped, 1);
/// assert_eq!(report.panicked, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseReport {
    /// Tasks that close cancelled: those still pending when close began,
    /// plus those spawned while it ran (close cancels them too).
    pub cancelled: usize,
    /// Of those, the ones whose futures close dropped; the others finished
    /// on their own after `closing()` woke them (or were abandoned).
    pub dropped: usize,
    /// Panics nobody observed: in detached tasks, in tasks and cleanups
    /// during close, and in the `Drop` of futures, outputs and context
    /// values that close released.
    pub panicked: usize,
    /// Of `cancelled`, the tasks that a worker thread (or a thread inside
    /// [`Handle::block_on`](crate::Handle::block_on)) was still polling when
    /// close gave up waiting for it; that thread drops them when the poll
    /// returns. `dropped + abandoned <= cancelled` always holds.
    pub abandoned: usize,
    /// Blocking jobs still running when close stopped waiting for them.
    pub blocking_abandoned: usize,
    /// How long close took.
    pub elapsed: Duration,
}

/// Closes the loop of `shared` in the four steps of the module docs, then
/// releases `context`.
pub(crate) fn close(
    shared: &Arc<Shared>,
    waker: &Waker,
    timeout: Duration,
    context: OwnContext,
) -> CloseReport {
    let start = Instant::now();
    // Cleanups and dropped futures may call `runner::spawn` and `on_close`.
    let _running = local::close(shared.clone());
    let _active = local::activate(&shared.scheduler);
    // tokio: whatever close polls and drops does so in the runner's tokio context.
    #[cfg(feature = "tokio")]
    let _tokio = crate::tokio::enter(&shared.tokio);

    // 1. Cancel every pending task: wake `closing()`, give the tasks that
    //    listen to it `timeout` to finish, then drop the rest.
    if shared.is_debug() {
        report_pending(shared);
    }
    // The waiters are taken under their lock, which a `closing()` takes to
    // register, and the lifecycle moves on under it: with none, no task is
    // polled from here on (cancelled at once); with some, tasks have the
    // grace of `timeout` (closing). They are woken once it is released.
    let waiters = {
        let mut waiters = shared.hooks.waiters();
        let state = if waiters.is_empty() {
            State::Cancelled
        } else {
            State::Closing
        };
        shared.registry.advance(&shared.lifecycle, state);
        waiters.drain().collect::<Vec<_>>()
    };
    let waiting = hooks::wake(waiters, &shared.panics);
    if waiting {
        if shared.registry.pending() > 0 {
            let registry = &shared.registry;
            let finished = pin!(wait::condition(&registry.empty, || registry.pending() == 0));
            wait(shared, waker, timeout, finished);
        }
        shared.registry.advance(&shared.lifecycle, State::Cancelled);
    }
    // From here on every runnable a loop, worker or helper takes is dropped
    // unpolled. The workers stop after the poll they are in, if any; then
    // every registered task is dropped, wakes in flight included.
    let deadline = shared.scheduler.workers.stop(timeout);
    let dropped = drop_tasks(shared, deadline);

    // 2. Run the cleanups, last registered first, each within `timeout`;
    //    then drop the tasks they spawned, whose `Drop` may register more.
    //    With no cleanup and no task left (the common case) there is no
    //    loop to run and no deadline to take.
    if shared.hooks.cleanups().is_empty() && !(dropped && drop_pass(shared)) {
        return finish(shared, waker, timeout, context, start);
    }
    let cleanups = pin!(async {
        for _ in 0..ROUNDS {
            loop {
                let next = shared.hooks.cleanups().pop();
                let Some(cleanup) = next else {
                    break;
                };
                // A cleanup's panic is caught and counted by its `Polled`; a
                // hung one is dropped at its own deadline, and those
                // registered before it still run.
                let bounded = wait::with_deadline(wait::deadline_after(timeout), cleanup);
                if bounded.await.is_none() && shared.is_debug() {
                    debug::report(format_args!(
                        "close: a cleanup did not finish within {timeout:?}: dropped"
                    ));
                }
            }
            if !drop_pass(shared) {
                break;
            }
        }
    });
    // Without a Ctrl-C handle there is no `Interrupted`.
    let _ = scheduler::block_on(shared, waker, cleanups, None, Park::Thread);

    finish(shared, waker, timeout, context, start)
}

/// Steps 3 and 4 of [`close`], and the report.
fn finish(
    shared: &Arc<Shared>,
    waker: &Waker,
    timeout: Duration,
    context: OwnContext,
    start: Instant,
) -> CloseReport {
    // 3. Wait for blocking jobs, within `timeout`.
    if shared.jobs.pending() > 0 {
        let jobs = &shared.jobs;
        let done = pin!(wait::condition(&jobs.done, || jobs.pending() == 0));
        wait(shared, waker, timeout, done);
    }

    // 4. Closed: from now on a spawn or a cleanup is dropped at once. Drop
    //    what the timeouts cut off and what late `Drop`s made, then the
    //    runner's context; a `Drop` there may spawn or register once more.
    shared.registry.advance(&shared.lifecycle, State::Closed);
    for _ in 0..ROUNDS {
        let cleanups = std::mem::take(&mut *shared.hooks.cleanups());
        let had_cleanups = !cleanups.is_empty();
        drop(cleanups);
        if !drop_pass(shared) && !had_cleanups {
            break;
        }
    }
    // Step 1 waited for wakes in flight; a task still inside a poll on a
    // worker or helper is abandoned to that thread: a last few looks only.
    drop_tasks(shared, Deadline::Now);
    // A virtual clock never moves again: whoever still awaits one of its
    // timers (outside the runner) is told so when it polls it.
    shared.clock.wake_all(&shared.panics);
    release(shared, context);
    if shared.is_debug() {
        shared.panics.report_pending();
    }
    let counts = shared.registry.counts();
    CloseReport {
        cancelled: counts.cancelled,
        dropped: counts.dropped,
        abandoned: counts.pending,
        panicked: shared.panics.total(),
        blocking_abandoned: shared.jobs.pending(),
        elapsed: start.elapsed(),
    }
}

/// Runs the loop until `future` finishes or `timeout` passes.
fn wait(
    shared: &Arc<Shared>,
    waker: &Waker,
    timeout: Duration,
    future: Pin<&mut dyn Future<Output = ()>>,
) {
    let bounded = pin!(wait::with_deadline(wait::deadline_after(timeout), future));
    // Without a Ctrl-C handle there is no `Interrupted`.
    let _ = scheduler::block_on(shared, waker, bounded, None, Park::Thread);
}

/// Drops the futures of all registered tasks, each in its own context (their
/// `Polled` does that, and counts them as dropped), until none is left:
/// a task whose wake is in flight on another thread (woken, not yet queued)
/// is dropped when its runnable lands. Gives up at `deadline` on the tasks
/// still inside a poll on a worker or a helper (close's `abandoned`: that
/// thread drops them when the poll returns). Returns whether it dropped any.
/// Call with the lifecycle cancelled, so that nothing polls them meanwhile.
fn drop_tasks(shared: &Arc<Shared>, deadline: Deadline) -> bool {
    debug_assert!(shared.lifecycle.is_cancelled());
    let mut any = false;
    let mut pause = Duration::from_micros(10);
    let mut rounds_past_deadline = 0;
    // Taken only when there is something to wait for.
    let mut at = None;
    loop {
        any |= drop_pass(shared);
        if shared.registry.pending() == 0 {
            return any;
        }
        let deadline = *at.get_or_insert_with(|| deadline.instant());
        // A few more looks past the deadline, for wakes in flight.
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            rounds_past_deadline += 1;
            if rounds_past_deadline > 3 {
                return any;
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(1));
    }
}

/// One pass of [`drop_tasks`], without waiting: wakes every registered task
/// (its runnable shows up in a shared queue: the loop is not active here)
/// and drops what the queues hold, while that turns anything up (a dropped
/// future may spawn or wake other tasks), a bounded number of times.
/// Returns whether it dropped any.
fn drop_pass(shared: &Arc<Shared>) -> bool {
    // A queued runnable belongs to a registered task (a task leaves the
    // registry only once its future is gone): with none, there is nothing to
    // wake or drop. A spawn racing with this read is one that came after it.
    if shared.registry.pending() == 0 {
        return false;
    }
    // The runner's tasks drop here: their `Polled` find it in `polling`.
    local::polling(shared, || {
        let mut any = false;
        for _ in 0..ROUNDS {
            for waker in shared.registry.wakers() {
                waker.wake();
            }
            if !shared.scheduler.drop_queued(false) {
                break;
            }
            any = true;
        }
        any
    })
}

/// Drops the runner's own handle to its context, whose values' `Drop` may
/// panic: counted, like any panic in close.
fn release(shared: &Shared, context: OwnContext) {
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| drop(context))) {
        shared.panics.count(
            format_args!("dropping the runner's context"),
            debug::panic_message(&*payload),
        );
    }
}

/// Reports the tasks still pending as close begins (debug mode).
fn report_pending(shared: &Shared) {
    let tasks = shared.registry.tasks();
    if tasks.is_empty() {
        return;
    }
    let mut message = format!("close: {} task(s) still pending", tasks.len());
    for task in tasks {
        message.push_str(&format!("\n  {task}"));
    }
    debug::report(format_args!("{message}"));
}

/// Registers async cleanup that the runner running the caller awaits when
/// it closes, last registered first.
///
/// The cleanup runs in a copy of the caller's context. A cleanup that panics
/// is counted in [`CloseReport::panicked`]; the others still run. Each gets
/// the runner's close timeout of its own: one that hangs is dropped at its
/// timeout, and those registered before it still run. A cleanup registered while the
/// runner closes still runs (or, past the timeout, is dropped); one
/// registered after close has finished is dropped at once.
///
/// # Panics
///
/// Panics if called outside code that a [`Runner`](crate::Runner) is running
/// and outside a [`Runner::enter`](crate::Runner::enter) guard.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let runner = runner::Runner::new();
/// for name in ["database", "cache"] {
///     let log = log.clone();
///     runner.run(async move {
///         runner::on_close(async move { log.lock().unwrap().push(name) });
///     });
/// }
/// runner.close();
/// assert_eq!(*log.lock().unwrap(), ["cache", "database"]);
/// ```
#[track_caller]
pub fn on_close<F>(cleanup: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let site = Location::caller();
    let (shared, _) = local::current_or_panic("runner::on_close");
    let vars = context::current_vars();
    let span = TaskSpan::capture();
    let polled = Polled::cleanup(shared.clone(), Origin::cleanup(site), vars, span, cleanup);
    // Its outcome is dropped: a panic in it was counted by `Polled`.
    let cleanup: Cleanup = Box::pin(async move { drop(polled.await) });
    let mut cleanups = shared.hooks.cleanups();
    if shared.lifecycle.get() == State::Closed {
        // Nothing will run it: drop it now, outside the lock.
        drop(cleanups);
        drop(cleanup);
        return;
    }
    cleanups.push(cleanup);
}

/// Returns a future that resolves when the runner running the caller starts
/// closing, so that a task can finish its own async cleanup.
///
/// If any task is waiting on it when close begins, close gives the pending
/// tasks up to the close timeout to finish before it drops them.
///
/// # Panics
///
/// Panics if called outside code that a [`Runner`](crate::Runner) is running
/// and outside a [`Runner::enter`](crate::Runner::enter) guard.
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// let flushed = Arc::new(AtomicBool::new(false));
/// let runner = runner::Runner::new();
/// let flag = flushed.clone();
/// runner.run(async move {
///     runner::spawn(async move {
///         runner::closing().await;
///         runner::yield_now().await; // some async cleanup
///         flag.store(true, Ordering::SeqCst);
///     })
///     .detach();
///     runner::yield_now().await;
/// });
/// let report = runner.close();
/// assert!(flushed.load(Ordering::SeqCst));
/// assert_eq!((report.cancelled, report.dropped), (1, 0));
/// ```
#[track_caller]
pub fn closing() -> Closing {
    let (shared, _) = local::current_or_panic("runner::closing");
    Closing { shared, key: None }
}

/// The future returned by [`closing`]: `Send + 'static`, so a spawned task
/// can wait on it.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let closing: runner::Closing = runner.run(async { runner::closing() });
/// runner.spawn(closing).detach();
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Closing {
    shared: Arc<Shared>,
    /// Its waker's slot among the waiters, while it waits.
    key: Option<usize>,
}

impl Future for Closing {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        // The lifecycle is read under the waiters' lock: close moves it on
        // before it drains the waiters, so either it is seen or we are woken.
        let mut waiters = this.shared.hooks.waiters();
        if !this.shared.lifecycle.is_open() {
            this.key = None;
            return Poll::Ready(());
        }
        match this.key.and_then(|key| waiters.get_mut(key)) {
            Some(waker) => waker.clone_from(cx.waker()),
            None => this.key = Some(waiters.insert(cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            // Gone from the slab already if close began.
            self.shared.hooks.waiters().try_remove(key);
        }
    }
}

impl fmt::Debug for Closing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Closing")
            .field("closing", &!self.shared.lifecycle.is_open())
            .finish()
    }
}
