//! The registry of pending tasks: what close cancels and debug mode lists,
//! and the two `CloseReport` counters about tasks.
//!
//! A floor-0 leaf: it knows tasks only as async-task runnables and wakers,
//! and the lifecycle it is given.
//!
//! A task enters it when spawned and leaves it when its future is gone
//! (finished, cancelled, or dropped by close). Spawning reads the runner's
//! lifecycle under the lock of the task's shard, and close takes every
//! shard's lock after moving the lifecycle on (see [`Registry::advance`]),
//! so a spawn either lands before close began (and close cancels it like
//! any task) or sees that close began.
//!
//! # Shards
//!
//! With workers, a task usually leaves the registry on another thread than
//! the one that spawned it (a worker finishes what the runner's thread
//! spawns). With one lock, each spawn then waits for the other thread's
//! removals: with one worker, half of a fine-grained fan-out went to that
//! lock (BENCHMARKS.md). So a runner with workers splits its registry into
//! shards, as tokio splits its task list, and consecutive spawns go to
//! consecutive shards: the spawner and the finisher meet on one lock only
//! when they touch the same shard. A key names its shard in its low bits. A
//! runner without workers keeps one shard: more would only cost it (every
//! close takes each shard's lock).

use std::panic::Location;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use crossbeam_utils::CachePadded;
use event_listener::Event;
use slab::Slab;

use async_task::Runnable;

use crate::lifecycle::{Lifecycle, State};

/// Shards per thread that may run the runner's `Send` tasks, with workers.
const SHARDS_PER_THREAD: usize = 4;

/// At most this many shards (close takes each one's lock a few times).
const MAX_SHARDS: usize = 64;

/// The pending tasks of one runner.
pub(crate) struct Registry {
    /// The one shard of a runner without workers (unused with workers).
    only: Mutex<Shard>,
    /// The shards of a runner with workers, each on cache lines of its own,
    /// so that two threads using two shards, or one shard and the runner's
    /// other state, do not slow each other down; empty without workers.
    padded: Box<[CachePadded<Mutex<Shard>>]>,
    /// The number of shards (a power of two) minus one.
    mask: usize,
    /// The shard the next spawn uses. Only a hint, so updated without a
    /// read-modify-write: two spawns that race may share a shard.
    next: AtomicUsize,
    /// Notified when a shard empties while the runner is closing.
    pub(crate) empty: Event,
}

/// One part of the registry.
struct Shard {
    /// Waking a task at close makes its `Runnable` show up in a queue, to be
    /// dropped.
    tasks: Slab<Waker>,
    /// Where each pending task was spawned, by slab key, for the reports of
    /// debug mode and of a test's timeout; `None` when neither is on, so
    /// that a task costs one `Waker` here.
    sites: Option<Vec<Option<&'static Location<'static>>>>,
    /// Tasks pending when close began, plus those spawned while closing
    /// (close cancels them too): summed, `CloseReport::cancelled`.
    cancelled: usize,
    /// Of those, the ones whose futures were dropped unfinished: summed,
    /// `CloseReport::dropped`. Never more than `cancelled` in total, since
    /// only a registered task counts, and only once the lifecycle left open.
    dropped: usize,
}

/// What [`Registry::counts`] returns.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Counts {
    /// Tasks pending when close began, plus those spawned while it ran.
    pub(crate) cancelled: usize,
    /// Of those, the ones whose futures were dropped unfinished.
    pub(crate) dropped: usize,
    /// Tasks still registered: their futures are neither finished nor dropped.
    pub(crate) pending: usize,
}

/// Who submits a task, which decides whether close refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Submitter {
    /// Code on the runner's own thread (`Runner::spawn`, `spawn_local`,
    /// `runner::spawn` there, a `Drop` in close): like `Inside`, and close,
    /// which runs on that thread too, never looks while such a spawn is
    /// half done.
    Owner,
    /// Code the runner runs on another thread (`runner::spawn` on a worker
    /// or a thread in `Handle::block_on`): accepted while closing, and
    /// cancelled by close like the rest.
    Inside,
    /// A [`Handle`](crate::Handle), from anywhere: refused once close began.
    Handle,
}

/// What [`Registry::register`] decided about a task whose runnable carries
/// metadata `M` (the scheduler's: the runner).
pub(crate) enum Admission<M, T> {
    /// Registered and scheduled.
    Open(T),
    /// The runner has closed: drop the runnable, which cancels the task.
    Closed(Runnable<M>, T),
    /// Refused: the task was not created.
    Refused,
}

impl Registry {
    /// A registry for a runner with `workers` worker threads; with
    /// `track_sites`, it keeps each task's spawn site.
    pub(crate) fn new(track_sites: bool, workers: usize) -> Registry {
        let shard = || {
            Mutex::new(Shard {
                tasks: Slab::new(),
                sites: track_sites.then(Vec::new),
                cancelled: 0,
                dropped: 0,
            })
        };
        let shards = if workers == 0 {
            1
        } else {
            (SHARDS_PER_THREAD * (workers + 1))
                .next_power_of_two()
                .min(MAX_SHARDS)
        };
        Registry {
            only: shard(),
            padded: (0..shards)
                .filter(|_| workers > 0)
                .map(|_| CachePadded::new(shard()))
                .collect(),
            mask: shards - 1,
            next: AtomicUsize::new(0),
            empty: Event::new(),
        }
    }

    /// How far a key's slot is shifted left, past its shard.
    fn shift(&self) -> u32 {
        self.mask.count_ones()
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        match self.padded.get(shard) {
            Some(padded) => lock(padded),
            None => lock(&self.only),
        }
    }

