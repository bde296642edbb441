//! The scheduler: run queues, the loop that a run drives, and who wakes it.
//!
//! Built directly on async-task rather than on async-executor: a run of a
//! ready future must not pay for `LocalExecutor::run` (it allocates a queue
//! per call), and a runner needs what async-executor does not expose: a
//! registry of pending tasks to cancel at close, and a loop that polls the
//! run's future only when it was woken. See BENCHMARKS.md for the numbers.
//!
//! Every task is a [`Polled`](crate::poll::Polled) future inside an
//! async-task allocation whose schedule function pushes onto one of two
//! queues: `local` for `spawn_local` tasks, which only the runner's thread
//! runs, and `global` for `Send` tasks, which workers ([`worker`]) run too.
//! A wake from inside the loop that runs the task skips both and goes to the
//! thread's plain queues (`local::PlainQueues`), with no atomic operation.
//!
//! # Where a task is: the rule close and the virtual clock read
//!
//! A registered task (see `registry`) is always in exactly one of four
//! states, and only these steps move it:
//!
//! - **idle**: waiting to be woken; only its wakers reach it (the registry
//!   keeps one, for close);
//! - **in flight**: woken: async-task has marked it scheduled and the waking
//!   thread is about to call our schedule function, which queues it;
//! - **queued**: in a plain queue (the loop's thread) or a shared queue;
//! - **inside a poll**: taken by [`run`] on the runner's thread, a worker or
//!   a helper; afterwards idle, queued again, or gone (finished: its
//!   `Polled` unregisters it as its future drops).
//!
//! What reads it:
//!
//! - **Close** moves the lifecycle to cancelled, after which [`run`] drops
//!   every runnable it is handed instead of polling it. It then wakes every
//!   registered task (idle -> queued) and drops what the queues hold until
//!   the registry is empty: a task in flight lands in a queue and is dropped
//!   there, a task inside a poll is dropped when its poll ends. At close's
//!   timeout, the tasks still inside a poll on a worker or helper are
//!   abandoned to that thread, which drops them when it leaves.
//! - **The virtual clock** jumps only when no task is queued and no thread
//!   that takes tasks is awake: workers and helpers count themselves asleep
//!   only while they wait for work (`Workers::awake`), and the runner's loop
//!   only while it parks. So no task is inside a poll either. A task in
//!   flight at that moment was woken concurrently with the jump.
//!
//! # Where a run waits
//!
//! `block_on` polls the run's future once; a future that is ready at once
//! never touches a queue or the reactor. Otherwise the rest of the run is one
//! [`Loop`] future inside one `async_io::block_on`: the thread drives the
//! reactor itself whenever the loop has nothing to run, so I/O events and
//! timers wake tasks from this thread instead of from async-io's fallback
//! thread. Close waits the same way but parks the plain way
//! ([`Park::Thread`]): it may run while the thread's locals (async-io's among
//! them) are being destroyed.

mod worker;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use async_io::Timer;
use atomic_waker::AtomicWaker;
use concurrent_queue::ConcurrentQueue;

use crate::interrupt::{Interrupted, Sigint};
use crate::local::{self, Local, Reach};
use crate::shared::Shared;
use crate::wait::{self, noop_waker};

pub(crate) use worker::{help, Workers};

/// A scheduled task of a runner. The runner travels in the task's metadata
/// rather than in its schedule function, which is then a plain `fn`. For a
/// schedule function that captures nothing, async-task makes no temporary
/// waker around each call and hands a woken waker's reference on to the
/// runnable: two atomic reference count operations fewer per schedule, three
/// per wake of a waker by value.
///
/// A task's `Polled` keeps no count of its runner: it reads it from the
/// thread's [`local::polling`], which this type sets (if the thread's loop
/// has not already) wherever the task is run or dropped, so no other code
/// may run or drop an async-task runnable of a runner.
pub(crate) struct Runnable(Option<async_task::Runnable<Arc<Shared>>>);

impl Runnable {
    /// Takes charge of a runnable that async-task handed out.
    #[inline]
    pub(crate) fn new(runnable: async_task::Runnable<Arc<Shared>>) -> Runnable {
        Runnable(Some(runnable))
    }

    #[inline]
    fn inner(&self) -> &async_task::Runnable<Arc<Shared>> {
        match &self.0 {
            Some(runnable) => runnable,
            None => unreachable!("a runnable is only emptied as it is consumed"),
        }
    }

