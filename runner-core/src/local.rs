//! The per-thread state: which runner this thread runs, which runners it
//! has entered, the active loop's plain queues, the context stack, and
//! whose tasks it polls now.
//!
//! Part of the core (floor 1), read together with `shared` and
//! `scheduler/`: the running runner is a `Shared`, and the plain queues
//! hold the scheduler's runnables. Everything above finds the current
//! runner through [`current`], [`with_current`] or [`current_or_panic`].
//!
//! # Invariants
//!
//! - `running` is `Some` exactly while this thread runs a runner's loop:
//!   inside `run`, inside `close`, inside `Handle::block_on`, or for a whole
//!   worker thread. `run` refuses to start while it is `Some`; `close` may
//!   nest inside another runner's run and restores the outer one when it
//!   ends.
//! - `entered` lists the runners entered with `Runner::enter` or
//!   `Handle::enter`, innermost last; the free functions consult it only
//!   when `running` is `None`.
//! - `active` holds the address of the `Scheduler` whose loop is awake on
//!   this thread (polling tasks or the run's future), else 0. While it is
//!   set, that runner's tasks woken from this thread go to `queues` with no
//!   atomic operation and no wake-up, since the loop looks there before it
//!   sleeps. The loop clears it while it sleeps, so that wakes from the
//!   reactor (timers and I/O fire on this thread) reach it through the
//!   shared queues. It is non-zero only while `running` is `Some`.
//! - `queues` hold runnables of the active loop only, and are handed to its
//!   shared queues when the loop stops being active; `queued` is false
//!   whenever both are empty (it may stay true briefly after they empty).
//! - `main_woken` is the active loop's: set when its run's future is woken
//!   from this thread, taken by the loop, and handed to the scheduler's own
//!   flag whenever the loop stops being active (also while it sleeps).
//! - `contexts` is the stack of entered contexts (see `context`): the top is
//!   what `ContextVar::get` reads.
//! - `POLLING` (a scoped thread-local beside `LOCAL`: it lends a borrowed
//!   runner, which a `thread_local!` cannot hold without `unsafe`) names the
//!   runner of every task polled or dropped on this thread while it is
//!   polled or dropped. Loops set it for their whole length ([`polling`]);
//!   `scheduler::Runnable` sets it around a task of any other runner.
//! - `POLLED_WAKER` (beside `LOCAL` too: no destructor, so a plain load or
//!   store) notes the waker of the polls that runner makes here
//!   ([`note_poll`]: a run's future's, the runner's main waker, for the
//!   whole `block_on`; a task's, async-task's; a helper's own future's; a
//!   task group's of its tasks' handles) while they run, then the enclosing
//!   note again; `NONE` outside them. A
//!   note names a waker that is alive and never panics, so a `Task` polled
//!   with exactly that waker may hand it to async-task.
//!
//! The thread-local is destroyed when the thread exits, and a `Runner` kept
//! in another thread-local may close after that. So every access from a
//! path that close or a `Drop` can take uses [`try_with`]: without this
//! state, a close runs with no plain queues, no current runner and no
//! context switch, parks without async-io's `block_on`, and still does its
//! four steps.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Waker};

use crate::context::vars::{Frame, Stack, Vars};
use crate::debug;
use crate::scheduler::{Runnable, Scheduler};
use crate::shared::Shared;

scoped_tls::scoped_thread_local! {
    /// The runner whose tasks this thread polls or drops now: set around
    /// every loop that runs tasks (a run's, a worker's, a helper's) and,
    /// for a runnable of another runner, around that one runnable (see
    /// `scheduler::Runnable`). A task's `Polled` reads its runner here
    /// rather than keeping a count of it: that count's line moved between
    /// the spawning thread and the worker twice per task.
    static POLLING: Arc<Shared>
}

thread_local! {
    /// The `Waker` of the poll that runner makes here: see
    /// [`is_runners_waker`]. Apart from `LOCAL`:
    /// with no destructor, an access is a plain load or store, which every
    /// poll and every await of a `Task` makes.
    static POLLED_WAKER: Cell<WakerNote> = const { Cell::new(WakerNote::NONE) };

    static LOCAL: Local = const {
        Local {
            running: RefCell::new(None),
            entered: RefCell::new(Vec::new()),
            active: Cell::new(0),
            queued: Cell::new(false),
            main_woken: Cell::new(false),
            cancelling: Cell::new(false),
            queues: PlainQueues {
                local: RefCell::new(VecDeque::new()),
                global: RefCell::new(VecDeque::new()),
            },
            contexts: RefCell::new(Stack::new()),
        }
    };
}

