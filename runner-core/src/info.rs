//! What a snapshot says about a task ([`TaskInfo`], [`TaskState`]), the
//! spawn sites interned into a few bits, and the coarse clock that dates
//! spawns and polls.
//!
//! A floor-0 leaf: `registry` keeps each task's numbers in these forms, and
//! the files above only read them.
//!
//! # The coarse clock
//!
//! A poll may not read the time (a clock read would cost more than the rest
//! of what a poll adds), so a task's birth and the end of its last poll are
//! dated with a [`Ticks`]: milliseconds since the process's first runner,
//! read from the real clock once per turn of a loop (a turn starts when it
//! wakes from parking or after its budget of 64 tasks), at the first spawn
//! or poll end of the turn that needs a date, by a spawn from outside the
//! runner's loops, and by every snapshot. A date is then at most one turn
//! of the loop early: ages and idle times can be too long by the length of
//! the turn in which the task was spawned or last polled, and are
//! otherwise exact to the millisecond.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// What a task is doing, as a snapshot saw it.
///
/// # Examples
///
/// ```
/// use runner::TaskState;
///
/// let runner = runner::Runner::new();
/// runner.spawn(async {}).detach();
/// // Spawned, not polled yet: waiting in the run queue.
/// assert_eq!(runner.tasks()[0].state(), TaskState::Scheduled);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskState {
    /// Waiting to be woken: polled at least once, not inside a poll now.
    ///
    /// A task that was woken and waits in a run queue for its next poll
    /// reads as `Idle` too: async-task keeps that bit to itself, and
    /// tracking it would cost a store on every wake.
    Idle,
    /// Spawned and waiting in a run queue for its first poll.
    Scheduled,
    /// Inside a poll, on some thread.
    Running,
}

impl TaskState {
    fn describe(self) -> &'static str {
        match self {
            TaskState::Idle => "idle",
            TaskState::Scheduled => "scheduled",
            TaskState::Running => "running",
        }
    }
}

/// A snapshot of one task that has not finished: from
/// [`Runner::tasks`](crate::Runner::tasks),
/// [`Handle::tasks`](crate::Handle::tasks), [`tasks`](crate::tasks) or
/// [`current_task`](crate::current_task).
///
/// The numbers are those of the moment the snapshot was taken; see
/// [`age`](Self::age) and [`idle_for`](Self::idle_for) for their precision.
/// Its [`Display`](fmt::Display) form is one line, the one that debug
/// mode, close reports and test timeouts print:
/// `task 7 "fetch" idle, spawned at src/main.rs:12:5, 3 polls, idle for 1.2s`.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// runner.spawn_named("ticker", std::future::pending::<()>()).detach();
/// runner.run(runner::yield_now());
/// let tasks = runner.tasks();
/// assert_eq!(tasks.len(), 1);
/// assert_eq!(tasks[0].name(), Some("ticker"));
/// assert_eq!(tasks[0].polls(), 1);
/// println!("{}", tasks[0]);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TaskInfo {
    pub(crate) id: u64,
    pub(crate) name: Option<Cow<'static, str>>,
    pub(crate) site: &'static Location<'static>,
    pub(crate) state: TaskState,
    pub(crate) polls: u64,
    pub(crate) age: Duration,
    pub(crate) idle_for: Option<Duration>,
}

impl TaskInfo {
    /// The task's id: no other task of the process, finished or not, has
    /// it (ids are counted from 1 per process).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// runner.spawn(async {}).detach();
    /// runner.spawn(async {}).detach();
    /// let tasks = runner.tasks();
    /// assert_ne!(tasks[0].id(), tasks[1].id());
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The name given with [`spawn_named`](crate::spawn_named), if any.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// runner.spawn_named("worker", async {}).detach();
    /// assert_eq!(runner.tasks()[0].name(), Some("worker"));
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Where the task was spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// runner.spawn(async {}).detach(); let line = line!();
    /// assert_eq!(runner.tasks()[0].spawned_at().line(), line);
    /// ```
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.site
    }

    /// What the task was doing.
    ///
    /// # Examples
    ///
    /// ```
    /// let state = runner::Runner::new().run(async {
    ///     runner::spawn(async { runner::current_task().unwrap().state() }).await
    /// });
    /// assert_eq!(state, runner::TaskState::Running);
    /// ```
    pub fn state(&self) -> TaskState {
        self.state
    }

    /// How many polls of the task have ended (one that is in progress is
    /// not counted yet).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// runner.spawn(std::future::pending::<()>()).detach();
    /// assert_eq!(runner.tasks()[0].polls(), 0);
    /// runner.run(runner::yield_now());
    /// assert_eq!(runner.tasks()[0].polls(), 1);
    /// ```
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// How long ago the task was spawned.
    ///
    /// Dated by a coarse clock that the runner reads once per turn of its
    /// loop (no poll reads the time): at most one turn of the loop too long,
    /// else to the millisecond (to 16 ms after the process's 12th day).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// runner.spawn(async {}).detach();
    /// assert!(runner.tasks()[0].age() < std::time::Duration::from_secs(60));
    /// ```
    pub fn age(&self) -> Duration {
        self.age
    }

    /// How long the task has waited since its last poll ended; `None` if it
    /// was never polled or is inside a poll.
    ///
    /// Dated like [`age`](Self::age). Known modulo 49 days: an idle time
    /// longer than that (in a task as old) is reported as its remainder.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// runner.spawn(std::future::pending::<()>()).detach();
    /// assert_eq!(runner.tasks()[0].idle_for(), None);
    /// runner.run(runner::yield_now());
    /// assert!(runner.tasks()[0].idle_for().is_some());
    /// ```
    pub fn idle_for(&self) -> Option<Duration> {
        self.idle_for
    }
}