    /// The runner the task belongs to.
    #[inline]
    pub(crate) fn metadata(&self) -> &Arc<Shared> {
        self.inner().metadata()
    }

    /// A waker of the task.
    pub(crate) fn waker(&self) -> Waker {
        self.inner().waker()
    }

    /// Polls the task (or drops its future, if it was cancelled), in its
    /// runner's [`local::polling`].
    #[inline]
    pub(crate) fn run(self) {
        // Consumed here: nothing left for `Drop` (whose call the compiler
        // kept even for the emptied runnable).
        let mut this = ManuallyDrop::new(self);
        if let Some(runnable) = this.0.take() {
            if local::polls_for(runnable.metadata()) {
                runnable.run();
            } else {
                lend_runner(runnable, |runnable| {
                    runnable.run();
                });
            }
        }
    }
}

impl Drop for Runnable {
    /// Drops the task's future (cancelling it) in its runner's
    /// [`local::polling`].
    #[inline]
    fn drop(&mut self) {
        if let Some(runnable) = self.0.take() {
            if local::polls_for(runnable.metadata()) {
                drop(runnable);
            } else {
                lend_runner(runnable, drop);
            }
        }
    }
}

/// Runs or drops (`f`) a runnable on a thread that is not polling its
/// runner's tasks (a task cancelled elsewhere, a runnable dropped in another
/// runner's loop): lends the task its runner through a count of its own,
/// since the runnable may hold the last one.
#[cold]
fn lend_runner(
    runnable: async_task::Runnable<Arc<Shared>>,
    f: impl FnOnce(async_task::Runnable<Arc<Shared>>),
) {
    let shared = runnable.metadata().clone();
    local::polling(&shared, || f(runnable));
}

/// Schedules a woken `Send` task.
pub(crate) fn schedule_global(runnable: async_task::Runnable<Arc<Shared>>) {
    let runnable = Runnable::new(runnable);
    let scheduler = &runnable.metadata().scheduler;
    let (here, cancelling) = scheduler.look_here();
    if cancelling {
        // Any thread may drop a `Send` task's future.
        return run_cancelled(runnable);
    }
    if here && !scheduler.workers.any() {
        return push_plain(|local| &local.queues.global, runnable);
    }
    let runnable = if here {
        match push_here(runnable) {
            Some(runnable) => runnable,
            None => return,
        }
    } else {
        runnable
    };
    // The runnable moves into a queue of the runner it names, so the runner
    // needs a count of its own meanwhile (what the temporary waker cost).
    let shared = runnable.metadata().clone();
    shared.scheduler.push_global(runnable, here);
}

/// Pushes a `Send` task woken by its runner's loop, awake on this thread,
/// to the shared queue, reaching the runner through the thread's running
/// one: the loop keeps it alive, so the push needs no count of the runner
/// of its own. That count is a contended line with workers, which may
/// drop a finished task's count of the runner (its metadata) as they free
/// it: an increment and decrement per push were two thirds of a fan-out's
/// schedules. Gives the runnable back if the running runner is another one
/// (never expected).
fn push_here(runnable: Runnable) -> Option<Runnable> {
    let address = runnable.metadata().scheduler.address();
    let mut runnable = Some(runnable);
    local::with_current(|current, _| {
        if current.scheduler.address() == address {
            if let Some(runnable) = runnable.take() {
                current.scheduler.push_global(runnable, true);
            }
        }
    });
    runnable
}

/// Schedules a woken `spawn_local` task.
pub(crate) fn schedule_local(runnable: async_task::Runnable<Arc<Shared>>) {
    let runnable = Runnable::new(runnable);
    let (here, cancelling) = runnable.metadata().scheduler.look_here();
    // Only the runner's own thread may drop a local task's future.
    if cancelling && (here || is_own_thread(runnable.metadata())) {
        return run_cancelled(runnable);
    }
    if here {
        return push_plain(|local| &local.queues.local, runnable);
    }
    let shared = runnable.metadata().clone();
    let _ = shared.scheduler.queues_or_init().local.push(runnable);
    shared.scheduler.sleeper.wake();
}

