//! Context variables: Python's `contextvars`, inherited the asyncio way.
//!
//! Each thread has a stack of entered contexts (in `local`). Its top holds
//! the values that [`ContextVar::get`] reads and [`ContextVar::set`] writes:
//! the thread's own implicit context at the bottom (pushed on first write), a
//! [`Context`] while [`Context::run`] or a run of the runner has it entered,
//! and a task's own values while the task is polled. A task owns its values
//! outright, so switching to them on every poll is a push and a pop, with no
//! atomic operation; only a shared [`Context`] handle needs a lock, taken
//! briefly when it is entered and when it is left.
//!
//! While a shared [`Context`] is entered, its handle keeps the values it had
//! at entry, so another thread reading it ([`Context::get`], [`Context::copy`],
//! a [`Runner::spawn`](crate::Runner::spawn)) sees that snapshot, never a
//! half-made change and never a panic; the thread that entered it reads its
//! live values. Leaving writes the values back.
//!
//! A context's values are a sorted copy-on-write `Arc<Vec<..>>` of `Arc`ed
//! values: a snapshot is one reference-count increment, whatever the number
//! of variables. The first write into an entered context takes the vector
//! out of its `Arc` (or copies it, if a snapshot shares it), and later writes
//! go there with no atomic operation, until the context is left or copied
//! (see `vars::Stack`).

pub(crate) mod vars;

use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::marker::PhantomData;
use std::mem;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::local::{self, Local, OwnFrame};

use vars::Value;
pub(crate) use vars::{Frame, Stack, Values, Vars};

/// Hands out variable ids; 0 means "not assigned yet".
static NEXT_VAR_ID: AtomicU64 = AtomicU64::new(1);

/// A snapshot of the calling thread's current context, as a task starts with.
#[inline]
pub(crate) fn current_vars() -> Vars {
    local::try_with(|local| {
        if let Some(vars) = local.contexts.borrow().copy_top_in_frame() {
            return Some(vars);
        }
        stack_copy(local, None)
    })
    .flatten()
    .unwrap_or_default()
}

/// The frame owner that marks a task's own frame: its registry key, made
/// odd so that it is never a context's address or tag.
fn task_owner(key: usize) -> usize {
    key << 1 | 1
}

/// The top bit of a task's context identity: never set in one that
/// [`Stack`] assigns (those count up from 1).
const TASK_CONTEXT: u64 = 1 << 63;

/// The identity of the context of the task with id `task`, for
/// [`Token`] checks: the task's id, unique in the process, tagged. A task
/// keeps no identity of its own between polls (8 bytes per task): each
/// poll and its drop read it from the task's id, so a token made in one
/// poll resets in another, or in the future's `Drop`, and in no other
/// task, even one that takes the same registry slot later.
#[inline]
pub(crate) fn task_context_id(task: u64) -> u64 {
    TASK_CONTEXT | task
}

/// A context identity for what is polled many times without a task id
/// (an `on_close` cleanup), taken up front so that every poll enters the
/// same one.
pub(crate) fn new_context_id() -> u64 {
    vars::new_id()
}

/// The registry key of the task whose poll this thread is in: the nearest
/// task frame on the context stack (contexts the task entered sit above
/// it); `None` in a run's own future and outside tasks.
pub(crate) fn current_task_key() -> Option<usize> {
    local::try_with(|local| {
        let owner = local
            .contexts
            .borrow()
            .owners()
            .find(|owner| owner & 1 == 1)?;
        Some(owner >> 1)
    })
    .flatten()
}

/// Runs `f` with `values` as the current context, in the context identified
/// by `id`, writing changes to the values back, also when `f` panics. `id`
/// 0: one is assigned if a `set` needs it, for this entry only (what enters
/// its values once: a blocking job, a task without an id, which is only
/// ever dropped). `key`: the registered task polled, whose frame says so
/// (`None` for anything else).
#[inline]
pub(crate) fn scope<R>(
    values: &mut Values,
    id: u64,
    key: Option<usize>,
    f: impl FnOnce() -> R,
) -> R {
    /// Pops the frame back into the values, also while unwinding.
    struct Leave<'a>(&'a mut Values);

    impl Drop for Leave<'_> {
        fn drop(&mut self) {
            // `try_with`: a task may be dropped while the thread's locals are torn down.
            if let Some(Some(frame)) = local::try_with(|local| local.contexts.borrow_mut().pop()) {
                self.0.map = frame.into_vars().map;
            }
        }
    }

    let entered = local::try_with(|local| {
        let owner = key.map_or(0, task_owner);
        local
            .contexts
            .borrow_mut()
            .push_parts(owner, id, values.map.take());
    });
    match entered {
        Some(()) => {
            let _leave = Leave(values);
            f()
        }
        // The thread is going away: run without switching rather than not at all.
        None => f(),
    }
}

