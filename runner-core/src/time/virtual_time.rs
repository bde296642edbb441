//! What finds the current runner's virtual clock: [`VirtualTimer`] (the
//! virtual side of `sleep` and `timeout`), [`advance`] and [`hold_clock`].
//!
//! The engine they drive is `clock`, a floor-0 leaf; this file is above
//! the core, since each of them holds or looks up a runner.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::lifecycle::State;
use crate::local;
use crate::shared::Shared;

/// A timer on a runner's virtual clock.
pub(crate) struct VirtualTimer {
    shared: Arc<Shared>,
    deadline: Instant,
    /// Its key among the clock's timers, once registered.
    key: Option<u64>,
}

impl VirtualTimer {
    pub(crate) fn new(shared: Arc<Shared>, deadline: Instant) -> VirtualTimer {
        VirtualTimer {
            shared,
            deadline,
            key: None,
        }
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.lifecycle.get() == State::Closed {
            // Its clock will never move again: waiting would hang.
            panic!(
                "a `runner::sleep` or `runner::timeout` on the virtual clock of a runner that has \
                 closed was polled: that clock never moves again; await it before the runner \
                 closes"
            );
        }
        let clock = &self.shared.clock;
        if clock.poll_deadline(self.deadline, &mut self.key, cx.waker()) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for VirtualTimer {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.shared.clock.cancel(self.deadline, key);
        }
    }
}

/// Moves the virtual clock of the runner running the caller forward by
/// `duration`, firing every timer due by then in deadline order, and lets
/// the tasks they wake run before it resolves.
///
/// Tasks that are ready when it is awaited run first, so a task spawned
/// just before has set its timers by the time the clock moves.
///
/// # Panics
///
/// When first polled outside a runner, or on a runner without virtual
/// time, saying so and naming where `advance` was called.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let runner = runner::Runner::builder().virtual_time(true).build();
/// let fired = runner.run(async {
///     let timer = runner::spawn(async {
///         runner::sleep(Duration::from_secs(10)).await;
///         "fired"
///     });
///     runner::advance(Duration::from_secs(10)).await;
///     assert!(timer.is_finished());
///     timer.await
/// });
/// assert_eq!(fired, "fired");
/// ```
#[track_caller]
pub fn advance(duration: Duration) -> Advance {
    Advance {
        duration,
        site: Location::caller(),
        bound: None,
    }
}

/// The future returned by [`advance`]. Like an `async fn`, it finds its
/// runner when first polled, so `runner.run(runner::advance(d))` works.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let runner = runner::Runner::builder().virtual_time(true).build();
/// runner.run(async {
///     let step: runner::Advance = runner::advance(Duration::from_millis(5));
///     step.await;
/// });
/// ```
#[must_use = "the clock moves only when the `Advance` is awaited"]
pub struct Advance {
    /// How far the clock moves.
    duration: Duration,
    /// Where `advance` was called, for the panics of the first poll.
    site: &'static Location<'static>,
    /// The runner and the target, from the first poll on.
    bound: Option<Bound>,
}

/// An [`Advance`] once polled.
struct Bound {
    shared: Arc<Shared>,
    /// Where the clock ends up.
    target: Instant,
    /// While the tasks woken by the last jump run: how many more turns the
    /// loop gets before the next jump.
    settling: Option<usize>,
}

/// How many turns of the loop an [`Advance`] gives the woken tasks at
/// least, between two jumps (more when many tasks are pending: the loop
/// runs a budget of tasks per turn).
const SETTLE_TURNS: usize = 1000;

impl Bound {
    /// Binds an `advance` of `duration` to the runner polling it.
    fn new(duration: Duration, site: &Location<'_>) -> Bound {
        let Some((shared, _)) = local::current() else {
            panic!(
                "`runner::advance` (called at {site}) must be awaited in code that a \
                 `runner::Runner` is running"
            );
        };
        if !shared.clock.is_virtual() {
            panic!(
                "`runner::advance` (called at {site}) needs a runner with virtual time: build it \
                 with `Builder::virtual_time(true)`, or use `#[runner::test(virtual_time)]`"
            );
        }
        let target = saturating_add(shared.clock.now(), duration);
        // Ready tasks run first, so that a task spawned just before sets its
        // timers before the clock moves.
        let settling = Some(settle_turns(&shared));
        Bound {
            shared,
            target,
            settling,
        }
    }
}

