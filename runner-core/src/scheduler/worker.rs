//! Worker threads: they run a runner's `Send` tasks, also between runs.
//!
//! A worker looks at `stopping` before every task it takes, so close stops
//! it after at most the poll it is in, even when tasks keep waking each
//! other (a worker that drained its queue first would never stop). Close
//! then joins every worker that exits within the close timeout; one stuck
//! inside a poll is left to finish that poll on its own, after which it
//! polls nothing more: it drops what is left in the `Send` queue and exits.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use event_listener::Event;

use crate::local;
use crate::shared::Shared;
use crate::time;

/// A runner's worker threads.
pub(crate) struct Workers {
    /// How many there are.
    count: usize,
    /// Wakes idle workers.
    work: Event,
    /// Tells workers to exit.
    stopping: AtomicBool,
    /// Workers that have exited; `exited` is notified as each one does.
    done: AtomicUsize,
    exited: Event,
    /// The threads, to join at close.
    handles: Mutex<Vec<JoinHandle<()>>>,
}

impl Workers {
    pub(super) fn new(count: usize) -> Workers {
        Workers {
            count,
            work: Event::new(),
            stopping: AtomicBool::new(false),
            done: AtomicUsize::new(0),
            exited: Event::new(),
            handles: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.count
    }

    pub(super) fn notify_one(&self) {
        if self.count > 0 {
            self.work.notify(1);
        }
    }

    pub(super) fn notify_all(&self) {
        if self.count > 0 {
            self.work.notify(usize::MAX);
        }
    }

    /// Starts the worker threads of `shared`.
    ///
    /// # Panics
    ///
    /// If the OS refuses a thread.
    pub(crate) fn start(shared: &Arc<Shared>) {
        let workers = &shared.scheduler.workers;
        let mut handles = workers
            .handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for index in 0..workers.count {
            let shared = shared.clone();
            let handle = thread::Builder::new()
                .name(format!("runner-worker-{index}"))
                .spawn(move || work(shared))
                .unwrap_or_else(|error| panic!("failed to start a runner worker thread: {error}"));
            handles.push(handle);
        }
    }

    /// Tells the workers to stop, waits until `deadline` for them to exit,
    /// and joins those that did.
    pub(crate) fn stop(&self, deadline: Option<Instant>) {
        if self.count == 0 {
            return;
        }
        self.stopping.store(true, Ordering::Release);
        self.work.notify(usize::MAX);
        let all_exited = || self.done.load(Ordering::Acquire) == self.count;
        super::block_on_thread(time::until(deadline, until(&self.exited, all_exited)));
        let handles =
            std::mem::take(&mut *self.handles.lock().unwrap_or_else(PoisonError::into_inner));
        for handle in handles {
            if handle.is_finished() {
                // Workers catch every panic of the tasks they run.
                let _ = handle.join();
            }
        }
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// The body of a worker thread: run `Send` tasks, one at a time, until told
/// to stop.
fn work(shared: Arc<Shared>) {
    let _running = local::work(shared.clone());
    // tokio: the worker polls tasks in the runner's tokio context.
    #[cfg(feature = "tokio")]
    let _tokio = crate::tokio::enter_run(&shared);
    let scheduler = &shared.scheduler;
    let workers = &scheduler.workers;
    async_io::block_on(async {
        loop {
            if workers.is_stopping() {
                return;
            }
            if let Ok(runnable) = scheduler.global.pop() {
                super::run(runnable);
                continue;
            }
            let listener = workers.work.listen();
            if scheduler.global.is_empty() && !workers.is_stopping() {
                listener.await;
            }
        }
    });
    // A poll that outlasted close may have rescheduled its task: drop it
    // (and anything else left) here, where nobody will poll it again.
    scheduler.drop_queued(true);
    workers.done.fetch_add(1, Ordering::AcqRel);
    workers.exited.notify(usize::MAX);
}

/// Resolves once `done()` holds; `event` is notified whenever it may have
/// changed.
pub(crate) async fn until(event: &Event, done: impl Fn() -> bool) {
    loop {
        if done() {
            return;
        }
        let listener = event.listen();
        if done() {
            return;
        }
        listener.await;
    }
}
