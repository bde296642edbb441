//! Debug mode: slow-poll reports, and at close the pending tasks and the
//! panics nobody observed, each with its spawn site.
//!
//! Reports go to `tracing` (target `runner`, level WARN) when a subscriber is
//! set for the calling thread, and to stderr otherwise, so debug mode works
//! out of the box.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

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

pin_project! {
    /// A run's own future, with each poll timed against the threshold.
    pub(crate) struct Watched<F> {
        #[pin]
        future: F,
        // Where `run` was called.
        site: &'static Location<'static>,
        threshold: Duration,
    }
}

impl<F> Watched<F> {
    pub(crate) fn new(
        future: F,
        site: &'static Location<'static>,
        threshold: Duration,
    ) -> Watched<F> {
        Watched {
            future,
            site,
            threshold,
        }
    }
}

impl<F: Future> Future for Watched<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let started = Instant::now();
        let polled = this.future.poll(cx);
        check_poll(started.elapsed(), *this.threshold, "future run", this.site);
        polled
    }
}