/// Cancels a task through its handle's `cancel` future, polled once here:
/// a task that is idle (neither queued nor being polled) has its future
/// dropped at once, on this thread, if this thread may drop it (a `Send`
/// task, or a local one on its runner's own thread, in a run or entered);
/// otherwise its runner drops it on its next turn, as when a handle is
/// dropped. Returns what the poll gave: a finished task's outcome, to be
/// dropped by the caller, outside the window.
///
/// While `poll` runs, the first runnable scheduled on this thread is the
/// cancelled task's: async-task's cancel schedules it (if idle) before
/// anything else runs, and the only other code in the window is the wake of
/// whoever awaited the handle, which the caller must have taken away (a
/// group takes its joiner's waker first).
pub(crate) fn cancel_now<R>(poll: impl FnOnce() -> R) -> (R, bool) {
    struct Window;
    impl Drop for Window {
        fn drop(&mut self) {
            let _ = local::try_with(|local| local.cancelling.set(false));
        }
    }
    if local::try_with(|local| local.cancelling.set(true)).is_none() {
        // The thread is exiting: its runner's next turn drops the future.
        return (poll(), false);
    }
    let window = Window;
    let polled = poll();
    // Taken by `run_cancelled`: the future was dropped here.
    let dropped = local::try_with(|local| !local.cancelling.get()).unwrap_or(false);
    drop(window);
    (polled, dropped)
}

/// Drops the futures of the cancelled tasks of `shared` among `queued`
/// (each a registry id and a key in that registry) that wait in its run
/// queues (cancelled by [`cancel_now`] while queued), by running their
/// runnables, which drops a cancelled task's future without polling it;
/// every other runnable keeps its place and order. Another runner's keys
/// are passed over: in `shared`'s registry they may name tasks of its own,
/// which must not run early. Looks at this thread's plain queues when
/// `shared` runs here, and at its shared queues. A task being polled
/// elsewhere is left to that poll's end.
pub(crate) fn drop_cancelled(shared: &Arc<Shared>, queued: &[(u32, usize)]) {
    let ours = shared.registry.id();
    let wakers: Vec<Waker> = queued
        .iter()
        .filter(|&&(registry, _)| registry == ours)
        .filter_map(|&(_, key)| shared.registry.waker(key))
        .collect();
    if wakers.is_empty() {
        return;
    }
    let cancelled = |runnable: &Runnable| {
        let waker = runnable.waker();
        wakers.iter().any(|cancelled| cancelled.will_wake(&waker))
    };
    let mut found = Vec::new();
    let here = is_own_thread(shared);
    let _ = local::try_with(|local| {
        if !here {
            return;
        }
        for queue in [&local.queues.local, &local.queues.global] {
            let mut queue = queue.borrow_mut();
            let mut keep = VecDeque::with_capacity(queue.len());
            for runnable in queue.drain(..) {
                if cancelled(&runnable) {
                    found.push(runnable);
                } else {
                    keep.push_back(runnable);
                }
            }
            *queue = keep;
        }
    });
    if let Some(queues) = shared.scheduler.queues() {
        for queue in [&queues.local, &queues.global] {
            let taken: Vec<Runnable> = std::iter::from_fn(|| queue.pop().ok()).collect();
            for runnable in taken {
                if cancelled(&runnable) {
                    found.push(runnable);
                } else {
                    // Unbounded and never closed: the push cannot fail.
                    let _ = queue.push(runnable);
                }
            }
        }
    }
    // Each drops its future (which may wake others: queued as usual).
    for runnable in found {
        runnable.run();
    }
}

/// Whether this thread runs `shared` (in a run, or entered with
/// `Runner::enter`): its own thread, where its local tasks live.
#[cold]
fn is_own_thread(shared: &Arc<Shared>) -> bool {
    local::with_current(|current, reach| reach == Reach::Own && Arc::ptr_eq(current, shared))
        == Some(true)
}

/// Runs the runnable of a task that [`cancel_now`] cancelled: async-task
/// drops its future without polling it.
#[cold]
fn run_cancelled(runnable: Runnable) {
    let _ = local::try_with(|local| local.cancelling.set(false));
    runnable.run();
}

/// How many tasks the loop runs before it looks at the run's future and
/// lets the reactor check for I/O.
const BUDGET: usize = 64;

/// The queues and wake-ups of one runner.
pub(crate) struct Scheduler {
    /// The queues other threads schedule onto, made on first use.
    queues: OnceLock<Box<SharedQueues>>,
    /// Wakes the runner's thread when its loop waits for work.
    sleeper: AtomicWaker,
    /// Set when the future of the current run was woken from another thread
    /// than the loop's, awake (that one sets `Local::main_woken`).
    main_woken: AtomicBool,
    /// Whether the runner's own loop is awake (running tasks or the run's
    /// future), for helpers that would move a virtual clock.
    owner_awake: AtomicBool,
    /// The worker threads, if any.
    pub(crate) workers: Workers,
}

