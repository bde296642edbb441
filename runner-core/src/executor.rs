//! The scheduler: run queues, the loop that `run` drives, and worker threads.
//!
//! Built directly on async-task rather than on async-executor: a run of a
//! ready future must not pay for `LocalExecutor::run` (it allocates a queue
//! per call), and a runner needs what async-executor does not expose: a
//! registry of pending tasks to cancel at close, and a loop that polls the
//! run's future only when it was woken. See BENCHMARKS.md for the numbers.
//!
//! Every task is a [`TaskFuture`] (context switch, panic capture) inside an
//! async-task allocation whose schedule function pushes onto one of two
//! queues: `local` for `spawn_local` tasks, which only the runner's thread
//! runs, and `global` for `Send` tasks, which workers run too.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use async_task::Runnable;
use atomic_waker::AtomicWaker;
use concurrent_queue::ConcurrentQueue;
use event_listener::Event;
use slab::Slab;

use crate::blocking::Jobs;
use crate::builder::Config;
use crate::close::CloseState;
use crate::context::Vars;
use crate::current;
use crate::debug;
use crate::interrupt::{Interrupted, Sigint};
use crate::task::{Task, TaskFuture};

/// How many tasks the runner's thread runs before it checks the run's future.
const BUDGET: usize = 64;

thread_local! {
    /// The address of the `Shared` of the loop this thread is running, while
    /// it is not asleep; 0 for none. No destructor: the cheapest access.
    static ACTIVE: Cell<usize> = const { Cell::new(0) };
    /// Whether the plain queues may hold something.
    static QUEUED: Cell<bool> = const { Cell::new(false) };
    /// The active loop's plain queues.
    static QUEUES: Queues = const {
        Queues {
            local: RefCell::new(VecDeque::new()),
            global: RefCell::new(VecDeque::new()),
        }
    };
}

/// A task woken from inside the loop that runs it goes onto these plain
/// queues, with no atomic operation and no wake-up, since the loop looks at
/// them before it sleeps; wakes from elsewhere go through `Shared`'s queues.
/// (`Send` tasks only when there are no workers to share them with.)
struct Queues {
    local: RefCell<VecDeque<Runnable>>,
    global: RefCell<VecDeque<Runnable>>,
}

/// The state a runner shares with its tasks, wakers and workers.
pub(crate) struct Shared {
    /// Tasks spawned with `spawn_local`: only the runner's thread runs them.
    local: ConcurrentQueue<Runnable>,
    /// `Send` tasks: run by the runner's thread during runs, and by workers.
    global: ConcurrentQueue<Runnable>,
    /// Wakes the runner's thread when it sleeps waiting for work.
    sleeper: AtomicWaker,
    /// Set when the future of the current run was woken.
    main_woken: AtomicBool,
    /// Wakes idle workers.
    work: Event,
    /// How many worker threads there are.
    pub(crate) worker_threads: usize,
    /// Tells workers to exit.
    stopping: AtomicBool,
    /// Counts workers that have exited; `exited` is notified as each one does.
    workers_exited: AtomicUsize,
    pub(crate) exited: Event,
    /// Every task that has not finished: how to wake it and where it came from.
    tasks: Mutex<Slab<TaskEntry>>,
    /// Notified when the last pending task finishes.
    pub(crate) tasks_done: Event,
    /// `closing()` and the `on_close` cleanups.
    pub(crate) closing: CloseState,
    /// Jobs sent to the blocking pool and not finished.
    pub(crate) jobs: Jobs,
    /// Panics nobody observed (see `CloseReport::panicked`).
    pub(crate) panicked: AtomicUsize,
    /// Set while close drops the futures of leftover tasks.
    pub(crate) draining: AtomicBool,
    /// Futures that close dropped.
    pub(crate) dropped: AtomicUsize,
    /// Debug mode: time polls, keep reports of unobserved panics.
    pub(crate) debug: bool,
    pub(crate) slow_poll_threshold: Duration,
    /// In debug mode, the unobserved panics that close will report; `None`
    /// once it has, after which they are reported as they happen.
    unobserved: Mutex<Option<Vec<String>>>,
}

