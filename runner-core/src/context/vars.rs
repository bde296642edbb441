//! The values of one context ([`Vars`]) and a frame of a thread's context
//! stack ([`Frame`]).
//!
//! A floor-0 leaf: `local` keeps the stack of frames, `context` (the API,
//! above) moves values in and out of it.

use std::any::Any;
use std::mem;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A stored value. `Arc` so that copying a context never clones a `T`.
pub(super) type Value = Arc<dyn Any + Send + Sync>;

/// Hands out context ids (for tokens); 0 means "not assigned yet".
static NEXT_CONTEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One entered context on a thread's stack (`local::Local::contexts`,
/// innermost last; empty means the thread's implicit context, with nothing
/// set in it yet).
#[derive(Default)]
pub(crate) struct Frame {
    /// The shared [`Context`](crate::Context) this frame belongs to (its address), or 0 for a
    /// task's own values and the thread's implicit context.
    pub(super) owner: usize,
    /// The values, moved here from their owner while entered.
    pub(super) vars: Vars,
}

impl Frame {
    #[inline]
    pub(crate) fn into_vars(self) -> Vars {
        self.vars
    }
}

/// The values of one context.
#[derive(Default)]
pub(crate) struct Vars {
    /// The context's identity for [`Token`](crate::Token) checks; 0 until a `set` needs it.
    pub(super) id: u64,
    /// Sorted by variable id; `None` when nothing is set.
    pub(super) map: Option<Arc<Vec<(u64, Value)>>>,
}

impl Vars {
    /// A snapshot: the same values, a new identity.
    pub(crate) fn copy(&self) -> Vars {
        Vars {
            id: 0,
            map: self.map.clone(),
        }
    }

    #[inline]
    pub(super) fn lookup(&self, var: u64) -> Option<&Value> {
        let map = self.map.as_deref()?;
        let index = map.binary_search_by_key(&var, |entry| entry.0).ok()?;
        Some(&map[index].1)
    }

    /// Sets (`Some`) or removes (`None`) a value, returning the old one.
    pub(super) fn replace(&mut self, var: u64, value: Option<Value>) -> Option<Value> {
        let map = Arc::make_mut(self.map.get_or_insert_with(Default::default));
        match (map.binary_search_by_key(&var, |entry| entry.0), value) {
            (Ok(index), Some(value)) => Some(mem::replace(&mut map[index].1, value)),
            // The last entry (a `reset` right after its `set`, most often)
            // pops without `remove`'s call to move the zero entries after it.
            (Ok(index), None) if index + 1 == map.len() => map.pop().map(|(_, old)| old),
            (Ok(index), None) => Some(map.remove(index).1),
            (Err(index), Some(value)) => {
                map.insert(index, (var, value));
                None
            }
            (Err(_), None) => None,
        }
    }

    pub(super) fn id(&mut self) -> u64 {
        if self.id == 0 {
            self.id = NEXT_CONTEXT_ID.fetch_add(1, Ordering::Relaxed);
        }
        self.id
    }

    pub(super) fn len(&self) -> usize {
        self.map.as_deref().map_or(0, Vec::len)
    }
}
