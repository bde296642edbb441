//! The runner running on this thread, for the free functions and for the
//! re-entrancy check of `run`.

use std::cell::{Cell, RefCell};
use std::sync::Arc;

use crate::executor::Shared;

thread_local! {
    /// The runner whose loop this thread is running, if any.
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
    /// Runners entered with `Runner::enter` on this thread, innermost last.
    static ENTERED: RefCell<Vec<Arc<Shared>>> = const { RefCell::new(Vec::new()) };
}

struct Current {
    shared: Arc<Shared>,
    /// Whether this thread is one of the runner's workers.
    on_worker: bool,
}

/// The message of the panic when `run` is called inside a running loop.
pub(crate) const NESTED_RUN: &str =
    "`Runner::run` cannot be called from a running event loop; `.await` the future instead";

/// Panics if a runner is running on this thread.
#[track_caller]
pub(crate) fn assert_not_running() {
    if CURRENT.with(|current| current.borrow().is_some()) {
        panic!("{NESTED_RUN}");
    }
}

/// Calls `f` with the runner running on this thread, else the runner
/// entered on it with `Runner::enter`, if any.
pub(crate) fn with<R>(f: impl FnOnce(&Arc<Shared>, bool) -> R) -> Option<R> {
    let running = CURRENT.with(|current| {
        current
            .borrow()
            .as_ref()
            .map(|c| (c.shared.clone(), c.on_worker))
    });
    let found = running
        .or_else(|| ENTERED.with(|entered| entered.borrow().last().cloned().map(|s| (s, false))));
    found.map(|(shared, on_worker)| f(&shared, on_worker))
}

/// Makes `shared` the runner that the free functions reach on this thread
/// outside runs, until the returned guard drops.
pub(crate) fn push_entered(shared: Arc<Shared>) {
    ENTERED.with(|entered| entered.borrow_mut().push(shared));
}

/// Undoes the innermost `push_entered`.
pub(crate) fn pop_entered() {
    let _ = ENTERED.try_with(|entered| entered.borrow_mut().pop());
}

/// Makes the runner whose lent handle is `home` this thread's runner for a
/// run, until the guard drops; panics first, changing nothing, if a runner
/// is running on this thread already.
///
/// The `Arc` is moved in from `home` and back, so that a run pays no
/// reference count.
#[track_caller]
pub(crate) fn enter_run(home: &Cell<Option<Arc<Shared>>>) -> Entered<'_> {
    lend(home, true)
}

/// Makes the runner whose lent handle is `home` this thread's runner until
/// the guard drops, restoring the one it replaces (close may run inside
/// another runner's run).
pub(crate) fn enter(home: &Cell<Option<Arc<Shared>>>) -> Entered<'_> {
    lend(home, false)
}

#[track_caller]
fn lend(home: &Cell<Option<Arc<Shared>>>, refuse_nested: bool) -> Entered<'_> {
    let previous = CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        if refuse_nested && current.is_some() {
            drop(current);
            panic!("{NESTED_RUN}");
        }
        let shared = home
            .take()
            .expect("a runner's lent handle is home between runs");
        current.replace(Current {
            shared,
            on_worker: false,
        })
    });
    Entered {
        previous,
        home: Some(home),
    }
}

/// Makes this worker thread run `shared` until the guard drops.
pub(crate) fn enter_worker(shared: Arc<Shared>) -> Entered<'static> {
    Entered {
        previous: replace(Some(Current {
            shared,
            on_worker: true,
        })),
        home: None,
    }
}

fn replace(current: Option<Current>) -> Option<Current> {
    CURRENT.with(|slot| slot.replace(current))
}

/// Restores the thread's previous runner (usually none), also on unwinding.
pub(crate) struct Entered<'a> {
    previous: Option<Current>,
    home: Option<&'a Cell<Option<Arc<Shared>>>>,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let ours = CURRENT
            .try_with(|slot| slot.replace(self.previous.take()))
            .ok()
            .flatten();
        if let (Some(home), Some(ours)) = (self.home, ours) {
            home.set(Some(ours.shared));
        }
    }
}
