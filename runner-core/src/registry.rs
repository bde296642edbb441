//! The registry of pending tasks: what close cancels, what debug mode and
//! snapshots list (each task's [`Beat`]: id, spawn site, birth, polls, the
//! end of its last poll, whether it is running; its name if it has one),
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
//! shards, as tokio splits its task list, and each spawn from a thread
//! goes to a shard drawn from that thread's pseudo-random sequence: the
//! spawner and the finisher meet on one lock only when they touch the same
//! shard. Not consecutive shards: a worker finishes tasks about in the
//! order they were spawned, a fixed number behind, so with round-robin
//! shards a worker that once waited for the spawner's lock came back to
//! the shard the spawner held at every task after (a convoy: the worker's
//! contended locks halved without it, `fan_out_100k` with one worker 0.87-
//! 0.92 x the time, BENCHMARKS.md). A key names its shard in its low bits. A runner without workers keeps one shard: more would only
//! cost it (every close takes each shard's lock).
//!
//! # Counts without the lock
//!
//! Each shard's number of tasks is also kept beside its lock (`len`),
//! stored under the lock at every insert and removal (a plain store, no
//! read-modify-write), so that [`Registry::pending`] and an empty
//! [`Registry::wakers`] take no lock: a close with no task pending (most
//! closes) takes the registry's locks only to move its lifecycle on and
//! for its report. A count read a moment late reads as one read a moment
//! earlier, before a concurrent spawn or finish: close's loops look again
//! after every step that can add tasks, as they did under the lock.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::panic::Location;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::Waker;
use std::time::Duration;

use crossbeam_utils::CachePadded;
use event_listener::Event;

use async_task::Runnable;

use crate::info::{SiteCache, SiteId, TaskInfo, TaskState, Ticks};
use crate::lifecycle::{Lifecycle, State};

/// The bits of a registry key: a task keeps its key (its slot, shifted
/// past its shard) in a `u32` beside two tags (`poll::Origin`).
pub(crate) const KEY_BITS: u32 = 30;

/// The largest registry key.
pub(crate) const MAX_KEY: usize = (1 << KEY_BITS) - 1;

/// Shards per thread that may run the runner's `Send` tasks, with workers.
const SHARDS_PER_THREAD: usize = 4;

/// At most this many shards (close takes each one's lock a few times).
const MAX_SHARDS: usize = 64;

/// The pending tasks of one runner.
pub(crate) struct Registry {
    /// The one shard of a runner without workers (unused with workers).
    only: ShardCell,
    /// The shards of a runner with workers, each on cache lines of its own,
    /// so that two threads using two shards, or one shard and the runner's
    /// other state, do not slow each other down; empty without workers.
    padded: Box<[CachePadded<ShardCell>]>,
    /// The number of shards (a power of two) minus one.
    mask: usize,
    /// How far a key's slot is shifted left, past its shard: the bits of
    /// `mask`, counted once here (`count_ones` without the CPU's popcount
    /// instruction is 20 instructions, which every poll paid).
    shift: u32,
    /// Notified when a shard empties while the runner is closing.
    pub(crate) empty: Event,
    /// The coarse clock that dates spawns and polls (see `info`).
    pub(crate) ticks: Ticks,
    /// This registry's id among the process's (see [`Registry::id`]).
    id: u32,
}

/// A shard: what its lock guards, and the numbers polls update without it.
struct ShardCell {
    lock: Mutex<Shard>,
    /// `tasks.len()` of the shard, stored under its lock, read without it.
    len: AtomicUsize,
    beats: Beats,
}

/// One part of the registry.
struct Shard {
    /// Waking a task at close makes its `Runnable` show up in a queue, to be
    /// dropped.
    tasks: Wakers,
    /// The names of the named tasks, by slot: a task nobody names costs
    /// nothing here.
    names: HashMap<usize, Cow<'static, str>>,
    /// Recently seen spawn sites.
    sites: SiteCache,
    /// The ids this shard hands out next, taken from the process's count a
    /// block at a time: `next..end`.
    ids: (u64, u64),
    /// Tasks pending when close began, plus those spawned while closing
    /// (close cancels them too): summed, `CloseReport::cancelled`.
    cancelled: usize,
    /// Of those, the ones whose futures were dropped unfinished: summed,
    /// `CloseReport::dropped`. Never more than `cancelled` in total, since
    /// only a registered task counts, and only once the lifecycle left open.
    dropped: usize,
}

