//! Tasks: [`Task`], [`spawn`], [`spawn_local`], and how a task is made.
//!
//! A task is a [`Polled`] future (context switch, panic capture, timing)
//! inside an async-task allocation whose schedule function hands it to the
//! runner's scheduler, entered in the runner's registry so that close can
//! cancel it.

use std::borrow::Cow;
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::Location;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::context::{self, Vars};
use crate::info::TaskInfo;
use crate::lifecycle::Closed;
use crate::local::{self, Reach};
use crate::poll::{Origin, Outcome, Polled, WakerGuard};
use crate::registry::{Admission, Place, Submitter};
use crate::scheduler::{self, Runnable};
use crate::shared::Shared;
use crate::spans::TaskSpan;
use crate::wait::noop_waker;

/// A task's name, if it has one.
pub(crate) type Name = Option<Cow<'static, str>>;

/// Spawns a `Send` task onto `shared` for code the runner runs (never
/// refused), starting with `vars` as its context.
pub(crate) fn spawn_on<F>(
    shared: &Arc<Shared>,
    submitter: Submitter,
    vars: Vars,
    site: &'static Location<'static>,
    name: Name,
    future: F,
) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    submit(shared, submitter, vars, site, name, future)
        .unwrap_or_else(|Closed| unreachable!("code the runner runs is never refused"))
}

/// Spawns a `Send` task onto `shared` for `submitter`, or refuses it.
pub(crate) fn submit<F>(
    shared: &Arc<Shared>,
    submitter: Submitter,
    vars: Vars,
    site: &'static Location<'static>,
    name: Name,
    future: F,
) -> Result<Task<F::Output>, Closed>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    // tracing: the spawner's span, taken before the registry's lock.
    let span = TaskSpan::capture();
    register(shared, submitter, site, name, |place| {
        let polled = Polled::new(Origin::task(place), vars, span, future);
        async_task::Builder::new()
            .metadata(shared.clone())
            .spawn(|_| polled, scheduler::schedule_global)
    })
}

/// Spawns a task onto `shared` that only the runner's thread may poll.
pub(crate) fn spawn_local_on<F>(
    shared: &Arc<Shared>,
    vars: Vars,
    site: &'static Location<'static>,
    name: Name,
    future: F,
) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    // Only the runner's own thread spawns local tasks.
    let span = TaskSpan::capture();
    register(shared, Submitter::Owner, site, name, |place| {
        let polled = Polled::new(Origin::task(place), vars, span, future);
        async_task::Builder::new()
            .metadata(shared.clone())
            .spawn_local(|_| polled, scheduler::schedule_local)
    })
    .unwrap_or_else(|Closed| unreachable!("code the runner runs is never refused"))
}

/// Creates a task with `spawn`, enters it in the registry and schedules it;
/// on a closed runner, cancels it at once.
fn register<T>(
    shared: &Shared,
    submitter: Submitter,
    site: &'static Location<'static>,
    name: Name,
    spawn: impl FnOnce(
        Place,
    ) -> (
        async_task::Runnable<Arc<Shared>>,
        async_task::Task<Outcome<T>, Arc<Shared>>,
    ),
) -> Result<Task<T>, Closed> {
    match shared
        .registry
        .register(&shared.lifecycle, submitter, site, name, spawn)
    {
        Admission::Open(task, key) => Ok(Task::new(task.fallible(), key)),
        Admission::Closed(runnable, task) => {
            // Dropping the runnable drops the future, in its context.
            drop(Runnable::new(runnable));
            Ok(Task::new(task.fallible(), usize::MAX))
        }
        Admission::Refused => Err(Closed),
    }
}

/// A handle to a spawned task: a future that resolves to the task's output.
///
/// Dropping a `Task` cancels the task (its future is dropped, inside the
/// task's context); [`detach`](Self::detach) lets it run on its own instead.
/// Awaiting a task that panicked resumes that panic, with its original
/// payload. `Task<T>` is `Send` when `T` is.
///
/// A waker that panics never aborts the process: awaited from a task or a
/// run, a `Task` hands the poll's own waker (which never panics) to
/// async-task; polled with any other waker (a combinator's, a hand-made
/// one, another executor's), it puts that waker behind one of its own (an
/// allocation per such poll), which wakes it inside `catch_unwind`. A panic
/// there counts as one nobody observed
/// ([`CloseReport::panicked`](crate::CloseReport::panicked)).
///
/// Awaiting a task that close dropped panics ("the task was cancelled"),
/// except inside [`Handle::block_on`](crate::Handle::block_on) of the
/// closing runner, which returns `Err(Closed)` instead.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let task = runner.spawn(async { 1 + 2 });
/// assert_eq!(runner.run(task), 3);
/// ```
#[must_use = "dropping a `Task` cancels it; `.detach()` it to let it run on its own"]
pub struct Task<T> {
    inner: async_task::FallibleTask<Outcome<T>, Arc<Shared>>,
    /// The task's registry key, if it was registered (`usize::MAX` if not).
    key: usize,
}

