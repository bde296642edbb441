//! The `tokio` cargo feature: futures of tokio-based crates (reqwest, sqlx
//! with `runtime-tokio`, tonic, `tokio::net`, `tokio::time`) work in runs,
//! tasks, `unblock` jobs and `on_close` cleanups, with no wrapper.
//!
//! # How
//!
//! A tokio resource finds its runtime through tokio's thread-local "current
//! handle", which [`Handle::enter`] sets: a socket registers with that
//! runtime's I/O driver, a timer with its clock, `tokio::spawn` spawns onto
//! it, and any of them panics when no handle is set ("there is no reactor
//! running"). So runner enters its tokio runtime's context wherever user code
//! runs or is dropped, as async-compat does around every poll and every drop
//! of the value it wraps (async-compat#21 and #22: drops need it too, sqlx's
//! pooled connection calls `tokio::spawn` in its `Drop`). The hooks, each one
//! line marked `// tokio:` in its file:
//!
//! | where | what it covers |
//! | --- | --- |
//! | `Runner::run_with` (runner.rs) | a run: its future's `into_future`, every poll and its drop, and every task the run polls |
//! | `work` (scheduler/worker.rs) | every task a worker thread polls |
//! | `Polled::poll` and its drop (poll.rs) | tasks and cleanups polled or dropped anywhere else (a task dropped between runs, a future loop such as `Handle::block_on`) |
//! | the `unblock` closure (blocking.rs) | blocking jobs: `Handle::current().block_on(..)` works there |
//! | `Runner::enter` (runner.rs) | code between runs: `tokio::time::sleep(d)` made there works in a later run |
//! | `close` (close.rs) | everything close drops: futures, cleanups, context values |
//!
//! Inside a run every task poll finds the context entered already: [`enter`]
//! then costs one thread-local compare, and a run pays for one real enter
//! (a thread-local swap and a reference count on the handle).
//!
//! Only the runtime's *handle* is entered, never the runtime itself (as its
//! `block_on` does): so dropping a tokio `Runtime` inside a run or at close
//! is allowed, and "Cannot drop a runtime in a context where blocking is not
//! allowed" cannot come from runner.
//!
//! # Which runtime
//!
//! The one given to `Builder::tokio_handle`, else one runtime for the whole
//! process ([`fallback`]): multi-thread with one worker thread
//! (`runner-tokio`), I/O and timers enabled, built when the first runner
//! starts its loop, kept in a `static` and never shut down. Each choice
//! answers a known failure:
//!
//! - one runtime for the process, alive until it exits: a resource belongs to
//!   the runtime that made it (its sockets' registrations, its timers, the
//!   connection tasks hyper spawns for a pooled connection). With a runtime
//!   per runner or per thread, a `static` `reqwest::Client` or sqlx pool built
//!   under one runner fails under the next one after the first closed: "A
//!   Tokio 1.x context was found, but it is being shutdown"
//!   (<https://github.com/tokio-rs/tokio/issues/5064>);
//! - the `Runtime` itself in the static, not a `Handle`: a handle does not
//!   keep its runtime alive (<https://github.com/smol-rs/async-compat/issues/38>);
//! - multi-thread: its worker drives tokio's I/O and timers whether or not a
//!   runner is running, so `tokio::spawn`ed tasks and hyper's connection
//!   tasks progress between runs and whichever thread the next runner is on;
//!   and `block_in_place` works, where a current-thread runtime makes it
//!   panic (<https://github.com/smol-rs/async-compat/issues/50>);
//! - never shut down: nothing to wait for when the process exits, and no
//!   runtime drop anywhere near a runner.
//!
//! A runtime that is already entered on the thread that builds or runs the
//! runner (`#[tokio::main]`, `#[tokio::test]`) is not used: a current-thread
//! one is driven only inside its own `block_on`, which `run` is blocking, so
//! its I/O would never progress. Pass its handle to `Builder::tokio_handle`
//! to use a multi-thread runtime of your own; it is re-entered around every
//! poll and restored after.
//!
//! # The cost, and the other design
//!
//! With tokio's I/O driver on its own thread, every I/O event reaches the
//! runner's thread as a cross-thread wake
//! (<https://github.com/rust-lang/wg-async/issues/58>). `benches/tokio_echo.rs`
//! (loopback echo, 50 connections x 10 round trips of 64 bytes) measured,
//! on 2 shared cores, three runs: tokio's own `current_thread` runtime
//! 7.2-8.2 ms, the same futures in `runner.run` 10.3-15.1 ms (1.4x-1.8x),
//! async-compat 11.3-16.8 ms (1.4x-2.3x).
//!
//! The other design parks the runner's loop inside tokio's own `block_on` on
//! a current-thread runtime, so tokio's I/O and timers are driven on the
//! runner's thread: a prototype with one such runtime per thread measured
//! 1.02x (both ends in one future) and 1.09x (echo servers as tasks) of
//! tokio. It was not chosen, because:
//!
//! - a runtime per runner or per thread dies with it, which breaks the
//!   `static` client above; one process-wide current-thread runtime whose
//!   core goes to whichever runner runs (and to a thread of its own between
//!   runs) keeps the client working, but then one runner blocking in a poll
//!   stalls every runner's tokio I/O;
//! - inside tokio's `block_on` the thread is "in a runtime":
//!   `block_in_place` panics there (async-compat#50), dropping a `Runtime`
//!   in a task panics ("Cannot drop a runtime in a context where blocking is
//!   not allowed"), and `tokio::spawn`ed tasks polled on the runner's thread
//!   would run inside the run's context;
//! - async-io's reactor (`runner::sleep`, smol crates) would move to a
//!   thread of its own instead.
//!
//! The upstream direction is a tokio event loop that another executor can
//! drive on its own thread (`LocalEventLoop`, tokio PR #8479, open at the
//! time of writing): once it lands, the runner's loop could park in it and
//! keep one process-wide runtime for the resources.
//!
//! For futures that never touch tokio the feature costs one thread-local
//! compare per task poll and one `Handle::enter` per run: under callgrind,
//! 1.06x the instructions of the feature-off build per task poll (a task
//! yielding 1,000 times) and 1.21x per run of a future that yields once
//! (1,097 instructions against 905); in time, 1.09x and 1.01x.
//!
//! # What stays tokio's
//!
//! Tasks spawned with `tokio::spawn` run on tokio's runtime, not on the
//! runner: they start with no runner context (context variables are not
//! visible, `runner::spawn` panics there), close neither counts them in its
//! report nor cancels them, and they keep running after the runner closed.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::OnceLock;