/// This thread's state; see the module docs for the invariants.
pub(crate) struct Local {
    /// The runner whose loop this thread runs, if any.
    running: RefCell<Option<Running>>,
    /// Runners entered with `Runner::enter` or `Handle::enter`, innermost last.
    entered: RefCell<Vec<(Arc<Shared>, Reach)>>,
    /// The address of the `Scheduler` whose loop is awake here, or 0.
    pub(crate) active: Cell<usize>,
    /// Whether `queues` may hold something.
    pub(crate) queued: Cell<bool>,
    /// Whether the active loop's run future was woken from this thread.
    pub(crate) main_woken: Cell<bool>,
    /// Set while this thread cancels one task in
    /// [`cancel_now`](crate::scheduler::cancel_now): the first runnable
    /// scheduled here meanwhile is that task's, and is run at once.
    pub(crate) cancelling: Cell<bool>,
    /// The active loop's plain queues.
    pub(crate) queues: PlainQueues,
    /// The entered contexts, innermost last.
    pub(crate) contexts: RefCell<Stack>,
}

impl Drop for Local {
    fn drop(&mut self) {
        // The thread exits. Its own context's values (set outside any run, or
        // inside a `Handle::block_on` here) drop now: inside `catch_unwind`,
        // since a panic out of a thread-local destructor aborts the process.
        let contexts = std::mem::take(self.contexts.get_mut());
        debug::catch(
            None,
            &"dropping the values of a thread's own context as the thread exits",
            || drop(contexts),
        );
    }
}

impl Local {
    /// Hands `main_woken` to `scheduler`'s shared flag as its loop stops
    /// being active here (it is the active loop's), leaving `next` (an outer
    /// loop's) in its place.
    #[inline]
    pub(crate) fn hand_over_main_woken(&self, scheduler: &Scheduler, next: bool) {
        if self.main_woken.replace(next) {
            scheduler.main_woken_elsewhere();
        }
    }
}

/// Which `Waker` a poll was handed, by its address: only ever compared,
/// never dereferenced. While that poll runs the waker is alive, so nothing
/// else can be at its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WakerNote(usize);

impl WakerNote {
    /// No poll's.
    pub(crate) const NONE: WakerNote = WakerNote(0);

    /// The note of `waker`.
    #[inline]
    pub(crate) fn of(waker: &Waker) -> WakerNote {
        WakerNote(waker as *const Waker as usize)
    }
}

/// The plain queues of the loop active on this thread (the scheduler's
/// `SharedQueues` are the ones other threads push to).
pub(crate) struct PlainQueues {
    /// Woken `spawn_local` tasks.
    pub(crate) local: RefCell<VecDeque<Runnable>>,
    /// Woken `Send` tasks (only when the runner has no workers to share them with).
    pub(crate) global: RefCell<VecDeque<Runnable>>,
}

/// The runner a thread runs.
struct Running {
    shared: Arc<Shared>,
    /// Whether this thread is the runner's own or another one.
    reach: Reach,
}

/// How a thread reaches the runner that the free functions use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// The runner's own thread: in a run, in close, or entered with
    /// `Runner::enter`. Only here may `spawn_local` tasks be made.
    Own,
    /// Another thread: a worker, a thread inside `Handle::block_on`, or one
    /// that entered the runner with `Handle::enter`.
    Other,
}

/// Calls `f` with this thread's state; panics if it was destroyed (the
/// thread is exiting). For paths that a `Drop` cannot reach.
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&Local) -> R) -> R {
    // What `LocalKey::with` does, but its access then inlines here (the
    // standard library's `with` stays a call through the key's accessor).
    LOCAL
        .try_with(f)
        .expect("cannot use a runner's thread state while the thread exits")
}

/// Calls `f` with this thread's state, or returns `None` once it has been
/// destroyed. For every path a `Drop` or close can take.
#[inline]
pub(crate) fn try_with<R>(f: impl FnOnce(&Local) -> R) -> Option<R> {
    LOCAL.try_with(f).ok()
}

/// The panic of `function` (`Runner::run`, `Handle::block_on`, ...) called
/// where a runner's loop is running already.
/// Runs `f` with `shared` as the runner whose tasks this thread polls.
#[inline]
pub(crate) fn polling<R>(shared: &Arc<Shared>, f: impl FnOnce() -> R) -> R {
    POLLING.set(shared, f)
}