/// Calls `f` with this thread's context stack; `None` without calling it
/// when the thread is exiting and its contexts are gone.
fn with_stack<R>(f: impl FnOnce(&Stack) -> Option<R>) -> Option<R> {
    local::try_with(|local| f(&local.contexts.borrow())).flatten()
}

/// Calls `f` with the current context's identity and values, for writing.
fn with_current_mut<R>(f: impl FnOnce(u64, &mut vars::Map) -> R) -> R {
    local::with(|local| {
        let mut stack = local.contexts.borrow_mut();
        let (id, map) = stack.top_mut();
        f(id, map)
    })
}

/// A context variable: a value that each context (and so each task) can see
/// and set on its own, like Python's `contextvars.ContextVar`.
///
/// Declare it as a `static`. [`get`](Self::get) returns the value in the
/// current context, else the variable's default, else `None`.
/// [`set`](Self::set) changes the current context only: tasks spawned earlier,
/// the parent of a task and its siblings keep what they see.
///
/// # Examples
///
/// ```
/// use runner::ContextVar;
///
/// static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
/// static RETRIES: ContextVar<u32> = ContextVar::with_default("retries", || 3);
///
/// assert_eq!(REQUEST_ID.get(), None);
/// assert_eq!(RETRIES.get(), Some(3));
///
/// let token = REQUEST_ID.set(7);
/// assert_eq!(REQUEST_ID.get(), Some(7));
/// REQUEST_ID.reset(token);
/// assert_eq!(REQUEST_ID.get(), None);
/// ```
pub struct ContextVar<T> {
    /// The name given at declaration, for debugging.
    name: &'static str,
    /// Called by `get` when the current context has no value.
    default: Option<fn() -> T>,
    /// This variable's identity, assigned on first `set`; 0 until then.
    id: AtomicU64,
    /// `fn() -> T`: the variable hands out `T`s but stores none itself.
    _marker: PhantomData<fn() -> T>,
}

