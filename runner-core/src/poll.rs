//! The one wrapper every poll of a task or a cleanup goes through, and the
//! timing of a run's own future.
//!
//! [`Polled`] owns everything a task owns (its future, its context values)
//! and gives back an [`Output`] guard for what it produced. Each poll:
//!
//! 1. switches to the task's own context, and back;
//! 2. catches a panic of the poll, to be resumed in whoever awaits the task;
//! 3. in debug mode, times the poll and reports a slow one as
//!    [`Described`]: what it is, its name if it has one, and its site;
//! 4. for a registered task, marks it running in its registry `Beat` as the
//!    poll starts, and counts the poll and dates its end as it ends (what
//!    snapshots read); the context frame it pushes carries the task's key,
//!    for [`current_task`](crate::current_task).
//!
//! Whatever can panic while being dropped is dropped here, inside
//! `catch_unwind`, never by async-task: async-task drops a task's future, a
//! detached task's output, and the task's allocation inside an
//! abort-on-panic guard. So the future drops in its context as soon as it
//! finishes or is cancelled, its context values drop right after, and the
//! output is wrapped in [`Output`], whose `Drop` catches. A panic caught in a
//! drop is counted in `CloseReport::panicked`.
//!
//! async-task also wakes, clones and drops the waker of whoever awaits a
//! [`Task`](crate::Task) (or an `unblock` job) inside its abort guard. So a
//! `Task` hands async-task the waker it is polled with only when that is
//! the very waker runner gave the poll in progress (async-task's own for a
//! task, the runner's main waker for a run, a helper's or a task group's:
//! see `local::note_poll`); any other waker is
//! kept by a [`WakerGuard`], which async-task wakes instead, and which wakes
//! it inside `catch_unwind`.
//!
//! The panics caught here are counted through `debug::catch`, the one
//! catch-and-count path, which the floor-0 files (the clock's and close's
//! wakers, a thread's own context at exit) use too.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::mem;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use atomic_waker::AtomicWaker;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use crate::context::{self, ContextVar, Values, Vars};
use crate::debug;
use crate::info::SiteId;
use crate::local;
use crate::registry::{self, Place};
use crate::shared::Shared;
use crate::spans::TaskSpan;

/// What a task's future produced: its output, or the panic it raised.
///
/// The panic is boxed: async-task keeps the outcome in a union with the
/// future, so for a small future (up to 8 bytes) the outcome's size is the
/// task's, and a `CaughtPanic` inline (40 bytes) made it 24 bytes larger
/// than a boxed one, for a case that allocates anyway.
pub(crate) type Outcome<T> = Result<Output<T>, Box<CaughtPanic>>;

/// What a polled future is, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Label {
    /// A spawned task.
    Task,
    /// An `on_close` cleanup.
    Cleanup,
    /// A run's own future.
    Run,
}

/// A polled future as reports name it: `task "fetch" spawned at
/// src/main.rs:3:5`, `cleanup registered at ...`, `future run at ...`, with
/// the task's name when it has one (what snapshots show too).
pub(crate) struct Described {
    label: Label,
    name: Option<Cow<'static, str>>,
    site: &'static Location<'static>,
}

impl Described {
    /// A task spawned at `site`, named `name`.
    pub(crate) fn task(name: Option<Cow<'static, str>>, site: &'static Location<'static>) -> Self {
        Described {
            label: Label::Task,
            name,
            site,
        }
    }
}

impl fmt::Display for Described {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (noun, verb) = match self.label {
            Label::Task => ("task", "spawned"),
            Label::Cleanup => ("cleanup", "registered"),
            Label::Run => ("future", "run"),
        };
        f.write_str(noun)?;
        if let Some(name) = &self.name {
            write!(f, " {name:?}")?;
        }
        write!(f, " {verb} at {}", self.site)
    }
}

/// What a polled future is, with its slot in the registry of pending tasks
/// or, for what has none, its interned spawn site, in 32 bits: a task's
/// allocation carries this instead of an `Option<usize>`, a [`Label`] and
/// a site, and it fits beside the tag of the task's [`Stage`]. A registered
/// task's site is in its registry `Beat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin(u32);

