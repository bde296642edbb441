//! Python's [`asyncio.Runner`] for Rust: one event loop, many top-level runs.
//!
//! Sync code (a CLI `main`, a test, a sync library) often calls several async
//! functions in a row that should share one event loop: a connection opened by
//! the first call is used by the second, background tasks keep going between
//! calls, and context such as a request id carries across. A [`Runner`] is that
//! loop:
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
//! [`asyncio.Runner`]: https://docs.python.org/3/library/asyncio-runner.html#asyncio.Runner

pub use runner_core::*;

/// Runs every `run!(fut)` in a sync function on one [`Runner`], closed when
/// the function returns, by any path.
///
/// # Examples
///
/// ```
/// async fn double(n: u32) -> u32 {
///     runner::yield_now().await;
///     n * 2
/// }
///
/// #[runner::scope]
/// fn total() -> u32 {
///     let a = run!(double(1)); // every run! shares one Runner,
///     a + run!(double(a)) // closed when `total` returns
/// }
///
/// assert_eq!(total(), 6);
/// ```
#[doc(inline)]
pub use runner_macros::scope;

/// `#[test]` plus [`#[runner::scope]`](scope): a test whose `run!` calls
/// share one [`Runner`].
///
/// Import items by name rather than with `use runner::*`: the glob would
/// bring this `test` into scope and make a plain `#[test]` ambiguous.
///
/// # Examples
///
/// ```
/// #[runner::test(timeout = "5s")]
/// fn doubles() {
///     assert_eq!(run!(async { 2 * 2 }), 4);
/// }
/// ```
#[doc(inline)]
pub use runner_macros::test;

/// Runs a future on the runner of the enclosing [`#[runner::scope]`](scope).
///
/// `#[runner::scope]` and `#[runner::test]` rewrite every `run!(fut)` in the
/// function body into a `run` call on the function's own [`Runner`]. Used
/// anywhere else, `run!` is a compile error that says so.
///
/// # Examples
///
/// ```
/// use runner::run;
///
/// #[runner::scope]
/// fn main() {
///     let one = run!(async { 1 });
///     assert_eq!(one, 1);
/// }
/// # main();
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
    pub fn test<R>(
        runner: Runner,
        timeout: Option<Duration>,
        name: &'static str,
        body: impl FnOnce(&TestScope<'_>) -> R,
    ) -> R {
        let _entered = runner.enter();
        let watch = timeout.map(|timeout| Watchdog::start(name, timeout));
        let scope = TestScope {
            runner: &runner,
            site: watch.as_ref().map(|watch| &*watch.site),
        };
        let output = body(&scope);
        if let Some(watch) = watch {
            watch.finish();
        }
        output
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
            let Some(site) = self.site else {
                return self.runner.run(future);
            };
            let location = Location::caller();
            set(site, Site::In(location));
            // Also when the run unwinds: the watchdog is stopped by then.
            let _after = SetOnDrop(site, Site::After(location));
            self.runner.run(future)
        }
    }

    /// Where a test with a timeout is.
    #[derive(Clone, Copy, Debug)]
    enum Site {
        /// No `run!` started yet.
        Before,
        /// Inside the `run!` at this place.
        In(&'static Location<'static>),
        /// Between `run!`s; the last one was at this place.
        After(&'static Location<'static>),
    }

    impl fmt::Display for Site {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Site::Before => write!(f, "before its first `run!`"),
                Site::In(location) => write!(f, "in the `run!` at {location}"),
                Site::After(location) => {
                    write!(f, "between `run!`s, after the one at {location}")
                }
            }
        }
    }

    /// Sets `site`, even if a test thread panicked holding the lock.
    fn set(site: &Mutex<Site>, now: Site) {
        *site.lock().unwrap_or_else(PoisonError::into_inner) = now;
    }

    /// Sets a [`Site`] when dropped.
    struct SetOnDrop<'a>(&'a Mutex<Site>, Site);

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
        fn start(name: &'static str, timeout: Duration) -> Watchdog {
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
                             {timeout:?}; its thread is blocked {site}: a blocking call \
                             (`std::thread::sleep`, a lock, blocking I/O) stops the runner; \
                             use `runner::sleep`, `runner::unblock` or an async API"
                        );
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
                 it blocked its thread, where the runner could not end it",
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