thread_local! {
    /// The state of the xorshift sequence that picks the shard of each
    /// spawn from this thread, in a runner with workers (see "Shards"
    /// above); never 0. Each spawning thread keeps its own: one cursor for
    /// the runner, written by every spawn, shared a cache line with the
    /// fields every poll and every finished task read on the workers
    /// (`mask`, `shift`), so each spawn took that line away from the worker
    /// and each poll took it back (a third of the samples of a poll on the
    /// worker, a quarter of a spawn's, in `fan_out_100k` with one worker
    /// running in parallel).
    static NEXT_SHARD: Cell<u32> = const { Cell::new(0x9e37_79b9) };
}

/// The next shard from `state` (Marsaglia's xorshift32, moved on in place).
fn next_shard(state: &Cell<u32>) -> usize {
    let mut x = state.get();
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    state.set(x);
    // The low bits of xorshift32 are its weakest: the shard index (at most
    // 6 bits) comes from the middle.
    (x >> 8) as usize
}

/// Hands out registry ids (see [`Registry::id`]).
static NEXT_REGISTRY: AtomicU32 = AtomicU32::new(0);

/// Hands out task ids to shards, [`ID_BLOCK`] at a time.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How many ids a shard takes at once: one atomic operation per this many
/// spawns.
const ID_BLOCK: u64 = 256;

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

/// Where a new task is: what [`Registry::register`] gives the code that
/// makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Registered, under this key (at most [`MAX_KEY`]); its site is in
    /// its [`Beat`].
    Slot(usize),
    /// Not registered (the runner has closed): it keeps its site itself.
    Unregistered(SiteId),
}

/// What [`Registry::register`] decided about a task whose runnable carries
/// metadata `M` (the scheduler's: the runner).
pub(crate) enum Admission<M, T> {
    /// Registered under the key, and scheduled.
    Open(T, usize),
    /// The runner has closed: drop the runnable, which cancels the task.
    Closed(Runnable<M>, T),
    /// Refused: the task was not created.
    Refused,
}

impl Registry {
    /// A registry for a runner with `workers` worker threads.
    pub(crate) fn new(workers: usize) -> Registry {
        let shard = || ShardCell {
            lock: Mutex::new(Shard {
                tasks: Wakers::default(),
                names: HashMap::new(),
                sites: SiteCache::default(),
                ids: (0, 0),
                cancelled: 0,
                dropped: 0,
            }),
            len: AtomicUsize::new(0),
            beats: Beats::default(),
        };
        let shards = if workers == 0 {
            1
        } else {
            (SHARDS_PER_THREAD * (workers + 1))
                .next_power_of_two()
                .min(MAX_SHARDS)
        };
        Registry {
            id: NEXT_REGISTRY.fetch_add(1, Ordering::Relaxed),
            only: shard(),
            padded: (0..shards)
                .filter(|_| workers > 0)
                .map(|_| CachePadded::new(shard()))
                .collect(),
            mask: shards - 1,
            shift: (shards - 1).count_ones(),
            empty: Event::new(),
            ticks: Ticks::new(),
        }
    }

    /// How far a key's slot is shifted left, past its shard.
    #[inline]
    fn shift(&self) -> u32 {
        self.shift
    }

    #[inline]
    fn cell(&self, shard: usize) -> &ShardCell {
        match self.padded.get(shard) {
            Some(padded) => padded,
            None => &self.only,
        }
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        lock(&self.cell(shard).lock)
    }