impl Origin {
    /// The tag of an `on_close` cleanup (never registered), above its site.
    const CLEANUP: u32 = 1 << 31;
    /// The tag of a task spawned after close, which has no slot.
    const UNREGISTERED: u32 = 1 << 30;

    /// An `on_close` cleanup registered at `site`.
    pub(crate) fn cleanup(site: &'static Location<'static>) -> Origin {
        Origin(Origin::CLEANUP | SiteId::of(site).0)
    }

    /// A task, where the registry put it.
    pub(crate) fn task(place: Place) -> Origin {
        match place {
            Place::Slot(key) => {
                debug_assert!(key <= registry::MAX_KEY, "the registry checks its keys");
                // Below the tags: the registry hands out no larger key.
                Origin(key as u32)
            }
            Place::Unregistered(site) => Origin(Origin::UNREGISTERED | site.0),
        }
    }

    fn label(self) -> Label {
        if self.0 & Origin::CLEANUP != 0 {
            Label::Cleanup
        } else {
            Label::Task
        }
    }

    /// The registry slot, if any.
    #[inline]
    pub(crate) fn key(self) -> Option<usize> {
        (self.0 < Origin::UNREGISTERED).then_some(self.0 as usize)
    }

    /// The interned spawn site: a registered task's is in its beat, read
    /// without a lock (so only while it is registered).
    fn site_id(self, shared: &Shared) -> SiteId {
        match self.key() {
            Some(key) => shared
                .registry
                .beat(key)
                .map_or(SiteId(0), |beat| beat.site()),
            None => SiteId(self.0 & !(Origin::CLEANUP | Origin::UNREGISTERED)),
        }
    }

    /// The spawn site (a lock on the process's list of sites: for reports).
    fn site(self, shared: &Shared) -> &'static Location<'static> {
        self.site_id(shared).site()
    }

    /// What reports call it: its label, a registered task's name, its site
    /// (locks: for reports, and only while a task is registered).
    fn describe(self, shared: &Shared) -> Described {
        Described {
            label: self.label(),
            name: self.key().and_then(|key| shared.registry.name(key)),
            site: self.site(shared),
        }
    }
}

/// How a [`Polled`] reaches its runner, and the identity of its context.
pub(crate) trait Home {
    /// Calls `f` with the runner and the context identity; `None` for a
    /// task, whose identity is its task id (`context::task_context_id`).
    fn with<R>(&self, f: impl FnOnce(&Arc<Shared>, Option<u64>) -> R) -> R;
}

/// A task's way: through the thread, which polls or drops a task only
/// inside its runner's [`local::polling`] (`scheduler::Runnable` makes sure
/// of it). No bytes, and no count of the runner per task.
pub(crate) struct Polling;

impl Home for Polling {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&Arc<Shared>, Option<u64>) -> R) -> R {
        local::with_polling(|shared| f(shared, None))
    }
}

/// A cleanup's way: its own count of the runner, since close polls and
/// drops it as a plain future, and `on_close` may drop it on any thread;
/// and a context identity of its own, since it has no task id.
pub(crate) struct Cleanup {
    shared: Arc<Shared>,
    context: u64,
}

impl Home for Cleanup {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&Arc<Shared>, Option<u64>) -> R) -> R {
        f(&self.shared, Some(self.context))
    }
}