/// A pending task, as the registry knows it.
struct TaskEntry {
    /// Waking it at close makes its `Runnable` show up in a queue, to be dropped.
    waker: Waker,
    /// Where it was spawned, for reports.
    site: &'static Location<'static>,
}

impl Shared {
    pub(crate) fn new(config: &Config) -> Shared {
        Shared {
            local: ConcurrentQueue::unbounded(),
            global: ConcurrentQueue::unbounded(),
            sleeper: AtomicWaker::new(),
            main_woken: AtomicBool::new(false),
            work: Event::new(),
            worker_threads: config.worker_threads,
            stopping: AtomicBool::new(false),
            workers_exited: AtomicUsize::new(0),
            exited: Event::new(),
            tasks: Mutex::new(Slab::new()),
            tasks_done: Event::new(),
            closing: CloseState::new(),
            jobs: Jobs::new(),
            panicked: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            dropped: AtomicUsize::new(0),
            debug: config.debug,
            slow_poll_threshold: config.slow_poll_threshold,
            unobserved: Mutex::new(Some(Vec::new())),
        }
    }

    /// Counts a panic that nobody observed; in debug mode, keeps its report.
    pub(crate) fn count_unobserved(&self, site: &Location<'_>, message: &str) {
        self.panicked.fetch_add(1, Ordering::Relaxed);
        if !self.debug {
            return;
        }
        let report = format!("a panic nobody observed, in the task spawned at {site}: {message}");
        let mut pending = self
            .unobserved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match pending.as_mut() {
            Some(pending) => pending.push(report),
            None => debug::report(format_args!("{report}")),
        }
    }

    /// Reports the unobserved panics kept so far; later ones are reported
    /// as they happen.
    pub(crate) fn report_unobserved(&self) {
        let pending = self
            .unobserved
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        for report in pending.into_iter().flatten() {
            debug::report(format_args!("{report}"));
        }
    }

