//! The values of one context ([`Vars`]) and a thread's stack of entered
//! contexts ([`Stack`]).
//!
//! A floor-0 leaf: `local` keeps a [`Stack`] per thread, `context` (the
//! API, above) moves values in and out of it.
//!
//! Values rest in [`Vars`], whose map is shared copy-on-write: a snapshot
//! (a task's start, `Context::current()`) is one reference count. The first
//! write into an entered context takes its map out of the `Arc` (or copies
//! it, if a snapshot shares it) into the stack's one written map, where
//! every further `set` and `reset` writes in place with no atomic
//! operation (`Arc::make_mut` is a compare-and-swap on each). The map goes
//! back into its frame when the frame is left, when a snapshot is taken of
//! it, or when a write goes to another frame.

use std::any::Any;
use std::mem;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A stored value. `Arc` so that copying a context never clones a `T`.
pub(super) type Value = Arc<dyn Any + Send + Sync>;

/// The values of a context, sorted by variable id.
pub(super) type Map = Vec<(u64, Value)>;

/// Hands out context ids (for tokens); 0 means "not assigned yet".
static NEXT_CONTEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A thread's entered contexts, innermost last; empty means the thread's
/// implicit context, with nothing set in it yet.
///
/// The values of at most one frame, the last one written, are out of it
/// in `written`: a frame reads them there while `written_at` is its depth
/// (its index + 1). Every pop goes through [`pop`](Self::pop), which gives
/// them back, so `written_at` never names a frame that was left.
#[derive(Default)]
pub(crate) struct Stack {
    frames: Vec<Frame>,
    /// The depth of the frame whose values are in `written`, or 0.
    written_at: usize,
    /// That frame's values, this thread's alone; empty when `written_at` is 0.
    written: Map,
}

/// One entered context.
#[derive(Default)]
pub(crate) struct Frame {
    /// The shared [`Context`](crate::Context) this frame belongs to (its address), or 0 for a
    /// task's own values and the thread's implicit context.
    pub(super) owner: usize,
    /// The values, moved here from their owner while entered (without the
    /// map while it is the stack's written one).
    vars: Vars,
}

impl Frame {
    #[inline]
    pub(crate) fn into_vars(self) -> Vars {
        self.vars
    }
}

impl Stack {
    pub(crate) const fn new() -> Stack {
        Stack {
            frames: Vec::new(),
            written_at: 0,
            written: Vec::new(),
        }
    }

    /// Enters `vars` as a frame of `owner`, moving them in.
    #[inline]
    pub(crate) fn push(&mut self, owner: usize, vars: &mut Vars) {
        let top = self.push_empty(owner);
        top.id = mem::take(&mut vars.id);
        top.map = vars.map.take();
    }

    /// [`push`](Self::push) of values and an identity kept apart (a task's).
    #[inline]
    pub(crate) fn push_parts(&mut self, owner: usize, id: u64, map: Option<Arc<Map>>) {
        let top = self.push_empty(owner);
        top.id = id;
        top.map = map;
    }

    /// Enters an empty frame of `owner`, for the values to be moved into
    /// field by field: a frame built on the stack and then pushed is copied
    /// with a 16-byte load of what was just written as two 8-byte stores,
    /// which the CPU cannot forward (a store-forwarding stall, ~40% of a
    /// ready run).
    #[inline]
    fn push_empty(&mut self, owner: usize) -> &mut Vars {
        self.frames.push(Frame::default());
        let frame = self.frames.last_mut().expect("just pushed");
        frame.owner = owner;
        &mut frame.vars
    }