impl<T> Task<T> {
    /// A handle to the task `key` (`usize::MAX` if it was not registered).
    pub(crate) fn new(
        inner: async_task::FallibleTask<Outcome<T>, Arc<Shared>>,
        key: usize,
    ) -> Task<T> {
        Task { inner, key }
    }

    /// Lets the task run on its own; its output is dropped.
    ///
    /// A detached task that panics is counted in
    /// [`CloseReport::panicked`](crate::CloseReport::panicked).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let runner = runner::Runner::new();
    /// let done = Arc::new(AtomicBool::new(false));
    /// let flag = done.clone();
    /// runner.spawn(async move { flag.store(true, Ordering::SeqCst) }).detach();
    /// runner.run(runner::yield_now());
    /// assert!(done.load(Ordering::SeqCst));
    /// ```
    pub fn detach(self) {
        self.inner.detach();
    }

    /// Cancels the task and waits until its future has been dropped.
    ///
    /// Returns the output if the task finished before it could be cancelled.
    ///
    /// # Panics
    ///
    /// Resumes the task's panic if it had panicked.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let task = runner.spawn(std::future::pending::<()>());
    /// assert_eq!(runner.run(task.cancel()), None);
    /// ```
    pub async fn cancel(self) -> Option<T> {
        let mut cancel = pin!(self.inner.cancel());
        let outcome = poll_fn(|cx| poll_awaited(cancel.as_mut(), cx)).await;
        match outcome? {
            Ok(output) => Some(output.into_inner()),
            Err(caught) => caught.resume_boxed(),
        }
    }

    /// Cancels the task without waiting: an idle task's future is dropped
    /// here and now when this thread may drop it, else by its runner on its
    /// next turn (see [`scheduler::cancel_now`]). Returns the registry key
    /// of a task whose future was not dropped here (it was queued, or being
    /// polled elsewhere), for [`scheduler::drop_cancelled`]. Whoever awaited
    /// the handle must have been told otherwise: its waker is woken inside
    /// the window.
    pub(crate) fn cancel_now(self) -> Option<usize> {
        let key = self.key;
        let mut cancel = pin!(self.inner.cancel());
        let (polled, dropped) =
            scheduler::cancel_now(|| cancel.as_mut().poll(&mut Context::from_waker(noop_waker())));
        // A finished task's outcome, and the handle of one still queued or
        // being polled elsewhere, drop now, outside the window.
        let finished = polled.is_ready();
        drop(polled);
        (!dropped && !finished && key != usize::MAX).then_some(key)
    }

    /// Returns `true` once the task has finished or was cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let task = runner.spawn(async {});
    /// assert!(!task.is_finished());
    /// runner.run(runner::yield_now());
    /// assert!(task.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

impl<T> Future for Task<T> {
    type Output = T;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match poll_awaited(Pin::new(&mut self.inner), cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(output))) => Poll::Ready(output.into_inner()),
            Poll::Ready(Some(Err(caught))) => caught.resume_boxed(),
            Poll::Ready(None) => cancelled(),
        }
    }
}

/// Polls `awaited`, a future of async-task's that registers the waker it is
/// polled with as the task's awaiter: async-task wakes, clones and drops
/// that waker inside its abort-on-panic guard, so only runner's own go there
/// as they are, and any other waker behind a [`WakerGuard`].
#[inline]
fn poll_awaited<F: Future>(awaited: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
    if local::is_runners_waker(cx.waker()) {
        awaited.poll(cx)
    } else {
        poll_guarded(awaited, cx)
    }
}

/// [`poll_awaited`] with a waker runner did not make: polls `awaited` with
/// a new guard's waker, which wakes `cx`'s inside `catch_unwind` (the guard
/// async-task held from an earlier poll goes as it takes this one). Out of
/// line, off the path of every await from a task or a run, and kept off the
/// handle: a field for it made every `Task` a word larger, which cost every
/// spawn and await more than this allocation costs the polls that need it.
#[inline(never)]
fn poll_guarded<F: Future>(awaited: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
    let guard = WakerGuard::new("a waker of whoever awaits a task", None);
    awaited.poll(&mut Context::from_waker(guard.register(cx.waker())))
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Spawns a task onto the runner that is running the caller.
///
/// The task starts with a copy of the caller's current context and runs
/// whenever the runner's loop runs (and on the workers, if it has any).
///
/// # Panics
///
/// Panics if called outside code that a [`Runner`](crate::Runner) is running
/// and outside a [`Runner::enter`](crate::Runner::enter) guard.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let sum = runner.run(async {
///     let task = runner::spawn(async { 1 + 2 });
///     task.await
/// });
/// assert_eq!(sum, 3);
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_with(Location::caller(), None, future)
}

