//! [`Builder`]: a runner's settings, and `RUNNER_DEBUG`.

use std::sync::OnceLock;
use std::time::Duration;

use crate::config::Config;
use crate::debug::UnobservedPanics;
use crate::runner::Runner;
use crate::time::clock::DEFAULT_AUTO_ADVANCE;

/// Settings for a [`Runner`], made with [`Runner::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let runner = runner::Runner::builder()
///     .worker_threads(2)
///     .close_timeout(Duration::from_secs(1))
///     .build();
/// assert_eq!(runner.run(async { 1 }), 1);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a `Builder` does nothing until `.build()`"]
pub struct Builder {
    /// `None` until `debug` is called: then `RUNNER_DEBUG` decides.
    debug: Option<bool>,
    worker_threads: usize,
    close_timeout: Duration,
    slow_poll_threshold: Duration,
    /// Set by `#[runner::test(timeout = ..)]`.
    test_timeout: Option<Duration>,
    virtual_time: bool,
    auto_advance_threshold: Duration,
    unobserved_panics: UnobservedPanics,
    /// tokio: set by [`Builder::tokio_handle`].
    #[cfg(feature = "tokio")]
    tokio_handle: Option<tokio::runtime::Handle>,
}

impl Builder {
    /// Creates a builder with the default settings, the same as
    /// [`Runner::builder`].
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Builder::new().build();
    /// assert_eq!(runner.run(async { 1 }), 1);
    /// ```
    pub fn new() -> Builder {
        Builder {
            debug: None,
            worker_threads: 0,
            close_timeout: Duration::from_secs(5),
            slow_poll_threshold: Duration::from_millis(100),
            test_timeout: None,
            virtual_time: false,
            auto_advance_threshold: DEFAULT_AUTO_ADVANCE,
            unobserved_panics: UnobservedPanics::Count,
            #[cfg(feature = "tokio")] // tokio
            tokio_handle: None,
        }
    }

    /// Turns debug mode on or off, whatever `RUNNER_DEBUG` says.
    ///
    /// Without this call, debug mode is on when the environment variable
    /// `RUNNER_DEBUG` is set to anything but empty or `0` (read once per
    /// process).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder().debug(true).build();
    /// assert!(runner.is_debug());
    /// ```
    pub fn debug(mut self, debug: bool) -> Builder {
        self.debug = Some(debug);
        self
    }

    /// Sets how many worker threads run `Send` tasks, also between runs.
    ///
    /// The default, 0, runs all work on the thread that calls `run`, and only
    /// while it does.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder().worker_threads(1).build();
    /// let name = runner.run(runner.spawn(async {
    ///     std::thread::current().name().map(str::to_owned)
    /// }));
    /// assert!(name.is_some());
    /// ```
    pub fn worker_threads(mut self, worker_threads: usize) -> Builder {
        self.worker_threads = worker_threads;
        self
    }

    /// Sets how long each waiting step of close may take (default 5 s).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let runner = runner::Runner::builder()
    ///     .close_timeout(Duration::from_millis(200))
    ///     .build();
    /// assert!(runner.close().elapsed < Duration::from_millis(200));
    /// ```
    pub fn close_timeout(mut self, close_timeout: Duration) -> Builder {
        self.close_timeout = close_timeout;
        self
    }

    /// Sets how long a single poll may take before debug mode reports it
    /// (default 100 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let runner = runner::Runner::builder()
    ///     .debug(true)
    ///     .slow_poll_threshold(Duration::from_millis(10))
    ///     .build();
    /// assert!(runner.is_debug());
    /// ```
    pub fn slow_poll_threshold(mut self, slow_poll_threshold: Duration) -> Builder {
        self.slow_poll_threshold = slow_poll_threshold;
        self
    }