/// The turns the tasks woken by a jump get: enough for every pending task
/// to run a few times at the loop's budget of tasks per turn.
fn settle_turns(shared: &Shared) -> usize {
    SETTLE_TURNS.max(shared.registry.pending() / 16)
}

/// `now + duration`, or as far as an `Instant` goes when that overflows.
fn saturating_add(now: Instant, duration: Duration) -> Instant {
    if let Some(target) = now.checked_add(duration) {
        return target;
    }
    // The largest step that fits, found by halving.
    let (mut fits, mut overflows) = (Duration::ZERO, duration);
    while overflows - fits > Duration::from_secs(1) {
        let middle = fits + (overflows - fits) / 2;
        match now.checked_add(middle) {
            Some(_) => fits = middle,
            None => overflows = middle,
        }
    }
    now + fits
}

impl Future for Advance {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let (duration, site) = (self.duration, self.site);
        let bound = self.bound.get_or_insert_with(|| Bound::new(duration, site));
        // Let the tasks that the last jump woke run (and those they wake)
        // before jumping again.
        if let Some(turns) = bound.settling {
            let scheduler = &bound.shared.scheduler;
            let busy = scheduler.has_ready() || scheduler.workers.awake() > 0;
            if turns > 0 && busy {
                bound.settling = Some(turns - 1);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            bound.settling = None;
        }
        let shared = &*bound.shared;
        let clock = &shared.clock;
        let next = clock.next_deadline().filter(|next| *next <= bound.target);
        let Some(next) = next else {
            clock.jump_to(bound.target, &shared.panics);
            return Poll::Ready(());
        };
        clock.jump_to(next, &shared.panics);
        // Yield once even if nothing looks ready: a woken task may be on its
        // way to a queue.
        bound.settling = Some(settle_turns(shared));
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Holds a runner's virtual clock: while the guard lives, the loop never
/// auto-advances it ([`advance`] still does). For a stretch of real I/O that
/// may take longer than the auto-advance threshold, so that no timeout is
/// made to fire meanwhile.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let runner = runner::Runner::builder().virtual_time(true).build();
/// runner.run(async {
///     let hold = runner::hold_clock();
///     let job = runner::unblock(|| std::thread::sleep(Duration::from_millis(20)));
///     let raced = runner::timeout(Duration::from_millis(1), job).await;
///     assert!(raced.is_ok(), "the virtual timeout did not fire early");
///     drop(hold);
/// });
/// ```
#[must_use = "the clock is held only while the guard lives"]
pub struct ClockHold {
    shared: Option<Arc<Shared>>,
}

/// Holds the virtual clock of the runner running the caller until the
/// returned guard drops; on a runner without virtual time, does nothing.
///
/// Use it around real I/O under virtual time: a loopback socket, and with
/// the `tokio` feature any tokio I/O (`tokio::net`, reqwest, sqlx). The loop
/// cannot see that such a future waits for an answer, so once it has been
/// idle for the [auto-advance
/// threshold](crate::Builder::auto_advance_threshold) the clock jumps, and a
/// [`timeout`](crate::timeout) around that I/O fires early. Timers and
/// `unblock` jobs need no hold: the clock waits for jobs in flight.
///
/// # Panics
///
/// Outside a runner, saying so.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::builder().virtual_time(true).build();
/// runner.run(async {
///     let _hold = runner::hold_clock();
///     // real I/O here cannot be outrun by a virtual timeout
/// });
/// ```
#[track_caller]
pub fn hold_clock() -> ClockHold {
    let (shared, _) = local::current_or_panic("runner::hold_clock");
    let held = shared.clock.hold();
    ClockHold {
        shared: held.then_some(shared),
    }
}

impl Drop for ClockHold {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        shared.clock.release();
        // An idle loop may now auto-advance: let it look.
        shared.scheduler.wake_loop();
    }
}

impl std::fmt::Debug for Advance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advance")
            .field("duration", &self.duration)
            .field("target", &self.bound.as_ref().map(|bound| bound.target))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClockHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClockHold")
            .field("held", &self.shared.is_some())
            .finish()
    }
}

impl std::fmt::Debug for VirtualTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualTimer")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}
