//! The close sequence: cancellation, `closing()`, cleanups, blocking jobs,
//! timeouts, and the report.

mod common;
use common::DropCounter;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use runner::{Runner, TaskState};

#[test]
fn close_drops_the_future_of_each_pending_task_exactly_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let runner = Runner::new();
    for _ in 0..3 {
        let guard = DropCounter(drops.clone());
        runner.spawn(common::pending_holding(guard)).detach();
    }
    let guard = DropCounter(drops.clone());
    let local = runner.spawn_local(common::pending_holding(guard));
    runner.run(runner::yield_now());
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let report = runner.close();
    assert_eq!(drops.load(Ordering::SeqCst), 4);
    assert_eq!((report.cancelled, report.dropped), (4, 4));
    drop(local);
    assert_eq!(drops.load(Ordering::SeqCst), 4);
}

#[test]
fn dropping_the_runner_closes_it_the_same_way() {
    let drops = Arc::new(AtomicUsize::new(0));
    {
        let runner = Runner::new();
        let guard = DropCounter(drops.clone());
        runner.spawn(common::pending_holding(guard)).detach();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn a_task_waiting_on_closing_finishes_its_async_cleanup_before_close_returns() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let runner = Runner::new();
    let task_log = log.clone();
    runner.run(async move {
        runner::spawn(async move {
            runner::closing().await;
            runner::sleep(Duration::from_millis(5)).await;
            task_log.lock().unwrap().push("flushed");
        })
        .detach();
        runner::yield_now().await;
    });
    let report = runner.close();
    assert_eq!(*log.lock().unwrap(), ["flushed"]);
    assert_eq!((report.cancelled, report.dropped), (1, 0));
}

#[test]
fn close_gives_up_on_a_task_ignoring_closing_and_an_abandoned_blocking_job_within_the_timeout() {
    let runner = Runner::builder()
        .close_timeout(Duration::from_millis(200))
        .build();
    let (started, job_started) = mpsc::channel();
    runner.run(async move {
        // One task waits on `closing()`, so close gives tasks time to finish...
        runner::spawn(async {
            runner::closing().await;
        })
        .detach();
        // ...and this one never does.
        runner::spawn(std::future::pending::<()>()).detach();
        runner::spawn(runner::unblock(move || {
            started.send(()).unwrap();
            std::thread::sleep(Duration::from_secs(5));
        }))
        .detach();
        runner::yield_now().await; // every task gets to its first await
    });
    job_started
        .recv_timeout(Duration::from_secs(10))
        .expect("the blocking job started");
    let start = Instant::now();
    let report = runner.close();
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_secs(2), "close took {elapsed:?}");
    assert_eq!(report.blocking_abandoned, 1);
    assert_eq!(report.cancelled, 3);
    assert_eq!(
        report.dropped, 2,
        "the task ignoring closing() and the one awaiting the job"
    );
}

#[test]
fn close_waits_for_a_blocking_job_that_finishes_in_time() {
    let runner = Runner::new();
    let (started, job_started) = mpsc::channel();
    let done = Arc::new(AtomicUsize::new(0));
    let flag = done.clone();
    runner.run(async move {
        runner::spawn(runner::unblock(move || {
            started.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            flag.fetch_add(1, Ordering::SeqCst);
        }))
        .detach();
    });
    job_started.recv_timeout(Duration::from_secs(10)).unwrap();
    let report = runner.close();
    assert_eq!(done.load(Ordering::SeqCst), 1);
    assert_eq!(report.blocking_abandoned, 0);
}

#[test]
fn on_close_cleanups_run_last_registered_first() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let runner = Runner::new();
    for name in ["first", "second", "third"] {
        let log = log.clone();
        runner.run(async move {
            runner::on_close(async move {
                runner::yield_now().await;
                log.lock().unwrap().push(name);
            })
        });
    }
    runner.close();
    assert_eq!(*log.lock().unwrap(), ["third", "second", "first"]);
}

#[test]
fn cleanups_run_after_pending_tasks_were_cancelled() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let runner = Runner::new();
    let (task_log, cleanup_log) = (log.clone(), log.clone());
    runner.run(async move {
        let guard = PushOnDrop(task_log, "task dropped");
        runner::spawn(common::pending_holding(guard)).detach();
        runner::on_close(async move { cleanup_log.lock().unwrap().push("cleanup") });
    });
    runner.close();
    assert_eq!(*log.lock().unwrap(), ["task dropped", "cleanup"]);
}

