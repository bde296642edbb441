//! `Runner::run`: ports of CPython's `test_runners.py` and the run contract.

mod common;
use common::panic_message;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use runner::Runner;

#[test]
fn run_returns_the_output_of_the_future() {
    let runner = Runner::new();
    assert_eq!(runner.run(async { 42 }), 42);
}

#[test]
fn run_accepts_futures_that_are_neither_send_nor_static() {
    let runner = Runner::new();
    let local = std::rc::Rc::new(Cell::new(1));
    let borrowed = &local;
    runner.run(async { borrowed.set(2) });
    assert_eq!(local.get(), 2);
}

#[test]
fn run_resumes_a_panic_with_its_original_payload() {
    let runner = Runner::new();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        runner.run(async { panic::panic_any(Payload(7)) })
    }));
    let payload = caught.expect_err("the run panicked");
    assert_eq!(payload.downcast_ref::<Payload>(), Some(&Payload(7)));
}

#[test]
fn runner_stays_usable_after_a_run_panics() {
    let runner = Runner::new();
    let task = runner.spawn(async {
        runner::sleep(Duration::from_millis(5)).await;
        "survived"
    });
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        runner.run(async {
            runner::yield_now().await;
            panic!("boom")
        })
    }));
    assert_eq!(runner.run(async { 1 }), 1);
    assert_eq!(runner.run(task), "survived");
}

#[test]
fn runs_share_one_loop_so_tasks_from_one_run_progress_in_the_next() {
    let runner = Runner::new();
    let (sender, receiver) = async_channel::unbounded();
    runner.run(async {
        runner::spawn(async move {
            for i in 0..3 {
                sender.send(i).await.unwrap();
            }
        })
        .detach();
    });
    let received = runner.run(async {
        let mut all = Vec::new();
        while let Ok(i) = receiver.recv().await {
            all.push(i);
        }
        all
    });
    assert_eq!(received, [0, 1, 2]);
}

#[test]
fn run_of_a_task_handle_waits_for_the_task() {
    let runner = Runner::new();
    let task = runner.spawn(async {
        runner::yield_now().await;
        3
    });
    assert_eq!(runner.run(task), 3);
}

#[test]
fn run_inside_a_run_of_the_same_runner_panics_before_polling() {
    let runner = Runner::new();
    let polls = Cell::new(0);
    let message = panic_message(|| {
        runner.run(async {
            runner.run(async { polls.set(polls.get() + 1) });
        })
    });
    assert!(
        message.contains("cannot be called from a running event loop"),
        "{message}"
    );
    assert_eq!(polls.get(), 0);
    assert_eq!(runner.run(async { 1 }), 1, "the runner stays usable");
}

#[test]
fn run_of_another_runner_inside_a_run_panics() {
    let outer = Runner::new();
    let inner = Runner::new();
    let message = panic_message(|| outer.run(async { inner.run(async {}) }));
    assert!(
        message.contains("cannot be called from a running event loop"),
        "{message}"
    );
    assert_eq!(
        inner.run(async { 2 }),
        2,
        "the inner runner was left untouched"
    );
}

#[test]
fn run_from_inside_a_spawned_task_panics_and_the_task_reports_it() {
    let runner = Runner::new();
    let task = runner.spawn_local(async {
        let nested = Runner::new();
        nested.run(async {});
    });
    let message = panic_message(|| runner.run(task));
    assert!(
        message.contains("cannot be called from a running event loop"),
        "{message}"
    );
}

#[test]
fn run_from_a_worker_thread_panics() {
    let runner = Runner::builder().worker_threads(1).build();
    let (sender, receiver) = std::sync::mpsc::channel();
    runner
        .spawn(async move {
            let nested = panic::catch_unwind(|| Runner::new().run(async {}));
            sender.send(nested.is_err()).unwrap();
        })
        .detach();
    // No run is in progress, so the worker runs the task.
    assert_eq!(receiver.recv_timeout(Duration::from_secs(10)), Ok(true));
}

#[test]
fn a_send_task_keeps_going_between_runs_on_a_worker() {
    let runner = Runner::builder().worker_threads(1).build();
    let (sender, receiver) = std::sync::mpsc::channel();
    runner
        .spawn(async move {
            runner::sleep(Duration::from_millis(1)).await;
            sender
                .send(std::thread::current().name().map(str::to_owned))
                .unwrap();
        })
        .detach();
    // No run is in progress: only the worker can finish the task.
    let name = receiver
        .recv_timeout(Duration::from_secs(10))
        .expect("the worker ran the task");
    assert_eq!(name.as_deref(), Some("runner-worker-0"));
}

#[test]
fn without_workers_tasks_wait_for_the_next_run() {
    let runner = Runner::new();
    let polled = Arc::new(AtomicUsize::new(0));
    let counter = polled.clone();
    runner
        .spawn(async move {
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .detach();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(polled.load(Ordering::SeqCst), 0);
    runner.run(runner::yield_now());
    assert_eq!(polled.load(Ordering::SeqCst), 1);
}

#[test]
fn a_ready_future_returns_without_running_other_tasks() {
    let runner = Runner::new();
    let task = runner.spawn(async {});
    runner.run(async {});
    assert!(!task.is_finished());
    runner.run(runner::yield_now());
    assert!(task.is_finished());
}

#[test]
fn debug_is_off_by_default_and_on_when_asked() {
    assert!(!Runner::builder().debug(false).build().is_debug());
    assert!(Runner::builder().debug(true).build().is_debug());
}

#[test]
fn the_runner_is_not_started_until_used() {
    let runner = Runner::new();
    assert!(format!("{runner:?}").contains("started: false"));
    runner.run(async {});
    assert!(format!("{runner:?}").contains("started: true"));
}

// Helpers.

#[derive(Debug, PartialEq)]
struct Payload(u32);
