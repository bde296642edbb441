//! Ways to wait that need nothing of a runner: real-time deadlines, a
//! condition announced by an [`Event`], and a plain thread parker.
//!
//! A floor-0 leaf. Every deadline the runner keeps for itself (the close
//! timeout, a test's timeout) counts real time and goes through
//! [`deadline_after`] and [`with_deadline`], so a deadline too far away to
//! represent means "never" rather than an overflow panic.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use async_io::Timer;
use event_listener::Event;
use futures_lite::FutureExt;

/// The real-time instant `duration` from now; `None` (never) when that is
/// past what an `Instant` can hold.
pub(crate) fn deadline_after(duration: Duration) -> Option<Instant> {
    Instant::now().checked_add(duration)
}

/// Runs `future` until `deadline` (real time): its output, or `None` if the
/// deadline came first. No deadline waits as long as the future takes.
pub(crate) async fn with_deadline<F: Future>(
    deadline: Option<Instant>,
    future: F,
) -> Option<F::Output> {
    let expired = async {
        match deadline {
            Some(deadline) => Timer::at(deadline).await,
            None => Timer::never().await,
        };
        None
    };
    async { Some(future.await) }.or(expired).await
}

/// Resolves once `holds()` is true; `event` is notified whenever it may
/// have become true.
pub(crate) async fn condition(event: &Event, holds: impl Fn() -> bool) {
    loop {
        if holds() {
            return;
        }
        // Listen, then look again: a notification between the two looks is
        // not lost.
        let listener = event.listen();
        if holds() {
            return;
        }
        listener.await;
    }
}

/// Runs `future` on this thread, parking the plain way between polls: for
/// close and helpers, which must not need async-io's thread-locals.
pub(crate) fn park_on<T>(future: impl Future<Output = T>) -> T {
    let (parker, unparker) = parking::pair();
    let waker = Waker::from(unparker);
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        parker.park();
    }
}

/// A waker that does nothing (`Waker::noop` is newer than our MSRV).
pub(crate) fn noop_waker() -> &'static Waker {
    struct Noop;

    impl Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }

    static NOOP: OnceLock<Waker> = OnceLock::new();
    NOOP.get_or_init(|| Waker::from(Arc::new(Noop)))
}

/// A deadline that costs no clock reading until it is needed: close's
/// waits take one only when there is something to wait for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Deadline {
    /// Now: a few last looks only.
    Now,
    /// `timeout` from the first look that finds a task left.
    After(Duration),
    /// A real-time instant (`None`: never).
    At(Option<Instant>),
}

impl Deadline {
    /// The instant, read now if need be (`None`: never).
    pub(crate) fn instant(self) -> Option<Instant> {
        match self {
            Deadline::Now => Some(Instant::now()),
            Deadline::After(timeout) => deadline_after(timeout),
            Deadline::At(at) => at,
        }
    }
}
