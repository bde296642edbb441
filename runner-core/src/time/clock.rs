//! A runner's clock: real time, or virtual time that starts paused and moves
//! only when told ([`advance`]) or when the loop is idle (auto-advance).
//!
//! A virtual clock keeps the runner's timers in deadline order. The loop
//! auto-advances it (see `scheduler::Loop`) only when all of these hold: no
//! task is ready, no `unblock` job is in flight, no [`ClockHold`] is alive,
//! and the loop has stayed idle for the auto-advance threshold of real time
//! (default [`DEFAULT_AUTO_ADVANCE`]), so real I/O on loopback gets its answer
//! before a timeout is made to fire (trio's `autojump_threshold`). It then
//! jumps to the next deadline and fires the timers due, in deadline order.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::local;
use crate::shared::Shared;
use crate::task::outside;

/// How long the loop must stay idle before a virtual clock jumps, unless the
/// builder says otherwise ([`Builder::auto_advance_threshold`]).
///
/// [`Builder::auto_advance_threshold`]: crate::Builder::auto_advance_threshold
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(runner::DEFAULT_AUTO_ADVANCE, Duration::from_millis(5));
/// // Twice as patient with real I/O:
/// let runner = runner::Runner::builder()
///     .virtual_time(true)
///     .auto_advance_threshold(2 * runner::DEFAULT_AUTO_ADVANCE)
///     .build();
/// runner.run(runner::sleep(Duration::from_secs(60)));
/// ```
pub const DEFAULT_AUTO_ADVANCE: Duration = Duration::from_millis(5);

/// A runner's clock.
pub(crate) struct Clock {
    /// `None` for real time.
    paused: Option<Mutex<Paused>>,
    /// How long the loop stays idle before it auto-advances.
    pub(crate) threshold: Duration,
}

/// The state of a virtual clock.
struct Paused {
    now: Instant,
    /// Pending timers by deadline, then by registration order.
    timers: BTreeMap<(Instant, u64), Waker>,
    /// The next timer's key.
    next_key: u64,
    /// Live [`ClockHold`]s: while any is, the clock never auto-advances.
    holds: usize,
}

impl Clock {
    pub(crate) fn new(virtual_time: bool, threshold: Duration) -> Clock {
        Clock {
            paused: virtual_time.then(|| {
                Mutex::new(Paused {
                    now: Instant::now(),
                    timers: BTreeMap::new(),
                    next_key: 0,
                    holds: 0,
                })
            }),
            threshold,
        }
    }

    pub(crate) fn is_virtual(&self) -> bool {
        self.paused.is_some()
    }

    fn lock(&self) -> Option<MutexGuard<'_, Paused>> {
        // Every update is a few assignments that cannot be left half-done.
        let paused = self.paused.as_ref()?;
        Some(paused.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The clock's current time.
    pub(crate) fn now(&self) -> Instant {
        self.lock().map_or_else(Instant::now, |paused| paused.now)
    }

    /// The deadline of the next timer, if the clock is virtual, has one and
    /// is not held.
    pub(crate) fn next_to_auto_advance(&self) -> Option<Instant> {
        let paused = self.lock()?;
        if paused.holds > 0 {
            return None;
        }
        paused.timers.keys().next().map(|(deadline, _)| *deadline)
    }

    /// Moves the clock forward to `to` (never back) and wakes the timers
    /// due by then, earliest first.
    pub(crate) fn jump_to(&self, to: Instant) {
        let due: Vec<Waker> = {
            let Some(mut paused) = self.lock() else {
                return;
            };
            paused.now = paused.now.max(to);
            let now = paused.now;
            let later = paused.timers.split_off(&(now, u64::MAX));
            std::mem::replace(&mut paused.timers, later)
                .into_values()
                .collect()
        };
        due.into_iter().for_each(Waker::wake);
    }

    /// Whether `deadline` has come; if not, (re-)registers `waker` under `key`.
    fn poll_deadline(&self, deadline: Instant, key: &mut Option<u64>, waker: &Waker) -> bool {
        let Some(mut paused) = self.lock() else {
            return true;
        };
        if paused.now >= deadline {
            if let Some(key) = key.take() {
                paused.timers.remove(&(deadline, key));
            }
            return true;
        }
        let id = *key.get_or_insert_with(|| {
            paused.next_key += 1;
            paused.next_key
        });
        match paused.timers.get_mut(&(deadline, id)) {
            Some(registered) => registered.clone_from(waker),
            None => {
                paused.timers.insert((deadline, id), waker.clone());
            }
        }
        false
    }

    fn cancel(&self, deadline: Instant, key: u64) {
        if let Some(mut paused) = self.lock() {
            paused.timers.remove(&(deadline, key));
        }
    }
}

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

/// Moves the virtual clock of the runner running the caller forward by
/// `duration`, firing every timer due by then in deadline order, and lets
/// the tasks they wake run before it resolves.
///
/// Tasks that are ready when it is awaited run first, so a task spawned
/// just before has set its timers by the time the clock moves.
///
/// # Panics
///
/// When called outside a runner, or on a runner without virtual time,
/// saying so.
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
    let Some((shared, _)) = local::current() else {
        outside("runner::advance")
    };
    if !shared.clock.is_virtual() {
        panic!(
            "`runner::advance` needs a runner with virtual time: build it with \
             `Builder::virtual_time(true)`, or use `#[runner::test(virtual_time)]`"
        );
    }
    let now = shared.clock.now();
    // Too far to represent: as far as an `Instant` goes in practice.
    let target = now
        .checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(u64::MAX >> 2));
    // Ready tasks run first, so that a task spawned just before sets its
    // timers before the clock moves.
    Advance {
        shared,
        target,
        settling: Some(SETTLE_TURNS),
    }
}

/// The future returned by [`advance`].
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
    shared: Arc<Shared>,
    /// Where the clock ends up.
    target: Instant,
    /// While the tasks woken by the last jump run: how many more turns the
    /// loop gets before the next jump.
    settling: Option<usize>,
}

/// How many turns of the loop an [`Advance`] gives the woken tasks at most,
/// between two jumps.
const SETTLE_TURNS: usize = 1000;

impl Future for Advance {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Let the tasks that the last jump woke run (and those they wake)
        // before jumping again.
        if let Some(turns) = self.settling {
            if turns > 0 && self.shared.scheduler.has_ready() {
                self.settling = Some(turns - 1);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.settling = None;
        }
        let clock = &self.shared.clock;
        let next = clock.lock().and_then(|paused| {
            let next = paused.timers.keys().next().map(|(deadline, _)| *deadline);
            next.filter(|next| *next <= self.target)
        });
        let Some(next) = next else {
            clock.jump_to(self.target);
            return Poll::Ready(());
        };
        clock.jump_to(next);
        // Yield once even if nothing looks ready: a woken task may be on its
        // way to a queue.
        self.settling = Some(SETTLE_TURNS);
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
    let Some((shared, _)) = local::current() else {
        outside("runner::hold_clock")
    };
    let held = shared.clock.lock().map(|mut paused| paused.holds += 1);
    ClockHold {
        shared: held.map(|()| shared),
    }
}

impl Drop for ClockHold {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        if let Some(mut paused) = shared.clock.lock() {
            paused.holds -= 1;
        }
        // An idle loop may now auto-advance: let it look.
        shared.scheduler.wake_loop();
    }
}

impl std::fmt::Debug for Advance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advance")
            .field("target", &self.target)
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
