//! Python's [`asyncio.Runner`] for Rust: one event loop, many top-level runs.
//!
//! Sync code (a CLI `main`, a test, a sync library) often calls several async
//! functions in a row that should share one event loop: a connection opened by
//! the first call is used by the second, background tasks keep going between
//! calls, and context such as a request id carries across. A [`Runner`] is that
//! loop, and [`#[runner::scope]`](scope) gives a function one:
//!
//! ```
//! async fn double(n: u32) -> u32 {
//!     runner::yield_now().await;
//!     n * 2
//! }
//!
//! #[runner::scope]
//! fn total() -> u32 {
//!     let a = run!(double(1)); // every run! shares one Runner,
//!     a + run!(double(a)) // closed when `total` returns
//! }
//!
//! assert_eq!(total(), 6);
//! ```
//!
//! The same without the macro:
//!
//! ```
//! let runner = runner::Runner::new();
//! let a = runner.run(async { 1 });
//! let b = runner.run(async move { a + 1 });
//! assert_eq!(b, 2);
//! let report = runner.close();
//! assert_eq!(report.cancelled, 0);
//! ```
//!
//! The package is `asyncio-runner` on crates.io; the library is `runner`:
//!
//! ```toml
//! [dependencies]
//! runner = { package = "asyncio-runner", version = "0.1" }
//! ```
//!
//! # What else is in the box
//!
//! - **Tests**: [`#[runner::test]`](test) is `#[test]` with a runner of its
//!   own, also on an `async fn`, as `#[tokio::test]` (changing the attribute
//!   is the whole migration of a current-thread tokio test). Options:
//!   `timeout = "5s"` (fails a test that blocks its thread too), `shared`
//!   (every `run!` of every such test runs on [`shared()`], one runner for
//!   the whole test binary, so a server started by one test serves the
//!   others), and `virtual_time`. A panic in a task nobody awaits fails the
//!   test ([`Builder::unobserved_panics`]).
//! - **Virtual time**: [`Builder::virtual_time`] starts the runner's clock
//!   paused; [`sleep`], [`timeout`] and [`now`] use it, and it jumps to the
//!   next timer when the loop has nothing to do, so an hour of retries takes
//!   milliseconds. [`advance`] moves it by hand; [`hold_clock`] holds it
//!   during real I/O.
//! - **tokio-based crates**: with the cargo feature `tokio`, futures of
//!   reqwest, sqlx, tonic, `tokio::net` and `tokio::time` work in runs,
//!   tasks, [`unblock`] jobs and cleanups with no wrapper; see [Coming from
//!   tokio](#coming-from-tokio) for what differs from a tokio runtime.
//! - **Other threads**: [`Runner::handle`] gives a `Send + Sync` [`Handle`];
//!   [`shared()`] is one runner for the whole process.
//!
//! # Coming from tokio
//!
//! `#[tokio::test] async fn` becomes `#[runner::test] async fn`, and
//! `#[tokio::main] async fn main` becomes `#[runner::scope] async fn main`:
//! the body is one run on the scope's runner, with the same `Result` returns
//! and `?`. With the `tokio` feature, tokio's own sockets, timers, channels,
//! `tokio::spawn` and `spawn_blocking` work inside. What differs, because
//! runner enters tokio's *handle* around user code, never a tokio runtime:
//!
//! - tokio's `blocking_*` calls (`mpsc::Receiver::blocking_recv`,
//!   `Sender::blocking_send`, `Semaphore::blocking_acquire`,
//!   `Mutex::blocking_lock`) inside a run or a task block the runner's thread
//!   instead of panicking with "Cannot block the current thread from within a
//!   runtime": the run then hangs, and a test's `timeout` reports it as
//!   blocked. `.await` the async form, or call the blocking one in
//!   [`unblock`]. (Entering tokio's runtime context is only possible through
//!   tokio's own `block_on`, which cannot host runner's loop.)
//! - tokio's cooperative budget does not apply inside runs: a loop over
//!   always-ready tokio I/O (a socket with data always waiting, an unbounded
//!   channel kept full) never yields to the loop, so a `tokio::time::timeout`
//!   or [`timeout`] around it never fires and a test's `timeout` cannot end
//!   it either (the watchdog then says the test is "blocked or never
//!   yields"). Call [`yield_now`] in such loops.
//! - under [virtual time](Builder::virtual_time), a [`timeout`] around real
//!   tokio I/O can fire early: the clock jumps once the loop has been idle
//!   for the auto-advance threshold of real time, whether or not an answer is
//!   on its way. Hold the clock with [`hold_clock`] around real I/O.
//! - tokio's `#[tokio::test(flavor = "multi_thread")]` maps to
//!   `#[runner::test(worker_threads = N)]`; `start_paused = true` to
//!   `virtual_time` (runner's clock, not tokio's: `tokio::time::sleep`
//!   counts real time, [`sleep`] counts virtual time).
//!
//! # Tracing spans
//!
//! Turn on the cargo feature `tracing` and spans follow tasks, as context
//! variables do: a task starts inside the `tracing` span current where it
//! was spawned, and re-enters it for every poll and while its future is
//! dropped, on whatever thread polls it; [`unblock`] jobs and [`on_close`]
//! cleanups do the same. A span entered around a run covers the run's own
//! future and no task (each task keeps its own, or none), and
//! `.instrument(span)` on a future still wins inside it.
//!
//! ```toml
//! [dependencies]
//! runner = { package = "asyncio-runner", version = "0.1", features = ["tracing"] }
//! ```
//!
//! Without the feature, a span belongs to a thread, not to a task: a span
//! entered around a run is current for everything the loop polls during
//! that run, unrelated tasks included, and a task spawned inside it does not
//! carry it along. Two patterns give a task its span then: instrument its
//! future when spawning it (`.in_current_span()` or `.instrument(span)`,
//! from [`tracing::Instrument`]), or keep the span in a [`ContextVar`] and
//! have the task instrument itself with it. Both still work with the
//! feature.
//!
//! [`tracing::Instrument`]: https://docs.rs/tracing/latest/tracing/trait.Instrument.html
//!
//! ```
//! use runner::ContextVar;
//! use tracing::{Instrument, Span};
//!
//! /// The span of the request being served.
//! static REQUEST_SPAN: ContextVar<Span> = ContextVar::new("request_span");
//!
//! fn current_span() -> Option<&'static str> {
//!     Span::current().metadata().map(|metadata| metadata.name())
//! }
//!
//! async fn handle() -> Option<&'static str> {
//!     runner::yield_now().await;
//!     current_span()
//! }
//!
//! # let subscriber = tracing_subscriber::fmt().with_writer(std::io::sink).finish();
//! # tracing::subscriber::with_default(subscriber, || {
//! let runner = runner::Runner::new();
//!
//! // Without the feature, the trap: a span entered around a run covers
//! // whatever the loop polls. With it, the task keeps its own (none).
//! let unrelated = runner.spawn(async { current_span() });
//! let batch = tracing::info_span!("batch");
//! let seen = {
//!     let _entered = batch.enter();
//!     runner.run(unrelated)
//! };
//! let trap = if cfg!(feature = "tracing") { None } else { Some("batch") };
//! assert_eq!(seen, trap);
//!
//! runner.run(async {
//!     let request = tracing::info_span!("request", id = 7);
//!     // 1. Instrument the task's future: the span is entered for each of
//!     //    its polls, and only for those.
//!     let task = {
//!         let _entered = request.enter();
//!         runner::spawn(handle().in_current_span())
//!     };
//!     assert_eq!(task.await, Some("request"));
//!     // 2. A context variable: the task gets a copy of this context, finds
//!     //    the span there, and instruments its own work with it.
//!     REQUEST_SPAN.set(request);
//!     let task = runner::spawn(async {
//!         let span = REQUEST_SPAN.get().unwrap_or_else(Span::none);
//!         handle().instrument(span).await
//!     });
//!     assert_eq!(task.await, Some("request"));
//! });
//! # });
//! ```
//!
//! [`asyncio.Runner`]: https://docs.python.org/3/library/asyncio-runner.html#asyncio.Runner

