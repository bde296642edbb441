//! [`Runner`]: one event loop for many top-level runs, and the owner of
//! everything a started loop needs.
//!
//! A runner's lifecycle: *created* (no loop yet: `new` is cheap), then,
//! from the first run, spawn or `enter`, *open*, *closing* and *closed*
//! (see `lifecycle::Lifecycle`, the one state every path reads).

use std::borrow::Cow;
use std::cell::{Cell, OnceCell};
use std::fmt;
use std::future::{Future, IntoFuture};
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::builder::Builder;
use crate::close::{self, CloseReport};
use crate::config::Config;
use crate::context::{self, Context, OwnContext};
use crate::handle::{EnterGuard, Handle};
use crate::info::TaskInfo;
use crate::interrupt::{Interrupted, Sigint};
use crate::local;
use crate::poll::Timed;
use crate::registry::Submitter;
use crate::scheduler::{self, Park, Scheduler, Workers};
use crate::shared::Shared;
use crate::task::{self, Name, Task};
use crate::wait;

/// One event loop that runs many futures, one after the other, from sync
/// code: Python's `asyncio.Runner`.
///
/// Every [`run`](Self::run) blocks the calling thread until its future is
/// done, on the same loop and in the same [`Context`]: tasks spawned by one
/// run keep going during the next, and context variables set by one run are
/// seen by the next. [`close`](Self::close), or dropping the runner, cancels
/// what is left, runs the [`on_close`](crate::on_close) cleanups, and waits
/// for blocking jobs, each step within the close timeout.
///
/// A runner is created cheaply and starts its loop on the first run or spawn;
/// it then goes from created to started to closed, once. It stays on the
/// thread that created it (`!Send`), like the `!Send` tasks it runs.
///
/// # Examples
///
/// ```
/// use runner::Runner;
///
/// let runner = Runner::new();
/// let first = runner.run(async { 1 });
/// let second = runner.run(async move { first + 1 });
/// assert_eq!(second, 2);
/// let report = runner.close();
/// assert_eq!(report.cancelled, 0);
/// ```
pub struct Runner {
    /// Everything, behind the one field that makes `Runner` neither `Send`
    /// nor `Sync`: a misuse's compile error then names `Rc<ThreadBound>`
    /// within `Runner`, once per trait, instead of every cell inside. Never
    /// cloned: the count stays one.
    bound: Rc<ThreadBound>,
}

/// A runner's state, bound to the thread that created it (tasks spawned
/// with `spawn_local` belong to that thread, and the cells below are
/// unsynchronised).
struct ThreadBound {
    config: Config,
    /// The context every run executes in; taken by close, which releases it.
    context: Option<OwnContext>,
    /// The loop, once started; taken by close.
    started: OnceCell<Started>,
    /// When runs must stop, for `#[runner::test(timeout = ..)]`: counted
    /// from `build`, in real time; `None` for never.
    test_deadline: Option<Instant>,
}

/// A started loop: what a runner has from its first run, spawn or `enter`
/// until it closes.
struct Started {
    shared: Arc<Shared>,
    /// Wakes the future of the current run.
    waker: Waker,
    /// A second handle to `shared`, moved into the thread's running runner
    /// for each run and back (see `local::run`): a run pays no reference count.
    lent: Cell<Option<Arc<Shared>>>,
    /// This thread's Ctrl-C handling, looked up on the first run (a runner
    /// never changes threads): later runs skip the main-thread check.
    sigint: OnceCell<Option<&'static Sigint>>,
}

impl Runner {
    /// Creates a runner with the default settings.
    ///
    /// Cheap: it takes a snapshot of the calling thread's context and starts
    /// nothing until the first run or spawn.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// assert_eq!(runner.run(async { "done" }), "done");
    /// ```
    pub fn new() -> Runner {
        Builder::new().build()
    }

    /// Returns a [`Builder`] to configure a runner.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder().worker_threads(1).build();
    /// assert_eq!(runner.run(async { 1 }), 1);
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn with_config(config: Config) -> Runner {
        let bound = ThreadBound {
            test_deadline: config.test_timeout.and_then(wait::deadline_after),
            config,
            context: Some(OwnContext::new(context::current_vars())),
            started: OnceCell::new(),
        };
        Runner {
            bound: Rc::new(bound),
        }
    }

    /// Runs `future` to completion on this runner's loop, in the runner's
    /// context, and returns its output.
    ///
    /// The future need not be `Send` or `'static`. Tasks spawned earlier make
    /// progress while it runs. A future that is ready at its first poll
    /// never enters the loop.
    ///
    /// # Panics
    ///
    /// If `future` panics, the panic comes out of `run` with its original
    /// payload, and the runner stays usable.
    ///
    /// Panics with a message containing `cannot be called from a running
    /// event loop` if any runner is running on this thread (this one,
    /// another one, or a task calls it), before doing anything else.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let text = String::from("borrowed");
    /// let len = runner.run(async { text.len() });
    /// assert_eq!(len, 8);
    /// ```
    #[track_caller]
    pub fn run<F: IntoFuture>(&self, future: F) -> F::Output {
        match self.run_with("Runner::run", None, future) {
            Ok(output) => output,
            Err(interrupted) => unwind(interrupted),
        }
    }

