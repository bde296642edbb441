//! [`Handle`]: reaching a runner from other threads; [`EnterGuard`]; and
//! [`shared()`], the process-wide runner.
//!
//! A handle shares the runner's `Shared` but not its ownership: the runner
//! still closes when its `Runner` is closed or dropped, and from then on
//! every submission through a handle gets [`Closed`]. Whether a spawn lands
//! is decided under a registry lock, which close also takes once it has
//! moved the lifecycle on, so a spawn either lands before close begins (and
//! close cancels it like any task) or is refused: never lost, never hanging.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::panic::Location;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::context;
use crate::info::TaskInfo;
use crate::lifecycle::{Closed, State};
use crate::local::{self, Reach};
use crate::registry::Submitter;
use crate::runner::Runner;
use crate::scheduler;
use crate::shared::Shared;
use crate::task::{self, Task};
use crate::wait;

/// A handle to a [`Runner`] for other threads: `Send + Sync + Clone`.
///
/// Made by [`Runner::handle`] or, inside code a runner runs, [`handle`]. It
/// does not keep the runner open: once the runner closes, or while it is
/// closing, [`spawn`](Self::spawn) and [`block_on`](Self::block_on) return
/// `Err(Closed)`.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::builder().worker_threads(1).build();
/// let handle = runner.handle();
/// let answer = std::thread::spawn(move || {
///     let task = handle.spawn(async { 20 }).unwrap();
///     handle.block_on(async { task.await + 22 }).unwrap()
/// })
/// .join()
/// .unwrap();
/// assert_eq!(answer, 42);
/// ```
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl Handle {
    pub(crate) fn new(shared: Arc<Shared>) -> Handle {
        Handle { shared }
    }

    /// Spawns a `Send` task onto the runner, from any thread.
    ///
    /// The task starts with a copy of the caller's current context and makes
    /// progress whenever the runner's loop runs: in its runs, on its worker
    /// threads, or on a thread inside [`block_on`](Self::block_on).
    ///
    /// # Errors
    ///
    /// [`Closed`] if the runner has closed or begun to; the future is
    /// dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let handle = runner.handle();
    /// let task = std::thread::spawn(move || handle.spawn(async { 7 }).unwrap())
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(runner.run(task), 7);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Result<Task<F::Output>, Closed>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let site = Location::caller();
        let vars = context::current_vars();
        // From outside the runner's loops: nothing read its clock lately.
        if !local::is_running() {
            self.shared.registry.ticks.mark();
        }
        task::submit(&self.shared, Submitter::Handle, vars, site, None, future)
    }

    /// A snapshot of every task of the runner that has not finished, from
    /// any thread, without stopping the runner's loop.
    ///
    /// Takes the registry's locks one shard at a time. Works while the
    /// runner closes (to see which tasks close is waiting for).
    ///
    /// # Errors
    ///
    /// [`Closed`] once the runner has finished closing.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// runner.spawn_named("stuck", std::future::pending::<()>()).detach();
    /// let handle = runner.handle();
    /// let names = std::thread::spawn(move || {
    ///     let tasks = handle.tasks().unwrap();
    ///     tasks.iter().map(|task| task.name().unwrap().to_owned()).collect::<Vec<_>>()
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(names, ["stuck"]);
    /// let handle = runner.handle();
    /// runner.close();
    /// assert_eq!(handle.tasks().unwrap_err(), runner::Closed);
    /// ```
    pub fn tasks(&self) -> Result<Vec<TaskInfo>, Closed> {
        if self.shared.lifecycle.get() == State::Closed {
            return Err(Closed);
        }
        Ok(self.shared.registry.tasks())
    }

    /// Runs `future` to completion on the calling thread, which meanwhile
    /// runs the runner's `Send` tasks, as a worker would.
    ///
    /// `future` need not be `Send` or `'static`. It runs in the caller's
    /// current context, and what it sets stays there, as for an awaited
    /// future. Inside it, [`spawn`](crate::spawn) and [`on_close`](crate::on_close)
    /// reach the runner.
    ///
    /// # Errors
    ///
    /// [`Closed`] if the runner has closed or begun to, or closes before
    /// `future` completes; `future` is then dropped.
    ///
    /// # Panics
    ///
    /// With a message containing `cannot be called from a running event
    /// loop` if a runner is running on this thread, before doing anything
    /// else. A panic in `future` comes out of `block_on` with its payload.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let handle = runner.handle();
    /// let text = String::from("borrowed, not sent");
    /// let len = std::thread::scope(|scope| {
    ///     scope
    ///         .spawn(|| handle.block_on(async { text.len() }).unwrap())
    ///         .join()
    ///         .unwrap()
    /// });
    /// assert_eq!(len, 18);
    /// ```
    #[track_caller]
    pub fn block_on<F: IntoFuture>(&self, future: F) -> Result<F::Output, Closed> {
        if local::is_running() {
            local::nested(self.block_on_name());
        }
        let future = pin!(future.into_future());
        scheduler::help(&self.shared, future).ok_or(Closed)
    }

    /// Enters the runner on the calling thread until the guard drops, so
    /// that [`spawn`](crate::spawn), [`on_close`](crate::on_close) and
    /// [`handle`] called here outside any run go to it (tokio's
    /// `Handle::enter`).
    ///
    /// [`spawn_local`](crate::spawn_local) panics there: its tasks could
    /// only run on the runner's own thread. `#[runner::test(shared)]` enters
    /// [`shared`] this way for the whole test.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let handle = runner.handle();
    /// let task = std::thread::spawn(move || {
    ///     let _guard = handle.enter();
    ///     runner::spawn(async { 3 })
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(runner.run(task), 3);
    /// ```
    pub fn enter(&self) -> EnterGuard<'_> {
        EnterGuard::new(&self.shared, Reach::Other)
    }

    /// Runs `future` like [`block_on`](Self::block_on), but gives up at
    /// `deadline` (real time), panicking with a message that names `what`
    /// (the `` `run!` `` of a sync test, the run of an `async fn` test's
    /// body) and the caller's line: a test's `timeout` on the shared runner.
    /// Used by `#[runner::test(shared, timeout = ..)]`.
    #[doc(hidden)]
    #[track_caller]
    pub fn __block_on_until<F: IntoFuture>(
        &self,
        timeout: Duration,
        deadline: Option<Instant>,
        what: &str,
        future: F,
    ) -> Result<F::Output, Closed> {
        let site = Location::caller();
        match self.block_on(wait::with_deadline(deadline, future.into_future()))? {
            Some(output) => Ok(output),
            None => panic!("timed out after {timeout:?}, in {what} at {site}"),
        }
    }

    /// Returns whether the runner has closed, or begun to.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let handle = runner.handle();
    /// assert!(!handle.is_closed());
    /// runner.close();
    /// assert!(handle.is_closed());
    /// assert_eq!(handle.spawn(async {}).unwrap_err(), runner::Closed);
    /// ```
    pub fn is_closed(&self) -> bool {
        !self.shared.lifecycle.is_open()
    }

    /// What the user called, for the nesting panic of [`block_on`](Self::block_on).
    fn block_on_name(&self) -> &'static str {
        match SHARED.get() {
            Some(shared) if Arc::ptr_eq(&shared.shared, &self.shared) => {
                "runner::shared().block_on"
            }
            _ => "Handle::block_on",
        }
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Returns a [`Handle`] to the runner running the caller, or entered on
/// this thread.
///
/// # Panics
///
/// Panics if called outside code that a [`Runner`] is running and outside a
/// [`Runner::enter`] guard.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let handle = runner.run(async { runner::handle() });
/// assert!(!handle.is_closed());
/// ```
#[track_caller]
pub fn handle() -> Handle {
    let (shared, _) = local::current_or_panic("runner::handle");
    Handle::new(shared)
}