    /// Leaves the top frame, with its values.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Frame> {
        if self.written_at == self.frames.len() {
            self.give_back();
        }
        self.frames.pop()
    }

    /// The owners of the frames, innermost first.
    pub(super) fn owners(&self) -> impl Iterator<Item = usize> + '_ {
        self.frames.iter().rev().map(|frame| frame.owner)
    }

    /// Gives the innermost frame of `from` to `to`.
    pub(super) fn rename(&mut self, from: usize, to: usize) {
        if let Some(frame) = self
            .frames
            .iter_mut()
            .rev()
            .find(|frame| frame.owner == from)
        {
            frame.owner = to;
        }
    }

    /// The value of `var` in the top frame.
    #[inline]
    pub(super) fn lookup(&self, var: u64) -> Option<&Value> {
        if self.written_at == self.frames.len() {
            // The top's values are the written ones (or, at depth 0, none).
            return lookup(&self.written, var);
        }
        self.frames.last()?.vars.lookup(var)
    }

    /// A snapshot of the top frame when its values are in it (the common
    /// case: a read, with no give-back); `None` when they are the written
    /// ones, or with no frame.
    #[inline]
    pub(super) fn copy_top_in_frame(&self) -> Option<Vars> {
        let depth = self.frames.len();
        // `written_at` is at most the depth: when they differ, there is a
        // top frame, and its values are in it.
        if self.written_at == depth {
            return None;
        }
        Some(self.frames[depth - 1].vars.copy())
    }

    /// A snapshot (a new identity) of the innermost frame of `owner`, or of
    /// the top frame for `None`; `None` if there is no such frame. Written
    /// values go back into their frame first, so that the next snapshot is
    /// a reference count too.
    pub(super) fn copy(&mut self, owner: Option<usize>) -> Option<Vars> {
        let depth = self.depth(owner)?;
        if self.written_at == depth {
            self.give_back();
        }
        Some(self.frames[depth - 1].vars.copy())
    }

    /// [`copy`](Self::copy) for a stack that is being read (a value's
    /// `Clone` takes the snapshot): copies written values instead.
    pub(super) fn copy_shared(&self, owner: Option<usize>) -> Option<Vars> {
        let depth = self.depth(owner)?;
        if self.written_at == depth {
            return Some(Vars {
                id: 0,
                map: shared(self.written.clone()),
            });
        }
        Some(self.frames[depth - 1].vars.copy())
    }

    /// The depth (index + 1) of the innermost frame of `owner`, or of the
    /// top frame for `None`.
    fn depth(&self, owner: Option<usize>) -> Option<usize> {
        let index = match owner {
            Some(owner) => self.frames.iter().rposition(|frame| frame.owner == owner)?,
            None => self.frames.len().checked_sub(1)?,
        };
        Some(index + 1)
    }

    /// The top frame's identity (assigned on first use) and its values, for
    /// writing; enters the thread's implicit context first if none is.
    #[inline]
    pub(super) fn top_mut(&mut self) -> (u64, &mut Map) {
        let depth = self.frames.len();
        if depth == 0 || self.written_at != depth {
            self.write_top();
        }
        let top = &mut self.frames.last_mut().expect("entered above").vars;
        if top.id == 0 {
            top.id = new_id();
        }
        (top.id, &mut self.written)
    }

    /// Makes the top frame's values the written ones: out of their `Arc` if
    /// no snapshot shares it, else a copy.
    #[cold]
    fn write_top(&mut self) {
        if self.frames.is_empty() {
            self.frames.push(Frame::default());
        }
        self.give_back();
        let depth = self.frames.len();
        let map = self.frames[depth - 1].vars.map.take();
        self.written = map
            .map(|map| Arc::try_unwrap(map).unwrap_or_else(|map| Map::clone(&map)))
            .unwrap_or_default();
        self.written_at = depth;
    }

    /// Puts the written values back into their frame.
    fn give_back(&mut self) {
        if self.written_at == 0 {
            return;
        }
        let map = mem::take(&mut self.written);
        self.frames[self.written_at - 1].vars.map = shared(map);
        self.written_at = 0;
    }
}

/// A context identity no context has had.
pub(super) fn new_id() -> u64 {
    NEXT_CONTEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// `map` as a frame keeps it: `None` when empty (a `reset` of the only
/// `set` leaves nothing to allocate for).
fn shared(map: Map) -> Option<Arc<Map>> {
    (!map.is_empty()).then(|| Arc::new(map))
}

/// Sets (`Some`) or removes (`None`) the value of `var` in `map`, returning
/// the old one.
pub(super) fn replace(map: &mut Map, var: u64, value: Option<Value>) -> Option<Value> {
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

#[inline]
fn lookup(map: &[(u64, Value)], var: u64) -> Option<&Value> {
    let index = map.binary_search_by_key(&var, |entry| entry.0).ok()?;
    Some(&map[index].1)
}

/// The values of one context.
#[derive(Default)]
pub(crate) struct Vars {
    /// The context's identity for [`Token`](crate::Token) checks; 0 until a `set` needs it.
    pub(super) id: u64,
    /// Sorted by variable id; `None` when nothing is set.
    pub(super) map: Option<Arc<Map>>,
}

/// Values without an identity, for what enters them with an identity of
/// its own: a task's context is identified by its task id (see
/// `context::task_context_id`), so its `Polled` keeps only these (8 bytes,
/// where a [`Vars`] takes 16); a blocking job's is new at its one entry.
#[derive(Default)]
pub(crate) struct Values {
    /// As [`Vars::map`].
    pub(super) map: Option<Arc<Map>>,
}

impl Vars {
    /// The values, without the identity.
    pub(crate) fn into_values(self) -> Values {
        Values { map: self.map }
    }

    /// A snapshot: the same values, a new identity.
    pub(crate) fn copy(&self) -> Vars {
        Vars {
            id: 0,
            map: self.map.clone(),
        }
    }

    #[inline]
    pub(super) fn lookup(&self, var: u64) -> Option<&Value> {
        lookup(self.map.as_deref()?, var)
    }

    pub(super) fn len(&self) -> usize {
        self.map.as_deref().map_or(0, Vec::len)
    }
}