use ::tokio::runtime::{self, Handle, Runtime};

/// A runner's tokio runtime, kept in `Shared`.
///
/// This file is a floor-0 leaf: every function takes the `Tokio` it works
/// on, never the runner.
pub(crate) struct Tokio {
    /// The runtime whose context runner code runs in.
    handle: Handle,
}

impl Tokio {
    /// The runtime of `supplied` (from `Builder::tokio_handle`), else the
    /// process-wide one.
    pub(crate) fn new(supplied: Option<&Handle>) -> Tokio {
        let handle = match supplied {
            Some(handle) => handle.clone(),
            None => fallback().handle().clone(),
        };
        Tokio { handle }
    }

    /// The address that tells this runner's `Tokio` apart on [`ENTERED`].
    fn address(&self) -> usize {
        self as *const Tokio as usize
    }
}

thread_local! {
    /// The `Tokio` (by address) whose context runner entered last on this
    /// thread and has not left, or 0. A `const` `Cell` has no destructor, so
    /// it is reachable until the thread is gone.
    static ENTERED: Cell<usize> = const { Cell::new(0) };
}

/// The process-wide runtime: built on first use, driven by its own worker
/// thread, never shut down (see the module docs for why).
///
/// # Panics
///
/// If the OS refuses the runtime's thread or its I/O driver.
fn fallback() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("runner-tokio")
            .enable_all()
            .build()
            .unwrap_or_else(|error| panic!("failed to start runner's tokio runtime: {error}"))
    })
}