pin_project! {
    /// A task's or a cleanup's future, in its own context.
    pub(crate) struct Polled<F, H: Home = Polling> {
        // How it reaches the runner it belongs to.
        home: H,
        // Its context: its own values, switched in on every poll.
        values: Values,
        // tracing: the span it was spawned in, entered on every poll and
        // drop (no bytes without the feature).
        span: TaskSpan,
        // The future until it finishes, and its origin.
        #[pin]
        stage: Stage<F>,
    }

    impl<F, H: Home> PinnedDrop for Polled<F, H> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            this.home.with(|shared, context| {
                #[cfg(feature = "tokio")] // tokio: drops happen in the runner's tokio context
                let _tokio = crate::tokio::enter(&shared.tokio);
                #[cfg(feature = "tracing")] // tracing: dropped in its span
                let _span = this.span.enter();
                let origin = this.stage.origin();
                let unfinished = this.stage.is_live();
                if unfinished {
                    let beat = origin.key().and_then(|key| shared.registry.beat(key));
                    let id = context.unwrap_or_else(|| task_context(beat));
                    drop_future(this.values, id, this.stage, shared, origin);
                }
                release(this.values, shared, origin);
                if let Some(key) = origin.key() {
                    let dropped = unfinished && !shared.lifecycle.is_open();
                    shared.registry.unregister(&shared.lifecycle, key, dropped);
                }
            });
        }
    }
}

pin_project! {
    /// A polled future until it finishes, then nothing, with its [`Origin`]
    /// either way: the origin's 32 bits sit beside the enum's tag, where an
    /// `Option<F>` beside an `Origin` would take a word more (a future
    /// made by `async` offers no niche for `Option`'s tag).
    #[project = StageProj]
    enum Stage<F> {
        Live {
            origin: Origin,
            #[pin]
            future: F,
        },
        Done {
            origin: Origin,
        },
    }
}

impl<F> Stage<F> {
    #[inline]
    fn origin(&self) -> Origin {
        match self {
            Stage::Live { origin, .. } | Stage::Done { origin } => *origin,
        }
    }

    fn is_live(&self) -> bool {
        matches!(self, Stage::Live { .. })
    }

    /// Drops the future. If its drop panics, the stage is done all the same
    /// (an assignment writes the new value while unwinding from the old
    /// one's drop), and the panic goes on to the caller's catch.
    fn finish(mut self: Pin<&mut Self>) {
        let origin = self.origin();
        self.set(Stage::Done { origin });
    }
}

impl<F: Future> Polled<F> {
    /// A task in `origin`, starting in `vars` and `span` (see
    /// [`TaskSpan::capture`], called by the spawner before the registry's
    /// lock: a subscriber's code never runs under it). Only a
    /// `scheduler::Runnable` may poll or drop it.
    pub(crate) fn new(origin: Origin, vars: Vars, span: TaskSpan, future: F) -> Polled<F> {
        Polled::with_home(Polling, origin, vars, span, future)
    }
}

impl<F: Future> Polled<F, Cleanup> {
    /// A cleanup of `shared` registered at `origin`, otherwise as [`new`](Polled::new).
    pub(crate) fn cleanup(
        shared: Arc<Shared>,
        origin: Origin,
        vars: Vars,
        span: TaskSpan,
        future: F,
    ) -> Polled<F, Cleanup> {
        let home = Cleanup {
            shared,
            context: context::new_context_id(),
        };
        Polled::with_home(home, origin, vars, span, future)
    }
}

impl<F: Future, H: Home> Polled<F, H> {
    fn with_home(home: H, origin: Origin, vars: Vars, span: TaskSpan, future: F) -> Polled<F, H> {
        Polled {
            home,
            // A task's values are a snapshot, with no identity yet.
            values: vars.into_values(),
            span,
            stage: Stage::Live { origin, future },
        }
    }
}

impl<F: Future, H: Home> Future for Polled<F, H> {
    type Output = Outcome<F::Output>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        #[cfg(feature = "tracing")] // tracing: polled in its own span
        let _span = this.span.enter();
        let (values, stage) = (this.values, this.stage);
        this.home
            .with(|shared, context| poll_in(shared, values, context, stage, cx))
    }
}

/// The context identity of the task whose registry numbers are `beat`: 0
/// (assigned if needed) for a task with none, which is only ever dropped.
#[inline]
fn task_context(beat: Option<registry::Beat<'_>>) -> u64 {
    beat.map_or(0, |beat| context::task_context_id(beat.id()))
}