    /// Which runner's keys a key is: a number per registry, which a
    /// `TaskGroup` keeps beside each of its tasks (in 32 bits: it comes
    /// round again after 2^32 runners; a key taken for another runner's
    /// then costs the task it names an early poll in `drop_cancelled`,
    /// nothing more).
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// Every shard, each locked while the iteration is at it.
    fn lock_all(&self) -> impl Iterator<Item = MutexGuard<'_, Shard>> {
        (0..=self.mask).map(|shard| self.lock(shard))
    }

    /// Creates a task with `spawn` (given where it is) and enters it in the
    /// registry, `name` and all.
    pub(crate) fn register<M, T>(
        &self,
        lifecycle: &Lifecycle,
        submitter: Submitter,
        site: &'static Location<'static>,
        name: Option<Cow<'static, str>>,
        spawn: impl FnOnce(Place) -> (Runnable<M>, T),
    ) -> Admission<M, T> {
        let shard = if self.mask == 0 {
            0
        } else {
            // A thread exiting (a spawn from a `Drop`) uses shard 0.
            let next = NEXT_SHARD.try_with(next_shard);
            next.unwrap_or(0) & self.mask
        };
        let cell = self.cell(shard);
        let mut inner = lock(&cell.lock);
        let state = lifecycle.get();
        if submitter == Submitter::Handle && state != State::Open {
            return Admission::Refused;
        }
        if state == State::Closed {
            drop(inner);
            let (runnable, task) = spawn(Place::Unregistered(SiteId::of(site)));
            return Admission::Closed(runnable, task);
        }
        let slot = inner.tasks.vacant_key();
        let key = slot << self.shift() | shard;
        // Checked before anything changes: a task keeps its key in 30 bits.
        assert!(
            key <= MAX_KEY,
            "a runner holds at most 2^30 pending tasks (2^{} per registry shard)",
            KEY_BITS - self.shift()
        );
        // The task's numbers, before anyone can poll it.
        let site = inner.sites.get(site);
        let id = inner.next_id();
        cell.beats.make(slot).reset(site, id, self.ticks.now());
        if let Some(name) = name {
            inner.names.insert(slot, name);
        }
        let (runnable, task) = spawn(Place::Slot(key));
        inner.tasks.insert(runnable.waker());
        cell.len.store(inner.tasks.len(), Ordering::Relaxed);
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
        Admission::Open(task, key)
    }

    /// Removes a task whose future is gone; `dropped` if it was dropped
    /// unfinished while the runner was closing.
    pub(crate) fn unregister(&self, lifecycle: &Lifecycle, key: usize, dropped: bool) {
        let (slot, shard) = (key >> self.shift(), key & self.mask);
        let cell = self.cell(shard);
        let mut inner = lock(&cell.lock);
        // The waker and the name drop after the lock: with workers, the
        // spawner may be waiting for this shard.
        let waker = inner.tasks.try_remove(slot);
        if waker.is_some() {
            cell.len.store(inner.tasks.len(), Ordering::Relaxed);
            if dropped {
                inner.dropped += 1;
            }
        }
        // One test for a runner whose tasks have no names.
        let name = if inner.names.is_empty() {
            None
        } else {
            inner.names.remove(&slot)
        };
        // Only close waits for the registry to empty, and only once it has
        // moved the lifecycle on and then taken this lock: read here, the
        // state says whether anyone can be waiting. The last task to leave empties its
        // shard, so notifying when a shard empties reaches close. An open
        // runner skips the notification (a fence and a lock in
        // event-listener) on every task that empties a shard.
        let emptied = inner.tasks.is_empty() && !lifecycle.is_open();
        drop(inner);
        drop((waker, name));
        if emptied {
            self.empty.notify(usize::MAX);
        }
    }

    /// The waker of the registered task `key`, if it is still registered.
    pub(crate) fn waker(&self, key: usize) -> Option<Waker> {
        let (slot, shard) = (key >> self.shift(), key & self.mask);
        self.lock(shard).tasks.get(slot).cloned()
    }

    /// The numbers of the registered task `key`, which its polls update.
    #[inline]
    pub(crate) fn beat(&self, key: usize) -> Option<Beat<'_>> {
        let (slot, shard) = (key >> self.shift(), key & self.mask);
        self.cell(shard).beats.get(slot)
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
            f(&mut [lock(&self.only.lock)])
        } else {
            f(&mut self.lock_all().collect::<Vec<_>>())
        }
    }

    /// How many tasks are pending (without a lock: see the module docs).
    pub(crate) fn pending(&self) -> usize {
        (0..=self.mask)
            .map(|shard| self.cell(shard).len.load(Ordering::Relaxed))
            .sum()
    }

    /// A snapshot of every pending task, taken one shard's lock at a time
    /// (the loop and the workers go on meanwhile), in key order per shard.
    pub(crate) fn tasks(&self) -> Vec<TaskInfo> {
        let now = self.ticks.tick();
        let mut raw = Vec::new();
        for shard in 0..=self.mask {
            let cell = self.cell(shard);
            let inner = lock(&cell.lock);
            for (slot, _) in inner.tasks.iter() {
                if let Some(beat) = cell.beats.get(slot) {
                    raw.push(beat.read(inner.names.get(&slot).cloned(), now));
                }
            }
        }
        let sites = SiteId::resolve(raw.iter().map(|(site, _)| *site));
        raw.into_iter()
            .zip(sites)
            .map(|((_, mut info), site)| {
                info.site = site;
                info
            })
            .collect()
    }

    /// The name of the pending task `key`, if it is registered and named
    /// (its shard's lock: for reports).
    pub(crate) fn name(&self, key: usize) -> Option<Cow<'static, str>> {
        let (slot, shard) = (key >> self.shift(), key & self.mask);
        let inner = lock(&self.cell(shard).lock);
        inner.tasks.get(slot)?;
        inner.names.get(&slot).cloned()
    }

    /// A snapshot of the pending task `key`, if it is registered.
    pub(crate) fn task(&self, key: usize) -> Option<TaskInfo> {
        let (slot, shard) = (key >> self.shift(), key & self.mask);
        let now = self.ticks.tick();
        let cell = self.cell(shard);
        let inner = lock(&cell.lock);
        inner.tasks.get(slot)?;
        let beat = cell.beats.get(slot)?;
        let (site, mut info) = beat.read(inner.names.get(&slot).cloned(), now);
        drop(inner);
        info.site = site.site();
        Some(info)
    }

    /// The wakers of the pending tasks, taken under the lock of each shard
    /// that has any.
    pub(crate) fn wakers(&self) -> Vec<Waker> {
        let mut all = Vec::new();
        for shard in 0..=self.mask {
            let cell = self.cell(shard);
            if cell.len.load(Ordering::Relaxed) > 0 {
                let inner = lock(&cell.lock);
                all.extend(inner.tasks.iter().map(|(_, waker)| waker.clone()));
            }
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

impl Shard {
    /// The next task id, from this shard's block of them.
    fn next_id(&mut self) -> u64 {
        if self.ids.0 == self.ids.1 {
            // Relaxed: the count only has to hand each block out once.
            let start = NEXT_ID.fetch_add(ID_BLOCK, Ordering::Relaxed);
            self.ids = (start, start + ID_BLOCK);
        }
        let id = self.ids.0;
        self.ids.0 += 1;
        id
    }
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A shard is never left half-updated: recover it from poisoning.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The numbers of one task that its polls update and snapshots read, kept
/// by slot outside the shard's lock, in two words and a half (20 bytes),
/// packed as follows.
///
/// Only the thread polling the task writes `beat` (and, once per 2^31
/// polls, `who`), with plain relaxed stores: a poll costs a store of the
/// running bit when it starts and one of its count and end when it ends.
/// A snapshot reads the words one by one, so it may see a poll's start
/// without its end (running) or, once per 2^31 polls, a count 2^31 off.
#[derive(Clone, Copy)]
pub(crate) struct Beat<'a> {
    /// The slot's chunk; the three words are found from `offset` only when
    /// used (a poll uses `beat` alone).
    chunk: &'a Chunk,
    /// The slot's place in its chunk, below [`CHUNK`].
    offset: usize,
}

/// The task id bits of `who`.
const ID_BITS: u64 = (1 << 40) - 1;
/// The running bit of `beat`.
const RUNNING: u64 = 1 << 63;
/// The poll count bits of `beat`, shifted down.
const POLLS_LOW: u64 = (1 << 31) - 1;

/// A time in coarse milliseconds in 32 bits: two bits of scale and 30 of
/// value, so exact to the millisecond for the first 12 days of the process,
/// then to 16 ms until day 198, 256 ms until year 8, 4 s after.
fn pack_born(millis: u64) -> u32 {
    let mut scale = 0;
    while scale < 3 && millis >> (4 * scale) >= 1 << 30 {
        scale += 1;
    }
    let value = (millis >> (4 * scale)).min((1 << 30) - 1);
    (scale << 30 | value) as u32
}

fn unpack_born(packed: u32) -> u64 {
    u64::from(packed & ((1 << 30) - 1)) << (4 * (packed >> 30))
}

impl<'a> Beat<'a> {
    /// `site << 48 | polls_high << 40 | id`: the interned spawn site (16
    /// bits), the bits of the poll count above the 31 in `beat` (8 bits),
    /// and the task's id (40 bits).
    #[inline]
    fn who(self) -> &'a AtomicU64 {
        &self.chunk.words[self.offset % CHUNK][0]
    }

    /// `running << 63 | polls_low << 32 | end`: whether a poll is in
    /// progress, the low 31 bits of the poll count, and when the last poll
    /// ended, in coarse milliseconds modulo 2^32 (49 days).
    #[inline]
    fn beat(self) -> &'a AtomicU64 {
        &self.chunk.words[self.offset % CHUNK][1]
    }

    /// When the task was spawned, in coarse milliseconds, scaled (see
    /// [`pack_born`]).
    fn born(self) -> &'a AtomicU32 {
        &self.chunk.born[self.offset % CHUNK]
    }

    fn reset(self, site: SiteId, id: u64, born: u64) {
        // Relaxed: the shard's lock, which a snapshot takes too, orders
        // these before any read of them.
        self.who()
            .store(u64::from(site.0) << 48 | (id & ID_BITS), Ordering::Relaxed);
        self.born().store(pack_born(born), Ordering::Relaxed);
        self.beat().store(0, Ordering::Relaxed);
    }

    /// The task's id (as [`TaskInfo::id`] reports it).
    #[inline]
    pub(crate) fn id(self) -> u64 {
        self.who().load(Ordering::Relaxed) & ID_BITS
    }

    /// The task's spawn site.
    pub(crate) fn site(self) -> SiteId {
        SiteId((self.who().load(Ordering::Relaxed) >> 48) as u32)
    }

    /// Marks a poll as started; returns what to give [`end`](Self::end).
    #[inline]
    pub(crate) fn start(self) -> u64 {
        // Relaxed: only this task's poller writes the word, one poll at a
        // time (async-task orders the polls of a task), and readers take it
        // as a hint.
        let before = self.beat().load(Ordering::Relaxed);
        self.beat().store(before | RUNNING, Ordering::Relaxed);
        before
    }

    /// Marks the poll that [`start`](Self::start) began as ended at `now`:
    /// one more poll in the count's bits, the end's date in the low 32, the
    /// running bit clear.
    #[inline]
    pub(crate) fn end(self, before: u64, now: u64) {
        let mut counted = (before | u64::from(u32::MAX)).wrapping_add(1);
        if counted & RUNNING != 0 {
            // Once per 2^31 polls, the low count carried into the running
            // bit: carry into `who` instead (wrapping within its 8 bits).
            counted = 0;
            let who = self.who().load(Ordering::Relaxed);
            let high = (who >> 40).wrapping_add(1) & 0xff;
            self.who()
                .store(who & !(0xff << 40) | high << 40, Ordering::Relaxed);
        }
        self.beat()
            .store(counted | (now & u64::from(u32::MAX)), Ordering::Relaxed);
    }

    /// What a snapshot says, at `now` (its site resolved by the caller).
    fn read(self, name: Option<Cow<'static, str>>, now: u64) -> (SiteId, TaskInfo) {
        let who = self.who().load(Ordering::Relaxed);
        let born = unpack_born(self.born().load(Ordering::Relaxed));
        let beat = self.beat().load(Ordering::Relaxed);
        let polls = (who >> 40 & 0xff) << 31 | (beat >> 32 & POLLS_LOW);
        let age = now.saturating_sub(born);
        let state = if beat & RUNNING != 0 {
            TaskState::Running
        } else if polls == 0 {
            TaskState::Scheduled
        } else {
            TaskState::Idle
        };
        let idle_for = (state == TaskState::Idle).then(|| {
            // Modulo 2^32 ms; never longer than the task's age.
            let idle = u64::from((now as u32).wrapping_sub(beat as u32));
            Duration::from_millis(idle.min(age))
        });
        let info = TaskInfo {
            id: who & ID_BITS,
            name,
            // Resolved by the caller, after the shard's lock.
            site: Location::caller(),
            state,
            polls,
            age: Duration::from_millis(age),
            idle_for,
        };
        (SiteId((who >> 48) as u32), info)
    }
}