    /// Spawns a `Send` task that starts with `vars` as its context.
    pub(crate) fn spawn<F>(
        self: &Arc<Self>,
        vars: Vars,
        site: &'static Location<'static>,
        future: F,
    ) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.register(site, |key| {
            let future = TaskFuture::new(self.clone(), vars, Some(key), site, future);
            let shared = self.clone();
            async_task::spawn(future, move |runnable| shared.schedule_global(runnable))
        })
    }

    /// Spawns a task that only the runner's thread may poll.
    pub(crate) fn spawn_local<F>(
        self: &Arc<Self>,
        vars: Vars,
        site: &'static Location<'static>,
        future: F,
    ) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        self.register(site, |key| {
            let future = TaskFuture::new(self.clone(), vars, Some(key), site, future);
            let shared = self.clone();
            async_task::spawn_local(future, move |runnable| shared.schedule_local(runnable))
        })
    }

    /// Creates a task with `spawn`, enters it in the registry and schedules it.
    fn register<T>(
        &self,
        site: &'static Location<'static>,
        spawn: impl FnOnce(usize) -> (Runnable, async_task::Task<crate::task::Outcome<T>>),
    ) -> Task<T> {
        let (runnable, task) = {
            let mut tasks = self.lock_tasks();
            let entry = tasks.vacant_entry();
            let (runnable, task) = spawn(entry.key());
            entry.insert(TaskEntry {
                waker: runnable.waker(),
                site,
            });
            (runnable, task)
        };
        runnable.schedule();
        Task::new(task.fallible())
    }

    /// Removes a finished (or dropped) task from the registry.
    pub(crate) fn unregister(&self, key: usize) {
        let mut tasks = self.lock_tasks();
        tasks.try_remove(key);
        if tasks.is_empty() {
            drop(tasks);
            self.tasks_done.notify(usize::MAX);
        }
    }

    /// How many tasks have not finished.
    pub(crate) fn pending_tasks(&self) -> usize {
        self.lock_tasks().len()
    }

    /// The spawn sites of the tasks that have not finished.
    pub(crate) fn pending_sites(&self) -> Vec<&'static Location<'static>> {
        self.lock_tasks()
            .iter()
            .map(|(_, entry)| entry.site)
            .collect()
    }

    fn lock_tasks(&self) -> MutexGuard<'_, Slab<TaskEntry>> {
        // The registry is never left half-updated: recover it from poisoning.
        self.tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn schedule_global(&self, runnable: Runnable) {
        let here = self.is_running_here();
        if here && self.worker_threads == 0 {
            return Queues::push(|queues| &queues.global, runnable);
        }
        // Pushing to an unbounded queue that is never closed cannot fail.
        let _ = self.global.push(runnable);
        if self.worker_threads > 0 {
            self.work.notify(1);
        }
        if !here {
            self.sleeper.wake();
        }
    }

    fn schedule_local(&self, runnable: Runnable) {
        if self.is_running_here() {
            return Queues::push(|queues| &queues.local, runnable);
        }
        let _ = self.local.push(runnable);
        self.sleeper.wake();
    }

    /// Wakes the runner's thread if it sleeps, or may be about to: unless
    /// the caller is that thread, running the loop.
    fn wake_loop(&self) {
        if !self.is_running_here() {
            self.sleeper.wake();
        }
    }

    /// Whether the caller is this runner's loop, awake.
    fn is_running_here(&self) -> bool {
        ACTIVE
            .try_with(|active| active.get() == self.address())
            .unwrap_or(false)
    }

    fn address(&self) -> usize {
        self as *const Shared as usize
    }

    /// Runs `future` to completion on this thread, running ready tasks while
    /// it is pending. `waker` must be the runner's main waker. With `sigint`,
    /// a Ctrl-C during the run makes it return `Err(Interrupted)`, as asyncio
    /// raises `KeyboardInterrupt` even if the main task finished meanwhile.
    pub(crate) fn block_on<T>(
        &self,
        waker: &Waker,
        mut future: Pin<&mut impl Future<Output = T>>,
        sigint: Option<&Sigint>,
    ) -> Result<T, Interrupted> {
        let interrupted = || sigint.is_some_and(Sigint::is_interrupted);
        let _active = Running::enter(self);
        let mut cx = Context::from_waker(waker);
        // The fast path: a future that is ready at once never touches the queues.
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return if interrupted() {
                Err(Interrupted)
            } else {
                Ok(output)
            };
        }
        loop {
            if interrupted() {
                return Err(Interrupted);
            }
            // Tasks that became ready first run first, as in asyncio's ready queue.
            let ran = self.run_ready();
            if self.main_woken.load(Ordering::Relaxed)
                && self.main_woken.swap(false, Ordering::Acquire)
            {
                if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                    return if interrupted() {
                        Err(Interrupted)
                    } else {
                        Ok(output)
                    };
                }
            } else if !ran {
                // Nothing to do: sleep in the reactor until a timer, I/O, a wake
                // or a Ctrl-C. Wakes from this thread (timers fire here) must
                // now wake the sleeper too.
                let _asleep = Asleep::new();
                async_io::block_on(Park {
                    shared: self,
                    sigint,
                });
            }
        }
    }

    /// Runs up to [`BUDGET`] ready tasks; returns whether it ran any.
    fn run_ready(&self) -> bool {
        for ran in 0..BUDGET {
            // Alternate between the queues so that neither starves the other.
            let (first, second) = if ran % 2 == 0 {
                (&self.local, &self.global)
            } else {
                (&self.global, &self.local)
            };
            // This thread's own wakes, then the shared queues; the other way
            // round on odd turns.
            let own = || {
                QUEUED
                    .with(Cell::get)
                    .then(|| QUEUES.with(Queues::pop))
                    .flatten()
            };
            let shared = || pop(first).or_else(|| pop(second));
            let next = if ran % 2 == 0 {
                own().or_else(shared)
            } else {
                shared().or_else(own)
            };
            match next {
                Some(runnable) => self.run(runnable),
                None => return ran > 0,
            }
        }
        true
    }

    /// Runs one task. Its own panics are caught inside; what could still
    /// escape here is the drop of a detached task's output.
    fn run(&self, runnable: Runnable) {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| runnable.run())) {
            self.panicked.fetch_add(1, Ordering::Relaxed);
            if self.debug {
                let message = debug::panic_message(&*payload);
                debug::report(format_args!(
                    "a panic nobody observed, dropping the output of a detached task: {message}"
                ));
            }
        }
    }

    fn has_work(&self) -> bool {
        self.main_woken.load(Ordering::Acquire) || !self.local.is_empty() || !self.global.is_empty()
    }

    /// The body of a worker thread: run `Send` tasks until told to stop.
    pub(crate) fn work(self: Arc<Self>) {
        let _current = current::enter_worker(self.clone());
        async_io::block_on(async {
            loop {
                while let Ok(runnable) = self.global.pop() {
                    self.run(runnable);
                }
                if self.stopping.load(Ordering::Acquire) {
                    return;
                }
                let listener = self.work.listen();
                if self.global.is_empty() && !self.stopping.load(Ordering::Acquire) {
                    listener.await;
                }
            }
        });
        self.workers_exited.fetch_add(1, Ordering::Release);
        self.exited.notify(usize::MAX);
    }

    /// Tells the workers to exit once they finish what they are running.
    pub(crate) fn stop_workers(&self) {
        self.stopping.store(true, Ordering::Release);
        self.work.notify(usize::MAX);
    }

    pub(crate) fn workers_running(&self) -> usize {
        self.worker_threads - self.workers_exited.load(Ordering::Acquire)
    }

    /// Drops the futures of all pending tasks, each in its own context (the
    /// task's `Drop` does that, and counts itself in `dropped`).
    ///
    /// Call with the workers stopped, on the runner's thread.
    pub(crate) fn drop_all_tasks(&self) {
        self.draining.store(true, Ordering::Release);
        // A dropped future may spawn or wake other tasks: repeat while that
        // turns up anything, a bounded number of times.
        for _ in 0..100 {
            let wakers: Vec<Waker> = self
                .lock_tasks()
                .iter()
                .map(|(_, entry)| entry.waker.clone())
                .collect();
            wakers.into_iter().for_each(Waker::wake);
            let mut any = false;
            while let Ok(runnable) = self.local.pop().or_else(|_| self.global.pop()) {
                any = true;
                // Dropping a `Runnable` drops its future; panics there are caught inside.
                drop(runnable);
            }
            if !any {
                break;
            }
        }
        self.draining.store(false, Ordering::Release);
    }

    /// The waker for the futures that `block_on` runs.
    pub(crate) fn main_waker(self: &Arc<Self>) -> Waker {
        Waker::from(Arc::new(MainWaker(self.clone())))
    }

    /// Runs `future` on this thread's loop until it completes or `timeout`
    /// passes; returns whether it completed.
    pub(crate) fn block_on_for(
        &self,
        waker: &Waker,
        timeout: Duration,
        future: impl Future<Output = ()>,
    ) -> bool {
        use futures_lite::FutureExt;
        let deadline = async {
            async_io::Timer::after(timeout).await;
            false
        };
        let future = std::pin::pin!(async {
            future.await;
            true
        }
        .or(deadline));
        // Without `sigint` there is no `Interrupted`.
        self.block_on(waker, future, None).unwrap_or(false)
    }
}