/// [`Polled::poll`], with its runner found, and its context identity
/// (`None`: the task's own, from its id).
fn poll_in<F: Future>(
    shared: &Arc<Shared>,
    values: &mut Values,
    context: Option<u64>,
    mut stage: Pin<&mut Stage<F>>,
    cx: &mut Context<'_>,
) -> Poll<Outcome<F::Output>> {
    let origin = stage.origin();
    #[cfg(feature = "tokio")] // tokio: polls happen in the runner's tokio context
    let _tokio = crate::tokio::enter(&shared.tokio);
    // A registered task: running from now on, for snapshots.
    let key = origin.key();
    let beat = key.and_then(|key| shared.registry.beat(key));
    let before = beat.map(|beat| beat.start());
    let id = context.unwrap_or_else(|| task_context(beat));
    let polled = timed(shared.slow_poll, &|| origin.describe(shared), || {
        context::scope(values, id, key, || {
            let StageProj::Live { future, .. } = stage.as_mut().project() else {
                unreachable!("a finished future is never polled again");
            };
            // async-task's waker, noted as runner's: a `Task` awaited with
            // it hands it to async-task as it is.
            let polled = panic::catch_unwind(AssertUnwindSafe(|| {
                local::polled_with(cx, |cx| future.poll(cx))
            }));
            if !matches!(polled, Ok(Poll::Pending)) {
                // Finished: the future drops now, within the same context
                // switch, rather than whenever the allocation goes.
                if let Err(payload) =
                    panic::catch_unwind(AssertUnwindSafe(|| stage.as_mut().finish()))
                {
                    count(shared, origin, &*payload);
                }
            }
            polled
        })
    });
    // Counted and dated, with the coarse clock; no longer running.
    if let (Some(beat), Some(before)) = (beat, before) {
        beat.end(before, shared.registry.ticks.now());
    }
    let outcome = match polled {
        Ok(Poll::Pending) => return Poll::Pending,
        Ok(Poll::Ready(output)) => {
            let site = beat.map_or_else(|| origin.site_id(shared), |beat| beat.site());
            Ok(Output::new(output, site))
        }
        Err(payload) => {
            let Described { name, site, .. } = origin.describe(shared);
            let mut caught = CaughtPanic::new(payload, Some(shared.clone()), site);
            caught.name = name;
            // A shared test's task carries its test's sink in its context.
            caught.sink = context::scope(values, id, None, || PANIC_SINK.get());
            Err(Box::new(caught.counted_if_closing()))
        }
    };
    release(values, shared, origin);
    Poll::Ready(outcome)
}

/// Drops an unfinished future inside its context; a panic there is counted.
fn drop_future<F>(
    values: &mut Values,
    id: u64,
    stage: Pin<&mut Stage<F>>,
    shared: &Shared,
    origin: Origin,
) {
    let dropped = context::scope(values, id, None, || {
        panic::catch_unwind(AssertUnwindSafe(|| stage.finish()))
    });
    if let Err(payload) = dropped {
        count(shared, origin, &*payload);
    }
}

/// Drops a finished task's context values; a panic there is counted.
fn release(values: &mut Values, shared: &Shared, origin: Origin) {
    let values = mem::take(values);
    if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| drop(values))) {
        count(shared, origin, &*payload);
    }
}

/// Counts a panic caught in what `origin` names (before it unregisters).
#[cold]
fn count(shared: &Shared, origin: Origin, payload: &(dyn Any + Send)) {
    shared.panics.count(
        format_args!("the {}", origin.describe(shared)),
        debug::panic_message(payload),
    );
}

/// Calls `poll`; in debug mode (`slow_poll` is the threshold), reports it if
/// it took longer than the threshold, as `describe` describes it.
#[inline]
pub(crate) fn timed<R>(
    slow_poll: Option<Duration>,
    describe: &dyn Fn() -> Described,
    poll: impl FnOnce() -> R,
) -> R {
    match slow_poll {
        None => poll(),
        Some(threshold) => timed_debug(threshold, describe, poll),
    }
}