pub use runner_core::*;

// The documentation of both attributes is the macro crate's own, shown here
// once: a doc comment on these re-exports would stack a second introduction
// on top of it.
#[doc(inline)]
pub use runner_macros::scope;

#[doc(inline)]
pub use runner_macros::test;

/// Runs a future on the runner of the enclosing [`#[runner::scope]`](scope)
/// or [`#[runner::test]`](test) function.
///
/// This macro is never expanded in a scope: the attribute finds every
/// `run!(fut)` of the function's body and turns it into a `run` call on the
/// function's own [`Runner`], before the compiler resolves any macro. So
/// `run!` needs no import inside a scope, and importing it (`use
/// runner::run;`) changes nothing there. Outside a scope, the compiler says
/// "cannot find macro `run`"; with the import, this macro is found instead
/// and says to add `#[runner::scope]` to the function.
///
/// # Examples
///
/// ```
/// use runner::run; // unnecessary, and harmless
///
/// #[runner::scope]
/// fn one() -> u32 {
///     run!(async { 1 })
/// }
///
/// assert_eq!(one(), 1);
/// ```
///
/// In a function without the attribute, `run!` is a compile error:
///
/// ```compile_fail
/// use runner::run;
///
/// fn one() -> u32 {
///     run!(async { 1 }) // error: add `#[runner::scope]` to this function
/// }
/// ```
#[macro_export]
macro_rules! run {
    ($($tokens:tt)*) => {
        ::core::compile_error!(
            "`run!` only works in the body of a function marked `#[runner::scope]` or \
             `#[runner::test]`; add `#[runner::scope]` to this function (a nested `fn` is not \
             part of the scope around it), or `.await` the future in async code"
        )
    };
}

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Paths used by the code that the macros generate. Not public API.
#[doc(hidden)]
pub mod __private {
    use std::fmt;
    use std::future::IntoFuture;
    use std::io::{self, Write};
    use std::panic::{self, AssertUnwindSafe, Location};
    use std::sync::{mpsc, Arc, Mutex, PoisonError};
    use std::thread;
    use std::time::{Duration, Instant};