/// The wakers of a shard's tasks by slot: a slab (vacated slots are
/// reused, last vacated first) in chunks that never move, so that a slot
/// costs its 16 bytes and no spare capacity beyond the last chunk, where a
/// `Slab`'s vector keeps up to as much again as it holds.
#[derive(Default)]
struct Wakers {
    chunks: Vec<Box<[Entry]>>,
    /// Slots in use.
    len: usize,
    /// Slots ever used: the ones below are occupied or in the free list.
    used: usize,
    /// The slot the next insert takes: the last vacated, else `used`.
    next: usize,
}

enum Entry {
    /// Free; holds the next free slot.
    Vacant(usize),
    Occupied(Waker),
}

impl Wakers {
    fn vacant_key(&self) -> usize {
        self.next
    }

    fn entry(&mut self, slot: usize) -> &mut Entry {
        &mut self.chunks[slot / CHUNK][slot % CHUNK]
    }

    /// Puts `waker` in [`vacant_key`](Self::vacant_key)'s slot.
    fn insert(&mut self, waker: Waker) {
        let slot = self.next;
        if slot == self.used {
            if slot / CHUNK == self.chunks.len() {
                self.chunks
                    .push((0..CHUNK).map(|_| Entry::Vacant(0)).collect());
            }
            self.used += 1;
            self.next = self.used;
        } else if let Entry::Vacant(next) = *self.entry(slot) {
            self.next = next;
        }
        *self.entry(slot) = Entry::Occupied(waker);
        self.len += 1;
    }

