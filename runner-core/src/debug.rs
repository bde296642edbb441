//! Debug mode: slow-poll reports, and at close the pending tasks and the
//! panics nobody observed, each with its spawn site.
//!
//! Reports go to `tracing` (target `runner`, level WARN) when a subscriber is
//! set for the calling thread, and to stderr otherwise, so debug mode works
//! out of the box.

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Sends one report to `tracing` or, without a subscriber, to stderr.
pub(crate) fn report(message: fmt::Arguments<'_>) {
    let subscribed = tracing::dispatcher::get_default(|dispatch| {
        !dispatch.is::<tracing::subscriber::NoSubscriber>()
    });
    if subscribed {
        tracing::warn!(target: "runner", "{message}");
    } else {
        eprintln!("runner: {message}");
    }
}

/// Calls user code `f` (a waker, a `Drop`, a cleanup) inside
/// `catch_unwind`: the one place where runner catches and counts the panics
/// that nobody else would observe. A panic is counted in `panics` as one "in
/// `what`" (or, with no runner to count it, reported at once) and its
/// payload dropped, itself inside `catch_unwind`; then `None` is returned.
pub(crate) fn catch<R>(
    panics: Option<&Panics>,
    what: &dyn fmt::Display,
    f: impl FnOnce() -> R,
) -> Option<R> {
    let payload = match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(output) => return Some(output),
        Err(payload) => payload,
    };
    let message = panic_message(&*payload);
    match panics {
        Some(panics) => panics.count(format_args!("{what}"), message),
        None => report(format_args!(
            "a panic nobody observed, in {what}: {message}"
        )),
    }
    // A payload is a value like any other: its `Drop` may panic too.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(payload)));
    None
}

/// Reports a poll that took longer than `threshold`.
pub(crate) fn check_poll(took: Duration, threshold: Duration, what: &str, site: &Location<'_>) {
    if took > threshold {
        report(format_args!("slow poll: a single poll of the {what} at {site} took {took:?} (threshold {threshold:?})"));
    }
}

/// The message of a panic payload, as the default panic hook prints it.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "Box<dyn Any>"
    }
}

/// The panics nobody observed, of one runner: `CloseReport::panicked`, and
/// in debug mode their reports, kept until close.
pub(crate) struct Panics {
    count: AtomicUsize,
    /// In debug mode, the reports that close will print; `None` once it has
    /// (later ones are reported as they happen), and always without debug.
    pending: Mutex<Option<Vec<String>>>,
    debug: bool,
}

impl Panics {
    pub(crate) fn new(debug: bool) -> Panics {
        Panics {
            count: AtomicUsize::new(0),
            pending: Mutex::new(debug.then(Vec::new)),
            debug,
        }
    }

    /// Counts a panic that nobody observed, in `what`; in debug mode, keeps
    /// its report.
    pub(crate) fn count(&self, what: fmt::Arguments<'_>, message: &str) {
        // Relaxed: a counter, read by close after it has joined what counts.
        self.count.fetch_add(1, Ordering::Relaxed);
        if !self.debug {
            return;
        }
        let line = format!("a panic nobody observed, in {what}: {message}");
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        match pending.as_mut() {
            Some(pending) => pending.push(line),
            None => report(format_args!("{line}")),
        }
    }

    /// How many were counted.
    pub(crate) fn total(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Reports those kept so far; later ones are reported as they happen.
    pub(crate) fn report_pending(&self) {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        for message in pending.into_iter().flatten() {
            report(format_args!("{message}"));
        }
    }
}