/// Wakes the run's own future: sets the flag the loop checks, then the loop.
struct MainWaker(Arc<Shared>);

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.main_woken.store(true, Ordering::Release);
        self.0.wake_loop();
    }
}

/// Pops a runnable, if any: on an empty queue `pop` still pays a fence,
/// `is_empty` is a load.
fn pop(queue: &ConcurrentQueue<Runnable>) -> Option<Runnable> {
    if queue.is_empty() {
        None
    } else {
        queue.pop().ok()
    }
}

impl Queues {
    /// Puts a task woken from inside its own loop on that loop's plain queue.
    fn push(queue: impl FnOnce(&Queues) -> &RefCell<VecDeque<Runnable>>, runnable: Runnable) {
        QUEUES.with(|queues| queue(queues).borrow_mut().push_back(runnable));
        QUEUED.with(|queued| queued.set(true));
    }

    fn pop(&self) -> Option<Runnable> {
        let local = self.local.borrow_mut().pop_front();
        let next = local.or_else(|| self.global.borrow_mut().pop_front());
        if next.is_none() {
            QUEUED.with(|queued| queued.set(false));
        }
        next
    }

    fn take(&self) -> (VecDeque<Runnable>, VecDeque<Runnable>) {
        (self.local.take(), self.global.take())
    }
}

