//! [`Shared`]: what a started runner shares with its tasks, wakers, workers
//! and cleanups, one field per concern, and the runner's one lifecycle.
//!
//! Each concern lives in its own module and owns its counters:
//!
//! | field | module | what it owns |
//! | --- | --- | --- |
//! | `lifecycle` | here | open, closing, closed |
//! | `scheduler` | `scheduler` | run queues, the loop's wake-ups, workers |
//! | `registry` | `registry` | pending tasks; `CloseReport::{cancelled, dropped}` |
//! | `closing` | `close` | `closing()` waiters, `on_close` cleanups |
//! | `jobs` | `blocking` | blocking jobs; `CloseReport::blocking_abandoned` |
//! | `panics` | `debug` | unobserved panics; `CloseReport::panicked` |
//! | `clock` | `time` | real or virtual time, virtual timers |
//!
//! No field refers to another: a path that needs two of them goes through
//! `Shared`, so the modules do not import each other's internals.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use crate::blocking::Jobs;
use crate::builder::Config;
use crate::close::CloseState;
use crate::debug::Panics;
use crate::registry::Registry;
use crate::scheduler::Scheduler;
use crate::time::Clock;

/// The state of a started runner.
pub(crate) struct Shared {
    /// Where the runner is in its life.
    pub(crate) lifecycle: Lifecycle,
    /// Run queues, wake-ups, workers.
    pub(crate) scheduler: Scheduler,
    /// Tasks that have not finished.
    pub(crate) registry: Registry,
    /// `closing()` and `on_close`.
    pub(crate) closing: CloseState,
    /// Jobs on the blocking pool.
    pub(crate) jobs: Jobs,
    /// Panics nobody observed.
    pub(crate) panics: Panics,
    /// The runner's clock.
    pub(crate) clock: Clock,
    /// In debug mode, how long one poll may take before it is reported;
    /// `None` with debug mode off.
    pub(crate) slow_poll: Option<Duration>,
    /// tokio: the runtime whose context runner code runs in (tokio.rs).
    #[cfg(feature = "tokio")]
    pub(crate) tokio: crate::tokio::Tokio,
}

impl Shared {
    pub(crate) fn new(config: &Config) -> Shared {
        Shared {
            lifecycle: Lifecycle::new(),
            scheduler: Scheduler::new(config.worker_threads),
            // Spawn sites are reported in debug mode and when a test times out.
            registry: Registry::new(
                config.debug || config.test_timeout.is_some(),
                config.worker_threads,
            ),
            closing: CloseState::new(),
            jobs: Jobs::new(),
            panics: Panics::new(config.debug),
            clock: Clock::new(config.virtual_time, config.auto_advance_threshold),
            slow_poll: config.debug.then_some(config.slow_poll_threshold),
            #[cfg(feature = "tokio")] // tokio
            tokio: crate::tokio::Tokio::new(config.tokio_handle.as_ref()),
        }
    }

    pub(crate) fn is_debug(&self) -> bool {
        self.slow_poll.is_some()
    }
}

/// A runner's life: created (no `Shared` yet: the loop starts lazily), then
/// open, closing, closed, each once and in that order.
///
/// - **open**: runs, spawns and cleanups are accepted.
/// - **closing**: `close` has begun. Tasks spawned now are counted as
///   cancelled and dropped by close like the others; cleanups registered
///   now still run (or are dropped) before close returns.
/// - **closed**: close has dropped every task and cleanup. A task spawned
///   or a cleanup registered now (by a `Drop` that runs late) is dropped at
///   once, so nothing outlives close and nothing keeps the loop alive.
///
/// Only close moves it forward, on the runner's thread; anyone may read it.
/// The registry reads it under a shard's lock, and close takes every
/// shard's lock after moving it, so a spawn either lands before closing
/// began or sees it.
pub(crate) struct Lifecycle(AtomicU8);

/// The states of a [`Lifecycle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum State {
    Open = 0,
    Closing = 1,
    Closed = 2,
}

impl Lifecycle {
    fn new() -> Lifecycle {
        Lifecycle(AtomicU8::new(State::Open as u8))
    }

    /// The current state. `Acquire` pairs with the `Release` of `set`: who
    /// sees `Closing` sees what close did before it.
    #[inline]
    pub(crate) fn get(&self) -> State {
        match self.0.load(Ordering::Acquire) {
            0 => State::Open,
            1 => State::Closing,
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
}
