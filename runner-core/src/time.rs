//! Timers: [`sleep`], [`timeout`] and [`yield_now`], on async-io's reactor,
//! and every deadline the runner keeps for itself.
//!
//! Which clock: everything here counts real time (`std::time::Instant`).
//! The runner's own deadlines (the close timeout, a test's timeout) go
//! through [`deadline_after`] and [`until`], so a deadline too far away to
//! represent means "never" rather than an overflow panic.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use std::time::Instant;

use async_io::Timer;
use futures_lite::FutureExt;
use pin_project_lite::pin_project;

/// The real-time instant `duration` from now; `None` (never) when that is
/// past what an `Instant` can hold.
pub(crate) fn deadline_after(duration: Duration) -> Option<Instant> {
    Instant::now().checked_add(duration)
}

/// Runs `future` until `deadline` (real time): its output, or `None` if the
/// deadline came first. No deadline waits as long as the future takes.
pub(crate) async fn until<F: Future>(deadline: Option<Instant>, future: F) -> Option<F::Output> {
    let expired = async {
        match deadline {
            Some(deadline) => Timer::at(deadline).await,
            None => Timer::never().await,
        };
        None
    };
    async { Some(future.await) }.or(expired).await
}

/// Waits until `duration` has passed.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let runner = runner::Runner::new();
/// let start = Instant::now();
/// runner.run(runner::sleep(Duration::from_millis(10)));
/// assert!(start.elapsed() >= Duration::from_millis(10));
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        timer: Timer::after(duration),
    }
}

/// The future returned by [`sleep`]: `Send + 'static`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let runner = runner::Runner::new();
/// let nap: runner::Sleep = runner::sleep(Duration::from_millis(1));
/// runner.run(runner.spawn(nap));
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    timer: Timer,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.timer).poll(cx).map(drop)
    }
}

/// Runs `future` for at most `duration`; after that it is dropped and
/// [`Elapsed`] is returned instead.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let runner = runner::Runner::new();
/// let quick = runner.run(runner::timeout(Duration::from_secs(5), async { 1 }));
/// assert_eq!(quick, Ok(1));
/// let slow = runner.run(runner::timeout(Duration::from_millis(1), std::future::pending::<()>()));
/// assert_eq!(slow, Err(runner::Elapsed::new()));
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future,
        timer: Timer::after(duration),
    }
}

pin_project! {
    /// The future returned by [`timeout`]: `Send + 'static` when the future
    /// it wraps is.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let runner = runner::Runner::new();
    /// let bounded: runner::Timeout<_> = runner::timeout(Duration::from_secs(1), async { 5 });
    /// assert_eq!(runner.run(runner.spawn(bounded)), Ok(5));
    /// ```
    #[derive(Debug)]
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Timeout<F> {
        #[pin]
        future: F,
        timer: Timer,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        Pin::new(this.timer).poll(cx).map(|_| Err(Elapsed::new()))
    }
}

/// The error of a [`timeout`] whose duration passed first.
///
/// # Examples
///
/// ```
/// assert_eq!(runner::Elapsed::new().to_string(), "deadline has elapsed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Elapsed(());

impl Elapsed {
    /// Creates the error, for tests and for code that times out on its own.
    ///
    /// # Examples
    ///
    /// ```
    /// let error = runner::Elapsed::new();
    /// assert_eq!(error, runner::Elapsed::default());
    /// ```
    pub fn new() -> Elapsed {
        Elapsed(())
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for Elapsed {}

/// Lets the other tasks run before the caller continues.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let task = runner.spawn(async { 7 });
/// runner.run(runner::yield_now());
/// assert!(task.is_finished());
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`].
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let yielded: runner::YieldNow = runner::yield_now();
/// runner.run(yielded);
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