/// Enters the tokio context `tokio` (a runner's) on this thread until the
/// guard drops; `None` if it is entered already (the common case: a task
/// polled inside a run costs one thread-local compare) or if tokio's
/// thread-local is gone (the thread is exiting, and a `Runner` kept in a
/// `thread_local!` closes).
///
/// Never panics, so `Drop` paths and close may call it.
#[inline]
pub(crate) fn enter(tokio: &Tokio) -> Option<TokioGuard<'_>> {
    let previous = ENTERED.with(Cell::get);
    if previous == tokio.address() {
        return None;
    }
    enter_checked(tokio, previous)
}

/// [`enter`] once it is known that the context is not entered: asks tokio
/// first whether its thread-local is still there, since `Handle::enter`
/// panics once it is destroyed (asking costs no reference count when no
/// runtime is entered).
#[cold]
#[inline(never)]
fn enter_checked(tokio: &Tokio, previous: usize) -> Option<TokioGuard<'_>> {
    if Handle::try_current().is_err_and(|error| error.is_thread_local_destroyed()) {
        return None;
    }
    Some(TokioGuard::new(tokio, previous))
}

/// Enters the tokio context `tokio` (a runner's) for a run, a worker
/// thread or a [`Runner::enter`](crate::Runner::enter) guard: as [`enter`],
/// without asking whether tokio's thread-local is gone (it is there on any
/// thread that can start a run or a worker). A run pays one `Handle::enter`: a swap of the
/// handle in tokio's thread-local, and a reference count on it.
pub(crate) fn enter_run(tokio: &Tokio) -> Option<TokioGuard<'_>> {
    let previous = ENTERED.with(Cell::get);
    if previous == tokio.address() {
        return None;
    }
    Some(TokioGuard::new(tokio, previous))
}

/// Keeps a runner's tokio context entered; made by [`enter`] and [`enter_run`]. Restores the
/// previous one when dropped: guards drop in reverse order, as tokio requires.
pub(crate) struct TokioGuard<'a> {
    /// Leaves tokio's context when dropped.
    _guard: runtime::EnterGuard<'a>,
    /// What [`ENTERED`] said before.
    previous: usize,
    /// Stays on the thread it entered.
    _not_send: PhantomData<*const ()>,
}

impl TokioGuard<'_> {
    fn new(tokio: &Tokio, previous: usize) -> TokioGuard<'_> {
        let guard = tokio.handle.enter();
        ENTERED.with(|entered| entered.set(tokio.address()));
        TokioGuard {
            _guard: guard,
            previous,
            _not_send: PhantomData,
        }
    }
}

impl Drop for TokioGuard<'_> {
    fn drop(&mut self) {
        ENTERED.with(|entered| entered.set(self.previous));
    }
}

/// The tokio context a blocking job runs in, taken where `unblock` is
/// called: its runner's runtime, else the caller's current tokio context,
/// if any.
pub(crate) struct JobContext(Option<Handle>);

impl JobContext {
    /// The context of a job started in a runner whose runtime is `tokio`,
    /// or outside any runner (`None`).
    pub(crate) fn new(tokio: Option<&Tokio>) -> JobContext {
        match tokio {
            Some(tokio) => JobContext(Some(tokio.handle.clone())),
            None => JobContext(Handle::try_current().ok()),
        }
    }

    /// Enters the job's tokio context, on the blocking pool's thread.
    pub(crate) fn enter(&self) -> Option<runtime::EnterGuard<'_>> {
        self.0.as_ref().map(Handle::enter)
    }
}

impl fmt::Debug for Tokio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokio")
            .field("handle", &self.handle)
            .finish()
    }
}