/// [`timed`] in debug mode, out of line: the clock readings stay off the
/// path of every poll without it.
#[inline(never)]
fn timed_debug<R>(
    threshold: Duration,
    describe: &dyn Fn() -> Described,
    poll: impl FnOnce() -> R,
) -> R {
    let started = Instant::now();
    let result = poll();
    let took = started.elapsed();
    if took > threshold {
        debug::check_poll(took, threshold, &describe());
    }
    result
}

pin_project! {
    /// A run's own future, with each poll timed in debug mode.
    pub(crate) struct Timed<F> {
        #[pin]
        future: F,
        // Where `run` was called.
        site: &'static Location<'static>,
        threshold: Option<Duration>,
    }
}

impl<F> Timed<F> {
    pub(crate) fn new(
        future: F,
        site: &'static Location<'static>,
        threshold: Option<Duration>,
    ) -> Timed<F> {
        Timed {
            future,
            site,
            threshold,
        }
    }
}

impl<F: Future> Future for Timed<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let site = *this.site;
        let describe = || Described {
            label: Label::Run,
            name: None,
            site,
        };
        timed(*this.threshold, &describe, || this.future.poll(cx))
    }
}

/// A task's output, whose drop catches panics: async-task drops a detached
/// task's output inside its abort-on-panic guard.
pub(crate) struct Output<T> {
    /// Taken when the output is handed to whoever awaits the task.
    value: Option<T>,
    /// Where the task or job was spawned, interned.
    site: SiteId,
}

impl<T> Output<T> {
    pub(crate) fn new(value: T, site: SiteId) -> Output<T> {
        Output {
            value: Some(value),
            site,
        }
    }

    pub(crate) fn into_inner(mut self) -> T {
        self.value.take().expect("an output is taken once")
    }
}

impl<T> Drop for Output<T> {
    fn drop(&mut self) {
        let Some(value) = self.value.take() else {
            return;
        };
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| drop(value))) {
            let site = self.site.site();
            let message = debug::panic_message(&*payload);
            match local::current() {
                Some((shared, _)) => shared.panics.count(
                    format_args!("dropping the output of the task spawned at {site}"),
                    message,
                ),
                // No runner to count it (the task handle was dropped outside
                // one): say so rather than abort or stay silent.
                None => debug::report(format_args!(
                    "a panic nobody observed, in dropping the output of the task spawned at \
                     {site}: {message}"
                )),
            }
        }
    }
}

/// A panic caught in a task or a blocking job, on its way to whoever awaits
/// it. Dropped without being resumed, it counts as unobserved.
pub(crate) struct CaughtPanic {
    /// Taken when resumed.
    payload: Option<Box<dyn Any + Send>>,
    /// Where it goes if nobody observes it, besides the runner's count: the
    /// sink of the shared test that spawned the task, if any.
    sink: Option<Arc<PanicSink>>,
    /// The runner that counts it if nobody observes it; taken once counted.
    shared: Option<Arc<Shared>>,
    /// Where the task or job that panicked was spawned.
    site: &'static Location<'static>,
    /// The task's name, if it has one.
    name: Option<Cow<'static, str>>,
}

impl CaughtPanic {
    pub(crate) fn new(
        payload: Box<dyn Any + Send>,
        shared: Option<Arc<Shared>>,
        site: &'static Location<'static>,
    ) -> CaughtPanic {
        CaughtPanic {
            payload: Some(payload),
            sink: None,
            shared,
            site,
            name: None,
        }
    }

    /// Counts a task's panic at once if its runner is closing: a task that
    /// panics during close has no one left to observe it, and its output may
    /// be dropped after close has made its report.
    pub(crate) fn counted_if_closing(mut self) -> CaughtPanic {
        if self
            .shared
            .as_ref()
            .is_some_and(|shared| !shared.lifecycle.is_open())
        {
            self.count();
        }
        self
    }

