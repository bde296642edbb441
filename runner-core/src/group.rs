//! Task groups: [`TaskGroup`] and [`GroupSpawner`], structured concurrency
//! (asyncio's `TaskGroup`, tokio's `JoinSet`) on top of [`Task`].
//!
//! A group owns the [`Task`] handles of its tasks, and dropping a handle
//! cancels its task, so no task of a group outlives the group. The tasks are
//! ordinary tasks, spawned by [`task::spawn`] and [`task::spawn_local`]: the
//! same runner lookup, context copy, registry entry and spawn site.
//!
//! The group polls only the tasks that woke: each task's handle is polled
//! with a waker of its own ([`TaskWaker`]), which notes the task's slab key
//! in [`Notify`] and wakes whoever joins the group. Tasks added through a
//! [`GroupSpawner`] wait in the group's [`Inbox`] until the group takes them,
//! on its next spawn or poll; spawn order is the order in which the group
//! takes them.
//!
//! A task's panic reaches the group the way it reaches anyone awaiting a
//! [`Task`]: resumed by the handle's poll, with its original payload. The
//! group catches it there (so that it counts as observed, like any awaited
//! panic), cancels the other tasks, waits until their futures are dropped,
//! and only then resumes it.

use std::any::Any;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::future::{poll_fn, Future};
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use atomic_waker::AtomicWaker;
use slab::Slab;

use crate::lifecycle::Closed;
use crate::local::{self, Reach};
use crate::poll;
use crate::scheduler;
use crate::task::{self, Task};

/// A panic's payload, caught from a task's handle.
type Payload = Box<dyn Any + Send>;