/// Calls `f`, a poll that runner makes with `cx`, inside [`note_poll`] of
/// `cx`'s waker.
#[inline]
pub(crate) fn polled_with<R>(cx: &mut Context<'_>, f: impl FnOnce(&mut Context<'_>) -> R) -> R {
    let _noted = note_poll(cx.waker());
    f(cx)
}

/// Notes `waker` as the waker of the polls that runner makes here until the
/// returned guard drops (see [`is_runners_waker`]); the guard puts the
/// enclosing note back, also while unwinding. For the wakers runner makes,
/// which never panic when woken, cloned or dropped: async-task's for a
/// task's poll, the runner's main waker for a run's (`block_on` notes it
/// for its whole length; the polls of tasks in between note their own), a
/// helper's for its own future, a task group's for its tasks' handles.
#[inline]
pub(crate) fn note_poll(waker: &Waker) -> PollNote {
    PollNote(POLLED_WAKER.replace(WakerNote::of(waker)))
}

/// Puts the enclosing poll's note back (see [`note_poll`]).
pub(crate) struct PollNote(WakerNote);

impl Drop for PollNote {
    #[inline]
    fn drop(&mut self) {
        POLLED_WAKER.set(self.0);
    }
}

/// Whether `waker` is the very `Waker` that runner handed to the poll in
/// progress on this thread (compared by address, so while that poll runs
/// the note names a live waker and nothing else can be at its address).
/// Such a waker is async-task's or the runner's own: waking, cloning or
/// dropping it never panics, so a `Task` polled with it hands it to
/// async-task as it is; any other one goes through a `poll::WakerGuard`.
#[inline]
pub(crate) fn is_runners_waker(waker: &Waker) -> bool {
    POLLED_WAKER.get() == WakerNote::of(waker)
}

/// Calls `f` with the runner whose task is being polled or dropped here, if
/// any.
pub(crate) fn with_polling_if_any<R>(f: impl FnOnce(Option<&Arc<Shared>>) -> R) -> R {
    if POLLING.is_set() {
        POLLING.with(|shared| f(Some(shared)))
    } else {
        f(None)
    }
}

/// Whether this thread polls the tasks of `shared` now.
#[inline]
pub(crate) fn polls_for(shared: &Arc<Shared>) -> bool {
    POLLING.is_set() && POLLING.with(|polling| Arc::ptr_eq(polling, shared))
}

/// Calls `f` with the runner whose task is being polled or dropped here.
///
/// # Panics
///
/// Outside [`polling`]: only a `scheduler::Runnable` runs or drops a task,
/// and it sets its runner first.
#[inline]
pub(crate) fn with_polling<R>(f: impl FnOnce(&Arc<Shared>) -> R) -> R {
    POLLING.with(f)
}

#[track_caller]
pub(crate) fn nested(function: &str) -> ! {
    panic!("`{function}` cannot be called from a running event loop; `.await` the future instead")
}

/// The panic of `function` called while this thread exits (from a
/// thread-local's destructor), once its state is gone.
#[cold]
#[track_caller]
fn exiting(function: &str) -> ! {
    panic!("`{function}` cannot start a run while its thread is exiting")
}

/// Whether a runner is running on this thread (a run, a close, a worker, a
/// `Handle::block_on`): where `function` may not start another loop.
pub(crate) fn is_running() -> bool {
    with(|local| local.running.borrow().is_some())
}

/// The panic of `function`, which needs a runner, called outside one.
#[track_caller]
pub(crate) fn outside(function: &str) -> ! {
    panic!(
        "`{function}` must be called from code that a `runner::Runner` is running, or while \
         one is entered with `Runner::enter`"
    )
}

/// The runner that `function` (a free function such as `runner::on_close`)
/// reaches from this thread, as [`current`] finds it; outside any runner, a
/// panic that names `function` and points at its caller.
#[track_caller]
pub(crate) fn current_or_panic(function: &str) -> (Arc<Shared>, Reach) {
    match current() {
        Some(current) => current,
        None => outside(function),
    }
}

/// The runner that the free functions (`spawn`, `on_close`, ...) reach from
/// this thread: the one running here, else the innermost entered one; and
/// how this thread reaches it.
pub(crate) fn current() -> Option<(Arc<Shared>, Reach)> {
    try_with(|local| {
        if let Some(running) = &*local.running.borrow() {
            return Some((running.shared.clone(), running.reach));
        }
        let entered = local.entered.borrow();
        entered
            .last()
            .map(|(shared, reach)| (shared.clone(), *reach))
    })
    .flatten()
}