/// Returns the handle of one runner for the whole process, for state that
/// outlives a test or a call: servers, pools, clients.
///
/// The runner is created on first use and runs on a thread of its own
/// (`runner-shared`), so its tasks always progress, whether or not anyone is
/// inside [`Handle::block_on`]. It is never closed: statics are never
/// dropped, so at process exit its tasks are simply abandoned, with no
/// close sequence and no `on_close` cleanups. It has no worker threads of
/// its own; threads inside `block_on` help run its tasks.
///
/// # Panics
///
/// If the OS refuses to start its thread.
///
/// # Examples
///
/// ```
/// let port = runner::shared().block_on(async { 8080 }).unwrap();
/// let task = runner::shared().spawn(async move { port + 1 }).unwrap();
/// assert_eq!(runner::shared().block_on(task).unwrap(), 8081);
/// ```
pub fn shared() -> &'static Handle {
    SHARED.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        thread::Builder::new()
            .name("runner-shared".into())
            .spawn(move || {
                let runner = Runner::new();
                // The receiver waits for this; it cannot be gone.
                let _ = sender.send(runner.handle());
                runner.run(std::future::pending::<()>());
            })
            .unwrap_or_else(|error| panic!("failed to start the shared runner's thread: {error}"));
        receiver
            .recv()
            .expect("the shared runner's thread sends its handle first")
    })
}

/// The process-wide runner of [`shared()`], once made.
static SHARED: OnceLock<Handle> = OnceLock::new();

/// Keeps a [`Runner`] entered on this thread; made by [`Runner::enter`] and
/// [`Handle::enter`].
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let guard: runner::EnterGuard<'_> = runner.enter();
/// runner::spawn(async {}).detach();
/// drop(guard);
/// ```
#[must_use = "the runner stays entered only while the guard lives"]
pub struct EnterGuard<'a> {
    /// tokio: leaves the runner's tokio context when dropped (before the
    /// runner: fields drop in order).
    #[cfg(feature = "tokio")]
    _tokio: Option<crate::tokio::TokioGuard<'a>>,
    /// Leaves the runner when dropped.
    _entered: local::Entry,
    /// Borrows the runner (or handle), and stays on this thread (`!Send`).
    _runner: PhantomData<(&'a (), *const ())>,
}

impl<'a> EnterGuard<'a> {
    /// Enters `shared` on this thread, reached as `reach`.
    pub(crate) fn new(shared: &'a Arc<Shared>, reach: local::Reach) -> Self {
        // Evaluated in order: the runner is entered first, left last.
        EnterGuard {
            _entered: local::enter(shared.clone(), reach),
            #[cfg(feature = "tokio")] // tokio: code between runs makes tokio resources
            _tokio: crate::tokio::enter_run(&shared.tokio),
            _runner: PhantomData,
        }
    }
}

impl fmt::Debug for EnterGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}