/// The run queues that threads other than the loop's push to (the loop's own
/// wakes go to its plain thread-local queues).
///
/// Made on first use, or at once for a runner with workers: a runner whose
/// tasks are only ever woken on its own thread never needs them, and their
/// cache-line padding (512 bytes each, 128-byte aligned) inside the runner's
/// state would make starting every runner an aligned allocation of 1.6 KB
/// and a copy of it (a quarter of the instructions of `Runner::new` + run +
/// `close`).
struct SharedQueues {
    /// Tasks spawned with `spawn_local`: only the runner's thread runs them.
    local: ConcurrentQueue<Runnable>,
    /// `Send` tasks: run by the runner's thread during runs, and by workers.
    global: ConcurrentQueue<Runnable>,
}

impl SharedQueues {
    fn new() -> Box<SharedQueues> {
        Box::new(SharedQueues {
            local: ConcurrentQueue::unbounded(),
            global: ConcurrentQueue::unbounded(),
        })
    }

    fn is_empty(&self) -> bool {
        self.local.is_empty() && self.global.is_empty()
    }

    /// Pops a runnable, local tasks first if `local_first`.
    #[inline]
    fn pop(&self, local_first: bool) -> Option<Runnable> {
        let (first, second) = if local_first {
            (&self.local, &self.global)
        } else {
            (&self.global, &self.local)
        };
        pop(first).or_else(|| pop(second))
    }
}

/// How a loop waits when it has nothing to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Park {
    /// In async-io's reactor, driving I/O and timers on this thread.
    Reactor,
    /// On a plain thread parker; async-io's own thread drives the reactor.
    Thread,
}

impl Scheduler {
    pub(crate) fn new(worker_threads: usize) -> Scheduler {
        let queues = OnceLock::new();
        if worker_threads > 0 {
            let _ = queues.set(SharedQueues::new());
        }
        Scheduler {
            queues,
            sleeper: AtomicWaker::new(),
            main_woken: AtomicBool::new(false),
            owner_awake: AtomicBool::new(false),
            workers: Workers::new(worker_threads),
        }
    }

    /// The shared queues, if made.
    fn queues(&self) -> Option<&SharedQueues> {
        self.queues.get().map(|queues| &**queues)
    }

    /// The shared queues, made now if need be.
    fn queues_or_init(&self) -> &SharedQueues {
        self.queues.get_or_init(SharedQueues::new)
    }

    /// The shared queue of `Send` tasks, for workers and helpers.
    pub(crate) fn global(&self) -> &ConcurrentQueue<Runnable> {
        &self.queues_or_init().global
    }

    /// Puts a `Send` task in the shared queue, for workers and the runner's
    /// loop; `here` if the caller is that loop, awake.
    fn push_global(&self, runnable: Runnable, here: bool) {
        // Pushing to an unbounded queue that is never closed cannot fail.
        let _ = self.global().push(runnable);
        self.workers.notify_one();
        if !here {
            self.sleeper.wake();
        }
    }

    /// Whether the caller is this runner's loop, awake.
    fn is_active_here(&self) -> bool {
        self.look_here().0
    }

    /// Whether the caller is this runner's loop, awake; and whether this
    /// thread is inside [`cancel_now`].
    #[inline]
    fn look_here(&self) -> (bool, bool) {
        local::try_with(|local| (local.active.get() == self.address(), local.cancelling.get()))
            .unwrap_or((false, false))
    }

    #[inline]
    pub(crate) fn address(&self) -> usize {
        self as *const Scheduler as usize
    }

    /// Moves what a loop's plain queues still hold to the shared queues, for
    /// the next run, the workers, or close.
    pub(crate) fn take_back(&self, local: VecDeque<Runnable>, global: VecDeque<Runnable>) {
        if local.is_empty() && global.is_empty() {
            return;
        }
        let queues = self.queues_or_init();
        for runnable in local {
            let _ = queues.local.push(runnable);
        }
        for runnable in global {
            let _ = queues.global.push(runnable);
        }
        self.workers.notify_all();
    }

