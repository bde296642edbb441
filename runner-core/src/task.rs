//! Tasks: [`Task`], [`spawn`], [`spawn_local`], and the wrapper every task
//! future runs in.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use pin_project_lite::pin_project;

use crate::context::{self, Vars};
use crate::current;
use crate::debug;
use crate::executor::Shared;

/// What a task's future produced: its output, or the panic it raised.
pub(crate) type Outcome<T> = Result<T, CaughtPanic>;

/// A panic caught in a task or a blocking job, on its way to whoever awaits
/// it. Dropped without being resumed, it counts as unobserved.
pub(crate) struct CaughtPanic {
    /// Taken when resumed.
    payload: Option<Box<dyn Any + Send>>,
    /// The runner that counts it if nobody observes it; taken once counted.
    shared: Option<Arc<Shared>>,
    /// Where the task or job that panicked was spawned.
    site: &'static Location<'static>,
}

impl CaughtPanic {
    pub(crate) fn new(
        payload: Box<dyn Any + Send>,
        shared: Option<Arc<Shared>>,
        site: &'static Location<'static>,
    ) -> CaughtPanic {
        let mut caught = CaughtPanic {
            payload: Some(payload),
            shared,
            site,
        };
        // A panic during close has no one left to observe it: count it now.
        if caught
            .shared
            .as_ref()
            .is_some_and(|shared| shared.closing.is_closing())
        {
            caught.count();
        }
        caught
    }

    /// Resumes the panic in the caller, with its original payload.
    pub(crate) fn resume(mut self) -> ! {
        let payload = self
            .payload
            .take()
            .expect("only `resume` takes the payload");
        panic::resume_unwind(payload)
    }

    fn count(&mut self) {
        if let (Some(shared), Some(payload)) = (self.shared.take(), &self.payload) {
            shared.count_unobserved(self.site, debug::panic_message(&**payload));
        }
    }
}

impl Drop for CaughtPanic {
    fn drop(&mut self) {
        // Resumed (no payload) or counted already (no runner): nothing to do.
        self.count();
    }
}

pin_project! {
    /// A task's future, in the task's own context.
    ///
    /// Every poll enters the task's context and catches panics; the future is
    /// dropped inside the context too, as soon as it completes or when the
    /// task is cancelled, and the task then leaves the runner's registry.
    pub(crate) struct TaskFuture<F> {
        // The runner the task belongs to.
        shared: Arc<Shared>,
        // The task's context: its own values, switched in on every poll.
        vars: Vars,
        // Its slot in the runner's registry of pending tasks, if it has one.
        key: Option<usize>,
        // Where it was spawned, for debug reports.
        site: &'static Location<'static>,
        // `None` once completed.
        #[pin]
        future: Option<F>,
    }

    impl<F> PinnedDrop for TaskFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.future.is_some() {
                if this.shared.draining.load(Ordering::Acquire) {
                    this.shared.dropped.fetch_add(1, Ordering::Relaxed);
                }
                drop_in(this.vars, this.future, this.shared, this.site);
            }
            if let Some(key) = this.key.take() {
                this.shared.unregister(key);
            }
        }
    }
}

impl<F: Future> TaskFuture<F> {
    pub(crate) fn new(
        shared: Arc<Shared>,
        vars: Vars,
        key: Option<usize>,
        site: &'static Location<'static>,
        future: F,
    ) -> TaskFuture<F> {
        TaskFuture {
            shared,
            vars,
            key,
            site,
            future: Some(future),
        }
    }
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = Outcome<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut slot = this.future;
        // Debug mode times every poll; otherwise this costs one branch.
        let started = this.shared.debug.then(Instant::now);
        let (polled, dropped) = context::scope(this.vars, || {
            let Some(future) = slot.as_mut().as_pin_mut() else {
                unreachable!("async-task never polls a completed future");
            };
            let polled = panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx)));
            // A finished future drops now, within the same context switch,
            // rather than whenever the task's allocation goes.
            let dropped = match polled {
                Ok(Poll::Pending) => Ok(()),
                _ => panic::catch_unwind(AssertUnwindSafe(|| slot.set(None))),
            };
            (polled, dropped)
        });
        if let Some(started) = started {
            let threshold = this.shared.slow_poll_threshold;
            debug::check_poll(started.elapsed(), threshold, "task spawned", this.site);
        }
        if let Err(payload) = dropped {
            this.shared
                .count_unobserved(this.site, debug::panic_message(&*payload));
        }
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(CaughtPanic::new(
                payload,
                Some(this.shared.clone()),
                this.site,
            ))),
        }
    }
}

