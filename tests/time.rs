//! Timers: `sleep`, `timeout`, `yield_now`.

use std::time::{Duration, Instant};

use runner::{Elapsed, Runner};

#[test]
fn sleep_waits_at_least_its_duration() {
    let runner = Runner::new();
    let start = Instant::now();
    runner.run(runner::sleep(Duration::from_millis(30)));
    assert!(start.elapsed() >= Duration::from_millis(30));
}

#[test]
fn sleeps_in_concurrent_tasks_overlap() {
    let runner = Runner::new();
    let start = Instant::now();
    runner.run(async {
        let tasks: Vec<_> = (0..50)
            .map(|_| runner::spawn(runner::sleep(Duration::from_millis(50))))
            .collect();
        for task in tasks {
            task.await;
        }
    });
    // Sequential sleeps would take 2.5 s.
    assert!(start.elapsed() < Duration::from_millis(2000));
}

#[test]
fn timeout_returns_the_output_when_the_future_is_quicker() {
    let runner = Runner::new();
    assert_eq!(
        runner.run(runner::timeout(Duration::from_secs(10), async { 5 })),
        Ok(5)
    );
}

#[test]
fn timeout_drops_a_slower_future_and_returns_elapsed() {
    let runner = Runner::new();
    let dropped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = dropped.clone();
    let result = runner.run(runner::timeout(Duration::from_millis(10), async move {
        let _guard = SetOnDrop(flag);
        std::future::pending::<()>().await
    }));
    assert_eq!(result, Err(Elapsed::new()));
    assert!(dropped.load(std::sync::atomic::Ordering::SeqCst));
}

#[test]
fn yield_now_lets_other_ready_tasks_run_first() {
    let runner = Runner::new();
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let task_order = order.clone();
    runner.run(async {
        runner::spawn(async move { task_order.lock().unwrap().push("task") }).detach();
        runner::yield_now().await;
        order.lock().unwrap().push("main");
    });
    assert_eq!(*order.lock().unwrap(), ["task", "main"]);
}

#[test]
fn elapsed_is_an_error_with_a_message() {
    let error: Box<dyn std::error::Error> = Box::new(Elapsed::new());
    assert_eq!(error.to_string(), "deadline has elapsed");
}

// Helpers.

struct SetOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