    /// The waker for the futures that `block_on` runs: it sets the flag the
    /// loop checks, then wakes the loop unless the loop is the caller.
    pub(crate) fn main_waker(shared: &Arc<Shared>) -> Waker {
        Waker::from(Arc::new(MainWaker(shared.clone())))
    }

    /// Whether a task is ready to run on the runner's thread.
    pub(crate) fn has_ready(&self) -> bool {
        pending_plain() || self.queues().is_some_and(|queues| !queues.is_empty())
    }

    /// Wakes the runner's loop if it waits, so that it looks again (unless
    /// the caller is that loop, awake).
    pub(crate) fn wake_loop(&self) {
        if !self.is_active_here() {
            self.sleeper.wake();
        }
    }

    /// Runs up to `budget` ready tasks; returns how many it ran.
    fn run_ready(&self, shared_first: bool, budget: usize) -> usize {
        // Looked up once: queues made meanwhile wake the loop, which looks again.
        let queues = self.queues();
        for ran in 0..budget {
            // This thread's own wakes and the shared queues take turns, and so
            // do the two shared queues, so that none starves the others.
            let turn = shared_first ^ (ran % 2 == 1);
            // Without shared queues (a runner without workers whose tasks
            // wake on its thread), only the plain ones.
            let next = match queues {
                None => pop_plain(),
                Some(queues) if turn => queues.pop(turn).or_else(pop_plain),
                Some(queues) => pop_plain().or_else(|| queues.pop(turn)),
            };
            match next {
                Some(runnable) => run(runnable),
                None => return ran,
            }
        }
        budget
    }

    fn has_work(&self) -> bool {
        self.main_woken.load(Ordering::Acquire)
            || main_woken_here()
            || self.queues().is_some_and(|queues| !queues.is_empty())
    }

    /// Sets the flag of a run's future woken while its loop was not awake
    /// on the waking thread.
    pub(crate) fn main_woken_elsewhere(&self) {
        self.main_woken.store(true, Ordering::Release);
    }

    /// Marks the runner's own loop awake or not, for helpers that would
    /// move a virtual clock.
    #[inline]
    pub(crate) fn set_owner_awake(&self, awake: bool) {
        // Release: a helper that sees the loop asleep sees what it did.
        self.owner_awake.store(awake, Ordering::Release);
    }

    /// Drops every runnable in the shared queues (each drops its future,
    /// in its context); returns whether there was any. Only `Send` tasks if
    /// `global_only` (a worker may not drop the runner thread's tasks).
    pub(crate) fn drop_queued(&self, global_only: bool) -> bool {
        let mut any = false;
        // Close may drop tasks from inside its own loop: wakes then went to
        // this thread's plain queues.
        let plain = !global_only && self.is_active_here();
        let queues = self.queues();
        loop {
            let next = match queues.and_then(|queues| pop(&queues.global)) {
                Some(runnable) => Some(runnable),
                None if global_only => None,
                None => queues.and_then(|queues| pop(&queues.local)),
            };
            let next = next.or_else(|| plain.then(pop_plain).flatten());
            match next {
                // Dropping a `Runnable` drops its future; `Polled` catches panics there.
                Some(runnable) => {
                    any = true;
                    drop(runnable);
                }
                None => return any,
            }
        }
    }
}

/// Runs `future` to completion on this thread, on the loop of `shared`,
/// running ready tasks while it is pending. `waker` must be the runner's
/// main waker. With `sigint`, a Ctrl-C during the run makes it return
/// `Err(Interrupted)`, as asyncio raises `KeyboardInterrupt` even if the main
/// task finished meanwhile.
#[inline]
pub(crate) fn block_on<T>(
    shared: &Arc<Shared>,
    waker: &Waker,
    mut future: Pin<&mut impl Future<Output = T>>,
    sigint: Option<&Sigint>,
    park: Park,
) -> Result<T, Interrupted> {
    // A new run (or close) begins: the coarse clock that dates what its
    // first poll spawns was last read before it, maybe long ago.
    shared.registry.ticks.mark();
    // Every poll of the future is with `waker`: noted as runner's, so that a
    // `Task` awaited there hands it to async-task as it is.
    let _noted = local::note_poll(waker);
    // The fast path: a future that is ready at once never touches the queues.
    if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(waker)) {
        return unless_interrupted(sigint, output);
    }
    run_loop(shared, waker, future, sigint, park)
}