/// Drops a task's future inside the task's context; a panic in its `Drop`
/// counts as unobserved.
fn drop_in<F>(
    vars: &mut Vars,
    mut future: Pin<&mut Option<F>>,
    shared: &Shared,
    site: &Location<'_>,
) {
    let dropped = context::scope(vars, || {
        panic::catch_unwind(AssertUnwindSafe(|| future.set(None)))
    });
    if let Err(payload) = dropped {
        shared.count_unobserved(site, debug::panic_message(&*payload));
    }
}

/// A handle to a spawned task: a future that resolves to the task's output.
///
/// Dropping a `Task` cancels the task (its future is dropped, inside the
/// task's context); [`detach`](Self::detach) lets it run on its own instead.
/// Awaiting a task that panicked resumes that panic, with its original
/// payload. `Task<T>` is `Send` when `T` is.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let task = runner.spawn(async { 1 + 2 });
/// assert_eq!(runner.run(task), 3);
/// ```
#[must_use = "dropping a `Task` cancels it; `.detach()` it to let it run on its own"]
pub struct Task<T> {
    inner: async_task::FallibleTask<Outcome<T>>,
}

impl<T> Task<T> {
    pub(crate) fn new(inner: async_task::FallibleTask<Outcome<T>>) -> Task<T> {
        Task { inner }
    }

    /// Lets the task run on its own; its output is dropped.
    ///
    /// A detached task that panics is counted in
    /// [`CloseReport::panicked`](crate::CloseReport::panicked).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let runner = runner::Runner::new();
    /// let done = Arc::new(AtomicBool::new(false));
    /// let flag = done.clone();
    /// runner.spawn(async move { flag.store(true, Ordering::SeqCst) }).detach();
    /// runner.run(runner::yield_now());
    /// assert!(done.load(Ordering::SeqCst));
    /// ```
    pub fn detach(self) {
        self.inner.detach();
    }

    /// Cancels the task and waits until its future has been dropped.
    ///
    /// Returns the output if the task finished before it could be cancelled.
    ///
    /// # Panics
    ///
    /// Resumes the task's panic if it had panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let task = runner.spawn(std::future::pending::<()>());
    /// assert_eq!(runner.run(task.cancel()), None);
    /// ```
    pub async fn cancel(self) -> Option<T> {
        match self.inner.cancel().await? {
            Ok(output) => Some(output),
            Err(caught) => caught.resume(),
        }
    }

    /// Returns `true` once the task has finished or was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let task = runner.spawn(async {});
    /// assert!(!task.is_finished());
    /// runner.run(runner::yield_now());
    /// assert!(task.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.inner).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(output))) => Poll::Ready(output),
            Poll::Ready(Some(Err(caught))) => caught.resume(),
            Poll::Ready(None) => {
                panic!("the task was cancelled: its runner closed before it finished")
            }
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Spawns a task onto the runner that is running the caller.
///
/// The task starts with a copy of the caller's current context and runs
/// whenever the runner's loop runs (and on the workers, if it has any).
///
/// # Panics
///
/// Panics if called outside code that a [`Runner`](crate::Runner) is running.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let sum = runner.run(async {
///     let task = runner::spawn(async { 1 + 2 });
///     task.await
/// });
/// assert_eq!(sum, 3);
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let site = Location::caller();
    current::with(|shared, _| shared.spawn(context::current_vars(), site, future))
        .unwrap_or_else(|| outside("runner::spawn"))
}

/// Spawns a task that need not be `Send` onto the runner that is running
/// the caller; it runs on the runner's own thread.
///
/// # Panics
///
/// Panics if called outside code that a [`Runner`](crate::Runner) is
/// running, or from one of its worker threads.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// let runner = runner::Runner::new();
/// let len = runner.run(async {
///     let shared = Rc::new(vec![1, 2, 3]);
///     runner::spawn_local(async move { shared.len() }).await
/// });
/// assert_eq!(len, 3);
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let site = Location::caller();
    current::with(|shared, on_worker| {
        if on_worker {
            panic!(
                "`runner::spawn_local` cannot be called on a worker thread; use `runner::spawn`"
            );
        }
        shared.spawn_local(context::current_vars(), site, future)
    })
    .unwrap_or_else(|| outside("runner::spawn_local"))
}

/// The panic of a function that needs a running runner, called outside one.
#[track_caller]
pub(crate) fn outside(function: &str) -> ! {
    panic!("`{function}` must be called from code that a `runner::Runner` is running")
}
