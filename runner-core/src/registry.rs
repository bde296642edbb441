//! The registry of pending tasks: what close cancels and debug mode lists,
//! and the two `CloseReport` counters about tasks.
//!
//! A task enters it when spawned and leaves it when its future is gone
//! (finished, cancelled, or dropped by close). Spawning reads the runner's
//! lifecycle under the registry's lock, and close moves the lifecycle under
//! the same lock, so a spawn either lands before close began (and close
//! cancels it like any task) or sees that close began.

use std::panic::Location;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use async_task::Runnable;
use event_listener::Event;
use slab::Slab;

use crate::shared::{Lifecycle, State};

/// The pending tasks of one runner.
pub(crate) struct Registry {
    inner: Mutex<Inner>,
    /// Notified when the last pending task leaves.
    pub(crate) empty: Event,
}

struct Inner {
    /// Waking a task at close makes its `Runnable` show up in a queue, to be
    /// dropped.
    tasks: Slab<Waker>,
    /// Where each pending task was spawned, by key, for the reports of debug
    /// mode and of a test's timeout; `None` when neither is on, so that a
    /// task costs one `Waker` here.
    sites: Option<Vec<Option<&'static Location<'static>>>>,
    /// Tasks pending when close began, plus those spawned while closing
    /// (close cancels them too): `CloseReport::cancelled`.
    cancelled: usize,
    /// Of those, the ones whose futures were dropped unfinished:
    /// `CloseReport::dropped`. Never more than `cancelled`, since only a
    /// registered task counts, and only once the lifecycle left open.
    dropped: usize,
}

/// Who submits a task, which decides whether close refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Submitter {
    /// Code the runner runs (`runner::spawn`, `Runner::spawn`, a `Drop` in
    /// close): accepted while closing, and cancelled by close like the rest.
    Inside,
    /// A [`Handle`](crate::Handle), from anywhere: refused once close began.
    Handle,
}

/// What [`Registry::register`] decided.
pub(crate) enum Admission<T> {
    /// Registered and scheduled.
    Open(T),
    /// The runner has closed: drop the runnable, which cancels the task.
    Closed(Runnable, T),
    /// Refused: the task was not created.
    Refused,
}

impl Registry {
    /// A registry; with `track_sites`, it keeps each task's spawn site.
    pub(crate) fn new(track_sites: bool) -> Registry {
        Registry {
            inner: Mutex::new(Inner {
                tasks: Slab::new(),
                sites: track_sites.then(Vec::new),
                cancelled: 0,
                dropped: 0,
            }),
            empty: Event::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The registry is never left half-updated: recover it from poisoning.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates a task with `spawn` (given its key, or `None` once the runner
    /// has closed) and enters it in the registry.
    pub(crate) fn register<T>(
        &self,
        lifecycle: &Lifecycle,
        submitter: Submitter,
        site: &'static Location<'static>,
        spawn: impl FnOnce(Option<usize>) -> (Runnable, T),
    ) -> Admission<T> {
        let mut inner = self.lock();
        let state = lifecycle.get();
        if submitter == Submitter::Handle && state != State::Open {
            return Admission::Refused;
        }
        if state == State::Closed {
            drop(inner);
            let (runnable, task) = spawn(None);
            return Admission::Closed(runnable, task);
        }
        let key = inner.tasks.vacant_entry().key();
        let (runnable, task) = spawn(Some(key));
        inner.tasks.insert(runnable.waker());
        if let Some(sites) = &mut inner.sites {
            if sites.len() <= key {
                sites.resize(key + 1, None);
            }
            sites[key] = Some(site);
        }
        if state == State::Closing {
            inner.cancelled += 1;
        }
        // Scheduled under the lock: once close can see the task here, its
        // runnable is in a queue for close to find, not in this thread's hands.
        runnable.schedule();
        Admission::Open(task)
    }

    /// Removes a task whose future is gone; `dropped` if it was dropped
    /// unfinished while the runner was closing.
    pub(crate) fn unregister(&self, lifecycle: &Lifecycle, key: usize, dropped: bool) {
        let mut inner = self.lock();
        if inner.tasks.try_remove(key).is_some() && dropped {
            inner.dropped += 1;
        }
        if let Some(site) = inner.sites.as_mut().and_then(|sites| sites.get_mut(key)) {
            *site = None;
        }
        // Only close waits for `empty`, and only once it has moved the
        // lifecycle on, under this lock: read here, the state says whether
        // anyone can be waiting. An open runner skips the notification (a
        // fence and a lock in event-listener) on every task that empties it.
        if inner.tasks.is_empty() && !lifecycle.is_open() {
            drop(inner);
            self.empty.notify(usize::MAX);
        }
    }

    /// Moves `lifecycle` to `state` under the registry's lock; when close
    /// begins, counts the pending tasks as cancelled.
    pub(crate) fn advance(&self, lifecycle: &Lifecycle, state: State) {
        let mut inner = self.lock();
        if state == State::Closing {
            inner.cancelled = inner.tasks.len();
        }
        lifecycle.set(state);
    }

    /// How many tasks are pending.
    pub(crate) fn pending(&self) -> usize {
        self.lock().tasks.len()
    }

    /// The spawn sites of the pending tasks, if the registry keeps them
    /// (else empty).
    pub(crate) fn sites(&self) -> Vec<&'static Location<'static>> {
        let inner = self.lock();
        let Some(sites) = &inner.sites else {
            return Vec::new();
        };
        inner
            .tasks
            .iter()
            .filter_map(|(key, _)| sites.get(key).copied().flatten())
            .collect()
    }

    /// The wakers of the pending tasks, taken under one lock.
    pub(crate) fn wakers(&self) -> Vec<Waker> {
        let inner = self.lock();
        inner.tasks.iter().map(|(_, waker)| waker.clone()).collect()
    }

    /// `(cancelled, dropped)` for the close report.
    pub(crate) fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.cancelled, inner.dropped)
    }
}