/// A run's `output`, or `Err(Interrupted)` if a Ctrl-C came during the run.
#[inline]
fn unless_interrupted<T>(sigint: Option<&Sigint>, output: T) -> Result<T, Interrupted> {
    if sigint.is_some_and(Sigint::is_interrupted) {
        Err(Interrupted)
    } else {
        Ok(output)
    }
}

/// The rest of [`block_on`], for a future that was pending at its first
/// poll; kept out of line so that the ready path stays small.
#[inline(never)]
fn run_loop<T>(
    shared: &Arc<Shared>,
    waker: &Waker,
    mut future: Pin<&mut impl Future<Output = T>>,
    sigint: Option<&Sigint>,
    park: Park,
) -> Result<T, Interrupted> {
    // A future that only woke itself, from this thread, with no task ready
    // (it yielded): the loop's first turn would run nothing and poll it
    // again. That turn, without the loop's set-up, in the loop's order.
    if !sigint.is_some_and(Sigint::is_interrupted) {
        if let Some(payload) = shared.panics.take_held() {
            std::panic::resume_unwind(payload);
        }
        if take_lone_main_wake(&shared.scheduler) {
            if let Poll::Ready(output) = future.as_mut().poll(&mut Context::from_waker(waker)) {
                return unless_interrupted(sigint, output);
            }
        }
    }
    // The loop runs the runner's tasks: their `Polled` find it here.
    local::polling(shared, || {
        let output = drive(shared, waker, future, sigint, park)?;
        unless_interrupted(sigint, output)
    })
}

/// Drives the run's future with the runner's tasks to completion: the loop
/// of [`run_loop`].
fn drive<T>(
    shared: &Shared,
    waker: &Waker,
    future: Pin<&mut impl Future<Output = T>>,
    sigint: Option<&Sigint>,
    park: Park,
) -> Result<T, Interrupted> {
    let mut looping = Loop {
        shared,
        waker,
        future,
        sigint,
        idle: None,
    };
    // One turn of the loop before entering the reactor's `block_on`: a run
    // that only had tasks to run (or yielded beside ready tasks) ends here,
    // without paying for entering and leaving it (leaving wakes async-io's
    // own thread). A run that goes on enters it now and stays in it: while
    // no thread is in `block_on`, async-io's thread drives the reactor, and
    // every I/O wake would cross threads.
    let mut cx = Context::from_waker(noop_waker());
    match Pin::new(&mut looping).poll(&mut cx) {
        Poll::Ready(output) => output,
        // The wait polls the loop again at once, registering its real waker,
        // so no wake that hit the no-op one is lost.
        Poll::Pending => wait(looping, park),
    }
}

/// Runs a loop that has to wait to completion, parked as `park` says.
fn wait<F: Future>(looping: Loop<'_, F>, park: Park) -> Result<F::Output, Interrupted> {
    // Without this thread's state (it is exiting) there are no plain queues
    // to use and async-io's own locals may be gone too.
    let park = if local::try_with(|_| ()).is_some() {
        park
    } else {
        Park::Thread
    };
    match park {
        Park::Reactor => async_io::block_on(looping),
        Park::Thread => wait::park_on(looping),
    }
}

/// Runs one task; once close has cancelled the runner's tasks, drops it
/// instead (its future drops in its context), whoever took it: from the
/// end of close's step 1 on, no task is polled again. Every panic of the
/// task (its poll, its drops, its output's drop) is caught inside it, by
/// `Polled`; this catch is the last line of defence and is never expected
/// to fire.
#[inline]
pub(crate) fn run(runnable: Runnable) {
    if runnable.metadata().lifecycle.is_cancelled() {
        drop(runnable);
        return;
    }
    let ran = panic::catch_unwind(AssertUnwindSafe(|| runnable.run()));
    debug_assert!(ran.is_ok(), "a task's panic escaped its `Polled` wrapper");
}

/// The rest of a run whose future was pending at its first poll.
struct Loop<'a, F> {
    shared: &'a Shared,
    /// The runner's main waker, for the run's future.
    waker: &'a Waker,
    future: Pin<&'a mut F>,
    /// Also wakes on Ctrl-C, for runs on the main thread.
    sigint: Option<&'a Sigint>,
    /// With a virtual clock: the real-time wait before it auto-advances,
    /// armed when the loop goes idle, disarmed when it does anything.
    idle: Option<Timer>,
}