impl<T: Clone + Send + Sync + 'static> ContextVar<T> {
    /// Declares a variable without a default.
    ///
    /// # Examples
    ///
    /// ```
    /// static USER: runner::ContextVar<String> = runner::ContextVar::new("user");
    /// assert_eq!(USER.get(), None);
    /// ```
    pub const fn new(name: &'static str) -> Self {
        ContextVar {
            name,
            default: None,
            id: AtomicU64::new(0),
            _marker: PhantomData,
        }
    }

    /// Declares a variable whose [`get`](Self::get) returns `default()` in a
    /// context that has no value for it.
    ///
    /// The default is never stored in a context: [`Context::get`] still
    /// returns `None` for it.
    ///
    /// # Examples
    ///
    /// ```
    /// static RETRIES: runner::ContextVar<u32> = runner::ContextVar::with_default("retries", || 3);
    /// assert_eq!(RETRIES.get(), Some(3));
    /// assert_eq!(runner::Context::current().get(&RETRIES), None);
    /// ```
    pub const fn with_default(name: &'static str, default: fn() -> T) -> Self {
        ContextVar {
            name,
            default: Some(default),
            id: AtomicU64::new(0),
            _marker: PhantomData,
        }
    }

    /// Returns the variable's name.
    ///
    /// # Examples
    ///
    /// ```
    /// static USER: runner::ContextVar<String> = runner::ContextVar::new("user");
    /// assert_eq!(USER.name(), "user");
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Returns the value in the current context, else the default, else `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// static LEVEL: runner::ContextVar<u8> = runner::ContextVar::with_default("level", || 1);
    /// assert_eq!(LEVEL.get(), Some(1));
    /// let _token = LEVEL.set(2);
    /// assert_eq!(LEVEL.get(), Some(2));
    /// ```
    pub fn get(&self) -> Option<T> {
        let id = self.id.load(Ordering::Relaxed);
        if id != 0 {
            let value = with_stack(|stack| stack.lookup(id).map(downcast::<T>));
            if value.is_some() {
                return value;
            }
        }
        self.default.map(|default| default())
    }

    /// Sets the value in the current context and returns a [`Token`] that
    /// [`reset`](Self::reset) takes to restore what was there before.
    ///
    /// # Examples
    ///
    /// ```
    /// static USER: runner::ContextVar<&str> = runner::ContextVar::new("user");
    /// let token = USER.set("ada");
    /// assert_eq!(USER.get(), Some("ada"));
    /// USER.reset(token);
    /// assert_eq!(USER.get(), None);
    /// ```
    pub fn set(&self, value: T) -> Token<T> {
        let var = self.id();
        let value: Value = Arc::new(value);
        let (context, old) = with_current_mut(|id, map| (id, vars::replace(map, var, Some(value))));
        Token {
            var,
            context,
            old,
            var_name: self.name,
            _marker: PhantomData,
        }
    }

    /// Restores the value the variable had before the [`set`](Self::set) that
    /// returned `token`, or removes it if it had none.
    ///
    /// # Panics
    ///
    /// Panics if `token` was returned by another variable's `set`, or by a
    /// `set` in another context.
    ///
    /// # Examples
    ///
    /// ```
    /// static DEPTH: runner::ContextVar<u32> = runner::ContextVar::new("depth");
    /// let outer = DEPTH.set(1);
    /// let inner = DEPTH.set(2);
    /// DEPTH.reset(inner);
    /// assert_eq!(DEPTH.get(), Some(1));
    /// DEPTH.reset(outer);
    /// assert_eq!(DEPTH.get(), None);
    /// ```
    #[track_caller]
    pub fn reset(&self, token: Token<T>) {
        if token.var != self.id.load(Ordering::Relaxed) {
            panic!(
                "`ContextVar::reset` was given a token of another variable (`{}`, not `{}`)",
                token.var_name, self.name
            );
        }
        // The old value drops after the stack is released: its `Drop` may read variables.
        let replaced = with_current_mut(|id, map| {
            (id == token.context).then(|| vars::replace(map, token.var, token.old))
        });
        if replaced.is_none() {
            panic!(
                "`ContextVar::reset` of `{}` was given a token created in another context",
                self.name
            );
        }
    }

    fn id(&self) -> u64 {
        let id = self.id.load(Ordering::Relaxed);
        if id != 0 {
            return id;
        }
        let new = NEXT_VAR_ID.fetch_add(1, Ordering::Relaxed);
        match self
            .id
            .compare_exchange(0, new, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => new,
            Err(existing) => existing,
        }
    }
}

fn downcast<T: Clone + 'static>(value: &Value) -> T {
    value
        .downcast_ref::<T>()
        .expect("a variable id always maps to values of its own type")
        .clone()
}

impl<T> fmt::Debug for ContextVar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextVar")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What [`ContextVar::set`] returns: the proof needed to undo that `set`.
///
/// [`ContextVar::reset`] takes it by value and it is not `Clone`, so a token
/// is used at most once.
///
/// # Examples
///
/// ```
/// static MODE: runner::ContextVar<&str> = runner::ContextVar::new("mode");
/// let token: runner::Token<&str> = MODE.set("fast");
/// MODE.reset(token);
/// assert_eq!(MODE.get(), None);
/// ```
///
/// A token cannot be used twice:
///
/// ```compile_fail,E0382
/// static MODE: runner::ContextVar<&str> = runner::ContextVar::new("mode");
/// let token = MODE.set("fast");
/// MODE.reset(token);
/// MODE.reset(token); // error: use of moved value
/// ```
pub struct Token<T> {
    /// The variable that was set.
    var: u64,
    /// The context it was set in.
    context: u64,
    /// What the variable held before; `None` if it was unset.
    old: Option<Value>,
    /// For the panic message of a mismatched reset.
    var_name: &'static str,
    _marker: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Token<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("var", &self.var_name)
            .field("had_value", &self.old.is_some())
            .finish()
    }
}