    /// Gives the runner a virtual clock, which starts paused (default: off).
    ///
    /// [`sleep`](crate::sleep), [`sleep_until`](crate::sleep_until),
    /// [`timeout`](crate::timeout) and [`now`](crate::now) then use it. It
    /// moves only with [`advance`](crate::advance), and on its own when the
    /// loop has nothing to run, no [`unblock`](crate::unblock) job is in
    /// flight, no [`hold_clock`](crate::hold_clock) guard lives, and the loop
    /// has been idle for the [auto-advance
    /// threshold](Self::auto_advance_threshold): it then jumps to the next
    /// timer. The close timeout, a test's timeout, and timers of other crates
    /// (async-io's, tokio's) keep counting real time.
    ///
    /// The clock never jumps past real work: not while a task of the runner
    /// is queued or being polled on any thread (the runner's own, a
    /// [worker](Self::worker_threads), a thread inside
    /// [`Handle::block_on`](crate::Handle::block_on)), nor while an `unblock`
    /// job started in the runner, or awaited by its code, is in flight. It
    /// moves whenever the runner's loop is driven: in a run, or by a
    /// `Handle::block_on` caller, so `handle.block_on(runner::sleep(d))`
    /// returns on an idle runner. Once the runner has closed, its clock never
    /// moves again, and polling one of its timers panics, saying so.
    ///
    /// With real I/O (loopback, tokio's sockets, reqwest or sqlx under the
    /// `tokio` feature), a virtual [`timeout`](crate::timeout) around it may
    /// fire before the answer comes, as soon as the loop has been idle for the
    /// auto-advance threshold: hold the clock around such I/O with
    /// [`hold_clock`](crate::hold_clock), or see
    /// [`auto_advance_threshold`](Self::auto_advance_threshold).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    ///
    /// let runner = runner::Runner::builder().virtual_time(true).build();
    /// let start = Instant::now();
    /// runner.run(runner::sleep(Duration::from_secs(3600)));
    /// assert!(start.elapsed() < Duration::from_secs(60));
    /// ```
    pub fn virtual_time(mut self, virtual_time: bool) -> Builder {
        self.virtual_time = virtual_time;
        self
    }

    /// Sets how long, in real time, the loop must stay idle before a virtual
    /// clock jumps to its next timer (default [`DEFAULT_AUTO_ADVANCE`],
    /// 5 ms), so that an answer on loopback arrives before a virtual timeout
    /// fires. Zero jumps as soon as the loop is idle.
    ///
    /// What it trades: each jump waits this long of real idle time, so a run
    /// through many distinct deadlines pays it per deadline (1,000 sleeps
    /// one after the other: 5 s at the default). runner cannot tell whether a
    /// pending task waits for a timer or for real I/O (async-io's reactor
    /// and tokio's are shared by the whole process), so it cannot skip the
    /// wait on its own. Code that only waits for timers (the usual test of
    /// retries, heartbeats, backoff) should set it to zero
    /// (`#[runner::test(virtual_time, auto_advance = "0ms")]`); code that
    /// mixes in real I/O keeps a threshold longer than that I/O takes, or
    /// holds the clock around it with [`hold_clock`](crate::hold_clock).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let runner = runner::Runner::builder()
    ///     .virtual_time(true)
    ///     .auto_advance_threshold(Duration::ZERO)
    ///     .build();
    /// runner.run(runner::sleep(Duration::from_secs(60)));
    /// ```
    pub fn auto_advance_threshold(mut self, threshold: Duration) -> Builder {
        self.auto_advance_threshold = threshold;
        self
    }

    /// Sets what happens to a panic in a task that nobody awaits (detached,
    /// or its [`Task`](crate::Task) dropped unawaited): counted in the close
    /// report (the default, [`UnobservedPanics::Count`]), or also resumed
    /// out of the run in progress or the next one
    /// ([`UnobservedPanics::Propagate`], what `#[runner::test]` uses).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder()
    ///     .unobserved_panics(runner::UnobservedPanics::Count)
    ///     .build();
    /// runner.spawn(async { panic!("counted") }).detach();
    /// runner.run(runner::yield_now());
    /// assert_eq!(runner.close().panicked, 1);
    /// ```
    pub fn unobserved_panics(mut self, policy: UnobservedPanics) -> Builder {
        self.unobserved_panics = policy;
        self
    }

    /// Makes every run that goes past `timeout` after `build` panic with a
    /// message that lists the pending tasks. Used by `#[runner::test]`.
    #[doc(hidden)]
    pub fn __test_timeout(mut self, timeout: Duration) -> Builder {
        self.test_timeout = Some(timeout);
        self
    }