/// A set of tasks that are joined together, and that none outlives: asyncio's
/// `TaskGroup`, tokio's `JoinSet`.
///
/// [`spawn`](Self::spawn) and [`spawn_local`](Self::spawn_local) work like
/// [`runner::spawn`](crate::spawn) and [`spawn_local`](crate::spawn_local)
/// (the task starts at once with a copy of the caller's context, runs between
/// runs and on the workers, and counts for close and debug mode like any
/// task); the group keeps the task's handle.
///
/// - [`join`](Self::join) waits for every task and gives their outputs in
///   spawn order. If a task panics, the others are cancelled, their futures
///   dropped, and then the panic is resumed.
/// - [`try_join`](Self::try_join) does the same for `Result` outputs and
///   stops at the first `Err`.
/// - [`join_next`](Self::join_next) gives the outputs one by one, in the
///   order the tasks finish.
/// - [`spawner`](Self::spawner) lets tasks of the group add tasks to it
///   while it is joined.
///
/// Dropping the group cancels every task still in it, and drops each
/// future (inside its task's context) at once: in a run on the runner's
/// thread (or under [`Runner::enter`](crate::Runner::enter)), as when a
/// Ctrl-C interrupts the run that holds the group, no task of it is left
/// when the drop returns, even one woken and waiting in the run queue. No
/// cancelled task is ever polled again; the exceptions to "at once" are a
/// task a worker or helper is polling at that moment (dropped as that poll
/// ends) and, for a group dropped on another thread or between runs, a task
/// waiting in the run queue or spawned with `spawn_local` (dropped by the
/// runner on its next turn; an idle `Send` task is dropped at once there
/// too).
///
/// `join` and `try_join` take the group by value: once they return, the
/// group is finished, and a [`GroupSpawner`] refuses new tasks with
/// [`Closed`]. `join_next` borrows it, like tokio's `JoinSet::join_next`.
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let squares = runner.run(async {
///     let mut group = runner::TaskGroup::new();
///     for n in 1..=4_u32 {
///         group.spawn(async move { n * n });
///     }
///     group.join().await
/// });
/// assert_eq!(squares, [1, 4, 9, 16]);
/// ```
pub struct TaskGroup<T> {
    /// The tasks not joined yet, each with its spawn number.
    tasks: Slab<Entry<T>>,
    /// The waker each task's handle is polled with, by slab key: made for a
    /// key's first task, reused by the tasks that get the key later. Its
    /// length is the highest key ever used, plus one.
    wakers: Vec<Waker>,
    /// Keys of `tasks` to poll, first in first out: new tasks in spawn
    /// order, woken ones in wake order (so `join_next` follows the order in
    /// which tasks finish). A key of a task gone since, or a repeated key,
    /// costs one spare poll of a handle.
    to_poll: VecDeque<usize>,
    /// Where the tasks' wakers note their keys and wake the joiner.
    notify: Arc<Notify>,
    /// Tasks added by spawners, and whether the group still takes them: made
    /// by the first [`spawner`](Self::spawner).
    inbox: OnceLock<Arc<Inbox<T>>>,
    /// How many tasks the group has taken: the next one's spawn number.
    spawned: u64,
}

/// One task of a group.
struct Entry<T> {
    /// Its handle; dropping it cancels the task.
    task: Task<T>,
    /// Its place in spawn order.
    number: u64,
    /// Its runner's registry id (see [`registry_here`]).
    registry: u32,
}

/// Which tasks of a group woke, and who waits for them.
struct Notify {
    /// Slab keys of the tasks woken since the group last looked.
    woken: Mutex<Vec<usize>>,
    /// The waker of `join`, `try_join` or `join_next` in progress; also
    /// woken by a spawner that adds a task.
    joiner: AtomicWaker,
}

/// The waker of one slab key of a group.
struct TaskWaker {
    key: usize,
    notify: Arc<Notify>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        lock(&self.notify.woken).push(self.key);
        // Woken by async-task inside its abort-on-panic guard as the task
        // ends: the joiner's waker, which may be anyone's, inside a catch.
        poll::catch_waker(JOINER, || self.notify.joiner.wake());
    }
}

/// What reports call a group's joiner's waker.
const JOINER: &str = "a waker of whoever joins a task group";

impl Drop for Notify {
    /// The last task waker may go inside async-task's guard too.
    fn drop(&mut self) {
        if let Some(joiner) = self.joiner.take() {
            poll::catch_waker(JOINER, || drop(joiner));
        }
    }
}

/// What spawners share with their group.
struct Inbox<T> {
    state: Mutex<InboxState<T>>,
    /// The group's: a spawner wakes its joiner.
    notify: Arc<Notify>,
}

/// The tasks that spawners added, until the group takes them.
///
/// Once `closed` (the group was dropped, or its `join` or `try_join` has
/// finished or is cancelling the tasks), `tasks` stays empty: a spawner
/// refuses new tasks, and the group cancels those it finds here when it
/// closes.
struct InboxState<T> {
    /// Each with its runner's registry id (see [`registry_here`]).
    tasks: Vec<(Task<T>, u32)>,
    closed: bool,
}

/// Why a join stops before every task finished.
enum Failure<E> {
    /// A task panicked: its payload.
    Panic(Payload),
    /// A task of `try_join` returned this.
    Error(E),
}

impl<T> TaskGroup<T> {
    /// Makes an empty group.
    ///
    /// Cheap, and it needs no runner: tasks find the runner when they are
    /// spawned.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = runner::TaskGroup::<u32>::new();
    /// assert!(group.is_empty());
    /// ```
    pub fn new() -> TaskGroup<T> {
        TaskGroup {
            tasks: Slab::new(),
            wakers: Vec::new(),
            to_poll: VecDeque::new(),
            notify: Arc::new(Notify {
                woken: Mutex::new(Vec::new()),
                joiner: AtomicWaker::new(),
            }),
            inbox: OnceLock::new(),
            spawned: 0,
        }
    }

    /// Spawns a task that need not be `Send` into the group, as
    /// [`runner::spawn_local`](crate::spawn_local) does: it runs on the
    /// runner's own thread.
    ///
    /// # Panics
    ///
    /// As [`runner::spawn_local`](crate::spawn_local): outside code that a
    /// [`Runner`](crate::Runner) is running, or on a thread other than the
    /// runner's own.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::rc::Rc;
    ///
    /// let runner = runner::Runner::new();
    /// let lens = runner.run(async {
    ///     let words = Rc::new(["one", "three"]);
    ///     let mut group = runner::TaskGroup::new();
    ///     for i in 0..2 {
    ///         let words = words.clone();
    ///         group.spawn_local(async move { words[i].len() });
    ///     }
    ///     group.join().await
    /// });
    /// assert_eq!(lens, [3, 5]);
    /// ```
    #[track_caller]
    pub fn spawn_local<F>(&mut self, future: F)
    where
        F: Future<Output = T> + 'static,
        T: 'static,
    {
        let task = task::spawn_local(future);
        let registry = registry_here();
        // Tasks that spawners added come first: they were spawned before.
        self.take_incoming();
        self.insert(task, registry);
    }

    /// Returns a handle that adds tasks to this group from anywhere, also
    /// from the group's own tasks while it is joined.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let outputs = runner.run(async {
    ///     let mut group = runner::TaskGroup::new();
    ///     let spawner = group.spawner();
    ///     group.spawn(async move {
    ///         spawner.spawn(async { 2 }).unwrap();
    ///         1
    ///     });
    ///     group.join().await
    /// });
    /// assert_eq!(outputs, [1, 2]);
    /// ```
    pub fn spawner(&self) -> GroupSpawner<T> {
        let inbox = self.inbox.get_or_init(|| {
            Arc::new(Inbox {
                state: Mutex::new(InboxState {
                    tasks: Vec::new(),
                    closed: false,
                }),
                notify: self.notify.clone(),
            })
        });
        GroupSpawner {
            inbox: inbox.clone(),
        }
    }

    /// Waits for every task of the group and returns their outputs in spawn
    /// order; tasks added while it waits (through a [`GroupSpawner`]) are
    /// waited for too.
    ///
    /// Outputs already taken by [`join_next`](Self::join_next) are not
    /// returned again. Once it returns, the group is finished: spawners
    /// refuse new tasks.
    ///
    /// # Panics
    ///
    /// If a task panics, every other task of the group is cancelled, and once
    /// all their futures have been dropped (each inside its own context), the
    /// first panic is resumed with its original payload. Panics of the tasks
    /// cancelled meanwhile are not reported again.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let words = runner.run(async {
    ///     let mut group = runner::TaskGroup::new();
    ///     group.spawn(async {
    ///         runner::yield_now().await;
    ///         "slow"
    ///     });
    ///     group.spawn(async { "fast" });
    ///     group.join().await
    /// });
    /// assert_eq!(words, ["slow", "fast"]);
    /// ```
    pub async fn join(self) -> Vec<T> {
        match self.collect(Ok::<T, Infallible>).await {
            Ok(outputs) => outputs,
            Err(never) => match never {},
        }
    }

    /// Waits for the next task of the group to finish and returns its
    /// output, in the order the tasks finish; `None` when the group is empty.
    ///
    /// # Panics
    ///
    /// Resumes the task's panic, if it panicked. The other tasks stay in the
    /// group (and are cancelled if the group is dropped while it unwinds).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let order = runner.run(async {
    ///     let mut group = runner::TaskGroup::new();
    ///     group.spawn(async {
    ///         runner::yield_now().await;
    ///         "slow"
    ///     });
    ///     group.spawn(async { "fast" });
    ///     let mut order = Vec::new();
    ///     while let Some(word) = group.join_next().await {
    ///         order.push(word);
    ///     }
    ///     order
    /// });
    /// assert_eq!(order, ["fast", "slow"]);
    /// ```
    pub async fn join_next(&mut self) -> Option<T> {
        let (_, outcome) = poll_fn(|cx| self.poll_next(cx)).await?;
        match outcome {
            Ok(output) => Some(output),
            Err(payload) => panic::resume_unwind(payload),
        }
    }

    /// The number of tasks in the group: spawned and not joined yet.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// runner.run(async {
    ///     let mut group = runner::TaskGroup::new();
    ///     group.spawn(async {});
    ///     group.spawn(async {});
    ///     assert_eq!(group.len(), 2);
    ///     group.join_next().await;
    ///     assert_eq!(group.len(), 1);
    /// });
    /// ```
    pub fn len(&self) -> usize {
        let incoming = self
            .inbox
            .get()
            .map_or(0, |inbox| lock(&inbox.state).tasks.len());
        self.tasks.len() + incoming
    }

    /// Returns `true` if the group has no task left to join.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// runner.run(async {
    ///     let mut group = runner::TaskGroup::new();
    ///     assert!(group.is_empty());
    ///     group.spawn(async {});
    ///     assert!(!group.is_empty());
    /// });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cancels every task of the group, and waits for none: their futures
    /// are dropped at once, as when the group is dropped (see
    /// [`TaskGroup`]). The group stays usable.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// runner.run(async {
    ///     let mut group = runner::TaskGroup::new();
    ///     group.spawn(std::future::pending::<()>());
    ///     group.cancel_all();
    ///     assert!(group.is_empty());
    ///     assert_eq!(group.join_next().await, None);
    /// });
    /// ```
    pub fn cancel_all(&mut self) {
        let incoming = match self.inbox.get() {
            Some(inbox) => mem::take(&mut lock(&inbox.state).tasks),
            None => Vec::new(),
        };
        self.to_poll.clear();
        let tasks = self.tasks.drain().map(|entry| (entry.task, entry.registry));
        cancel_now(&self.notify, incoming.into_iter().chain(tasks));
    }

    /// Enters `task` (of the runner whose registry id is `registry`) as the
    /// next in spawn order, to be polled.
    fn insert(&mut self, task: Task<T>, registry: u32) {
        let number = self.spawned;
        self.spawned += 1;
        let key = self.tasks.insert(Entry {
            task,
            number,
            registry,
        });
        if key == self.wakers.len() {
            // A slab's new key is always its highest plus one.
            let waker = Arc::new(TaskWaker {
                key,
                notify: self.notify.clone(),
            });
            self.wakers.push(Waker::from(waker));
        }
        debug_assert!(key < self.wakers.len(), "every key has its waker");
        self.to_poll.push_back(key);
    }

    /// Takes the tasks that spawners added, in the order they added them.
    fn take_incoming(&mut self) {
        let incoming = match self.inbox.get() {
            Some(inbox) => mem::take(&mut lock(&inbox.state).tasks),
            None => return,
        };
        for (task, registry) in incoming {
            self.insert(task, registry);
        }
    }

    /// Closes the inbox (spawners refuse new tasks from now on) and returns
    /// the tasks still in it.
    fn close_inbox(&mut self) -> Vec<(Task<T>, u32)> {
        match self.inbox.get() {
            Some(inbox) => {
                let mut state = lock(&inbox.state);
                state.closed = true;
                mem::take(&mut state.tasks)
            }
            None => Vec::new(),
        }
    }

    /// Closes the inbox if it is empty: `true` if the group is finished,
    /// `false` if a spawner added a task since the group last looked.
    fn try_finish(&mut self) -> bool {
        let Some(inbox) = self.inbox.get() else {
            return true;
        };
        let mut state = lock(&inbox.state);
        if state.tasks.is_empty() {
            state.closed = true;
        }
        state.closed
    }

    /// Polls the tasks that are new or woke until one has finished, and
    /// removes it: its spawn number and its output, or its panic's payload.
    /// `Ready(None)` when the group has no task left (spawners may still add
    /// some).
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(u64, Result<T, Payload>)>> {
        // Registered first, so that a wake after the look below is not lost.
        self.notify.joiner.register(cx.waker());
        self.take_incoming();
        self.to_poll.extend(lock(&self.notify.woken).drain(..));
        while let Some(key) = self.to_poll.pop_front() {
            let Some(entry) = self.tasks.get_mut(key) else {
                // Woken before it finished and was removed.
                continue;
            };
            let mut task_cx = Context::from_waker(&self.wakers[key]);
            // A task's panic is resumed by its handle's poll: caught here,
            // with its original payload, and so observed.
            // The task's waker is the group's, which never panics: async-task
            // gets it as it is (noted by `local::polled_with`).
            let polled = panic::catch_unwind(AssertUnwindSafe(|| {
                local::polled_with(&mut task_cx, |cx| Pin::new(&mut entry.task).poll(cx))
            }));
            let outcome = match polled {
                Ok(Poll::Pending) => continue,
                Ok(Poll::Ready(output)) => Ok(output),
                Err(payload) => Err(payload),
            };
            let entry = self.tasks.remove(key);
            return Poll::Ready(Some((entry.number, outcome)));
        }
        if self.tasks.is_empty() {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }

    /// Joins every task, `split` telling outputs to keep from an error that
    /// stops the join; on an error or a panic, cancels the other tasks and
    /// waits until their futures are dropped before it returns the error or
    /// resumes the panic.
    async fn collect<U, E>(
        mut self,
        mut split: impl FnMut(T) -> Result<U, E>,
    ) -> Result<Vec<U>, E> {
        let mut outputs = Vec::with_capacity(self.tasks.len());
        let failure = poll_fn(|cx| loop {
            match self.poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some((number, Ok(output)))) => match split(output) {
                    Ok(output) => outputs.push((number, output)),
                    Err(error) => return Poll::Ready(Some(Failure::Error(error))),
                },
                Poll::Ready(Some((_, Err(payload)))) => {
                    return Poll::Ready(Some(Failure::Panic(payload)))
                }
                // Done, unless a spawner added a task meanwhile.
                Poll::Ready(None) if self.try_finish() => return Poll::Ready(None),
                Poll::Ready(None) => {}
            }
        })
        .await;
        let Some(failure) = failure else {
            outputs.sort_unstable_by_key(|&(number, _)| number);
            return Ok(outputs.into_iter().map(|(_, output)| output).collect());
        };
        self.cancel_and_wait().await;
        match failure {
            Failure::Error(error) => Err(error),
            Failure::Panic(payload) => panic::resume_unwind(payload),
        }
    }

    /// Closes the group and cancels every task in it, and waits until each
    /// task's future has been dropped (or the task finished first). Outputs
    /// and panics of those tasks are dropped: the first failure is the one
    /// reported.
    ///
    /// Each cancellation is polled with its task's waker, and only when it
    /// woke, as `poll_next` does: cancelling n tasks costs O(n) polls.
    async fn cancel_and_wait(&mut self) {
        // The spawners' tasks get keys and wakers too.
        for (task, registry) in self.close_inbox() {
            self.insert(task, registry);
        }
        lock(&self.notify.woken).clear();
        self.to_poll.clear();
        // Cancelled together: each waits for its runner to drop its future.
        let mut cancels = Vec::new();
        cancels.resize_with(self.wakers.len(), || None);
        let mut pending = 0;
        for (key, entry) in mem::take(&mut self.tasks) {
            cancels[key] = Some(Box::pin(entry.task.cancel()));
            self.to_poll.push_back(key);
            pending += 1;
        }
        poll_fn(|cx| {
            self.notify.joiner.register(cx.waker());
            self.to_poll.extend(lock(&self.notify.woken).drain(..));
            while let Some(key) = self.to_poll.pop_front() {
                let Some(cancel) = &mut cancels[key] else {
                    continue;
                };
                let mut task_cx = Context::from_waker(&self.wakers[key]);
                // The output of a task that finished first is dropped inside
                // the catch too: its `Drop` may panic.
                let polled = panic::catch_unwind(AssertUnwindSafe(|| {
                    local::polled_with(&mut task_cx, |cx| cancel.as_mut().poll(cx).map(drop))
                }));
                match polled {
                    Ok(Poll::Pending) => continue,
                    Ok(Poll::Ready(())) => {}
                    // A later panic of a task: not reported again.
                    Err(payload) => discard(payload),
                }
                cancels[key] = None;
                pending -= 1;
            }
            if pending == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

impl<T: Send + 'static> TaskGroup<T> {
    /// Spawns a task into the group, as [`runner::spawn`](crate::spawn) does:
    /// it starts at once with a copy of the caller's context.
    ///
    /// # Panics
    ///
    /// As [`runner::spawn`](crate::spawn): outside code that a
    /// [`Runner`](crate::Runner) is running and outside a
    /// [`Runner::enter`](crate::Runner::enter) guard.
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let sum: u32 = runner.run(async {
    ///     let mut group = runner::TaskGroup::new();
    ///     for n in 1..=3 {
    ///         group.spawn(async move { n * 10 });
    ///     }
    ///     group.join().await.into_iter().sum()
    /// });
    /// assert_eq!(sum, 60);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let task = task::spawn(future);
        let registry = registry_here();
        // Tasks that spawners added come first: they were spawned before.
        self.take_incoming();
        self.insert(task, registry);
    }

    /// As [`spawn`](Self::spawn), with a name that
    /// [`Runner::tasks`](crate::Runner::tasks), debug mode, close reports
    /// and test timeouts show (see [`runner::spawn_named`](crate::spawn_named)).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let names = runner.run(async {
    ///     let mut group = runner::TaskGroup::new();
    ///     group.spawn_named("fetch", async {
    ///         runner::current_task().and_then(|task| task.name().map(str::to_owned))
    ///     });
    ///     group.join().await
    /// });
    /// assert_eq!(names, [Some("fetch".to_owned())]);
    /// ```
    #[track_caller]
    pub fn spawn_named<F>(&mut self, name: impl Into<std::borrow::Cow<'static, str>>, future: F)
    where
        F: Future<Output = T> + Send + 'static,
    {
        let task = task::spawn_named(name, future);
        let registry = registry_here();
        self.take_incoming();
        self.insert(task, registry);
    }
}

impl<T, E> TaskGroup<Result<T, E>> {
    /// Waits for every task of the group, as [`join`](Self::join) does, and
    /// returns their `Ok` values in spawn order, or the first `Err`.
    ///
    /// The first `Err` cancels the other tasks and is returned once all
    /// their futures have been dropped. Errors of the tasks cancelled
    /// meanwhile are dropped.
    ///
    /// # Panics
    ///
    /// As [`join`](Self::join).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let parsed = runner.run(async {
    ///     let mut group = runner::TaskGroup::new();
    ///     for text in ["1", "x", "3"] {
    ///         group.spawn(async move { text.parse::<u32>() });
    ///     }
    ///     group.try_join().await
    /// });
    /// assert!(parsed.is_err());
    /// ```
    pub async fn try_join(self) -> Result<Vec<T>, E> {
        self.collect(|output| output).await
    }
}

impl<T> Default for TaskGroup<T> {
    fn default() -> TaskGroup<T> {
        TaskGroup::new()
    }
}

/// The registry id of the runner running here, which a task spawned just
/// now went to: what [`cancel_now`] tells a group's tasks' runners apart by.
fn registry_here() -> u32 {
    local::with_current(|shared, _| shared.registry.id()).unwrap_or(u32::MAX)
}

/// Cancels `tasks` without waiting: the future of each idle one is dropped
/// here and now when this thread may drop it (a `Send` task, or a local one
/// on the runner's own thread, in a run or entered), the others by their
/// runner on its next turn. The joiner's waker is taken away first: waking it is the one
/// thing besides the futures' drops that cancelling would run.
fn cancel_now<T>(notify: &Notify, tasks: impl Iterator<Item = (Task<T>, u32)>) {
    drop(notify.joiner.take());
    let queued: Vec<(u32, usize)> = tasks
        .filter_map(|(task, registry)| Some((registry, task.cancel_now()?)))
        .collect();
    if queued.is_empty() {
        return;
    }
    // Those waiting in a run queue: dropped from it now, on their runner's
    // own thread (a Ctrl-C may interrupt a run between a task's wake and
    // its poll); another runner's go on its next turn.
    let own = local::with_current(|shared, reach| (reach == Reach::Own).then(|| shared.clone()));
    if let Some(shared) = own.flatten() {
        scheduler::drop_cancelled(&shared, &queued);
    }
}

impl<T> Drop for TaskGroup<T> {
    fn drop(&mut self) {
        // Spawners refuse new tasks, and every task left is cancelled.
        let incoming = self.close_inbox();
        let tasks = self.tasks.drain().map(|entry| (entry.task, entry.registry));
        cancel_now(&self.notify, incoming.into_iter().chain(tasks));
    }
}

impl<T> fmt::Debug for TaskGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("len", &self.len())
            .finish()
    }
}

/// Adds tasks to a [`TaskGroup`] from anywhere, also from the group's own
/// tasks while it is joined: made by [`TaskGroup::spawner`].
///
/// `GroupSpawner<T>` is `Clone`, and `Send + Sync` when `T` is `Send`. Once
/// the group has finished (its [`join`](TaskGroup::join) or
/// [`try_join`](TaskGroup::try_join) returned or is cancelling its tasks) or
/// was dropped, [`spawn`](Self::spawn) refuses new tasks with [`Closed`].
///
/// # Examples
///
/// ```
/// let runner = runner::Runner::new();
/// let spawner = runner.run(async {
///     let mut group = runner::TaskGroup::new();
///     let spawner = group.spawner();
///     spawner.spawn(async { 1 }).unwrap();
///     assert_eq!(group.join().await, [1]);
///     spawner
/// });
/// assert_eq!(spawner.spawn(async { 2 }), Err(runner::Closed));
/// ```
pub struct GroupSpawner<T> {
    inbox: Arc<Inbox<T>>,
}

impl<T: Send + 'static> GroupSpawner<T> {
    /// Spawns a task into the group, as [`TaskGroup::spawn`] does, or
    /// returns `Err(Closed)` (and drops `future` unpolled) if the group has
    /// finished or was dropped.
    ///
    /// # Panics
    ///
    /// As [`runner::spawn`](crate::spawn): outside code that a
    /// [`Runner`](crate::Runner) is running and outside a
    /// [`Runner::enter`](crate::Runner::enter) guard. On a thread of its
    /// own, enter the runner first with
    /// [`Handle::enter`](crate::Handle::enter).
    ///
    /// # Examples
    ///
    /// ```
    /// let runner = runner::Runner::new();
    /// let mut all = runner.run(async {
    ///     let mut group = runner::TaskGroup::new();
    ///     let spawner = group.spawner();
    ///     // A task that splits its work into siblings.
    ///     group.spawn(async move {
    ///         for n in 1..=3 {
    ///             spawner.spawn(async move { n }).unwrap();
    ///         }
    ///         0
    ///     });
    ///     group.join().await
    /// });
    /// all.sort();
    /// assert_eq!(all, [0, 1, 2, 3]);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Result<(), Closed>
    where
        F: Future<Output = T> + Send + 'static,
    {
        let mut state = lock(&self.inbox.state);
        if state.closed {
            drop(state);
            drop(future);
            return Err(Closed);
        }
        // Spawned under the lock: a group that finishes or drops meanwhile
        // either finds the task here, or refused it before it started.
        let task = task::spawn(future);
        state.tasks.push((task, registry_here()));
        drop(state);
        self.inbox.notify.joiner.wake();
        Ok(())
    }
}

impl<T> GroupSpawner<T> {
    /// Returns `true` once the group has finished or was dropped: spawning
    /// returns `Err(Closed)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let group = runner::TaskGroup::<()>::new();
    /// let spawner = group.spawner();
    /// assert!(!spawner.is_closed());
    /// drop(group);
    /// assert!(spawner.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        lock(&self.inbox.state).closed
    }
}

impl<T> Clone for GroupSpawner<T> {
    fn clone(&self) -> GroupSpawner<T> {
        GroupSpawner {
            inbox: self.inbox.clone(),
        }
    }
}

impl<T> fmt::Debug for GroupSpawner<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupSpawner")
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Locks `mutex`, also a poisoned one: the group's locks guard plain lists
/// that no panic leaves half-changed, and `Drop` must not panic.
fn lock<V>(mutex: &Mutex<V>) -> MutexGuard<'_, V> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Drops a panic's payload that is not reported, catching a panic of its
/// own `Drop` (and leaking that one's payload rather than panic again).
fn discard(payload: Payload) {
    if let Err(again) = panic::catch_unwind(AssertUnwindSafe(|| drop(payload))) {
        mem::forget(again);
    }
}