/// A set of context variable values, like Python's `contextvars.Context`.
///
/// A `Context` is a handle: a clone is another handle to the same context,
/// and [`copy`](Self::copy) makes an independent snapshot. [`run`](Self::run)
/// enters it on the calling thread for the length of a closure; what the
/// closure sets stays in the context.
///
/// # Examples
///
/// ```
/// use runner::{Context, ContextVar};
///
/// static USER: ContextVar<&str> = ContextVar::new("user");
///
/// let ctx = Context::new();
/// ctx.run(|| USER.set("ada"));
/// assert_eq!(ctx.get(&USER), Some("ada"));
/// assert_eq!(USER.get(), None); // the caller's context is untouched
/// ```
pub struct Context {
    /// The shared state, made on the first entry or clone: until then the
    /// context is a snapshot that nobody else can reach, and making one
    /// (`Context::current()`) allocates nothing.
    shared: OnceLock<Arc<Inner>>,
    /// The values while there is no shared state; copied into it when it is
    /// made, and not used after.
    snapshot: Vars,
}

// A panic cannot leave a context half-updated: every change replaces whole
// values (as a `Mutex` would guard them), so a `Context` may cross
// `catch_unwind`, as it could when it was only an `Arc<Mutex<..>>`.
impl UnwindSafe for Context {}
impl RefUnwindSafe for Context {}

impl Clone for Context {
    /// Another handle to the same context.
    fn clone(&self) -> Context {
        Context {
            shared: OnceLock::from(self.inner().clone()),
            snapshot: Vars::default(),
        }
    }
}

/// The shared state behind a [`Context`] handle.
struct Inner {
    /// The values, and whether some thread has the context entered. The lock
    /// is held only for a moment: to enter, to leave, to read.
    slot: Mutex<Slot>,
}

struct Slot {
    /// The values while nobody has the context entered; while somebody has,
    /// the values as of entry (the entering thread has the live ones).
    vars: Vars,
    /// Whether some thread has the context entered.
    entered: bool,
}

impl Context {
    /// Creates an empty context.
    ///
    /// # Examples
    ///
    /// ```
    /// static USER: runner::ContextVar<&str> = runner::ContextVar::new("user");
    /// let _token = USER.set("ada");
    /// assert_eq!(runner::Context::new().get(&USER), None);
    /// ```
    pub fn new() -> Context {
        Context::from_vars(Vars::default())
    }

    /// Returns a snapshot of the calling thread's current context, like
    /// Python's `contextvars.copy_context()`.
    ///
    /// # Examples
    ///
    /// ```
    /// static USER: runner::ContextVar<&str> = runner::ContextVar::new("user");
    /// let _token = USER.set("ada");
    /// let snapshot = runner::Context::current();
    /// USER.set("grace");
    /// assert_eq!(snapshot.get(&USER), Some("ada"));
    /// ```
    #[inline]
    pub fn current() -> Context {
        Context::from_vars(current_vars())
    }

    #[inline]
    pub(crate) fn from_vars(vars: Vars) -> Context {
        Context {
            shared: OnceLock::new(),
            snapshot: vars,
        }
    }

    /// The shared state, made on first use.
    fn inner(&self) -> &Arc<Inner> {
        self.shared.get_or_init(|| {
            Arc::new(Inner {
                slot: Mutex::new(Slot {
                    // The same identity: tokens of this context stay valid.
                    vars: Vars {
                        id: self.snapshot.id,
                        map: self.snapshot.map.clone(),
                    },
                    entered: false,
                }),
            })
        })
    }

    /// Returns an independent snapshot of this context.
    ///
    /// While another thread has the context entered, the snapshot holds the
    /// values the context had when that thread entered it.
    ///
    /// # Examples
    ///
    /// ```
    /// static USER: runner::ContextVar<&str> = runner::ContextVar::new("user");
    /// let ctx = runner::Context::new();
    /// let copy = ctx.copy();
    /// ctx.run(|| USER.set("ada"));
    /// assert_eq!(copy.get(&USER), None);
    /// ```
    #[track_caller]
    pub fn copy(&self) -> Context {
        Context::from_vars(self.vars())
    }