    use runner_core::Handle;
    pub use runner_core::{Builder, Runner};

    /// The body of `#[runner::scope] fn main`: the runner is entered for the
    /// whole body; a run interrupted by Ctrl-C closes the runner (its
    /// `on_close` cleanups run) and exits with status 130, quietly; any other
    /// panic goes on unwinding.
    pub fn main<R>(runner: Runner, body: impl FnOnce(&Runner) -> R) -> R {
        let entered = || {
            let _entered = runner.enter();
            body(&runner)
        };
        match panic::catch_unwind(AssertUnwindSafe(entered)) {
            Ok(output) => output,
            Err(payload) if payload.is::<runner_core::Interrupted>() => {
                drop(runner);
                std::process::exit(130)
            }
            Err(payload) => panic::resume_unwind(payload),
        }
    }

    /// The body of a `#[runner::test]` named `name`: the runner is entered
    /// for the whole body, and with a `timeout`, the test fails when the
    /// body runs longer, even if it blocked its thread where the runner's
    /// own deadline cannot reach (inside a poll, or between `run!`s).
    ///
    /// A watchdog thread prints, shortly after the deadline, which `run!`
    /// the test is stuck in: a test blocked for good never gets to fail by
    /// itself.
    ///
    /// A panic in a task that nobody awaits fails the test: resumed out of
    /// the `run!` in progress, else the next one, else out of this function
    /// once the runner has closed ([`UnobservedPanics::Propagate`]).
    ///
    /// [`UnobservedPanics::Propagate`]: crate::UnobservedPanics::Propagate
    #[track_caller]
    pub fn test<R>(
        runner: Runner,
        timeout: Option<Duration>,
        name: &'static str,
        body: impl FnOnce(&TestScope<'_>) -> R,
    ) -> R {
        let runner = runner.__for_test();
        let output = {
            let _entered = runner.enter();
            // The watchdog lists the test's tasks, from its own thread.
            let watch =
                timeout.map(|timeout| Watchdog::start(name, timeout, Some(runner.handle())));
            let scope = TestScope {
                runner: &runner,
                site: watch.as_ref().map(|watch| &*watch.site),
            };
            let output = body(&scope);
            if let Some(watch) = watch {
                watch.finish();
            }
            output
        };
        runner.__close_for_test();
        output
    }

    /// The body of a `#[runner::test(shared)]` named `name`: its `run!`s
    /// run on [`runner::shared()`](crate::shared) through
    /// [`Handle::block_on`](crate::Handle::block_on), the shared runner is
    /// entered for the whole body (so `runner::spawn` between `run!`s goes
    /// there), the test's context starts empty whatever thread libtest runs
    /// it on, and a `timeout` applies to this test alone.
    #[track_caller]
    pub fn shared_test<R>(
        timeout: Option<Duration>,
        name: &'static str,
        body: impl FnOnce(&SharedScope<'_>) -> R,
    ) -> R {
        let handle = runner_core::shared();
        let _entered = handle.enter();
        // Not the shared runner's tasks in its report: most are other tests'.
        let watch = timeout.map(|timeout| Watchdog::start(name, timeout, None));
        let output = runner_core::Context::new().run(|| {
            // The test's tasks carry it in their context: their unobserved
            // panics fail this test, and no other.
            let sink = runner_core::PanicSink::install();
            let scope = SharedScope {
                handle,
                deadline: timeout.map(|timeout| (timeout, Instant::now().checked_add(timeout))),
                site: watch.as_ref().map(|watch| &*watch.site),
                sink: &sink,
            };
            let output = body(&scope);
            (output, sink.take())
        });
        // Out here, not in the closure: `finish` fails the test at the
        // caller's line, the user's test.
        if let Some(watch) = watch {
            watch.finish();
        }
        match output {
            (_, Some(payload)) => panic::resume_unwind(payload),
            (output, None) => output,
        }
    }

    /// What the `run!`s of a `#[runner::test(shared)]` run on.
    #[derive(Debug)]
    pub struct SharedScope<'a> {
        /// The shared runner.
        handle: &'a runner_core::Handle,
        /// The test's timeout and its deadline (`None`: too far to represent).
        deadline: Option<(Duration, Option<Instant>)>,
        /// Where the test is, for its watchdog; `None` without a timeout.
        site: Option<&'a Mutex<Site>>,
        /// Where the unobserved panics of the test's tasks go.
        sink: &'a runner_core::PanicSink,
    }

    impl SharedScope<'_> {
        /// `run!(future)` in a shared test: [`Handle::block_on`] on the
        /// shared runner, within the test's timeout.
        ///
        /// [`Handle::block_on`]: crate::Handle::block_on
        #[track_caller]
        pub fn run<F: IntoFuture>(&self, future: F) -> F::Output {
            self.run_as(Run::Macro(Location::caller()), future)
        }

        /// The whole body of a shared `async fn` test, as one run.
        #[track_caller]
        pub fn run_body<F: IntoFuture>(&self, future: F) -> F::Output {
            self.run_as(Run::Body(Location::caller()), future)
        }

        #[track_caller]
        fn run_as<F: IntoFuture>(&self, run: Run, future: F) -> F::Output {
            let _after = self.site.map(|site| SetOnDrop::around(site, run));
            // A panic of the test's own tasks that nobody observes ends the
            // `run!` at once, resumed with its payload.
            let sink = self.sink;
            let mut future = std::pin::pin!(future.into_future());
            let watched = std::future::poll_fn(move |cx| {
                if let Some(payload) = sink.poll_take(cx.waker()) {
                    panic::resume_unwind(payload);
                }
                std::future::Future::poll(future.as_mut(), cx)
            });
            let output = match self.deadline {
                Some((timeout, deadline)) => {
                    self.handle
                        .__block_on_until(timeout, deadline, run.what(), watched)
                }
                None => self.handle.block_on(watched),
            };
            output.expect("the shared runner never closes")
        }
    }