/// Makes a loop this thread's [`ACTIVE`] one until dropped; then hands what
/// its plain queues still hold to the shared ones and restores the loop it
/// replaced (loops nest when a runner closes inside another's run).
struct Running<'a> {
    shared: &'a Shared,
    previous: usize,
    /// The replaced loop's plain queues, when it had any (nesting is rare:
    /// the common case moves no queue).
    saved: Option<Box<(VecDeque<Runnable>, VecDeque<Runnable>)>>,
}

impl<'a> Running<'a> {
    fn enter(shared: &'a Shared) -> Running<'a> {
        let previous = ACTIVE.with(|active| active.replace(shared.address()));
        Running {
            shared,
            previous,
            saved: (previous != 0).then(|| Box::new(QUEUES.with(Queues::take))),
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _ = ACTIVE.try_with(|active| active.set(self.previous));
        let queued = QUEUED
            .try_with(|queued| queued.replace(false))
            .unwrap_or(false);
        if !queued && self.saved.is_none() {
            return;
        }
        let _ = QUEUES.try_with(|queues| {
            let (local, global) = queues.take();
            self.shared.take_back(local, global);
            if let Some(saved) = self.saved.take() {
                let (local, global) = *saved;
                QUEUED.with(|queued| queued.set(!local.is_empty() || !global.is_empty()));
                *queues.local.borrow_mut() = local;
                *queues.global.borrow_mut() = global;
            }
        });
    }
}

impl Shared {
    /// Moves what a loop's plain queues still hold to the shared queues, for
    /// the next run, the workers, or close.
    fn take_back(&self, local: VecDeque<Runnable>, global: VecDeque<Runnable>) {
        if local.is_empty() && global.is_empty() {
            return;
        }
        for runnable in local {
            let _ = self.local.push(runnable);
        }
        for runnable in global {
            let _ = self.global.push(runnable);
        }
        if self.worker_threads > 0 {
            self.work.notify(usize::MAX);
        }
    }
}

/// Clears [`ACTIVE`] while the loop sleeps in the reactor: wakes from this
/// thread (timers fire here) must then go through the shared queues and wake
/// it. The plain queues are empty when the loop goes to sleep.
struct Asleep(usize);

impl Asleep {
    fn new() -> Asleep {
        Asleep(ACTIVE.with(|active| active.replace(0)))
    }
}

impl Drop for Asleep {
    fn drop(&mut self) {
        let _ = ACTIVE.try_with(|active| active.set(self.0));
    }
}

/// Resolves when the runner's thread has something to do.
struct Park<'a> {
    shared: &'a Shared,
    /// Also wakes on Ctrl-C, for runs on the main thread.
    sigint: Option<&'a Sigint>,
}

impl Future for Park<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.shared.sleeper.register(cx.waker());
        if self
            .sigint
            .is_some_and(|sigint| sigint.poll_wake(cx).is_ready())
            || self.shared.has_work()
        {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