    /// Returns the value stored for `var` in this context, or `None`.
    ///
    /// Defaults are never stored, so an unset variable gives `None` even if
    /// it has a default. While another thread has the context entered, this
    /// reads the values the context had when that thread entered it.
    ///
    /// # Examples
    ///
    /// ```
    /// static USER: runner::ContextVar<&str> = runner::ContextVar::new("user");
    /// let ctx = runner::Context::new();
    /// assert_eq!(ctx.get(&USER), None);
    /// ctx.run(|| USER.set("ada"));
    /// assert_eq!(ctx.get(&USER), Some("ada"));
    /// ```
    #[track_caller]
    pub fn get<T: Clone + Send + Sync + 'static>(&self, var: &ContextVar<T>) -> Option<T> {
        let id = var.id.load(Ordering::Relaxed);
        if id == 0 {
            return None;
        }
        self.with_vars(|vars| vars.lookup(id).map(downcast::<T>))
    }

    /// Runs `f` in this context and returns its result.
    ///
    /// What `f` sets stays in this context, also when `f` panics; the
    /// caller's context is untouched.
    ///
    /// # Panics
    ///
    /// Panics with a message containing `already entered` if the context is
    /// entered already, by this thread (recursively) or by another one.
    ///
    /// # Examples
    ///
    /// ```
    /// static COUNT: runner::ContextVar<u32> = runner::ContextVar::new("count");
    /// let ctx = runner::Context::new();
    /// let seen = ctx.run(|| {
    ///     COUNT.set(1);
    ///     COUNT.get()
    /// });
    /// assert_eq!(seen, Some(1));
    /// assert_eq!(ctx.get(&COUNT), Some(1));
    /// assert_eq!(COUNT.get(), None);
    /// ```
    #[track_caller]
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _entered = self.enter();
        f()
    }

    /// Enters the context on this thread until the returned guard drops.
    #[track_caller]
    pub(crate) fn enter(&self) -> Entered<'_> {
        let mut vars = {
            let mut slot = self.slot();
            if slot.entered {
                drop(slot);
                panic!("cannot enter the context: it is already entered");
            }
            slot.entered = true;
            // The copy keeps the identity: tokens of this context stay valid.
            Vars {
                id: slot.vars.id,
                map: slot.vars.map.clone(),
            }
        };
        let owner = self.address();
        local::with(|local| local.contexts.borrow_mut().push(owner, &mut vars));
        Entered { context: self }
    }

    /// Returns a snapshot of the values (see [`get`](Self::get)).
    pub(crate) fn vars(&self) -> Vars {
        self.with_vars(Vars::copy)
    }

    /// Calls `f` with the values: the live ones if this thread has the
    /// context entered, else the ones in the handle.
    fn with_vars<R>(&self, f: impl FnOnce(&Vars) -> R) -> R {
        if self.shared.get().is_none() {
            // Never entered nor cloned: nobody else can have changed it.
            return f(&self.snapshot);
        }
        let slot = self.slot();
        if !slot.entered {
            return f(&slot.vars);
        }
        match live_copy(self.address()) {
            Some(live) => {
                drop(slot);
                f(&live)
            }
            // Entered on another thread: the values as of its entry.
            None => f(&slot.vars),
        }
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        // Every update of a slot is a single assignment: recover from poisoning.
        self.inner()
            .slot
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn address(&self) -> usize {
        Arc::as_ptr(self.inner()) as usize
    }
}

impl Default for Context {
    fn default() -> Context {
        Context::new()
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shared.get().is_none() {
            return f
                .debug_struct("Context")
                .field("len", &self.snapshot.len())
                .field("entered", &false)
                .finish();
        }
        let slot = self.slot();
        f.debug_struct("Context")
            .field("len", &slot.vars.len())
            .field("entered", &slot.entered)
            .finish()
    }
}

/// Keeps a [`Context`] entered on this thread; leaving writes its values back.
pub(crate) struct Entered<'a> {
    context: &'a Context,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let frame = local::try_with(|local| local.contexts.borrow_mut().pop()).flatten();
        if let Some(frame) = &frame {
            debug_assert_eq!(
                frame.owner,
                self.context.address(),
                "contexts left out of order"
            );
        }
        self.context.leave(frame.map(Frame::into_vars));
    }
}

impl Context {
    /// A handle made while its values are entered on this thread (see
    /// [`OwnContext::handle`]): entered, with a snapshot of them.
    fn entered_with(vars: Vars) -> Context {
        let context = Context::from_vars(vars);
        context.slot().entered = true;
        context
    }

    /// Ends an entry: stores the values the entry leaves, if any.
    fn leave(&self, vars: Option<Vars>) {
        let mut slot = self.slot();
        slot.entered = false;
        if let Some(vars) = vars {
            // The values the entry replaced drop after the lock is released:
            // their `Drop` may read this context.
            let replaced = mem::replace(&mut slot.vars, vars);
            drop(slot);
            drop(replaced);
        }
    }
}

