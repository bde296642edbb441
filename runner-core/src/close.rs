//! The close sequence, [`CloseReport`], [`on_close`] and [`closing`].

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use event_listener::{Event, EventListener};
use futures_lite::FutureExt;

use crate::context;
use crate::current;
use crate::debug;
use crate::executor::Shared;
use crate::task::{outside, TaskFuture};

/// A cleanup registered with [`on_close`], in the context of its registration.
type Cleanup = TaskFuture<Pin<Box<dyn Future<Output = ()> + Send>>>;

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
    /// Tasks still pending when close began.
    pub cancelled: usize,
    /// Of those, the ones whose futures close dropped (the others finished
    /// on their own after `closing()` woke them). Tasks spawned while
    /// closing count here too.
    pub dropped: usize,
    /// Panics nobody observed: detached tasks, and tasks and cleanups that
    /// panicked during close.
    pub panicked: usize,
    /// Blocking jobs still running when close stopped waiting for them.
    pub blocking_abandoned: usize,
    /// How long close took.
    pub elapsed: Duration,
}

/// The closing state a runner shares with [`closing`] and [`on_close`].
pub(crate) struct CloseState {
    /// Set when close begins.
    started: AtomicBool,
    /// Notified when close begins.
    event: Event,
    /// Registered cleanups, first registered first.
    cleanups: Mutex<Vec<Cleanup>>,
}

impl CloseState {
    pub(crate) fn new() -> CloseState {
        CloseState {
            started: AtomicBool::new(false),
            event: Event::new(),
            cleanups: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// Marks the runner closing and wakes `closing()`; returns whether any
    /// task was waiting on it.
    fn begin(&self) -> bool {
        let waiting = self.event.total_listeners() > 0;
        self.started.store(true, Ordering::Release);
        self.event.notify(usize::MAX);
        waiting
    }

    fn cleanups(&self) -> MutexGuard<'_, Vec<Cleanup>> {
        // A `Vec` push or pop cannot be left half-done: recover from poisoning.
        self.cleanups
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Closes the loop of `shared`, in the four steps of the API; the caller has
/// made it this thread's current runner.
pub(crate) fn close(
    shared: &Arc<Shared>,
    waker: &Waker,
    timeout: Duration,
    workers: Vec<JoinHandle<()>>,
) -> CloseReport {
    let start = Instant::now();

    // 1. Cancel every pending task: wake `closing()`, give the tasks that
    //    listen to it `timeout` to finish, then drop the rest.
    let cancelled = shared.pending_tasks();
    if shared.debug && cancelled > 0 {
        let mut message = format!("close: {cancelled} task(s) still pending");
        for site in shared.pending_sites() {
            message.push_str(&format!("\n  task spawned at {site}"));
        }
        debug::report(format_args!("{message}"));
    }
    let waiting = shared.closing.begin();
    if cancelled > 0 && waiting {
        shared.block_on_for(
            waker,
            timeout,
            until(&shared.tasks_done, || shared.pending_tasks() == 0),
        );
    }
    stop_workers(shared, workers, timeout);
    shared.drop_all_tasks();

    // 2. Run the cleanups, last registered first, within `timeout`; a
    //    cleanup may register another, which then runs next.
    let cleanups = async {
        loop {
            let next = shared.closing.cleanups().pop();
            match next {
                // A panic in a cleanup is caught and counted by its `TaskFuture`.
                Some(cleanup) => drop(cleanup.await),
                None => break,
            }
        }
    };
    shared.block_on_for(waker, timeout, cleanups);
    // Cleanups the timeout cut off drop here, in their contexts, after the
    // lock is released: their `Drop` may register cleanups of its own.
    let unrun = std::mem::take(&mut *shared.closing.cleanups());
    drop(unrun);
    // Cleanups may have spawned tasks.
    shared.drop_all_tasks();

    // 3. Wait for blocking jobs, within `timeout`.
    if shared.jobs.pending() > 0 {
        shared.block_on_for(
            waker,
            timeout,
            until(&shared.jobs.done, || shared.jobs.pending() == 0),
        );
    }

    // 4. The caller releases the loop and the context.
    if shared.debug {
        shared.report_unobserved();
    }
    CloseReport {
        cancelled,
        dropped: shared.dropped.load(Ordering::Acquire),
        panicked: shared.panicked.load(Ordering::Acquire),
        blocking_abandoned: shared.jobs.pending(),
        elapsed: start.elapsed(),
    }
}

/// Stops the workers and joins those that exit within `timeout`; one stuck
/// in a task's poll is left to finish on its own.
fn stop_workers(shared: &Shared, workers: Vec<JoinHandle<()>>, timeout: Duration) {
    if workers.is_empty() {
        return;
    }
    shared.stop_workers();
    let exited = until(&shared.exited, || shared.workers_running() == 0);
    async_io::block_on(exited.or(async {
        async_io::Timer::after(timeout).await;
    }));
    for worker in workers {
        if worker.is_finished() {
            // Workers catch every panic of the tasks they run.
            let _ = worker.join();
        }
    }
}

/// Resolves once `done()` holds; `event` is notified whenever it may have
/// changed.
async fn until(event: &Event, done: impl Fn() -> bool) {
    loop {
        if done() {
            return;
        }
        let listener = event.listen();
        if done() {
            return;
        }
        listener.await;
    }
}

/// Registers async cleanup that the runner running the caller awaits when
/// it closes, last registered first.
///
/// The cleanup runs in a copy of the caller's context. A cleanup that panics
/// is counted in [`CloseReport::panicked`]; the others still run. All of them
/// together get the runner's close timeout.
///
/// # Panics
///
/// Panics if called outside code that a [`Runner`](crate::Runner) is running.
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
    current::with(|shared, _| {
        let cleanup: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(cleanup);
        let cleanup = TaskFuture::new(shared.clone(), context::current_vars(), None, site, cleanup);
        shared.closing.cleanups().push(cleanup);
    })
    .unwrap_or_else(|| outside("runner::on_close"))
}

/// Returns a future that resolves when the runner running the caller starts
/// closing, so that a task can finish its own async cleanup.
///
/// If any task is waiting on it when close begins, close gives the pending
/// tasks up to the close timeout to finish before it drops them.
///
/// # Panics
///
/// Panics if called outside code that a [`Runner`](crate::Runner) is running.
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
    let shared =
        current::with(|shared, _| shared.clone()).unwrap_or_else(|| outside("runner::closing"));
    Closing {
        shared,
        listener: None,
    }
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
    /// Registered while waiting, so that close knows somebody listens.
    listener: Option<EventListener>,
}

impl Future for Closing {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            if self.shared.closing.is_closing() {
                self.listener = None;
                return Poll::Ready(());
            }
            match &mut self.listener {
                None => self.listener = Some(self.shared.closing.event.listen()),
                Some(listener) => {
                    futures_lite::ready!(Pin::new(listener).poll(cx));
                    self.listener = None;
                }
            }
        }
    }
}

impl std::fmt::Debug for Closing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Closing")
            .field("closing", &self.shared.closing.is_closing())
            .finish()
    }
}