/// Calls `f` with the runner that [`current`] returns, without cloning it,
/// and how this thread reaches it.
pub(crate) fn with_current<R>(f: impl FnOnce(&Arc<Shared>, Reach) -> R) -> Option<R> {
    try_with(|local| {
        if let Some(running) = &*local.running.borrow() {
            return Some(f(&running.shared, running.reach));
        }
        let entered = local.entered.borrow();
        entered.last().map(|(shared, reach)| f(shared, *reach))
    })
    .flatten()
}

/// Makes `shared` the runner this thread has entered, until the guard drops.
pub(crate) fn enter(shared: Arc<Shared>, reach: Reach) -> Entry {
    with(|local| local.entered.borrow_mut().push((shared, reach)));
    Entry(())
}

/// Leaves the runner that [`enter`] entered (the innermost one).
pub(crate) struct Entry(());

impl Drop for Entry {
    fn drop(&mut self) {
        try_with(|local| local.entered.borrow_mut().pop());
    }
}

/// A runner's own context as a run enters it: its values move onto this
/// thread's context stack as the run's frame, and back when the run ends
/// (implemented by `context::OwnContext`, above the core).
pub(crate) trait OwnFrame {
    /// Moves the values onto `stack`, as the frame of a run.
    fn push_frame(&self, stack: &mut Stack);
    /// Ends the entry that [`push_frame`](Self::push_frame) began, with the
    /// values the frame holds now (`None` if the thread's stack is gone).
    fn end(&self, vars: Option<Vars>);
}

/// Starts a run of `function` (`Runner::run`, ...) on this thread, in one
/// access to its state: makes the runner whose lent handle is `home` the
/// running one, pushes `own`'s values as the context frame (when the run is
/// in the runner's own context and no handle to it exists), and makes
/// `scheduler`'s loop the active one. The returned guard undoes all three,
/// again in one access. Panics first, changing nothing, if a runner is
/// running here already.
///
/// Since runs never nest, nothing is replaced, so nothing is saved: no
/// runner runs here before (checked), and no loop is active where no runner
/// runs. The `Arc` is moved in from `home` and back, so a run pays no
/// reference count.
#[track_caller]
#[inline]
pub(crate) fn run<'a, O: OwnFrame>(
    function: &'static str,
    home: &'a Cell<Option<Arc<Shared>>>,
    scheduler: &'a Scheduler,
    own: Option<&'a O>,
) -> RunGuard<'a, O> {
    // `try_with`, whose access inlines here, unlike `with`'s.
    let started = try_with(|local| {
        // 1. This thread becomes the runner's: refused if a runner runs here.
        // Borrowed means a runner is current here (`with_current` is inside a
        // spawn whose dropped future calls `run`): nested all the same.
        let Ok(mut running) = local.running.try_borrow_mut() else {
            return false;
        };
        if running.is_some() {
            return false;
        }
        *running = Some(Running {
            shared: home
                .take()
                .expect("a runner's lent handle is home between runs"),
            reach: Reach::Own,
        });
        drop(running);
        // 2. The run's context: the runner's own values, moved in.
        if let Some(own) = own {
            own.push_frame(&mut local.contexts.borrow_mut());
        }
        // 3. The loop is awake here: wakes from this thread go to the plain
        //    queues, which are empty (they are handed back when a loop stops).
        debug_assert_eq!(
            local.active.get(),
            0,
            "a loop is active only where a runner runs"
        );
        debug_assert!(!local.queued.get(), "plain queues are empty between runs");
        local.active.set(scheduler.address());
        true
    });
    // Outside the closure, so that the panic points at the caller.
    match started {
        Some(true) => {}
        Some(false) => nested(function),
        None => exiting(function),
    }
    // Before the first poll of the run's future, whose wakes go to this
    // thread's queues, where a helper thread cannot see them.
    scheduler.set_owner_awake(true);
    RunGuard {
        home,
        scheduler,
        own,
    }
}

/// Ends a run started by [`run`], also on unwinding: gives the own
/// context's frame back, hands what the plain queues still hold to the
/// loop's shared queues, and sends the lent handle home.
pub(crate) struct RunGuard<'a, O: OwnFrame> {
    /// Where the lent handle goes back to.
    home: &'a Cell<Option<Arc<Shared>>>,
    /// The loop the run made active.
    scheduler: &'a Scheduler,
    /// The runner's own context, whose frame the run pushed.
    own: Option<&'a O>,
}

