//! No test passes with a panic it did not see: a panic in a task nobody
//! awaits fails a `#[runner::test]`, checked on the real verdict of a child
//! test process (this binary, re-run with `RUNNER_UNOBSERVED_CHILD` naming
//! the case: a `child_*` test that does nothing otherwise).

use std::process::Command;
use std::time::{Duration, Instant};

use runner::UnobservedPanics;

const CHILD: &str = "RUNNER_UNOBSERVED_CHILD";

fn is_child(name: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|child| child == name)
}

/// Runs the case `name` in a child test process; returns whether it passed
/// and what it printed.
fn verdict(name: &str) -> (bool, String) {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the child ran");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn a_detached_task_panicking_during_a_run_fails_the_test_at_once() {
    let started = Instant::now();
    let (passed, out) = verdict("child_detached_panic_during_a_run");
    assert!(
        !passed,
        "the test passed with a panic it did not see:\n{out}"
    );
    assert!(out.contains("boom in a detached task"), "{out}");
    // The task's spawn site is named.
    assert!(out.contains("tests/unobserved_panics.rs"), "{out}");
    // At once: not after the run's 10 s sleep.
    assert!(started.elapsed() < Duration::from_secs(8), "{out}");
}

#[runner::test]
fn child_detached_panic_during_a_run() {
    if !is_child("child_detached_panic_during_a_run") {
        return;
    }
    runner::spawn(async { panic!("boom in a detached task") }).detach();
    run!(runner::sleep(Duration::from_secs(10)));
}

#[test]
fn a_dropped_task_that_panicked_fails_the_test_at_its_end() {
    let (passed, out) = verdict("child_dropped_task_panics_after_the_last_run");
    assert!(
        !passed,
        "the test passed with a panic it did not see:\n{out}"
    );
    assert!(out.contains("boom after the last run"), "{out}");
}

#[runner::test]
fn child_dropped_task_panics_after_the_last_run() {
    if !is_child("child_dropped_task_panics_after_the_last_run") {
        return;
    }
    let task = runner::spawn(async { panic!("boom after the last run") });
    run!(runner::yield_now());
    // It panicked during the run above; the handle is dropped unawaited now.
    drop(task);
}

#[test]
fn an_async_test_with_a_panicking_detached_task_fails() {
    let (passed, out) = verdict("child_async_test_with_a_panicking_task");
    assert!(
        !passed,
        "the test passed with a panic it did not see:\n{out}"
    );
    assert!(out.contains("boom in an async test"), "{out}");
}

#[runner::test(worker_threads = 1)]
async fn child_async_test_with_a_panicking_task() {
    if !is_child("child_async_test_with_a_panicking_task") {
        return;
    }
    runner::spawn(async { panic!("boom in an async test") }).detach();
    runner::sleep(Duration::from_secs(10)).await;
}

#[test]
fn a_test_whose_tasks_panic_where_awaited_still_passes_as_it_asserts() {
    let (passed, out) = verdict("child_observed_panic");
    assert!(passed, "an observed panic failed the test:\n{out}");
}

#[runner::test]
fn child_observed_panic() {
    if !is_child("child_observed_panic") {
        return;
    }
    let task = runner::spawn(async { panic!("observed") });
    let caught = run!(async {
        futures_lite::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(task)).await
    });
    assert!(caught.is_err());
}

#[test]
fn a_runner_that_counts_unobserved_panics_keeps_running() {
    let runner = runner::Runner::builder()
        .unobserved_panics(UnobservedPanics::Count)
        .build();
    runner.spawn(async { panic!("counted only") }).detach();
    runner.run(runner::sleep(Duration::from_millis(5)));
    assert_eq!(runner.close().panicked, 1);
}

#[test]
fn a_propagating_runner_resumes_the_panic_in_the_next_run_with_its_payload() {
    let runner = runner::Runner::builder()
        .unobserved_panics(UnobservedPanics::Propagate)
        .build();
    runner
        .spawn(async { std::panic::panic_any(42_u32) })
        .detach();
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runner.run(runner::sleep(Duration::from_secs(10)))
    }));
    let payload = first.expect_err("the panic came out of the run");
    assert_eq!(payload.downcast_ref::<u32>(), Some(&42));
    // The runner stays usable, and the panic is still counted.
    assert_eq!(runner.run(async { 1 }), 1);
    assert_eq!(runner.close().panicked, 1);
}

#[test]
fn in_shared_tests_only_the_test_whose_task_panicked_fails() {
    // Both cases in one child process, on the one shared runner, at once.
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["child_shared_", "--nocapture", "--test-threads=2"])
        .env(CHILD, "shared")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the child ran");
    let out = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{out}");
    assert!(
        out.contains("test child_shared_with_a_panicking_task ... FAILED"),
        "{out}"
    );
    assert!(out.contains("test child_shared_bystander ... ok"), "{out}");
    assert!(out.contains("boom in a shared test"), "{out}");
}

#[runner::test(shared)]
fn child_shared_with_a_panicking_task() {
    if !is_child("shared") {
        return;
    }
    runner::spawn(async { panic!("boom in a shared test") }).detach();
    run!(runner::sleep(Duration::from_secs(10)));
}

#[runner::test(shared)]
fn child_shared_bystander() {
    if !is_child("shared") {
        return;
    }
    run!(runner::sleep(Duration::from_millis(300)));
}