impl fmt::Display for TaskInfo {
    /// One line: `task <id> ["<name>"] <state>, spawned at <site>, <polls>
    /// polls[, idle for <time>]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(
            f,
            " {}, spawned at {}, {} poll{}",
            self.state.describe(),
            self.site,
            self.polls,
            if self.polls == 1 { "" } else { "s" }
        )?;
        if let Some(idle) = self.idle_for {
            write!(f, ", idle for {idle:.1?}")?;
        }
        Ok(())
    }
}

/// A spawn site, interned: an index into the process's list of sites, so
/// that a task keeps it in a few bits. 0 is never used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SiteId(pub(crate) u32);

impl SiteId {
    /// How many bits a site id takes.
    pub(crate) const BITS: u32 = 16;

    /// The site's id, interned on first sight (a lock on the process's
    /// list; see [`SiteCache`] for the way around it).
    pub(crate) fn of(site: &'static Location<'static>) -> SiteId {
        let mut sites = sites();
        let address = site as *const Location<'static> as usize;
        if let Some(&id) = sites.index.get(&address) {
            return SiteId(id);
        }
        // Sites are the spawn calls in the program, rarely more than a few
        // hundred; past 2^16 of them, later ones show as this file's.
        let id = u32::try_from(sites.list.len()).unwrap_or(u32::MAX);
        if id >= 1 << SiteId::BITS {
            return SiteId(0);
        }
        sites.list.push(site);
        sites.index.insert(address, id);
        SiteId(id)
    }

    /// The site itself.
    pub(crate) fn site(self) -> &'static Location<'static> {
        sites().list[self.0 as usize]
    }

    /// Resolves many ids under one lock.
    pub(crate) fn resolve(ids: impl Iterator<Item = SiteId>) -> Vec<&'static Location<'static>> {
        let sites = sites();
        ids.map(|id| sites.list[id.0 as usize]).collect()
    }
}

/// The process's spawn sites, by address (a site reached by two addresses
/// is kept twice, which is harmless).
struct Sites {
    list: Vec<&'static Location<'static>>,
    index: HashMap<usize, u32>,
}

fn sites() -> std::sync::MutexGuard<'static, Sites> {
    static SITES: OnceLock<Mutex<Sites>> = OnceLock::new();
    SITES
        .get_or_init(|| {
            Mutex::new(Sites {
                // Index 0 is a placeholder, so that no id is 0.
                list: vec![Location::caller()],
                index: HashMap::new(),
            })
        })
        .lock()
        // Never left half-updated: recover from poisoning.
        .unwrap_or_else(PoisonError::into_inner)
}

/// A few recently interned sites, kept by each registry shard under its
/// lock, so that spawning from one site again takes no global lock.
#[derive(Default)]
pub(crate) struct SiteCache {
    entries: [(usize, u32); SiteCache::WAYS],
}

impl SiteCache {
    const WAYS: usize = 4;

    /// The id of `site`, from the cache or interned.
    #[inline]
    pub(crate) fn get(&mut self, site: &'static Location<'static>) -> SiteId {
        let address = site as *const Location<'static> as usize;
        // Locations are at least 4-byte aligned: hash on the bits above.
        let way = (address >> 3) % SiteCache::WAYS;
        let entry = &mut self.entries[way];
        if entry.0 == address {
            return SiteId(entry.1);
        }
        let id = SiteId::of(site);
        *entry = (address, id.0);
        id
    }
}

/// The process's time base: the first reading of the coarse clock.
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

/// Milliseconds since the time base, read from the real clock.
pub(crate) fn millis_now() -> u64 {
    // Without `as_millis`, whose 128-bit division is half the cost.
    let elapsed = base().elapsed();
    elapsed.as_secs() * 1000 + u64::from(elapsed.subsec_millis())
}

/// A runner's coarse clock: the milliseconds since the process's time base
/// at its last tick (see the module docs).
pub(crate) struct Ticks(AtomicU64);

impl Ticks {
    /// A clock with no reading yet: the first date reads the real clock.
    pub(crate) fn new() -> Ticks {
        Ticks(AtomicU64::new(Ticks::OLD))
    }

    /// Reads the real clock; returns it.
    pub(crate) fn tick(&self) -> u64 {
        let now = millis_now();
        // Relaxed: a date, read on its own; a tick that loses a race with
        // another thread's is at most as old as the one it replaced.
        self.0.store(now, Ordering::Relaxed);
        now
    }

    /// Marks the time as old (a new turn of a loop began): the next
    /// [`now`](Self::now) reads the real clock. A turn that dates nothing
    /// (a run that only yields) reads no clock.
    #[inline]
    pub(crate) fn mark(&self) {
        self.0.store(Ticks::OLD, Ordering::Relaxed);
    }

    /// The time at the last tick, or now if marked old since.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match self.0.load(Ordering::Relaxed) {
            Ticks::OLD => self.tick(),
            now => now,
        }
    }

    /// The mark of [`mark`](Self::mark): no real reading gets this far.
    const OLD: u64 = u64::MAX;
}
