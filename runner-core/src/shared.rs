//! [`Shared`]: what a started runner shares with its tasks, wakers, workers
//! and cleanups, one field per concern.
//!
//! Part of the core (floor 1), read together with `local` and `scheduler/`:
//! a task's runnable names its runner (a `Shared`), whose scheduler holds
//! the queues. Each other concern lives in a floor-0 file of its own and
//! owns its counters:
//!
//! | field | module | what it owns |
//! | --- | --- | --- |
//! | `lifecycle` | `lifecycle` | open, closing, closed |
//! | `scheduler` | `scheduler` (core) | run queues, the loop's wake-ups, workers |
//! | `registry` | `registry` | pending tasks; `CloseReport::{cancelled, dropped}` |
//! | `hooks` | `hooks` | `closing()` waiters, `on_close` cleanups |
//! | `jobs` | `jobs` | blocking jobs; `CloseReport::blocking_abandoned` |
//! | `panics` | `debug` | unobserved panics; `CloseReport::panicked` |
//! | `clock` | `time::clock` | real or virtual time, virtual timers |
//! | `tokio` | `tokio` | the tokio runtime whose context runner code runs in |
//!
//! The rule that keeps the floors: a field's type is defined in a file that
//! imports neither `shared` nor `local`. No field refers to another: a path
//! that needs two of them goes through `Shared`, above them.

use std::time::Duration;

use crate::config::Config;
use crate::debug::Panics;
use crate::hooks::Hooks;
use crate::jobs::Jobs;
use crate::lifecycle::Lifecycle;
use crate::registry::Registry;
use crate::scheduler::Scheduler;
use crate::time::clock::Clock;

/// The state of a started runner.
pub(crate) struct Shared {
    /// Where the runner is in its life.
    pub(crate) lifecycle: Lifecycle,
    /// Run queues, wake-ups, workers.
    pub(crate) scheduler: Scheduler,
    /// Tasks that have not finished.
    pub(crate) registry: Registry,
    /// `closing()` waiters and `on_close` cleanups.
    pub(crate) hooks: Hooks,
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
            registry: Registry::new(config.worker_threads),
            hooks: Hooks::new(),
            jobs: Jobs::new(),
            panics: Panics::new(config.debug, config.unobserved_panics),
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