/// Spawns a task with a name onto the runner that is running the caller,
/// as [`spawn`] does.
///
/// The name shows in [`TaskInfo`] snapshots
/// ([`tasks`], [`current_task`]) and in
/// the lines that debug mode, close reports and test timeouts print,
/// next to the spawn site. A task nobody names costs nothing for it.
///
/// # Panics
///
/// Panics if called outside code that a [`Runner`](crate::Runner) is running
/// and outside a [`Runner::enter`](crate::Runner::enter) guard.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let name = runner.run(async {
///     let task = runner::spawn_named("answer", async {
///         runner::current_task().unwrap().name().map(str::to_owned)
///     });
///     task.await
/// });
/// assert_eq!(name.as_deref(), Some("answer"));
/// ```
#[track_caller]
pub fn spawn_named<F>(name: impl Into<Cow<'static, str>>, future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    spawn_with(Location::caller(), Some(name.into()), future)
}

/// [`spawn`] and [`spawn_named`].
#[track_caller]
fn spawn_with<F>(site: &'static Location<'static>, name: Name, future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let vars = context::current_vars();
    // Borrowed, not cloned: a spawn pays no reference count for the runner.
    let mut future = Some(future);
    let task = local::with_current(|shared, reach| {
        let future = future.take().expect("called once");
        let submitter = match reach {
            Reach::Own => Submitter::Owner,
            Reach::Other => Submitter::Inside,
        };
        spawn_on(shared, submitter, vars, site, name, future)
    });
    match task {
        Some(task) => task,
        None => local::outside("runner::spawn"),
    }
}

/// Spawns a task that need not be `Send` onto the runner that is running
/// the caller; it runs on the runner's own thread.
///
/// # Panics
///
/// Panics if called outside code that a [`Runner`](crate::Runner) is
/// running, or on a thread other than the runner's own (a worker, a thread
/// inside [`Handle::block_on`](crate::Handle::block_on) or
/// [`Handle::enter`](crate::Handle::enter)).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
///
/// let runner = runner::Runner::new();
/// let len = runner.run(async {
///     let shared = Rc::new(vec![1, 2, 3]);
///     runner::spawn_local(async move { shared.len() }).await
/// });
/// assert_eq!(len, 3);
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let site = Location::caller();
    let (shared, reach) = local::current_or_panic("runner::spawn_local");
    if reach != Reach::Own {
        panic!(
            "`runner::spawn_local` can only be called on the runner's own thread, and this is \
             another one (a worker, a `Handle::block_on`, or a `Handle::enter`); use \
             `runner::spawn`"
        );
    }
    spawn_local_on(&shared, context::current_vars(), site, None, future)
}

/// A snapshot of every task of the runner running the caller (or entered
/// on this thread) that has not finished; see
/// [`Runner::tasks`](crate::Runner::tasks).
///
/// # Panics
///
/// Panics if called outside code that a [`Runner`](crate::Runner) is running
/// and outside a [`Runner::enter`](crate::Runner::enter) guard.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let count = runner.run(async {
///     runner::spawn_named("sleeper", runner::sleep(std::time::Duration::from_secs(60))).detach();
///     runner::tasks().len()
/// });
/// assert_eq!(count, 1);
/// ```
#[track_caller]
pub fn tasks() -> Vec<TaskInfo> {
    let (shared, _) = local::current_or_panic("runner::tasks");
    shared.registry.tasks()
}

/// A snapshot of the task whose poll the calling thread is in; `None` in a
/// run's own future, in an `on_close` cleanup, and outside tasks.
///
/// Its [`state`](TaskInfo::state) is [`Running`](crate::TaskState::Running).
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let (outside, inside) = runner.run(async {
///     let inside = runner::spawn_named("me", async {
///         runner::current_task().map(|task| task.name().map(str::to_owned))
///     });
///     (runner::current_task().is_none(), inside.await)
/// });
/// assert!(outside);
/// assert_eq!(inside, Some(Some("me".to_owned())));
/// ```
pub fn current_task() -> Option<TaskInfo> {
    let key = context::current_task_key()?;
    local::with_current(|shared, _| shared.registry.task(key)).flatten()
}

/// What awaiting a task that close dropped does: inside a
/// `Handle::block_on` of the closing runner, unwinds with [`Closed`] (no
/// panic message), which `block_on` turns into `Err(Closed)`; anywhere else,
/// a panic that says what happened.
#[cold]
fn cancelled() -> ! {
    let helping = local::with_current(|shared, reach| {
        reach == Reach::Other && shared.lifecycle.is_cancelled()
    });
    if helping == Some(true) {
        std::panic::resume_unwind(Box::new(Closed));
    }
    panic!("the task was cancelled: its runner closed before it finished")
}