impl<O: OwnFrame> Drop for RunGuard<'_, O> {
    #[inline]
    fn drop(&mut self) {
        let own = self.own;
        self.scheduler.set_owner_awake(false);
        let ours = try_with(|local| {
            // 2. The own context's frame goes back to it (the top of the
            //    stack: contexts entered during the run have been left).
            if let Some(own) = own {
                let frame = local.contexts.borrow_mut().pop();
                own.end(frame.map(Frame::into_vars));
            }
            // 3. The loop sleeps: what its plain queues hold goes to the
            //    shared queues, for the next run, the workers or close.
            local.active.set(0);
            if local.queued.replace(false) {
                let queued = (local.queues.local.take(), local.queues.global.take());
                self.scheduler.take_back(queued.0, queued.1);
            }
            local.hand_over_main_woken(self.scheduler, false);
            // 1. No runner runs here any more.
            local.running.borrow_mut().take()
        });
        match ours {
            Some(ours) => self.home.set(ours.map(|ours| ours.shared)),
            // The thread's state is gone: the values went with its stack.
            None => {
                if let Some(own) = own {
                    own.end(None);
                }
            }
        }
    }
}

/// Makes `scheduler`'s loop the active one on this thread until the guard
/// drops (close drives its loop outside any run).
pub(crate) fn activate(scheduler: &Scheduler) -> Activated<'_> {
    Activated(try_with(|local| Activation::enter(local, scheduler)))
}

/// Undoes [`activate`].
pub(crate) struct Activated<'a>(Option<Activation<'a>>);

impl Drop for Activated<'_> {
    fn drop(&mut self) {
        if let Some(activation) = self.0.take() {
            try_with(|local| activation.exit(local));
        }
    }
}

/// A loop made active on this thread, and what it replaced.
struct Activation<'a> {
    scheduler: &'a Scheduler,
    /// The loop active before (loops nest when a runner closes inside
    /// another's run).
    previous: usize,
    /// The replaced loop's plain queues, when it had any (nesting is rare:
    /// the common case moves no queue).
    saved: Option<Box<(VecDeque<Runnable>, VecDeque<Runnable>)>>,
    /// The replaced loop's `main_woken`.
    woken: bool,
}

impl<'a> Activation<'a> {
    fn enter(local: &Local, scheduler: &'a Scheduler) -> Activation<'a> {
        debug_assert!(
            local.running.borrow().is_some(),
            "a loop is active only where a runner runs"
        );
        let previous = local.active.replace(scheduler.address());
        // An outer loop's plain queues are put aside, not mixed with ours.
        let saved = (previous != 0).then(|| {
            local.queued.set(false);
            Box::new((local.queues.local.take(), local.queues.global.take()))
        });
        Activation {
            scheduler,
            previous,
            saved,
            woken: local.main_woken.replace(false),
        }
    }

    /// Hands what the plain queues still hold to the loop's shared queues,
    /// and restores the loop it replaced.
    fn exit(self, local: &Local) {
        local.active.set(self.previous);
        // Ours go to our shared queues, then the outer loop's come back.
        if local.queued.replace(false) {
            let queued = (local.queues.local.take(), local.queues.global.take());
            self.scheduler.take_back(queued.0, queued.1);
        }
        local.hand_over_main_woken(self.scheduler, self.woken);
        if let Some(saved) = self.saved {
            let (outer_local, outer_global) = *saved;
            local
                .queued
                .set(!outer_local.is_empty() || !outer_global.is_empty());
            *local.queues.local.borrow_mut() = outer_local;
            *local.queues.global.borrow_mut() = outer_global;
        }
    }
}

/// Makes `shared` this thread's running runner while it closes, restoring
/// the one it replaces (close may run inside another runner's run). Does
/// nothing once this thread's state is gone.
pub(crate) fn close(shared: Arc<Shared>) -> Runs {
    replace(shared, Reach::Own)
}

/// Makes this worker (or helper) thread run `shared` until the guard drops.
pub(crate) fn work(shared: Arc<Shared>) -> Runs {
    replace(shared, Reach::Other)
}

/// Makes `shared` the running runner, reached as `reach`; the guard puts
/// back the one it replaced.
fn replace(shared: Arc<Shared>, reach: Reach) -> Runs {
    let previous = try_with(|local| {
        local
            .running
            .borrow_mut()
            .replace(Running { shared, reach })
    })
    .flatten();
    Runs { previous }
}

/// Restores the thread's previous running runner (usually none), also on
/// unwinding.
pub(crate) struct Runs {
    /// The running runner this one replaced.
    previous: Option<Running>,
}

impl Drop for Runs {
    fn drop(&mut self) {
        try_with(|local| local.running.replace(self.previous.take()));
    }
}