    /// [`resume`](Self::resume) for a task's [`Outcome`], box and all, out
    /// of line: moving the panic out of its box inside a task handle's poll
    /// cost every await 28 instructions, in an arm that runs only after a
    /// panic.
    #[cold]
    #[inline(never)]
    #[allow(clippy::boxed_local)] // The box is the outcome's; it goes here.
    pub(crate) fn resume_boxed(self: Box<Self>) -> ! {
        (*self).resume()
    }

    /// Resumes the panic in the caller, with its original payload.
    pub(crate) fn resume(mut self) -> ! {
        let payload = self
            .payload
            .take()
            .expect("only `resume` takes the payload");
        panic::resume_unwind(payload)
    }

    fn count(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        let Some(payload) = self.payload.take() else {
            return;
        };
        let task = Described::task(self.name.take(), self.site);
        if let Some(sink) = self.sink.take() {
            shared
                .panics
                .count(format_args!("the {task}"), debug::panic_message(&*payload));
            self.payload = sink.keep(payload, &task);
            return;
        }
        self.payload = shared
            .panics
            .unobserved(format_args!("the {task}"), payload);
        if self.payload.is_none() {
            // Kept for a run to resume: the loop looks at once.
            shared.scheduler.wake_loop();
        }
    }
}

impl Drop for CaughtPanic {
    fn drop(&mut self) {
        // Resumed (no payload) or counted already (no runner): nothing to count.
        self.count();
        // A payload is a value like any other: its `Drop` may panic too.
        if let Some(payload) = self.payload.take() {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| drop(payload)));
        }
    }
}

/// What async-task is given in place of a waker that runner did not make:
/// async-task wakes, clones and drops the waker of whoever awaits a task or
/// a blocking job inside its abort-on-panic guard, where a panic aborts the
/// process. This guard's waker wakes (and drops) the caller's inside
/// `catch_unwind`, and a panic there counts as one nobody observed.
pub(crate) struct WakerGuard {
    /// The guard's own waker, for async-task.
    waker: Waker,
    caller: Arc<Caller>,
}

/// The waker a [`WakerGuard`] wakes.
struct Caller {
    /// Taken when woken; the next poll registers one again.
    waker: Mutex<Option<Waker>>,
    /// The runner that counts a panic of it: a blocking job's, or (`None`)
    /// the one polling or dropping a task on the thread that wakes it, as
    /// async-task does when the task ends (reported at once without one).
    shared: Option<Arc<Shared>>,
    /// What reports call it.
    what: &'static str,
}

impl WakerGuard {
    /// A guard for whoever awaits `what`, counting in `shared` (see [`Caller`]).
    pub(crate) fn new(what: &'static str, shared: Option<Arc<Shared>>) -> WakerGuard {
        let caller = Arc::new(Caller {
            waker: Mutex::new(None),
            shared,
            what,
        });
        WakerGuard {
            waker: Waker::from(caller.clone()),
            caller,
        }
    }

    /// Notes `waker` as the one to wake (cloned only when it changed) and
    /// returns the guard's own, to poll async-task's handle with. Called in
    /// the caller's poll, where its waker's clone or drop may panic.
    pub(crate) fn register(&self, waker: &Waker) -> &Waker {
        let mut registered = self
            .caller
            .waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !registered.as_ref().is_some_and(|old| old.will_wake(waker)) {
            *registered = Some(waker.clone());
        }
        &self.waker
    }
}

impl Caller {
    /// Takes the caller's waker, if one is registered.
    fn take(&self) -> Option<Waker> {
        self.waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Calls `f`, user code, counting a panic of it (see `shared`).
    fn catch(&self, f: impl FnOnce()) {
        match &self.shared {
            Some(shared) => {
                debug::catch(Some(&shared.panics), &self.what, f);
            }
            None => catch_waker(self.what, f),
        }
    }
}

/// Calls `f`, which wakes or drops someone's waker (`what`) on behalf of
/// async-task, inside `catch_unwind`: a panic counts as one nobody observed
/// in the runner whose task this thread polls or drops (async-task wakes a
/// task's awaiter as the task ends), else is reported at once.
pub(crate) fn catch_waker(what: &'static str, f: impl FnOnce()) {
    local::with_polling_if_any(|shared| {
        debug::catch(shared.map(|shared| &shared.panics), &what, f);
    });
}

impl Wake for Caller {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(waker) = self.take() {
            self.catch(|| waker.wake());
        }
    }
}

