//! [`Hooks`]: what close owes to others: the wakers of the `closing()`
//! futures waiting for it to begin, and the `on_close` cleanups it runs.
//!
//! A floor-0 leaf. A cleanup is stored as a plain boxed future: `on_close`
//! (in `close`, above) wraps the user's future in its context and its panic
//! catching before it gets here, so dropping one anywhere is safe.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use slab::Slab;

use crate::debug::{self, Panics};

/// A cleanup registered with `on_close`, wrapped so that it runs and drops
/// in the context of its registration and catches its own panics.
pub(crate) type Cleanup = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The `closing()` waiters and `on_close` cleanups of one runner.
pub(crate) struct Hooks {
    /// The wakers of the `Closing` futures waiting for close to begin. Read
    /// with the runner's lifecycle under this lock: close moves the
    /// lifecycle on before it drains the waiters, so a waiter either sees
    /// close begun or is woken.
    waiters: Mutex<Slab<Waker>>,
    /// Registered cleanups, first registered first.
    cleanups: Mutex<Vec<Cleanup>>,
}

impl Hooks {
    pub(crate) fn new() -> Hooks {
        Hooks {
            waiters: Mutex::new(Slab::new()),
            cleanups: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn waiters(&self) -> MutexGuard<'_, Slab<Waker>> {
        // A slab insert or remove cannot be left half-done: recover from poisoning.
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn cleanups(&self) -> MutexGuard<'_, Vec<Cleanup>> {
        // A `Vec` push or pop cannot be left half-done: recover from poisoning.
        self.cleanups.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Wakes the `closing()` waiters that close took from [`Hooks::waiters`],
/// each inside `catch_unwind` (a panic is counted in `panics`); returns
/// whether there was any. Call once the lifecycle has left open.
pub(crate) fn wake(waiters: Vec<Waker>, panics: &Panics) -> bool {
    let waiting = !waiters.is_empty();
    for waker in waiters {
        debug::catch(
            Some(panics),
            &"a waker woken by `runner::closing()`",
            || {
                waker.wake();
            },
        );
    }
    waiting
}