    /// Every shard, each locked while the iteration is at it.
    fn lock_all(&self) -> impl Iterator<Item = MutexGuard<'_, Shard>> {
        (0..=self.mask).map(|shard| self.lock(shard))
    }

    /// Creates a task with `spawn` (given its key, or `None` once the runner
    /// has closed) and enters it in the registry.
    pub(crate) fn register<M, T>(
        &self,
        lifecycle: &Lifecycle,
        submitter: Submitter,
        site: &'static Location<'static>,
        spawn: impl FnOnce(Option<usize>) -> (Runnable<M>, T),
    ) -> Admission<M, T> {
        let shard = if self.mask == 0 {
            0
        } else {
            let shard = self.next.load(Ordering::Relaxed) & self.mask;
            self.next.store(shard + 1, Ordering::Relaxed);
            shard
        };
        let mut inner = self.lock(shard);
        let state = lifecycle.get();
        if submitter == Submitter::Handle && state != State::Open {
            return Admission::Refused;
        }
        if state == State::Closed {
            drop(inner);
            let (runnable, task) = spawn(None);
            return Admission::Closed(runnable, task);
        }
        let slot = inner.tasks.vacant_entry().key();
        let (runnable, task) = spawn(Some(slot << self.shift() | shard));
        inner.tasks.insert(runnable.waker());
        if let Some(sites) = &mut inner.sites {
            if sites.len() <= slot {
                sites.resize(slot + 1, None);
            }
            sites[slot] = Some(site);
        }
        if state != State::Open {
            // Close has begun and counted the others: this one is cancelled too.
            inner.cancelled += 1;
        }
        // From another thread, scheduled under the lock: once close can see
        // the task here, its runnable is in a queue for close to find, not in
        // this thread's hands. The owner's thread is the one close runs on,
        // so it unlocks first: a worker that takes the task at once and
        // finishes it then finds the shard's lock free.
        if submitter == Submitter::Owner {
            drop(inner);
            runnable.schedule();
        } else {
            runnable.schedule();
            drop(inner);
        }
        Admission::Open(task)
    }

    /// Removes a task whose future is gone; `dropped` if it was dropped
    /// unfinished while the runner was closing.
    pub(crate) fn unregister(&self, lifecycle: &Lifecycle, key: usize, dropped: bool) {
        let (slot, shard) = (key >> self.shift(), key & self.mask);
        let mut inner = self.lock(shard);
        if inner.tasks.try_remove(slot).is_some() && dropped {
            inner.dropped += 1;
        }
        if let Some(site) = inner.sites.as_mut().and_then(|sites| sites.get_mut(slot)) {
            *site = None;
        }
        // Only close waits for the registry to empty, and only once it has
        // moved the lifecycle on and then taken this lock: read here, the
        // state says whether anyone can be waiting. The last task to leave empties its
        // shard, so notifying when a shard empties reaches close. An open
        // runner skips the notification (a fence and a lock in
        // event-listener) on every task that empties a shard.
        if inner.tasks.is_empty() && !lifecycle.is_open() {
            drop(inner);
            self.empty.notify(usize::MAX);
        }
    }

    /// Moves `lifecycle` to `state`; when close begins (the lifecycle leaves
    /// open), counts the pending tasks as cancelled.
    ///
    /// Every shard's lock is held while the state moves: a spawn registers
    /// wholly before (it is counted here, and close finds it) or wholly after
    /// (it sees the new state and counts itself), so no count is lost or
    /// counted twice. Only close holds more than one shard's lock, always in
    /// shard order.
    pub(crate) fn advance(&self, lifecycle: &Lifecycle, state: State) {
        self.with_all_locked(|shards| {
            let began = lifecycle.is_open() && state != State::Open;
            lifecycle.set(state);
            if began {
                for shard in shards {
                    debug_assert_eq!(shard.cancelled, 0, "close begins once");
                    shard.cancelled = shard.tasks.len();
                }
            }
        });
    }

    /// Calls `f` with every shard locked at once, in shard order (without
    /// an allocation for the one shard of a runner without workers).
    fn with_all_locked<R>(&self, f: impl FnOnce(&mut [MutexGuard<'_, Shard>]) -> R) -> R {
        if self.padded.is_empty() {
            f(&mut [lock(&self.only)])
        } else {
            f(&mut self.lock_all().collect::<Vec<_>>())
        }
    }

    /// How many tasks are pending.
    pub(crate) fn pending(&self) -> usize {
        self.lock_all().map(|shard| shard.tasks.len()).sum()
    }

    /// The spawn sites of the pending tasks, if the registry keeps them
    /// (else empty).
    pub(crate) fn sites(&self) -> Vec<&'static Location<'static>> {
        let mut all = Vec::new();
        for shard in self.lock_all() {
            let Some(sites) = &shard.sites else {
                return all;
            };
            let pending = shard.tasks.iter();
            all.extend(pending.filter_map(|(slot, _)| sites.get(slot).copied().flatten()));
        }
        all
    }

    /// The wakers of the pending tasks, taken under one lock per shard.
    pub(crate) fn wakers(&self) -> Vec<Waker> {
        let mut all = Vec::new();
        for shard in self.lock_all() {
            all.extend(shard.tasks.iter().map(|(_, waker)| waker.clone()));
        }
        all
    }

    /// The close report's counts, taken under every shard's lock at once,
    /// so that a task is counted either as pending or as gone, never both.
    pub(crate) fn counts(&self) -> Counts {
        let counts = self.with_all_locked(|shards| {
            let mut counts = Counts::default();
            for shard in shards.iter() {
                counts.cancelled += shard.cancelled;
                counts.dropped += shard.dropped;
                counts.pending += shard.tasks.len();
            }
            counts
        });
        debug_assert!(counts.dropped + counts.pending <= counts.cancelled || counts.cancelled == 0);
        counts
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A shard is never left half-updated: recover it from poisoning.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}