/// A runner's own context: what its runs execute in.
///
/// Its values are owned outright until somebody asks for a [`Context`]
/// handle to them (`Runner::context`): the runner is `!Send` and `!Sync`, so
/// until then nobody else can reach them, and entering them for a run is a
/// move onto this thread's stack and back, with no lock. Once a handle
/// exists, the values live in it and runs enter it like any `Context`.
pub(crate) struct OwnContext {
    /// The values, while no handle exists and no run has them entered.
    vars: RefCell<Vars>,
    /// The handle, once asked for.
    handle: OnceCell<Context>,
    /// Whether a run has the values entered (on this thread's stack, in a
    /// frame tagged with this context's address).
    entered: Cell<bool>,
}

impl OwnContext {
    pub(crate) fn new(vars: Vars) -> OwnContext {
        OwnContext {
            vars: RefCell::new(vars),
            handle: OnceCell::new(),
            entered: Cell::new(false),
        }
    }

    fn tag(&self) -> usize {
        self as *const OwnContext as usize
    }

    /// The handle, if one was asked for: then runs enter it like any
    /// [`Context`] instead of taking a frame.
    #[inline]
    pub(crate) fn existing_handle(&self) -> Option<&Context> {
        self.handle.get()
    }

    /// A handle to the context, made on first call.
    pub(crate) fn handle(&self) -> &Context {
        self.handle.get_or_init(|| {
            if !self.entered.get() {
                return Context::from_vars(self.vars.take());
            }
            // A run has the values entered: the handle starts entered too,
            // and the run's frame becomes the handle's, so that leaving
            // writes the values there.
            let tag = self.tag();
            let live = live_copy(tag).unwrap_or_default();
            let handle = Context::entered_with(live);
            let to = handle.address();
            local::try_with(|local| local.contexts.borrow_mut().rename(tag, to));
            handle
        })
    }

    /// A snapshot of the values, wherever they are.
    pub(crate) fn vars(&self) -> Vars {
        if let Some(handle) = self.handle.get() {
            return handle.vars();
        }
        if self.entered.get() {
            if let Some(vars) = live_copy(self.tag()) {
                return vars;
            }
        }
        self.vars.borrow().copy()
    }
}

impl OwnFrame for OwnContext {
    /// Moves the values out onto `stack`, as the frame of a run;
    /// [`end`](OwnFrame::end) takes them back. Only without a handle.
    #[inline]
    fn push_frame(&self, stack: &mut Stack) {
        debug_assert!(self.handle.get().is_none(), "a handle is entered instead");
        let nested = self.entered.replace(true);
        debug_assert!(!nested, "a runner's runs never nest");
        stack.push(self.tag(), &mut self.vars.borrow_mut());
    }

    /// Ends the entry [`push_frame`](OwnFrame::push_frame) began, with the
    /// values the frame holds now (`None` if the thread's stack is gone).
    // `always`: with `inline` LLVM kept a call here, 17 instructions of a
    // run's 271 (`bash benches/icount.sh run_ready`: 254 inlined).
    #[inline(always)]
    fn end(&self, vars: Option<Vars>) {
        self.entered.set(false);
        match self.handle.get() {
            // A handle was made during the run: the values go there.
            Some(handle) => handle.leave(vars),
            None => {
                if let Some(Vars { id, map }) = vars {
                    // Field by field, as in `push_frame`.
                    let mut own = self.vars.borrow_mut();
                    own.id = id;
                    own.map = map;
                }
            }
        }
    }
}

/// A snapshot of the values of the frame that `owner` has on this thread's
/// stack, if any.
fn live_copy(owner: usize) -> Option<Vars> {
    local::try_with(|local| stack_copy(local, Some(owner))).flatten()
}

/// [`Stack::copy`] on `local`'s stack, or, while the stack is being read (a
/// value's `Clone` takes the snapshot), [`Stack::copy_shared`].
fn stack_copy(local: &Local, owner: Option<usize>) -> Option<Vars> {
    match local.contexts.try_borrow_mut() {
        Ok(mut stack) => stack.copy(owner),
        Err(_) => local.contexts.borrow().copy_shared(owner),
    }
}