    fn try_remove(&mut self, slot: usize) -> Option<Waker> {
        if slot >= self.used {
            return None;
        }
        let next = self.next;
        match std::mem::replace(self.entry(slot), Entry::Vacant(next)) {
            Entry::Occupied(waker) => {
                self.next = slot;
                self.len -= 1;
                Some(waker)
            }
            vacant => {
                *self.entry(slot) = vacant;
                None
            }
        }
    }

    fn get(&self, slot: usize) -> Option<&Waker> {
        match self.chunks.get(slot / CHUNK)?.get(slot % CHUNK)? {
            Entry::Occupied(waker) if slot < self.used => Some(waker),
            _ => None,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn iter(&self) -> impl Iterator<Item = (usize, &Waker)> {
        self.chunks
            .iter()
            .flat_map(|chunk| chunk.iter())
            .take(self.used)
            .enumerate()
            .filter_map(|(slot, entry)| match entry {
                Entry::Occupied(waker) => Some((slot, waker)),
                Entry::Vacant(_) => None,
            })
    }
}

/// Slots per chunk of [`Beats`] and [`Wakers`].
const CHUNK: usize = 64;
/// Directory segments of [`Beats`]: segment `d` holds `2^d` chunks.
const SEGMENTS: usize = 26;

/// The numbers of [`CHUNK`] slots: a [`Beat`] each.
struct Chunk {
    /// `who` and `beat` of each slot.
    words: [[AtomicU64; 2]; CHUNK],
    /// `born` of each slot.
    born: [AtomicU32; CHUNK],
}

/// A shard's [`Beat`]s by slot, readable without the shard's lock: chunks
/// of [`CHUNK`] slots that never move, made as slots are first used and
/// kept until the runner goes. The directory of chunks grows by doubling
/// (it is 16 bytes a chunk), the chunks do not: a slot costs its 20 bytes,
/// with no spare capacity beyond the last chunk.
struct Beats {
    /// [`SEGMENTS`] entries, on the heap and made on the first spawn:
    /// inline, they would make the runner's state, built, moved and dropped
    /// with every runner, 400 bytes longer.
    directory: OnceLock<Box<[OnceLock<Segment>]>>,
}

/// A directory segment: its chunks, each made on first use.
type Segment = Box<[OnceLock<Box<Chunk>>]>;

impl Default for Beats {
    fn default() -> Beats {
        Beats {
            directory: OnceLock::new(),
        }
    }
}

impl Beats {
    /// Where the chunk of `slot` is: a directory segment and an index in it.
    #[inline]
    fn locate(slot: usize) -> (usize, usize, usize) {
        let chunk = slot / CHUNK + 1;
        let segment = chunk.ilog2() as usize;
        (segment, chunk - (1 << segment), slot % CHUNK)
    }

    /// The beat of `slot`, if its chunk was made.
    #[inline]
    fn get(&self, slot: usize) -> Option<Beat<'_>> {
        let (segment, index, offset) = Beats::locate(slot);
        let chunk = self.directory.get()?.get(segment)?.get()?[index].get()?;
        Some(chunk.beat(offset))
    }

    /// The beat of `slot`, making its chunk if needed (under the shard's lock).
    fn make(&self, slot: usize) -> Beat<'_> {
        let (segment, index, offset) = Beats::locate(slot);
        let segment = self
            .directory
            .get_or_init(|| (0..SEGMENTS).map(|_| OnceLock::new()).collect())
            .get(segment)
            .expect("fewer than 2^31 tasks in a shard")
            .get_or_init(|| (0..1usize << segment).map(|_| OnceLock::new()).collect());
        let chunk = segment[index].get_or_init(|| {
            Box::new(Chunk {
                words: std::array::from_fn(|_| [AtomicU64::new(0), AtomicU64::new(0)]),
                born: std::array::from_fn(|_| AtomicU32::new(0)),
            })
        });
        chunk.beat(offset)
    }
}