impl Drop for Caller {
    /// async-task may drop the guard's last waker inside its guard too.
    fn drop(&mut self) {
        if let Some(waker) = self.take() {
            self.catch(|| drop(waker));
        }
    }
}

/// The context variable by which a shared test's tasks carry the test's
/// [`PanicSink`]: tasks start with a copy of their spawner's context.
static PANIC_SINK: ContextVar<Arc<PanicSink>> = ContextVar::new("runner::panic_sink");

/// Where the unobserved panics of one `#[runner::test(shared)]`'s tasks go,
/// so that they fail that test and no other. Used by the macros' support
/// code: not part of the API.
#[doc(hidden)]
pub struct PanicSink {
    /// The first such panic, until the test resumes it.
    payload: Mutex<Option<Box<dyn Any + Send>>>,
    /// The waker of the test's `run!` in progress.
    waker: AtomicWaker,
}

impl PanicSink {
    /// Makes a sink for the tasks spawned from now on in the current context.
    pub fn install() -> Arc<PanicSink> {
        let sink = Arc::new(PanicSink {
            payload: Mutex::new(None),
            waker: AtomicWaker::new(),
        });
        // Never reset: the test's context is its own and ends with it.
        std::mem::forget(PANIC_SINK.set(sink.clone()));
        sink
    }

    /// Keeps `payload` (the first one) and wakes the test; reports it with
    /// the task that panicked. Returns it when one is kept already.
    fn keep(&self, payload: Box<dyn Any + Send>, task: &Described) -> Option<Box<dyn Any + Send>> {
        debug::report(format_args!(
            "a panic nobody observed, in the {task}: {}",
            debug::panic_message(&*payload)
        ));
        let mut kept = self.payload.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.is_some() {
            return Some(payload);
        }
        *kept = Some(payload);
        drop(kept);
        self.waker.wake();
        None
    }

    /// The kept panic, if any; else registers `waker` for when one comes.
    pub fn poll_take(&self, waker: &std::task::Waker) -> Option<Box<dyn Any + Send>> {
        self.waker.register(waker);
        self.take()
    }

    /// The kept panic, if any.
    pub fn take(&self) -> Option<Box<dyn Any + Send>> {
        self.payload
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl std::fmt::Debug for PanicSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PanicSink").finish_non_exhaustive()
    }
}

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    use super::*;

    /// A future of `N` words without a niche: `Words<5>` is 40 bytes, like
    /// the one `benches/memory.rs` parks (an `async` block offers none).
    struct Words<const N: usize> {
        _words: [u64; N],
    }

    impl<const N: usize> Future for Words<N> {
        type Output = ();

        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Ready(())
        }
    }

    #[test]
    fn a_polled_future_costs_16_bytes_beside_a_future_without_a_niche() {
        // The context's values (8), the stage's tag and origin (8): no
        // runner, which the thread lends it, and no context identity, which
        // is the task's id; see "where each byte goes" in BENCHMARKS.md.
        let beside = mem::size_of::<Polled<Words<5>>>() - mem::size_of::<Words<5>>();
        assert_eq!(beside, 16 + mem::size_of::<TaskSpan>());
        assert_eq!(mem::size_of::<Origin>(), 4);
    }

    #[test]
    fn a_unit_outcome_is_no_larger_than_a_polled_future_of_a_word() {
        // What async-task keeps in a union with the future: the outcome, or
        // its own panic (unused: runner catches them all). From a future of
        // a word up, the task's size is `Polled`'s.
        let output = mem::size_of::<Result<Outcome<()>, Box<dyn Any + Send>>>();
        assert_eq!(output, 24);
        assert!(output <= mem::size_of::<Polled<Words<1>>>());
    }
}