    /// Runs `future` like [`run`](Self::run), but returns `Err(Interrupted)`
    /// instead of unwinding when Ctrl-C interrupts it.
    ///
    /// While a run executes on the main thread, and only if SIGINT still has
    /// its default disposition, the first Ctrl-C drops the run's future (its
    /// `Drop` code runs, in its context) and the run returns
    /// `Err(Interrupted)`; the runner stays usable. A second Ctrl-C before the
    /// run returns ends the process the default way. Outside runs, SIGINT is
    /// left alone (Linux only; elsewhere runs never intercept it).
    ///
    /// # Panics
    ///
    /// As [`run`](Self::run).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// match runner.try_run(async { 1 }) {
    ///     Ok(value) => assert_eq!(value, 1),
    ///     Err(runner::Interrupted) => println!("interrupted"),
    /// }
    /// ```
    #[track_caller]
    pub fn try_run<F: IntoFuture>(&self, future: F) -> Result<F::Output, Interrupted> {
        self.run_with("Runner::try_run", None, future)
    }

    /// Runs `future` like [`run`](Self::run), in `context` instead of the
    /// runner's context; what it sets goes to `context`.
    ///
    /// # Panics
    ///
    /// As [`run`](Self::run); also if `context` is entered already.
    ///
    /// # Examples
    ///
    /// ```
    /// static USER: runner::ContextVar<&str> = runner::ContextVar::new("user");
    ///
    /// let runner = runner::Runner::new();
    /// let ctx = runner::Context::new();
    /// runner.run_in(&ctx, async { USER.set("ada") });
    /// assert_eq!(ctx.get(&USER), Some("ada"));
    /// assert_eq!(runner.context().get(&USER), None);
    /// ```
    #[track_caller]
    pub fn run_in<F: IntoFuture>(&self, context: &Context, future: F) -> F::Output {
        match self.run_with("Runner::run_in", Some(context), future) {
            Ok(output) => output,
            Err(interrupted) => unwind(interrupted),
        }
    }

    #[track_caller]
    fn run_with<F: IntoFuture>(
        &self,
        function: &'static str,
        context: Option<&Context>,
        future: F,
    ) -> Result<F::Output, Interrupted> {
        // The running-loop check comes first, before any side effect: before
        // the loop starts, it is its own step; after, `local::run` makes it.
        let started = match self.bound.started.get() {
            Some(started) => started,
            None => {
                if local::is_running() {
                    local::nested(function);
                }
                self.start()
            }
        };
        let site = Location::caller();
        // `run_in` enters the given context, `run` the runner's own: its
        // values move onto the stack with the rest of the run's state,
        // unless a handle to them exists, which is entered like any context.
        let own = self.own_context();
        let entered = context.or_else(|| own.existing_handle());
        let frame = entered.is_none().then_some(own);
        let _running = local::run(function, &started.lent, &started.shared.scheduler, frame);
        // With `UnobservedPanics::Propagate`: a task's panic since the last run.
        if let Some(payload) = started.shared.panics.take_held() {
            panic::resume_unwind(payload);
        }
        #[cfg(feature = "tokio")] // tokio: the run's future is made, polled and dropped in it
        let _tokio = crate::tokio::enter_run(&started.shared.tokio);
        let _entered = entered.map(Context::enter);
        let future = pin!(Timed::new(
            future.into_future(),
            site,
            started.shared.slow_poll
        ));
        // Declared after the future, so SIGINT is back to its default before
        // the future drops: a Ctrl-C in its `Drop` then ends the process.
        let sigint = *started.sigint.get_or_init(Sigint::for_this_thread);
        let _armed = sigint.map(Sigint::arm);
        let shared = &started.shared;
        let Some(deadline) = self.bound.test_deadline else {
            return scheduler::block_on(shared, &started.waker, future, sigint, Park::Reactor);
        };
        // A test's timeout bounds every run, in real time.
        let bounded = pin!(wait::with_deadline(Some(deadline), future));
        match scheduler::block_on(shared, &started.waker, bounded, sigint, Park::Reactor)? {
            Some(output) => Ok(output),
            None => self.timed_out(started, site),
        }
    }

