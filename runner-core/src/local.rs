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

use async_task::Runnable;

use crate::context::Frame;
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
    /// Runners entered with `Runner::enter`, innermost last.
    entered: RefCell<Vec<Arc<Shared>>>,
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
    /// Whether this thread is one of the runner's workers.
    on_worker: bool,
}

/// Calls `f` with this thread's state; panics if it was destroyed (the
/// thread is exiting). For paths that a `Drop` cannot reach.
pub(crate) fn with<R>(f: impl FnOnce(&Local) -> R) -> R {
    LOCAL.with(f)
}

/// Calls `f` with this thread's state, or returns `None` once it has been
/// destroyed. For every path a `Drop` or close can take.
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
/// whether this thread is one of its workers.
pub(crate) fn current() -> Option<(Arc<Shared>, bool)> {
    try_with(|local| {
        if let Some(running) = &*local.running.borrow() {
            return Some((running.shared.clone(), running.on_worker));
        }
        let entered = local.entered.borrow();
        entered.last().map(|shared| (shared.clone(), false))
    })
    .flatten()
}

/// Makes `shared` the runner this thread has entered, until the guard drops.
pub(crate) fn enter(shared: Arc<Shared>) -> EnterGuard {
    with(|local| local.entered.borrow_mut().push(shared));
    EnterGuard(())
}

/// Leaves the runner that [`enter`] entered.
pub(crate) struct EnterGuard(());

impl Drop for EnterGuard {
    fn drop(&mut self) {
        try_with(|local| local.entered.borrow_mut().pop());
    }
}

/// Makes the runner whose lent handle is `home` this thread's running
/// runner for a run, until the guard drops; panics first, changing nothing,
/// if a runner is running here already.
///
/// The `Arc` is moved in from `home` and back, so a run pays no reference
/// count.
#[track_caller]
pub(crate) fn run(home: &std::cell::Cell<Option<Arc<Shared>>>) -> Runs<'_> {
    let previous = with(|local| {
        let mut running = local.running.borrow_mut();
        if running.is_some() {
            drop(running);
            panic!("{NESTED_RUN}");
        }
        running.replace(Running {
            shared: home
                .take()
                .expect("a runner's lent handle is home between runs"),
            on_worker: false,
        })
    });
    Runs {
        previous,
        home: Some(home),
    }
}

/// Makes `shared` this thread's running runner while it closes, restoring
/// the one it replaces (close may run inside another runner's run). Does
/// nothing once this thread's state is gone.
pub(crate) fn close(shared: Arc<Shared>) -> Runs<'static> {
    replace(shared, false)
}

/// Makes this worker thread run `shared` until the guard drops.
pub(crate) fn work(shared: Arc<Shared>) -> Runs<'static> {
    replace(shared, true)
}

fn replace(shared: Arc<Shared>, on_worker: bool) -> Runs<'static> {
    let previous = try_with(|local| {
        local
            .running
            .borrow_mut()
            .replace(Running { shared, on_worker })
    })
    .flatten();
    Runs {
        previous,
        home: None,
    }
}

/// Restores the thread's previous running runner (usually none), also on
/// unwinding, and sends a lent handle home.
pub(crate) struct Runs<'a> {
    previous: Option<Running>,
    home: Option<&'a std::cell::Cell<Option<Arc<Shared>>>>,
}

impl Drop for Runs<'_> {
    fn drop(&mut self) {
        let ours = try_with(|local| local.running.replace(self.previous.take())).flatten();
        if let (Some(home), Some(ours)) = (self.home, ours) {
            home.set(Some(ours.shared));
        }
    }
}
