//! A runner's clock: real time, or virtual time that starts paused and moves
//! only when told (`advance`) or when the loop is idle (auto-advance).
//!
//! The clock engine alone, a floor-0 leaf: the futures and functions that
//! find the current runner's clock (`VirtualTimer`, `advance`,
//! `hold_clock`) are in `virtual_time`, above the core.
//!
//! A virtual clock keeps the runner's timers in deadline order. The loop
//! auto-advances it (see `scheduler::Loop`) only when all of these hold: no
//! task is ready, no `unblock` job is in flight, no [`ClockHold`](crate::ClockHold) is alive,
//! and the loop has stayed idle for the auto-advance threshold of real time
//! (default [`DEFAULT_AUTO_ADVANCE`]), so real I/O on loopback gets its answer
//! before a timeout is made to fire (trio's `autojump_threshold`). It then
//! jumps to the next deadline and fires the timers due, in deadline order.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::debug::{self, Panics};

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
    /// Live `ClockHold`s: while any is, the clock never auto-advances.
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
    /// due by then, earliest first; a waker that panics is counted in
    /// `panics`, and the others are still woken.
    pub(crate) fn jump_to(&self, to: Instant, panics: &Panics) {
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
        for waker in due {
            debug::catch(Some(panics), &"a waker woken by the virtual clock", || {
                waker.wake();
            });
        }
    }

    /// The deadline of the next timer, if the clock is virtual and has one
    /// (held or not).
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let paused = self.lock()?;
        paused.timers.keys().next().map(|(deadline, _)| *deadline)
    }

    /// Holds a virtual clock (see `hold_clock`); returns whether it is
    /// virtual, so that only a held clock is released.
    pub(crate) fn hold(&self) -> bool {
        self.lock().map(|mut paused| paused.holds += 1).is_some()
    }

    /// Releases a hold that [`hold`](Self::hold) took.
    pub(crate) fn release(&self) {
        if let Some(mut paused) = self.lock() {
            paused.holds -= 1;
        }
    }

    /// Wakes every pending timer once the runner has closed, so that whoever
    /// awaits one polls it again and learns (by a panic) that this clock will
    /// never move; a waker that panics is counted in `panics`.
    pub(crate) fn wake_all(&self, panics: &Panics) {
        let all: Vec<Waker> = match self.lock() {
            Some(mut paused) => std::mem::take(&mut paused.timers).into_values().collect(),
            None => return,
        };
        for waker in all {
            debug::catch(Some(panics), &"a waker woken by the virtual clock", || {
                waker.wake();
            });
        }
    }

    /// Whether `deadline` has come; if not, (re-)registers `waker` under `key`.
    pub(crate) fn poll_deadline(
        &self,
        deadline: Instant,
        key: &mut Option<u64>,
        waker: &Waker,
    ) -> bool {
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

    /// Forgets the timer registered under `key` for `deadline`.
    pub(crate) fn cancel(&self, deadline: Instant, key: u64) {
        if let Some(mut paused) = self.lock() {
            paused.timers.remove(&(deadline, key));
        }
    }
}
