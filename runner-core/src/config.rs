//! [`Config`]: the settings a built runner runs with.
//!
//! A floor-0 leaf (it names `debug`'s policy type): the builder (above) makes it, `Shared` (in the core)
//! and the `Runner` read it.

use std::time::Duration;

use crate::debug::UnobservedPanics;

/// The settings a built runner runs with, made by `Builder::build`.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Debug mode: slow polls, pending tasks and unobserved panics reported.
    pub(crate) debug: bool,
    /// Threads besides the runner's own that run its `Send` tasks.
    pub(crate) worker_threads: usize,
    /// How long each waiting step of close may take.
    pub(crate) close_timeout: Duration,
    /// In debug mode, how long one poll may take before it is reported.
    pub(crate) slow_poll_threshold: Duration,
    /// `#[runner::test(timeout = ..)]`: how long runs may take in all.
    pub(crate) test_timeout: Option<Duration>,
    /// Whether the clock is virtual and starts paused.
    pub(crate) virtual_time: bool,
    /// What happens to a task's panic that nobody observed.
    pub(crate) unobserved_panics: UnobservedPanics,
    /// How long an idle loop waits before a virtual clock jumps.
    pub(crate) auto_advance_threshold: Duration,
    /// tokio: the runtime to use instead of the process-wide one.
    #[cfg(feature = "tokio")]
    pub(crate) tokio_handle: Option<tokio::runtime::Handle>,
}
