//! The one per-thread state: which runner this thread runs, which runners
//! it has entered, the active loop's plain queues, and the context stack.
//!
//! # Invariants
//!
//! - `running` is `Some` exactly while this thread runs a runner's loop:
//!   inside `run`, inside `close`, or for a whole worker thread. `run` refuses
//!   to start while it is `Some`; `close` may nest inside another runner's run
//!   and restores the outer one when it ends.
//! - `entered` lists the runners entered with `Runner::enter`, innermost
//!   last; the free functions consult it only when `running` is `None`.
//! - `active` is the address of the `Shared` whose loop is awake on this
//!   thread (polling tasks or the run's future), else 0. While it is set,
//!   that runner's tasks woken from this thread go to `queues` with no atomic
//!   operation and no wake-up, since the loop looks there before it sleeps.
//!   The loop clears it while it sleeps, so that wakes from the reactor
//!   (timers and I/O fire on this thread) reach it through the shared queues.
//! - `queues` hold runnables of the active loop only, and are handed to its
//!   shared queues when the loop stops being active; `queued` is false
//!   whenever both are empty (it may stay true briefly after they empty).
//! - `contexts` is the stack of entered contexts (see `context`): the top is
//!   what `ContextVar::get` reads.
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

use crate::context::{Frame, OwnContext};
use crate::scheduler::{Runnable, Scheduler};
use crate::shared::Shared;

thread_local! {
    static LOCAL: Local = const {
        Local {
            running: RefCell::new(None),
            entered: RefCell::new(Vec::new()),
            active: Cell::new(0),
            queued: Cell::new(false),
            queues: Queues {
                local: RefCell::new(VecDeque::new()),
                global: RefCell::new(VecDeque::new()),
            },
            contexts: RefCell::new(Vec::new()),
        }
    };
}

/// This thread's state; see the module docs for the invariants.
pub(crate) struct Local {
    /// The runner whose loop this thread runs, if any.
    running: RefCell<Option<Running>>,
    /// Runners entered with `Runner::enter` or `Handle::enter`, innermost last.
    entered: RefCell<Vec<(Arc<Shared>, Reach)>>,
    /// The address of the `Shared` whose loop is awake here, or 0.
    pub(crate) active: Cell<usize>,
    /// Whether `queues` may hold something.
    pub(crate) queued: Cell<bool>,
    /// The active loop's plain queues.
    pub(crate) queues: Queues,
    /// The entered contexts, innermost last.
    pub(crate) contexts: RefCell<Vec<Frame>>,
}

/// The plain queues of the loop active on this thread.
pub(crate) struct Queues {
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
    LOCAL.with(f)
}

/// Calls `f` with this thread's state, or returns `None` once it has been
/// destroyed. For every path a `Drop` or close can take.
#[inline]
pub(crate) fn try_with<R>(f: impl FnOnce(&Local) -> R) -> Option<R> {
    LOCAL.try_with(f).ok()
}

/// The message of the panic when `run` is called inside a running loop.
pub(crate) const NESTED_RUN: &str =
    "`Runner::run` cannot be called from a running event loop; `.await` the future instead";

/// Panics if a runner is running on this thread.
#[track_caller]
pub(crate) fn assert_not_running() {
    if with(|local| local.running.borrow().is_some()) {
        panic!("{NESTED_RUN}");
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
pub(crate) fn enter(shared: Arc<Shared>, reach: Reach) -> EnterGuard {
    with(|local| local.entered.borrow_mut().push((shared, reach)));
    EnterGuard(())
}

/// Leaves the runner that [`enter`] entered.
pub(crate) struct EnterGuard(());

impl Drop for EnterGuard {
    fn drop(&mut self) {
        try_with(|local| local.entered.borrow_mut().pop());
    }
}

/// Starts a run on this thread, in one access to its state: makes the
/// runner whose lent handle is `home` the running one, pushes `own`'s values
/// as the context frame (when the run is in the runner's own context and no
/// handle to it exists), and makes `scheduler`'s loop the active one. The
/// returned guard undoes all three, again in one access. Panics first,
/// changing nothing, if a runner is running here already.
///
/// Since runs never nest, nothing is replaced, so nothing is saved: no
/// runner runs here before (checked), and no loop is active where no runner
/// runs. The `Arc` is moved in from `home` and back, so a run pays no
/// reference count.
#[track_caller]
#[inline]
pub(crate) fn run<'a>(
    home: &'a Cell<Option<Arc<Shared>>>,
    scheduler: &'a Scheduler,
    own: Option<&'a OwnContext>,
) -> RunGuard<'a> {
    let started = with(|local| {
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
        if let Some(own) = own {
            own.push_frame(&mut local.contexts.borrow_mut());
        }
        debug_assert_eq!(
            local.active.get(),
            0,
            "a loop is active only where a runner runs"
        );
        local.active.set(scheduler.address());
        true
    });
    // Outside the closure, so that the panic points at the caller.
    if !started {
        panic!("{NESTED_RUN}");
    }
    RunGuard {
        home,
        scheduler,
        own,
    }
}

/// Ends a run started by [`run`], also on unwinding: gives the own
/// context's frame back, hands what the plain queues still hold to the
/// loop's shared queues, and sends the lent handle home.
pub(crate) struct RunGuard<'a> {
    home: &'a Cell<Option<Arc<Shared>>>,
    scheduler: &'a Scheduler,
    /// The runner's own context, whose frame the run pushed.
    own: Option<&'a OwnContext>,
}

impl Drop for RunGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        let own = self.own;
        let ours = try_with(|local| {
            if let Some(own) = own {
                let frame = local.contexts.borrow_mut().pop();
                own.end(frame.map(Frame::into_vars));
            }
            local.active.set(0);
            if local.queued.replace(false) {
                let queued = (local.queues.local.take(), local.queues.global.take());
                self.scheduler.take_back(queued.0, queued.1);
            }
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
}

impl<'a> Activation<'a> {
    fn enter(local: &Local, scheduler: &'a Scheduler) -> Activation<'a> {
        let previous = local.active.replace(scheduler.address());
        let saved = (previous != 0).then(|| {
            local.queued.set(false);
            Box::new((local.queues.local.take(), local.queues.global.take()))
        });
        Activation {
            scheduler,
            previous,
            saved,
        }
    }

    /// Hands what the plain queues still hold to the loop's shared queues,
    /// and restores the loop it replaced.
    fn exit(self, local: &Local) {
        local.active.set(self.previous);
        if local.queued.replace(false) {
            let queued = (local.queues.local.take(), local.queues.global.take());
            self.scheduler.take_back(queued.0, queued.1);
        }
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
    previous: Option<Running>,
}

impl Drop for Runs {
    fn drop(&mut self) {
        try_with(|local| local.running.replace(self.previous.take()));
    }
}