impl Chunk {
    fn beat(&self, offset: usize) -> Beat<'_> {
        Beat {
            chunk: self,
            offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakers_reuse_the_last_vacated_slot() {
        let mut wakers = Wakers::default();
        for slot in 0..200 {
            assert_eq!(wakers.vacant_key(), slot);
            wakers.insert(crate::wait::noop_waker().clone());
        }
        assert!(wakers.try_remove(70).is_some());
        assert!(wakers.try_remove(70).is_none());
        assert!(wakers.try_remove(3).is_some());
        assert_eq!((wakers.len(), wakers.vacant_key()), (198, 3));
        wakers.insert(crate::wait::noop_waker().clone());
        assert_eq!(wakers.vacant_key(), 70);
        wakers.insert(crate::wait::noop_waker().clone());
        assert_eq!(wakers.vacant_key(), 200);
        assert_eq!(wakers.iter().count(), 200);
        assert!(wakers.get(70).is_some() && wakers.get(200).is_none());
    }

    #[test]
    fn spawns_spread_over_every_shard_with_no_period_a_worker_can_follow() {
        for mask in [1usize, 7, 63] {
            let state = Cell::new(0x9e37_79b9);
            let shards: Vec<usize> = (0..64 * (mask + 1))
                .map(|_| next_shard(&state) & mask)
                .collect();
            for shard in 0..=mask {
                let hits = shards.iter().filter(|&&drawn| drawn == shard).count();
                assert!(
                    (32..=96).contains(&hits),
                    "shard {shard} of {}: {hits} of {}",
                    mask + 1,
                    shards.len()
                );
            }
            // A finisher a fixed number of tasks behind the spawner meets it
            // on a shard about as often as chance has it, at every lag.
            for lag in 1..=2 * (mask + 1) {
                let met = shards.windows(lag + 1).filter(|w| w[0] == w[lag]).count();
                let expected = (shards.len() - lag) / (mask + 1);
                assert!(
                    met <= 2 * expected,
                    "lag {lag}: {met} of {} (chance {expected})",
                    shards.len() - lag
                );
            }
        }
    }

    #[test]
    fn born_dates_keep_their_precision_for_twelve_days() {
        for millis in [0, 1, 12345, (1 << 30) - 1] {
            assert_eq!(unpack_born(pack_born(millis)), millis);
        }
        let day_100 = 100 * 86_400_000;
        assert!(day_100 - unpack_born(pack_born(day_100)) < 16);
    }

    #[test]
    fn beats_are_found_where_they_were_made() {
        let beats = Beats::default();
        for slot in [0, 1, 63, 64, 65, 200, 4095, 4096, 100_000] {
            assert!(beats.get(slot).is_none() || slot > 0);
            let made = beats.make(slot).beat() as *const AtomicU64;
            assert_eq!(
                beats.get(slot).map(|beat| beat.beat() as *const AtomicU64),
                Some(made)
            );
        }
    }

    #[test]
    fn a_beat_counts_polls_past_its_low_bits() {
        let beats = Beats::default();
        let beat = beats.make(5);
        beat.reset(SiteId(1), 7, 100);
        beat.beat().store(POLLS_LOW << 32, Ordering::Relaxed);
        let before = beat.start();
        assert_eq!(beat.read(None, 100).1.state, TaskState::Running);
        beat.end(before, 105);
        let (site, info) = beat.read(None, 110);
        assert_eq!((site, info.id, info.polls), (SiteId(1), 7, POLLS_LOW + 1));
        assert_eq!(info.idle_for, Some(Duration::from_millis(5)));
        assert_eq!(info.age, Duration::from_millis(10));
    }
}