    /// What the `run!`s of a `#[runner::test]` run on.
    #[derive(Debug)]
    pub struct TestScope<'a> {
        /// The test's runner.
        runner: &'a Runner,
        /// Where the test is, for its watchdog; `None` without a timeout.
        site: Option<&'a Mutex<Site>>,
    }

    impl TestScope<'_> {
        /// `run!(future)` in a test: [`Runner::run`], telling the watchdog
        /// which `run!` the test is in.
        #[track_caller]
        pub fn run<F: IntoFuture>(&self, future: F) -> F::Output {
            self.run_as(Run::Macro(Location::caller()), future)
        }

        /// The whole body of an `async fn` test, as one run.
        #[track_caller]
        pub fn run_body<F: IntoFuture>(&self, future: F) -> F::Output {
            self.run_as(Run::Body(Location::caller()), future)
        }

        #[track_caller]
        fn run_as<F: IntoFuture>(&self, run: Run, future: F) -> F::Output {
            let _after = self.site.map(|site| SetOnDrop::around(site, run));
            self.runner.run(future)
        }
    }

    /// A run of a test: a `run!`, or an `async fn` test's whole body.
    #[derive(Clone, Copy, Debug)]
    enum Run {
        /// The `run!` at this place.
        Macro(&'static Location<'static>),
        /// The body of the `async fn` test at this place.
        Body(&'static Location<'static>),
    }

    impl Run {
        /// How messages name it, before " at <place>".
        fn what(self) -> &'static str {
            match self {
                Run::Macro(_) => "the `run!`",
                Run::Body(_) => "the run",
            }
        }
    }

    impl fmt::Display for Run {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            let (Run::Macro(location) | Run::Body(location)) = self;
            write!(f, "{} at {location}", self.what())
        }
    }

    /// Where a test with a timeout is.
    #[derive(Clone, Copy, Debug)]
    enum Site {
        /// No run started yet.
        Before,
        /// Inside this run.
        In(Run),
        /// Between runs; the last one was this.
        After(Run),
    }

    impl fmt::Display for Site {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Site::Before => write!(f, "before its first `run!`"),
                Site::In(run) => write!(f, "in {run}"),
                Site::After(run) => write!(f, "between `run!`s, after {run}"),
            }
        }
    }

    /// Sets `site`, even if a test thread panicked holding the lock.
    fn set(site: &Mutex<Site>, now: Site) {
        *site.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }

    /// Sets a [`Site`] when dropped.
    struct SetOnDrop<'a>(&'a Mutex<Site>, Site);

    impl SetOnDrop<'_> {
        /// Marks the test as in `run` until the guard drops, when the run
        /// returns or unwinds: then it is between runs, after this one.
        fn around(site: &Mutex<Site>, run: Run) -> SetOnDrop<'_> {
            set(site, Site::In(run));
            SetOnDrop(site, Site::After(run))
        }
    }

    impl Drop for SetOnDrop<'_> {
        fn drop(&mut self) {
            set(self.0, self.1);
        }
    }

    /// How long after a test's deadline its watchdog speaks: by then, a
    /// test whose thread is not blocked has been failed by the runner's own
    /// deadline, which unwinds the body and stops the watchdog.
    const GRACE: Duration = Duration::from_millis(250);

    /// The timeout of one test: a thread that reports where the test is
    /// after the deadline, and the check that fails the test when its body
    /// ends.
    struct Watchdog {
        /// The test's path, for messages.
        name: &'static str,
        /// The test's `timeout`.
        timeout: Duration,
        /// When the test's body started.
        started: Instant,
        /// Where the test is, shared with the thread.
        site: Arc<Mutex<Site>>,
        /// Dropping it wakes the thread before the deadline.
        stop: Option<mpsc::Sender<()>>,
        /// The watchdog thread; `None` once joined, or if it could not start.
        thread: Option<thread::JoinHandle<()>>,
    }

    impl Watchdog {
        /// Starts the thread; at the deadline it also lists the tasks of
        /// `tasks`' runner, with the one the test is stuck in as running.
        fn start(name: &'static str, timeout: Duration, tasks: Option<Handle>) -> Watchdog {
            let site = Arc::new(Mutex::new(Site::Before));
            let (stop, stopped) = mpsc::channel::<()>();
            let watched = site.clone();
            let thread = thread::Builder::new()
                .name(format!("{name} watchdog"))
                .spawn(move || {
                    // Nothing is ever sent: the sender drops when the body ends.
                    let wait = timeout + GRACE;
                    if stopped.recv_timeout(wait) == Err(mpsc::RecvTimeoutError::Timeout) {
                        let site = *watched.lock().unwrap_or_else(PoisonError::into_inner);
                        // Straight to stderr, past libtest's capture: a test
                        // blocked for good never prints its captured output.
                        let _ = writeln!(
                            io::stderr(),
                            "test `{name}` has run for {wait:?}, past its timeout of \
                             {timeout:?}, {site}: its thread is blocked or never yields. \
                             A blocking call (`std::thread::sleep`, a lock, blocking I/O) \
                             stops the runner, and so does a loop over futures that are \
                             always ready (tokio's coop budget does not apply in runs); \
                             use `runner::sleep`, `runner::unblock` or an async API, \
                             and `runner::yield_now` in long loops"
                        );
                        // A snapshot takes no lock the blocked thread holds.
                        let tasks = tasks.and_then(|handle| handle.tasks().ok());
                        for task in tasks.unwrap_or_default() {
                            let _ = writeln!(io::stderr(), "  {task}");
                        }
                    }
                })
                .ok();
            Watchdog {
                name,
                timeout,
                started: Instant::now(),
                site,
                stop: Some(stop),
                thread,
            }
        }

        /// Stops the thread, and fails the test if its body ran too long.
        #[track_caller]
        fn finish(mut self) {
            let elapsed = self.started.elapsed();
            self.stop_thread();
            assert!(
                elapsed <= self.timeout,
                "test `{}` ran for {elapsed:?}, longer than its timeout of {:?}; \
                 the runner cannot end a test that is blocked or never yields (a blocking \
                 call, a loop over always-ready futures)",
                self.name,
                self.timeout
            );
        }

        fn stop_thread(&mut self) {
            drop(self.stop.take());
            if let Some(thread) = self.thread.take() {
                let _ = thread.join();
            }
        }
    }

    impl Drop for Watchdog {
        fn drop(&mut self) {
            self.stop_thread();
        }
    }

    impl fmt::Debug for Watchdog {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("Watchdog")
                .field("name", &self.name)
                .field("timeout", &self.timeout)
                .finish_non_exhaustive()
        }
    }
}