    /// Creates the runner. Cheap: the loop starts with the first run or spawn.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::builder().build();
    /// assert_eq!(runner.run(async { 2 }), 2);
    /// ```
    pub fn build(self) -> Runner {
        Runner::with_config(Config {
            debug: self.debug.unwrap_or_else(env_debug),
            worker_threads: self.worker_threads,
            close_timeout: self.close_timeout,
            slow_poll_threshold: self.slow_poll_threshold,
            test_timeout: self.test_timeout,
            virtual_time: self.virtual_time,
            auto_advance_threshold: self.auto_advance_threshold,
            unobserved_panics: self.unobserved_panics,
            #[cfg(feature = "tokio")] // tokio
            tokio_handle: self.tokio_handle,
        })
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

/// Whether `RUNNER_DEBUG` asks for debug mode: set, and neither empty nor `0`.
fn env_debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| {
        std::env::var_os("RUNNER_DEBUG").is_some_and(|value| !value.is_empty() && value != "0")
    })
}

#[cfg(feature = "tokio")]
impl Builder {
    /// Runs the runner's code in the context of the tokio runtime of
    /// `handle` instead of runner's own process-wide one (cargo feature
    /// `tokio`).
    ///
    /// With the `tokio` feature, futures of tokio-based crates (reqwest, sqlx
    /// with `runtime-tokio`, tonic, `tokio::net`, `tokio::time`) work in
    /// [`run`](crate::Runner::run), tasks, [`unblock`](crate::unblock) jobs
    /// and [`on_close`](crate::on_close) cleanups with no wrapper: runner
    /// enters a tokio runtime's context around every poll and every drop of
    /// its futures, for every `unblock` job, during close, and while a
    /// [`Runner::enter`](crate::Runner::enter) guard lives. Without this
    /// call that runtime is one for the whole process: multi-thread with one
    /// worker thread (`runner-tokio`) that drives tokio's I/O and timers,
    /// started with the first runner's loop and never shut down, so a resource made under
    /// one runner (a `static` `reqwest::Client`, an sqlx pool) keeps working
    /// under any other, on any thread, after the first closed.
    ///
    /// A tokio runtime already entered on the thread that runs the runner
    /// (inside `#[tokio::main]` or `#[tokio::test]`) is not used unless
    /// passed here: a current-thread runtime is driven only inside its own
    /// `block_on`, which `run` would be blocking. The runtime of `handle`
    /// must be driven by someone else, then: a multi-thread runtime (its
    /// workers do it) or a current-thread one whose `block_on` runs on
    /// another thread. It must outlive the resources made in it.
    ///
    /// Where a tokio future is *made* matters: `runner.run(tokio::time::sleep(d))`
    /// makes the timer before `run` enters the context, which panics outside
    /// a [`Runner::enter`](crate::Runner::enter) guard (and outside a
    /// `#[runner::scope]` body, which enters its runner); write
    /// `runner.run(async { tokio::time::sleep(d).await })`.
    ///
    /// Tasks spawned with `tokio::spawn` are tokio's: they run on the tokio
    /// runtime, do not see runner's context variables, are neither counted
    /// nor cancelled by close, and keep running after the runner closed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let tokio = tokio::runtime::Builder::new_multi_thread()
    ///     .worker_threads(1)
    ///     .thread_name("my-tokio")
    ///     .enable_all()
    ///     .build()
    ///     .unwrap();
    /// let runner = runner::Runner::builder()
    ///     .tokio_handle(tokio.handle().clone())
    ///     .build();
    /// let name = runner.run(async {
    ///     tokio::time::sleep(Duration::from_millis(1)).await;
    ///     tokio::spawn(async { std::thread::current().name().map(str::to_owned) })
    ///         .await
    ///         .unwrap()
    /// });
    /// assert_eq!(name.as_deref(), Some("my-tokio"));
    /// runner.close();
    /// ```
    pub fn tokio_handle(mut self, handle: tokio::runtime::Handle) -> Builder {
        self.tokio_handle = Some(handle);
        self
    }
}