impl<F: Future> Future for Loop<'_, F> {
    type Output = Result<F::Output, Interrupted>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let scheduler = &self.shared.scheduler;
        // Awake: wakes from this thread go to the plain queues until we return.
        let mut awake = Awake::enter(scheduler);
        // A new turn (after a park, or the reactor's look after a budget of
        // tasks): the coarse clock that dates this turn's spawns and polls.
        self.shared.registry.ticks.mark();
        // tracing: the spans entered around the run cover its own future,
        // not the tasks: hidden while they run, back for each poll of it.
        #[cfg(feature = "tracing")]
        let mut hidden = None;
        let mut ran = 0;
        loop {
            if self.sigint.is_some_and(Sigint::is_interrupted) {
                return Poll::Ready(Err(Interrupted));
            }
            #[cfg(feature = "tracing")]
            if hidden.is_none() {
                hidden = Some(crate::spans::hide());
            }
            // Tasks that became ready first run first, as in asyncio's ready queue.
            let turn = scheduler.run_ready(ran % 2 == 1, BUDGET);
            ran += turn;
            // A task's panic that nobody observed, with `Propagate`: out of
            // the run, which drops its future as it unwinds.
            if let Some(payload) = self.shared.panics.take_held() {
                std::panic::resume_unwind(payload);
            }
            // Woken from this thread (a plain flag), else from another one
            // (a swap, only when the flag is set).
            if take_main_woken_here()
                || scheduler.main_woken.load(Ordering::Relaxed)
                    && scheduler.main_woken.swap(false, Ordering::Acquire)
            {
                self.idle = None;
                let waker = self.waker;
                #[cfg(feature = "tracing")]
                drop(hidden.take());
                if let Poll::Ready(output) =
                    self.future.as_mut().poll(&mut Context::from_waker(waker))
                {
                    return Poll::Ready(Ok(output));
                }
                continue;
            }
            if turn > 0 {
                self.idle = None;
            }
            if ran >= BUDGET {
                // Busy: let the reactor look for I/O (without blocking), then go on.
                cx.waker().wake_by_ref();
                awake.sleep();
                return Poll::Pending;
            }
            if pending_plain() {
                continue;
            }
            // Nothing to do: wait for a timer, I/O, a wake or a Ctrl-C. Check
            // once more after registering, so that no wake is lost.
            scheduler.sleeper.register(cx.waker());
            let signalled = self
                .sigint
                .is_some_and(|sigint| sigint.poll_wake(cx).is_ready());
            if signalled || scheduler.has_work() || self.auto_advance(cx) {
                continue;
            }
            awake.sleep();
            return Poll::Pending;
        }
    }
}

impl<F> Loop<'_, F> {
    /// With a virtual clock, on an idle loop: once the loop has stayed idle
    /// for the threshold, jumps the clock to its next timer and returns
    /// `true` (the timers due woke their tasks); else arms the wait.
    fn auto_advance(&mut self, cx: &mut Context<'_>) -> bool {
        let shared = self.shared;
        let Some(next) = shared.scheduler.idle_clock(shared, Driver::Owner) else {
            self.idle = None;
            return false;
        };
        let threshold = shared.clock.threshold;
        if !threshold.is_zero() {
            let idle = self.idle.get_or_insert_with(|| Timer::after(threshold));
            if Pin::new(idle).poll(cx).is_pending() {
                return false;
            }
        }
        self.idle = None;
        shared.clock.jump_to(next, &shared.panics);
        true
    }
}

/// Who asks whether a virtual clock may jump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Driver {
    /// The runner's own loop, in a run or in close.
    Owner,
    /// A thread inside `Handle::block_on`, about to sleep.
    Helper,
}

impl Scheduler {
    /// The deadline a virtual clock may jump to now, if it is virtual, not
    /// held, has a timer, and the runner does no real work anywhere: no
    /// `unblock` job in flight, no worker or helper awake (other than the
    /// caller), the runner's own loop asleep (when a helper asks), and no
    /// task queued. The clock never jumps past real work.
    pub(crate) fn idle_clock(&self, shared: &Shared, driver: Driver) -> Option<Instant> {
        let clock = &shared.clock;
        if !clock.is_virtual() || shared.jobs.pending() > 0 {
            return None;
        }
        // Threads first, then the queues: a task taken by a thread counted
        // asleep here was still queued when we look.
        let me = usize::from(driver == Driver::Helper);
        if self.workers.awake() > me {
            return None;
        }
        if driver == Driver::Helper && self.owner_awake.load(Ordering::Acquire) {
            return None;
        }
        if self.has_ready() || self.main_woken.load(Ordering::Acquire) || main_woken_here() {
            return None;
        }
        clock.next_to_auto_advance()
    }
}

