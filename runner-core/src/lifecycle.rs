//! A runner's one lifecycle (open, closing, closed), and [`Closed`], the
//! error of a submission that comes too late.
//!
//! A floor-0 leaf: it imports nothing of the crate.

use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

/// A runner's life: created (no `Shared` yet: the loop starts lazily), then
/// open, closing, cancelled, closed, each at most once and in that order.
///
/// - **open**: runs, spawns and cleanups are accepted.
/// - **closing**: `close` has begun, and tasks waiting on `closing()` have
///   the grace of close's step 1 to finish on their own: tasks are still
///   polled. Tasks spawned now are counted as cancelled and dropped by close
///   like the others; cleanups registered now still run (or are dropped)
///   before close returns. Skipped when no task waits on `closing()`.
/// - **cancelled**: from the end of that grace on, no task future is polled
///   again, whoever runs it: every runnable that a loop, a worker or a
///   helper takes is dropped instead of run (see `scheduler::run`).
/// - **closed**: close has dropped every task and cleanup. A task spawned
///   or a cleanup registered now (by a `Drop` that runs late) is dropped at
///   once, so nothing outlives close and nothing keeps the loop alive.
///
/// Only close moves it forward, on the runner's thread; anyone may read it.
/// The registry reads it under a shard's lock, and close moves it while it
/// holds every shard's lock, so a spawn either lands before close began
/// (and is counted as cancelled) or sees that it began.
pub(crate) struct Lifecycle(AtomicU8);

/// The states of a [`Lifecycle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum State {
    Open = 0,
    Closing = 1,
    Cancelled = 2,
    Closed = 3,
}

impl Lifecycle {
    pub(crate) fn new() -> Lifecycle {
        Lifecycle(AtomicU8::new(State::Open as u8))
    }

    /// The current state. `Acquire` pairs with the `Release` of `set`: who
    /// sees `Closing` sees what close did before it.
    #[inline]
    pub(crate) fn get(&self) -> State {
        match self.0.load(Ordering::Acquire) {
            0 => State::Open,
            1 => State::Closing,
            2 => State::Cancelled,
            _ => State::Closed,
        }
    }

    /// Moves forward to `state`; never back.
    pub(crate) fn set(&self, state: State) {
        debug_assert!(self.get() <= state, "a lifecycle only moves forward");
        self.0.store(state as u8, Ordering::Release);
    }

    #[inline]
    pub(crate) fn is_open(&self) -> bool {
        self.get() == State::Open
    }

    /// Whether task futures may no longer be polled (cancelled or closed).
    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire) >= State::Cancelled as u8
    }
}

/// The error of a [`Handle`](crate::Handle) whose runner has closed, or
/// begun to.
///
/// # Examples
///
/// ```
/// assert_eq!(runner::Closed.to_string(), "the runner has closed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the runner has closed")
    }
}

impl Error for Closed {}
