//! Timers: [`sleep`], [`timeout`], [`yield_now`] and [`now`], on async-io's
//! reactor or the runner's virtual clock.
//!
//! Which clock:
//!
//! - [`sleep`], [`sleep_until`] and [`timeout`] use the clock of the runner
//!   running the code that makes them or, when made outside any runner (the
//!   future of `runner.run(runner::sleep(d))`), of the runner that first
//!   polls them; [`now`] the clock of the runner running the caller: virtual
//!   time on a runner built with `virtual_time` (see `clock`), real time
//!   otherwise and outside any runner. Timers of other crates (async-io's
//!   `Timer`, tokio's) always count real time.
//! - The runner's own deadlines (the close timeout, a test's timeout) always
//!   count real time, so a virtual clock neither hides a hung test nor fails
//!   one early: they are in `wait`.
//!
//! The clock engine is `clock` (a floor-0 leaf, in `Shared`); what finds the
//! current runner's clock is here and in `virtual_time`.

pub(crate) mod clock;
mod virtual_time;

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

pub use clock::DEFAULT_AUTO_ADVANCE;
use virtual_time::VirtualTimer;
pub use virtual_time::{advance, hold_clock, Advance, ClockHold};

use crate::local;

use async_io::Timer;
use pin_project_lite::pin_project;

/// Returns the current time on the clock of the runner running the caller
/// (or entered on this thread): virtual time on a runner built with
/// [`Builder::virtual_time`](crate::Builder::virtual_time), real time
/// otherwise and outside any runner.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let runner = runner::Runner::builder().virtual_time(true).build();
/// runner.run(async {
///     let start = runner::now();
///     runner::sleep(Duration::from_secs(3600)).await; // returns at once
///     assert_eq!(runner::now() - start, Duration::from_secs(3600));
/// });
/// ```
pub fn now() -> Instant {
    local::with_current(|shared, _| shared.clock.now()).unwrap_or_else(Instant::now)
}

/// Waits until `duration` has passed, on the clock of the runner running
/// the caller (made outside any runner: of the runner that first polls it):
/// real time, or virtual time on a runner built with
/// [`virtual_time`](crate::Builder::virtual_time) (see [`now`]).
///
/// # Panics
///
/// When polled after its virtual-time runner has closed, saying so: that
/// clock never moves again.
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
        timer: Clocked::after(duration),
    }
}

/// Waits until `deadline`, on the clock of the runner running the caller
/// (see [`sleep`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let runner = runner::Runner::new();
/// runner.run(async {
///     let deadline = runner::now() + Duration::from_millis(5);
///     runner::sleep_until(deadline).await;
///     assert!(runner::now() >= deadline);
/// });
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        timer: Clocked::at(deadline),
    }
}

/// A timer on the clock of the runner it was made in, or else of the
/// runner that first polls it.
#[derive(Debug)]
enum Clocked {
    /// Made outside any runner, not polled yet.
    Unpolled(Target),
    Real(Timer),
    Virtual(VirtualTimer),
}

/// When an unpolled timer fires.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// `duration` after it was made (real time), or after it is first polled
    /// on a virtual clock (it was made outside any runner, so on no clock).
    After(Instant, Duration),
    At(Instant),
}

impl Clocked {
    fn after(duration: Duration) -> Clocked {
        Clocked::made(Target::After(Instant::now(), duration))
    }

    fn at(deadline: Instant) -> Clocked {
        Clocked::made(Target::At(deadline))
    }

    /// Made in a runner: on its clock from now on (a virtual one's deadline
    /// counts from its time now), so that a sleep that outlives its
    /// virtual-time runner says so when polled rather than quietly taking
    /// another runner's clock. Made outside any runner: left to the first
    /// poll.
    fn made(target: Target) -> Clocked {
        Clocked::in_current(target).unwrap_or(Clocked::Unpolled(target))
    }

    /// On the clock of the runner running the caller, if any: its virtual
    /// one, or real time.
    fn in_current(target: Target) -> Option<Clocked> {
        local::with_current(|shared, _| {
            if !shared.clock.is_virtual() {
                return Clocked::real(target);
            }
            let deadline = match target {
                Target::After(_, duration) => shared.clock.now().checked_add(duration),
                Target::At(deadline) => Some(deadline),
            };
            match deadline {
                Some(deadline) => Clocked::Virtual(VirtualTimer::new(shared.clone(), deadline)),
                None => Clocked::Real(Timer::never()),
            }
        })
    }

    /// On real time.
    fn real(target: Target) -> Clocked {
        let deadline = match target {
            Target::After(start, duration) => start.checked_add(duration),
            Target::At(deadline) => Some(deadline),
        };
        Clocked::Real(deadline.map_or_else(Timer::never, Timer::at))
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Clocked::Unpolled(target) = *self {
            *self = Clocked::in_current(target).unwrap_or_else(|| Clocked::real(target));
        }
        match self {
            Clocked::Real(timer) => Pin::new(timer).poll(cx).map(drop),
            Clocked::Virtual(timer) => timer.poll(cx),
            Clocked::Unpolled(_) => unreachable!("resolved above"),
        }
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
    timer: Clocked,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.timer.poll(cx)
    }
}

/// Runs `future` for at most `duration` (on the clock of the runner
/// running the caller, see [`sleep`]); after that it is dropped and
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
        timer: Clocked::after(duration),
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
        timer: Clocked,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        this.timer.poll(cx).map(|()| Err(Elapsed::new()))
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
#[inline]
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

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