#[test]
fn a_panicking_cleanup_is_counted_and_the_others_still_run() {
    let ran = Arc::new(AtomicUsize::new(0));
    let runner = Runner::new();
    let counter = ran.clone();
    runner.run(async move {
        runner::on_close(async move {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        runner::on_close(async { panic!("cleanup failed") });
    });
    let report = runner.close();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    assert_eq!(report.panicked, 1);
}

#[test]
fn a_task_whose_drop_panics_during_close_is_counted() {
    let runner = Runner::new();
    runner
        .spawn(async {
            let _bomb = PanicOnDrop;
            std::future::pending::<()>().await
        })
        .detach();
    runner.run(runner::yield_now());
    let report = runner.close();
    assert_eq!(
        (report.cancelled, report.dropped, report.panicked),
        (1, 1, 1)
    );
}

#[test]
fn a_task_that_panics_after_closing_wakes_it_is_counted() {
    let runner = Runner::new();
    let task = runner.spawn(async {
        runner::closing().await;
        panic!("failed during shutdown");
    });
    runner.run(runner::yield_now());
    let report = runner.close();
    assert_eq!(report.panicked, 1);
    drop(task);
}

#[test]
fn a_slow_cleanup_is_abandoned_at_the_close_timeout() {
    let runner = Runner::builder()
        .close_timeout(Duration::from_millis(100))
        .build();
    runner.run(async { runner::on_close(std::future::pending()) });
    let start = Instant::now();
    runner.close();
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn close_is_idempotent_and_a_second_close_does_nothing() {
    let runs = Arc::new(AtomicUsize::new(0));
    let runner = Runner::new();
    let counter = runs.clone();
    runner.run(async move {
        runner::on_close(async move {
            counter.fetch_add(1, Ordering::SeqCst);
        })
    });
    let report = runner.close(); // and then `Drop` runs on the closed runner
    assert_eq!(report.cancelled, 0);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn closing_a_runner_that_never_ran_is_instant() {
    let report = Runner::new().close();
    assert_eq!(report, runner::CloseReport::default());
}

#[test]
fn dropping_a_runner_while_the_thread_unwinds_does_not_abort() {
    let drops = Arc::new(AtomicUsize::new(0));
    let counter = drops.clone();
    let result = panic::catch_unwind(AssertUnwindSafe(move || {
        let runner = Runner::builder()
            .close_timeout(Duration::from_millis(50))
            .build();
        let (bomb, guard) = (PanicOnDrop, DropCounter(counter));
        runner
            .spawn(async move {
                let _bomb = bomb;
                let _guard = guard;
                std::future::pending::<()>().await
            })
            .detach();
        runner.run(async { runner::on_close(async { panic!("cleanup panics too") }) });
        panic!("the test body panics");
    }));
    assert!(result.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn close_stops_the_workers_and_cancels_their_tasks() {
    let drops = Arc::new(AtomicUsize::new(0));
    let runner = Runner::builder().worker_threads(2).build();
    let (sender, receiver) = mpsc::channel();
    let guard = DropCounter(drops.clone());
    runner
        .spawn(async move {
            let _guard = guard;
            sender
                .send(std::thread::current().name().map(str::to_owned))
                .unwrap();
            std::future::pending::<()>().await
        })
        .detach();
    // Between runs, only a worker can have started the task.
    let name = receiver
        .recv_timeout(Duration::from_secs(10))
        .unwrap()
        .unwrap();
    assert!(name.starts_with("runner-worker-"), "{name}");
    let report = runner.close();
    assert_eq!((report.cancelled, report.dropped), (1, 1));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn with_workers_close_counts_every_pending_task_once() {
    // Tasks spread over the registry's parts, some finishing on the worker
    // while others are spawned: the report counts each pending one once.
    let drops = Arc::new(AtomicUsize::new(0));
    let runner = Runner::builder().worker_threads(1).build();
    let finished = runner.run(async {
        let finishing: Vec<_> = (0..100).map(|i| runner::spawn(async move { i })).collect();
        for _ in 0..37 {
            let guard = DropCounter(drops.clone());
            runner::spawn(common::pending_holding(guard)).detach();
        }
        let mut sum = 0;
        for task in finishing {
            sum += task.await;
        }
        sum
    });
    assert_eq!(finished, 4950);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let report = runner.close();
    assert_eq!((report.cancelled, report.dropped), (37, 37));
    assert_eq!(drops.load(Ordering::SeqCst), 37);
}

#[test]
fn tasks_spawned_by_a_dropped_future_are_dropped_too() {
    let drops = Arc::new(AtomicUsize::new(0));
    let runner = Runner::new();
    let counter = drops.clone();
    runner
        .spawn(async move {
            let _spawner = SpawnOnDrop(counter);
            std::future::pending::<()>().await
        })
        .detach();
    runner.run(runner::yield_now());
    let report = runner.close();
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    // The task spawned while closing is cancelled by close too.
    assert_eq!((report.cancelled, report.dropped), (2, 2));
}

// Helpers.

struct PushOnDrop(Arc<Mutex<Vec<&'static str>>>, &'static str);

impl Drop for PushOnDrop {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(self.1);
    }
}

struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("drop panics");
        }
    }
}

/// Spawns a task from its `Drop`, as cleanup code sometimes does.
struct SpawnOnDrop(Arc<AtomicUsize>);

impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        let guard = DropCounter(self.0.clone());
        runner::spawn(common::pending_holding(guard)).detach();
    }
}

/// Close with a `closing()` waiter waits for the pending tasks to finish,
/// and no longer: tasks that finished before it (here or on a worker) and
/// the waiter itself once it returns count as gone at once. A close that
/// still counted one of them would wait out its whole timeout.
#[test]
fn close_with_a_closing_waiter_ends_when_the_tasks_do_not_at_its_timeout() {
    let timeout = Duration::from_secs(20);
    for workers in [0, 1] {
        let runner = Runner::builder()
            .worker_threads(workers)
            .close_timeout(timeout)
            .build();
        let finished: Vec<_> = (0..8).map(|i| runner.spawn(async move { i })).collect();
        let sum: i32 = runner.run(async {
            let mut sum = 0;
            for task in finished {
                sum += task.await;
            }
            sum
        });
        assert_eq!(sum, 28);
        runner
            .spawn(async {
                runner::closing().await;
                runner::yield_now().await;
            })
            .detach();
        // Until the task waits on `closing()`: a worker may take a moment.
        runner.run(async {
            while !runner::tasks()
                .iter()
                .any(|task| task.polls() > 0 && task.state() == TaskState::Idle)
            {
                runner::yield_now().await;
            }
        });
        let report = runner.close();
        assert_eq!(
            (report.cancelled, report.dropped, report.abandoned),
            (1, 0, 0),
            "with {workers} worker(s)"
        );
        assert!(
            report.elapsed < timeout,
            "with {workers} worker(s), close waited {:?}, its whole timeout: a finished task still counted as pending",
            report.elapsed
        );
    }
}