    /// The panic of a run that went past the test's timeout.
    #[track_caller]
    fn timed_out(&self, started: &Started, site: &Location<'_>) -> ! {
        let timeout = self.bound.config.test_timeout.unwrap_or(Duration::MAX);
        let tasks = started.shared.registry.tasks();
        let mut message = format!(
            "timed out after {timeout:?}, in the run at {site}; {} task(s) still pending",
            tasks.len()
        );
        for task in tasks {
            message.push_str(&format!("\n  {task}"));
        }
        panic!("{message}");
    }

    /// Spawns a `Send` task onto this runner.
    ///
    /// Callable before, between and during runs. The task starts with a copy
    /// of the runner's context and makes progress whenever the loop runs (and
    /// on the workers, if there are any).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let task = runner.spawn(async { 6 * 7 });
    /// assert_eq!(runner.run(task), 42);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(Location::caller(), None, future)
    }

    /// Spawns a `Send` task with a name onto this runner, as
    /// [`spawn`](Self::spawn) does.
    ///
    /// The name shows in [`tasks`](Self::tasks) and in the lines that debug
    /// mode, close reports and test timeouts print, next to the spawn site.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// runner.spawn_named("heartbeat", std::future::pending::<()>()).detach();
    /// assert_eq!(runner.tasks()[0].name(), Some("heartbeat"));
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(&self, name: impl Into<Cow<'static, str>>, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(Location::caller(), Some(name.into()), future)
    }

    /// [`spawn`](Self::spawn) and [`spawn_named`](Self::spawn_named).
    fn spawn_with<F>(
        &self,
        site: &'static Location<'static>,
        name: Name,
        future: F,
    ) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let shared = &self.start().shared;
        // Outside its runs, nothing has read the runner's coarse clock lately.
        if !local::is_running() {
            shared.registry.ticks.mark();
        }
        // A `Runner` is `!Send`: this is its own thread.
        task::spawn_on(
            shared,
            Submitter::Owner,
            self.own_context().vars(),
            site,
            name,
            future,
        )
    }

    /// A snapshot of every task of this runner that has not finished.
    ///
    /// Takes the registry's locks one shard at a time: tasks on worker
    /// threads go on meanwhile. Empty before the runner has started. From
    /// another thread, use [`Handle::tasks`](crate::Handle::tasks).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// runner.spawn_named("waiter", std::future::pending::<()>()).detach();
    /// runner.run(runner::yield_now());
    /// for task in runner.tasks() {
    ///     println!("{task}"); // task 1 "waiter" idle, spawned at src/main.rs:3:8, 1 poll, idle for 0ns
    /// }
    /// assert_eq!(runner.tasks().len(), 1);
    /// ```
    pub fn tasks(&self) -> Vec<TaskInfo> {
        match self.bound.started.get() {
            Some(started) => started.shared.registry.tasks(),
            None => Vec::new(),
        }
    }

    /// Spawns a task that need not be `Send`; it runs on this runner's thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let runner = runner::Runner::new();
    /// let name = Rc::new("local");
    /// let task = runner.spawn_local(async move { *name });
    /// assert_eq!(runner.run(task), "local");
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let site = Location::caller();
        let vars = self.own_context().vars();
        let shared = &self.start().shared;
        if !local::is_running() {
            shared.registry.ticks.mark();
        }
        task::spawn_local_on(shared, vars, site, None, future)
    }

    /// Enters this runner on the calling thread until the guard drops, so
    /// that [`spawn`](crate::spawn), [`spawn_local`](crate::spawn_local) and
    /// [`on_close`](crate::on_close) called outside any run go to it, as
    /// tokio's `Runtime::enter`.
    ///
    /// Guards nest; the innermost wins. Drop them in the reverse order of
    /// their making, as with tokio's `Runtime::enter`: each one leaves the
    /// innermost runner entered on this thread. `#[runner::scope]` and
    /// `#[runner::test]` enter their runner for the whole body.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let task = {
    ///     let _guard = runner.enter();
    ///     runner::spawn(async { 21 * 2 })
    /// };
    /// assert_eq!(runner.run(task), 42);
    /// ```
    pub fn enter(&self) -> EnterGuard<'_> {
        EnterGuard::new(&self.start().shared, local::Reach::Own)
    }

    /// Returns a [`Handle`] for other threads to spawn onto this runner and
    /// to run futures beside it.
    ///
    /// A handle does not keep the runner open: once the runner closes, the
    /// handle's calls return [`Closed`](crate::Closed).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let handle = runner.handle();
    /// let task = std::thread::spawn(move || handle.spawn(async { 1 }).unwrap())
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(runner.run(task), 1);
    /// ```
    pub fn handle(&self) -> Handle {
        Handle::new(self.start().shared.clone())
    }

    /// Returns a handle to the context that [`run`](Self::run) uses.
    ///
    /// It starts as a copy of the creating thread's context, taken by
    /// [`new`](Self::new) or [`Builder::build`].
    ///
    /// # Examples
    ///
    /// ```
    /// static STEP: runner::ContextVar<u32> = runner::ContextVar::new("step");
    ///
    /// let runner = runner::Runner::new();
    /// runner.run(async { STEP.set(1) });
    /// assert_eq!(runner.context().get(&STEP), Some(1));
    /// assert_eq!(runner.run(async { STEP.get() }), Some(1));
    /// ```
    pub fn context(&self) -> Context {
        self.own_context().handle().clone()
    }

    #[inline]
    fn own_context(&self) -> &OwnContext {
        self.bound
            .context
            .as_ref()
            .expect("a runner has its context until it closes")
    }

    /// Returns whether debug mode is on.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder().debug(false).build();
    /// assert!(!runner.is_debug());
    /// ```
    pub fn is_debug(&self) -> bool {
        self.bound.config.debug
    }

    /// Closes the runner and reports what close did.
    ///
    /// In order: cancels every pending task (waking [`closing`](crate::closing)
    /// first, and giving the tasks up to the close timeout to finish if any
    /// task waits on it; then dropping the futures of the rest, each in its
    /// own context); runs the [`on_close`](crate::on_close) cleanups, last
    /// registered first, within the close timeout; waits for blocking jobs
    /// within the close timeout; and releases the loop. Dropping a runner
    /// does the same. Close never panics and never waits past its timeouts.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// runner.spawn(std::future::pending::<()>()).detach();
    /// let report = runner.close();
    /// assert_eq!((report.cancelled, report.dropped), (1, 1));
    /// ```
    pub fn close(mut self) -> CloseReport {
        self.shut_down()
    }

    /// Makes a runner not yet started propagate unobserved panics, for
    /// `#[runner::test]`.
    #[doc(hidden)]
    pub fn __for_test(mut self) -> Runner {
        let bound = self.bound_mut();
        debug_assert!(bound.started.get().is_none(), "set before the loop starts");
        bound.config.unobserved_panics = crate::debug::UnobservedPanics::Propagate;
        self
    }

    /// Closes the runner, then resumes a task's panic that nobody observed
    /// and no run resumed, if any (`#[runner::test]`: the test fails).
    #[doc(hidden)]
    pub fn __close_for_test(mut self) -> CloseReport {
        let shared = self
            .bound
            .started
            .get()
            .map(|started| started.shared.clone());
        let report = self.shut_down();
        let held = shared.and_then(|shared| shared.panics.take_held());
        if let Some(payload) = held {
            panic::resume_unwind(payload);
        }
        report
    }

    /// The state, to change: the `Rc` is never cloned.
    fn bound_mut(&mut self) -> &mut ThreadBound {
        Rc::get_mut(&mut self.bound).expect("a runner's state has one owner")
    }

    /// The loop, started on first use.
    fn start(&self) -> &Started {
        self.bound
            .started
            .get_or_init(|| Started::start(&self.bound.config))
    }

    /// Closes the loop if it was started, then releases the context; a
    /// second call finds nothing to do.
    fn shut_down(&mut self) -> CloseReport {
        let bound = self.bound_mut();
        let Some(context) = bound.context.take() else {
            return CloseReport::default();
        };
        let Some(started) = bound.started.take() else {
            // Nothing ran: only the context to release, whose values' `Drop`
            // may panic like anywhere in close.
            let released = panic::catch_unwind(AssertUnwindSafe(|| drop(context)));
            return CloseReport {
                panicked: usize::from(released.is_err()),
                ..CloseReport::default()
            };
        };
        close::close(
            &started.shared,
            &started.waker,
            bound.config.close_timeout,
            context,
        )
    }
}

impl Started {
    fn start(config: &Config) -> Started {
        let shared = Arc::new(Shared::new(config));
        Workers::start(&shared);
        Started {
            waker: Scheduler::main_waker(&shared),
            lent: Cell::new(Some(shared.clone())),
            shared,
            sigint: OnceCell::new(),
        }
    }
}

/// Resumes a Ctrl-C as an unwind with the [`Interrupted`] payload; no panic
/// message is printed.
fn unwind<T>(interrupted: Interrupted) -> T {
    panic::resume_unwind(Box::new(interrupted))
}

impl Default for Runner {
    fn default() -> Runner {
        Runner::new()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        // Close never panics, so neither does this, even while unwinding.
        self.shut_down();
    }
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner")
            .field("debug", &self.bound.config.debug)
            .field("worker_threads", &self.bound.config.worker_threads)
            .field("close_timeout", &self.bound.config.close_timeout)
            .field(
                "slow_poll_threshold",
                &self.bound.config.slow_poll_threshold,
            )
            .field("started", &self.bound.started.get().is_some())
            .field("closed", &self.bound.context.is_none())
            .finish_non_exhaustive()
    }
}
