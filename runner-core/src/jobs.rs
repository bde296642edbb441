//! [`Jobs`]: how many of a runner's blocking jobs are in flight.
//!
//! A floor-0 leaf; `blocking` (above) starts and finishes the jobs, close
//! waits for them, and a virtual clock does not jump while any is in flight.

use std::sync::atomic::{AtomicUsize, Ordering};

use event_listener::Event;

/// The blocking jobs of one runner.
pub(crate) struct Jobs {
    /// Jobs started and not finished.
    pending: AtomicUsize,
    /// Notified whenever a job finishes.
    pub(crate) done: Event,
}

impl Jobs {
    pub(crate) fn new() -> Jobs {
        Jobs {
            pending: AtomicUsize::new(0),
            done: Event::new(),
        }
    }

    /// How many jobs are in flight. `Acquire` pairs with [`finish`](Self::finish).
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Counts a job in.
    pub(crate) fn start(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    /// Counts a job out and tells whoever waits for jobs.
    pub(crate) fn finish(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
        self.done.notify(usize::MAX);
    }
}
