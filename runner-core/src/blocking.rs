//! [`unblock`]: blocking closures on a thread pool, in the caller's context.
//!
//! Jobs run on smol's global `blocking` pool, and each runner counts its own
//! jobs so that close can wait for them. A pool of our own would buy nothing
//! for that: a thread stuck in a job cannot be stopped, whoever owns it, so an
//! abandoned job holds a thread either way; and a pool per runner would start
//! and join threads with every runner instead of sharing warm ones.

use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::context;
use crate::debug;
use crate::info::SiteId;
use crate::local;
use crate::poll::{CaughtPanic, Output, WakerGuard};
use crate::shared::Shared;

/// Counts one job of a runner as pending (in its `Jobs`) until it drops,
/// also when the job panics.
struct Job(Arc<Shared>);

impl Job {
    fn start(shared: Arc<Shared>) -> Job {
        shared.jobs.start();
        Job(shared)
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.0.jobs.finish();
        if self.0.clock.is_virtual() {
            // A virtual clock waits for jobs before it auto-advances: an idle
            // loop may now jump.
            self.0.scheduler.wake_loop();
        }
    }
}

/// Runs a blocking closure on a thread pool and returns a future of its
/// result.
///
/// The closure runs in a copy of the caller's context taken at the call; the
/// pool thread's own context is never touched. Called from code that a
/// [`Runner`](crate::Runner) is running, the job counts as that runner's:
/// close waits for it, within the close timeout (a job that panicked counts
/// until its panic is resumed in whoever awaits it, or its future is
/// dropped, so that close reports the panic). The job starts at once,
/// whether or not the future is awaited; dropping the future before the job
/// starts cancels it. If the closure panics, awaiting the future resumes the
/// panic.
///
/// The context is the one of the *call*: `runner.run(unblock(f))` evaluates
/// `unblock(f)` before the run enters the runner's context, so `f` sees the
/// caller's; call it inside the run's `async` block to give `f` the
/// runner's context.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let sum = runner.run(runner::unblock(|| (1..=10).sum::<u32>()));
/// assert_eq!(sum, 55);
/// ```
#[track_caller]
pub fn unblock<F, R>(f: F) -> Unblock<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let site = Location::caller();
    let mut values = context::current_vars().into_values();
    let shared = local::current().map(|(shared, _)| shared);
    let job = shared.clone().map(Job::start);
    let owner = shared.clone();
    #[cfg(feature = "tokio")] // tokio: the job runs in its runner's tokio context
    let tokio = crate::tokio::JobContext::new(shared.as_deref().map(|shared| &shared.tokio));
    #[cfg(feature = "tracing")] // tracing: the job runs in the caller's span
    let span = crate::spans::TaskSpan::capture();
    let task = blocking::unblock(move || {
        #[cfg(feature = "tokio")] // tokio
        let _tokio = tokio.enter();
        #[cfg(feature = "tracing")] // tracing
        let _span = span.enter();
        let result = context::scope(&mut values, 0, None, || {
            panic::catch_unwind(AssertUnwindSafe(f))
        });
        // The context's values, and later the result, may panic when dropped.
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| drop(values))) {
            if let Some(shared) = &shared {
                shared.panics.count(
                    format_args!("the context of the blocking job started at {site}"),
                    debug::panic_message(&*payload),
                );
            }
        }
        match result {
            // The job counts as done as the closure returns.
            Ok(output) => Ok(Output::new(output, SiteId::of(site))),
            Err(payload) => Err(Failed {
                caught: CaughtPanic::new(payload, shared, site),
                _job: job,
            }),
        }
    });
    Unblock {
        task,
        owner,
        adopted: None,
        guard: None,
    }
}

/// The future returned by [`unblock`]: `Send + 'static`, so it can be
/// awaited inside [`spawn`](crate::spawn).
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let job: runner::Unblock<u64> = runner::unblock(|| 6 * 7);
/// assert_eq!(runner.run(runner.spawn(job)), 42);
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Unblock<R> {
    /// The job on the blocking pool.
    task: blocking::Task<Result<Output<R>, Failed>>,
    /// The runner the job was started in (which counts it), if any.
    owner: Option<Arc<Shared>>,
    /// A job started outside any runner counts, once a runner's code awaits
    /// it, as that runner's until it is done: a virtual clock does not jump
    /// past it.
    adopted: Option<Job>,
    /// What the job is polled with, made on the first poll: the blocking
    /// pool wakes it inside async-task's abort-on-panic guard, and it wakes
    /// the caller's waker inside `catch_unwind`.
    guard: Option<WakerGuard>,
}

/// A job's panic on its way to whoever awaits the job. The job stays pending
/// until the panic is resumed there or, when nobody awaits it any more,
/// counted as it drops (fields drop in order): close, which waits for the
/// runner's jobs, then sees that count, and never counts a panic that a task
/// resumes (and so reports as its own) while close runs.
struct Failed {
    caught: CaughtPanic,
    _job: Option<Job>,
}

impl<R> Future for Unblock<R> {
    type Output = R;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let this = &mut *self;
        if this.owner.is_none() && this.adopted.is_none() {
            this.adopted = local::current().map(|(shared, _)| Job::start(shared));
        }
        let guard = this.guard.get_or_insert_with(|| {
            let shared = this.owner.clone().or_else(|| {
                let adopted = this.adopted.as_ref();
                adopted.map(|job| job.0.clone())
            });
            WakerGuard::new("a waker woken by `runner::unblock`", shared)
        });
        let waker = guard.register(cx.waker());
        let polled = Pin::new(&mut this.task).poll(&mut Context::from_waker(waker));
        let result = futures_lite::ready!(polled);
        // Done: an adopted job no longer holds its runner's clock.
        this.adopted = None;
        match result {
            Ok(output) => Poll::Ready(output.into_inner()),
            Err(failed) => failed.caught.resume(),
        }
    }
}

impl<R> fmt::Debug for Unblock<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unblock").finish_non_exhaustive()
    }
}