/// Wakes the run's own future: sets the flag the loop checks, then the loop.
struct MainWaker(Arc<Shared>);

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let scheduler = &self.0.scheduler;
        // From the loop's own thread, awake (the run's future woke itself, or
        // a task woke it): a plain flag, which the loop looks at before it
        // sleeps. Else the shared flag, and the loop may have to wake up.
        let here = local::try_with(|local| {
            let here = local.active.get() == scheduler.address();
            if here {
                local.main_woken.set(true);
            }
            here
        });
        if here != Some(true) {
            scheduler.main_woken_elsewhere();
            scheduler.sleeper.wake();
        }
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

/// Puts a task woken from inside its own loop on that loop's plain queue.
fn push_plain(queue: impl FnOnce(&Local) -> &RefCell<VecDeque<Runnable>>, runnable: Runnable) {
    local::with(|local| {
        queue(local).borrow_mut().push_back(runnable);
        local.queued.set(true);
    });
}

/// Pops from this thread's plain queues, local tasks first.
fn pop_plain() -> Option<Runnable> {
    local::try_with(|local| {
        if !local.queued.get() {
            return None;
        }
        let queues = &local.queues;
        let next = queues.local.borrow_mut().pop_front();
        let next = next.or_else(|| queues.global.borrow_mut().pop_front());
        if next.is_none() {
            local.queued.set(false);
        }
        next
    })
    .flatten()
}

/// Whether this thread's plain queues may hold something.
fn pending_plain() -> bool {
    local::try_with(|local| local.queued.get()).unwrap_or(false)
}

/// Whether the active loop's run future was woken from this thread.
fn main_woken_here() -> bool {
    local::try_with(|local| local.main_woken.get()).unwrap_or(false)
}

/// Takes [`main_woken_here`].
fn take_main_woken_here() -> bool {
    local::try_with(|local| local.main_woken.replace(false)).unwrap_or(false)
}

/// Takes [`main_woken_here`] if no task of `scheduler`'s is ready: the run's
/// future is all there is to poll.
fn take_lone_main_wake(scheduler: &Scheduler) -> bool {
    !scheduler.has_ready() && take_main_woken_here()
}

/// Marks the loop awake on this thread for one poll of [`Loop`]; while the
/// loop waits in the reactor, wakes from this thread (timers and I/O fire
/// here) must go through the shared queues and wake it.
///
/// A poll that returns `Pending` puts the loop to sleep
/// ([`sleep`](Self::sleep)). One that ends otherwise (`Ready`, or a panic)
/// leaves the loop as it found it: awake already at a run's first turn,
/// which the run's guard ends, so a run that only yielded pays for neither.
struct Awake<'a> {
    scheduler: &'a Scheduler,
    /// Whether the loop is asleep when this poll ends: it found the loop
    /// asleep, or it returns `Pending`.
    ends_asleep: bool,
}

impl<'a> Awake<'a> {
    fn enter(scheduler: &'a Scheduler) -> Awake<'a> {
        let active = local::try_with(|local| local.active.replace(scheduler.address()));
        // Only this thread stores `owner_awake` (the loop's owner), so a
        // relaxed load reads its own last store.
        let ends_asleep =
            active != Some(scheduler.address()) || !scheduler.owner_awake.load(Ordering::Relaxed);
        if ends_asleep {
            scheduler.set_owner_awake(true);
        }
        Awake {
            scheduler,
            ends_asleep,
        }
    }

    /// The poll returns `Pending`: the loop sleeps when it returns.
    fn sleep(&mut self) {
        self.ends_asleep = true;
    }
}

impl Drop for Awake<'_> {
    fn drop(&mut self) {
        if !self.ends_asleep {
            return;
        }
        // Asleep, the loop sees only the shared flag: a wake of its future
        // that it has not taken yet goes there, before a helper can see the
        // loop asleep.
        local::try_with(|local| {
            local.active.set(0);
            local.hand_over_main_woken(self.scheduler, false);
        });
        self.scheduler.set_owner_awake(false);
    }
}
