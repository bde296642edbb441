//! Debug mode: slow-poll reports, and at close the pending tasks and the
//! panics nobody observed, each with its spawn site.
//!
//! Reports go to `tracing` (target `runner`, level WARN) when a subscriber is
//! set for the calling thread, and to stderr otherwise, so debug mode works
//! out of the box.

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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

/// Reports a poll of `what` that took longer than `threshold`.
pub(crate) fn check_poll(took: Duration, threshold: Duration, what: &dyn fmt::Display) {
    if took > threshold {
        report(format_args!(
            "slow poll: a single poll of the {what} took {took:?} (threshold {threshold:?})"
        ));
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

/// What a runner does with a panic that nobody observed: one in a task that
/// nobody awaits (detached, or its [`Task`](crate::Task) dropped unawaited).
///
/// Set with [`Builder::unobserved_panics`](crate::Builder::unobserved_panics).
/// `#[runner::test]` uses [`Propagate`](Self::Propagate), so that no test
/// passes with a panic it did not see.
///
/// # Examples
///
/// ```
/// use runner::UnobservedPanics;
///
/// let runner = runner::Runner::builder()
///     .unobserved_panics(UnobservedPanics::Propagate)
///     .build();
/// runner.spawn(async { panic!("lost") }).detach();
/// let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
///     runner.run(runner::sleep(std::time::Duration::from_secs(5)))
/// }));
/// assert!(caught.is_err(), "the task's panic came out of the run");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum UnobservedPanics {
    /// Counted in [`CloseReport::panicked`](crate::CloseReport::panicked)
    /// (and reported in debug mode): the default.
    #[default]
    Count,
    /// Also resumed, with its original payload, out of the run in progress
    /// (whose future is dropped), else out of the next
    /// [`run`](crate::Runner::run) or [`try_run`](crate::Runner::try_run).
    /// The first one is resumed; later ones are counted and reported.
    Propagate,
}

/// The panics nobody observed, of one runner: `CloseReport::panicked`, and
/// in debug mode their reports, kept until close.
pub(crate) struct Panics {
    count: AtomicUsize,
    /// In debug mode, the reports that close will print; `None` once it has
    /// (later ones are reported as they happen), and always without debug.
    pending: Mutex<Option<Vec<String>>>,
    debug: bool,
    /// Whether a task's unobserved panic is also resumed in a run.
    propagate: bool,
    /// With `propagate`: the first such panic's payload, until a run
    /// resumes it; `holding` says whether it is there, for a look that takes
    /// no lock.
    held: Mutex<Option<Box<dyn Any + Send>>>,
    holding: AtomicBool,
}

impl Panics {
    pub(crate) fn new(debug: bool, policy: UnobservedPanics) -> Panics {
        Panics {
            count: AtomicUsize::new(0),
            pending: Mutex::new(debug.then(Vec::new)),
            debug,
            propagate: policy == UnobservedPanics::Propagate,
            held: Mutex::new(None),
            holding: AtomicBool::new(false),
        }
    }

    /// A task's panic that nobody observed: counted; with
    /// [`UnobservedPanics::Propagate`], reported at once (with `what`, the
    /// task's spawn site) and its payload kept for a run to resume, unless
    /// one is kept already. Returns the payload when it was not kept.
    pub(crate) fn unobserved(
        &self,
        what: fmt::Arguments<'_>,
        payload: Box<dyn Any + Send>,
    ) -> Option<Box<dyn Any + Send>> {
        if !self.propagate {
            self.count(what, panic_message(&*payload));
            return Some(payload);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        report(format_args!(
            "a panic nobody observed, in {what}: {}",
            panic_message(&*payload)
        ));
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if held.is_some() {
            return Some(payload);
        }
        *held = Some(payload);
        // Release: who sees the flag sees the payload (it also takes the lock).
        self.holding.store(true, Ordering::Release);
        None
    }

    /// The kept panic, if any, for a run to resume. A load when there is none.
    #[inline]
    pub(crate) fn take_held(&self) -> Option<Box<dyn Any + Send>> {
        if !self.holding.load(Ordering::Acquire) {
            return None;
        }
        self.take_held_slow()
    }

    #[cold]
    fn take_held_slow(&self) -> Option<Box<dyn Any + Send>> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        self.holding.store(false, Ordering::Relaxed);
        held.take()
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
