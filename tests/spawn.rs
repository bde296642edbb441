//! Tasks: spawning, awaiting, cancelling, detaching, panics.

mod common;
use common::DropCounter;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use runner::{Runner, Task};

#[test]
fn spawn_before_any_run_starts_with_the_next_run() {
    let runner = Runner::new();
    let task = runner.spawn(async { 5 });
    assert_eq!(runner.run(task), 5);
}

#[test]
fn free_spawn_reaches_the_runner_running_the_caller() {
    let runner = Runner::new();
    let value =
        runner.run(async { runner::spawn(async { runner::spawn(async { 9 }).await }).await });
    assert_eq!(value, 9);
}

#[test]
fn free_spawn_outside_a_runner_panics_with_a_clear_message() {
    let payload =
        panic::catch_unwind(|| runner::spawn(async {})).expect_err("spawn outside a runner");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains(
            "`runner::spawn` must be called from code that a `runner::Runner` is running"
        ),
        "{message}"
    );
}

#[test]
fn spawn_local_runs_non_send_futures() {
    let runner = Runner::new();
    let rc = std::rc::Rc::new(5);
    let task = runner.spawn_local(async move { *rc + 1 });
    assert_eq!(runner.run(task), 6);
}

#[test]
fn awaiting_a_task_that_panicked_resumes_its_payload() {
    let runner = Runner::new();
    let task = runner.spawn(async {
        runner::yield_now().await;
        panic::panic_any(13_u8)
    });
    let payload = panic::catch_unwind(AssertUnwindSafe(|| runner.run(task))).expect_err("panicked");
    assert_eq!(payload.downcast_ref::<u8>(), Some(&13));
    assert_eq!(
        runner.close().panicked,
        0,
        "an observed panic is not counted"
    );
}

#[test]
fn a_panic_in_a_detached_task_is_counted_at_close() {
    let runner = Runner::new();
    runner
        .spawn(async { panic!("nobody is listening") })
        .detach();
    runner.run(runner::yield_now());
    assert_eq!(runner.close().panicked, 1);
}

#[test]
fn dropping_a_task_cancels_it_and_drops_its_future_once() {
    let runner = Runner::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(drops.clone());
    let task = runner.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await
    });
    runner.run(runner::yield_now());
    drop(task);
    runner.run(runner::yield_now());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    let report = runner.close();
    assert_eq!((report.cancelled, report.dropped), (0, 0));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn cancel_resolves_after_the_future_is_dropped() {
    let runner = Runner::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(drops.clone());
    let task = runner.spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await
    });
    let counted = drops.clone();
    let seen = runner.run(async move {
        runner::yield_now().await;
        assert_eq!(task.cancel().await, None);
        counted.load(Ordering::SeqCst)
    });
    assert_eq!(seen, 1);
}

#[test]
fn cancel_of_a_finished_task_returns_its_output() {
    let runner = Runner::new();
    let task = runner.spawn(async { 4 });
    runner.run(runner::yield_now());
    assert!(task.is_finished());
    assert_eq!(runner.run(task.cancel()), Some(4));
}

#[test]
fn is_finished_turns_true_when_the_task_completes() {
    let runner = Runner::new();
    let task = runner.spawn(runner::sleep(Duration::from_millis(1)));
    assert!(!task.is_finished());
    runner.run(runner::sleep(Duration::from_millis(20)));
    assert!(task.is_finished());
}

#[test]
fn awaiting_a_task_whose_runner_closed_panics_with_a_clear_message() {
    let runner = Runner::new();
    let task = runner.spawn(std::future::pending::<()>());
    runner.close();
    let payload = panic::catch_unwind(AssertUnwindSafe(|| futures_lite::future::block_on(task)))
        .expect_err("cancelled");
    let message = payload.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(message.contains("its runner closed"), "{message}");
}

#[test]
fn tasks_are_send_when_their_output_is() {
    fn assert_send<T: Send>(_: &T) {}
    let runner = Runner::new();
    let task: Task<u8> = runner.spawn(async { 1 });
    assert_send(&task);
    assert_send(&runner::sleep(Duration::ZERO));
    assert_send(&runner::timeout(Duration::ZERO, async {}));
    assert_send(&runner::unblock(|| ()));
    runner.run(async {
        assert_send(&runner::closing());
    });
    drop(task);
}

#[test]
fn many_tasks_all_complete() {
    let runner = Runner::builder().worker_threads(2).build();
    let total = runner.run(async {
        let tasks: Vec<_> = (0..1000u64)
            .map(|i| runner::spawn(async move { i }))
            .collect();
        let mut sum = 0;
        for task in tasks {
            sum += task.await;
        }
        sum
    });
    assert_eq!(total, 999 * 1000 / 2);
}

// Helpers.

/// A task woken from a thread that is not the runner's, for the first time in
/// the runner's life, while the run waits: the wake reaches the loop and the
/// task runs, for `spawn` and `spawn_local` tasks.
#[test]
fn tasks_woken_from_another_thread_run() {
    for local in [false, true] {
        let runner = Runner::new();
        let (to_task, from_thread) = async_channel::bounded::<u32>(1);
        let waiting = async move { from_thread.recv().await.expect("the thread sends") + 1 };
        let task = if local {
            runner.spawn_local(waiting)
        } else {
            runner.spawn(waiting)
        };
        let sender = std::thread::spawn(move || {
            to_task.send_blocking(41).expect("the task receives");
        });
        let output = runner.run(runner::timeout(Duration::from_secs(10), task));
        assert_eq!(output.ok(), Some(42), "local: {local}");
        sender.join().expect("the thread does not panic");
    }
}
