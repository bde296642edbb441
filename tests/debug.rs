//! Debug mode: slow polls, pending tasks and unobserved panics are reported
//! with their spawn sites, to stderr or to a `tracing` subscriber.
//!
//! Each case runs in a child process (this test binary, re-run with
//! `RUNNER_DEBUG_CHILD` naming the case) so that its stderr can be read.

use std::process::Command;
use std::time::{Duration, Instant};

use runner::Runner;

#[test]
fn a_slow_task_poll_is_reported_with_its_spawn_site() {
    let out = child("slow_task_poll", &[]);
    let line = find(&out.stderr, "slow poll");
    let spawn_line = marker_line("SLOW-TASK-SPAWN");
    assert!(
        line.contains(&format!("tests/debug.rs:{spawn_line}")),
        "{line}"
    );
    assert!(line.contains("threshold 10ms"), "{line}");
}

#[test]
fn a_slow_poll_of_a_named_task_is_reported_with_its_name_and_spawn_site() {
    let out = child("slow_named_task_poll", &[]);
    let line = find(&out.stderr, "slow poll");
    let site = format!("tests/debug.rs:{}", marker_line("SLOW-NAMED-SPAWN"));
    assert!(
        line.contains(&format!("task \"slowpoke\" spawned at {site}")),
        "{line}"
    );
}

#[test]
fn a_slow_poll_of_a_run_future_is_reported_with_the_run_site() {
    let out = child("slow_run_poll", &[]);
    let line = find(&out.stderr, "slow poll");
    assert!(
        line.contains(&format!("tests/debug.rs:{}", marker_line("SLOW-RUN"))),
        "{line}"
    );
}

#[test]
fn polls_under_the_threshold_are_not_reported() {
    let out = child("fast_polls", &[]);
    assert!(!out.stderr.contains("slow poll"), "{}", out.stderr);
}

#[test]
fn close_lists_the_pending_tasks_with_their_spawn_sites() {
    let out = child("pending_at_close", &[]);
    let report = from(&out.stderr, "close: 2 task(s) still pending");
    assert!(
        report.contains(&format!("tests/debug.rs:{}", marker_line("PENDING-ONE"))),
        "{report}"
    );
    assert!(
        report.contains(&format!("tests/debug.rs:{}", marker_line("PENDING-TWO"))),
        "{report}"
    );
}

#[test]
fn close_lists_the_pending_tasks_of_a_runner_with_workers() {
    // Spawns from several threads land in several parts of the registry:
    // the report gathers all of them.
    let out = child("pending_at_close_with_workers", &[]);
    let report = from(&out.stderr, "close: 20 task(s) still pending");
    let sites = format!("tests/debug.rs:{}", marker_line("PENDING-MANY"));
    assert_eq!(report.matches(&sites).count(), 20, "{report}");
}

#[test]
fn close_reports_unobserved_panics_with_message_and_spawn_site() {
    let out = child("unobserved_panic", &[]);
    let line = find(&out.stderr, "a panic nobody observed");
    assert!(line.contains("the detached task failed"), "{line}");
    assert!(
        line.contains(&format!("tests/debug.rs:{}", marker_line("DETACHED-PANIC"))),
        "{line}"
    );
}

#[test]
fn an_unobserved_panic_of_a_named_task_is_reported_with_its_name() {
    let out = child("unobserved_named_panic", &[]);
    let line = find(&out.stderr, "a panic nobody observed");
    let site = format!("tests/debug.rs:{}", marker_line("NAMED-PANIC"));
    assert!(
        line.contains(&format!("task \"doomed\" spawned at {site}:")),
        "{line}"
    );
    assert!(line.contains("the named task failed"), "{line}");
}

#[test]
fn a_test_timeout_without_debug_reports_no_slow_poll() {
    let out = child("slow_poll_under_test_timeout", &[]);
    assert!(!out.stderr.contains("slow poll"), "{}", out.stderr);
}

#[test]
fn without_debug_nothing_is_reported() {
    let out = child("pending_at_close_without_debug", &[]);
    assert!(!out.stderr.contains("runner:"), "{}", out.stderr);
}

#[test]
fn with_a_tracing_subscriber_reports_are_events_with_target_runner_and_stderr_stays_quiet() {
    let out = child("with_subscriber", &[]);
    assert!(
        !out.stderr.contains("slow poll") && !out.stderr.contains("still pending"),
        "{}",
        out.stderr
    );
    let slow = find(&out.stdout, "slow poll");
    assert!(slow.contains("WARN") && slow.contains("runner:"), "{slow}");
    assert!(out.stdout.contains("still pending"), "{}", out.stdout);
}

#[test]
fn runner_debug_env_turns_debug_on_unless_empty_or_zero_and_an_explicit_setting_wins() {
    for (value, expected) in [
        ("1", "true true false"),
        ("yes", "true true false"),
        ("0", "false false false"),
        ("", "false false false"),
    ] {
        let out = child("report_debug_flags", &[("RUNNER_DEBUG", value)]);
        assert!(
            out.stdout.contains(&format!("flags: {expected}")),
            "RUNNER_DEBUG={value:?}: {}",
            out.stdout
        );
    }
}

// The children: each does nothing unless `RUNNER_DEBUG_CHILD` names it.

#[test]
fn slow_task_poll() {
    if !is_child("slow_task_poll") {
        return;
    }
    let runner = debug_runner();
    let task = runner.spawn(async { std::thread::sleep(Duration::from_millis(50)) }); // SLOW-TASK-SPAWN
    runner.run(task);
}

#[test]
fn slow_named_task_poll() {
    if !is_child("slow_named_task_poll") {
        return;
    }
    let runner = debug_runner();
    let nap = async { std::thread::sleep(Duration::from_millis(50)) };
    let task = runner.spawn_named("slowpoke", nap); // SLOW-NAMED-SPAWN
    runner.run(task);
}

#[test]
fn slow_run_poll() {
    if !is_child("slow_run_poll") {
        return;
    }
    let runner = debug_runner();
    runner.run(async { std::thread::sleep(Duration::from_millis(50)) }); // SLOW-RUN
}

#[test]
fn fast_polls() {
    if !is_child("fast_polls") {
        return;
    }
    let runner = Runner::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_secs(5))
        .build();
    let task = runner.spawn(async { std::thread::sleep(Duration::from_millis(20)) });
    runner.run(task);
    runner.run(async { std::thread::sleep(Duration::from_millis(20)) });
}

#[test]
fn slow_poll_under_test_timeout() {
    if !is_child("slow_poll_under_test_timeout") {
        return;
    }
    let runner = Runner::builder()
        .debug(false)
        .slow_poll_threshold(Duration::from_millis(10))
        .__test_timeout(Duration::from_secs(30))
        .build();
    runner.run(async { std::thread::sleep(Duration::from_millis(50)) });
}

#[test]
fn pending_at_close() {
    if !is_child("pending_at_close") {
        return;
    }
    let runner = debug_runner();
    spawn_two_pending(&runner);
    runner.close();
}

#[test]
fn pending_at_close_with_workers() {
    if !is_child("pending_at_close_with_workers") {
        return;
    }
    let runner = Runner::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_secs(10))
        .worker_threads(2)
        .build();
    let handle = runner.handle();
    let spawned = std::thread::scope(|scope| {
        let others: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| spawn_pending(&handle, 5)))
            .collect();
        spawn_pending(&handle, 10);
        others.into_iter().all(|other| other.join().is_ok())
    });
    assert!(spawned);
    runner.close();
}

fn spawn_pending(handle: &runner::Handle, tasks: usize) {
    for _ in 0..tasks {
        let task = handle.spawn(std::future::pending::<()>()); // PENDING-MANY
        task.expect("the runner is open").detach();
    }
}

#[test]
fn pending_at_close_without_debug() {
    if !is_child("pending_at_close_without_debug") {
        return;
    }
    let runner = Runner::builder().debug(false).build();
    spawn_two_pending(&runner);
    runner.close();
}

#[test]
fn unobserved_panic() {
    if !is_child("unobserved_panic") {
        return;
    }
    let runner = debug_runner();
    let task = runner.spawn(async { panic!("the detached task failed") }); // DETACHED-PANIC
    task.detach();
    runner.run(runner::yield_now());
    assert_eq!(runner.close().panicked, 1);
}

#[test]
fn unobserved_named_panic() {
    if !is_child("unobserved_named_panic") {
        return;
    }
    let runner = debug_runner();
    let doomed = async { panic!("the named task failed") };
    runner.spawn_named("doomed", doomed).detach(); // NAMED-PANIC
    runner.run(runner::yield_now());
}

#[test]
fn with_subscriber() {
    if !is_child("with_subscriber") {
        return;
    }
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stdout)
        .without_time()
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let runner = debug_runner();
        runner.run(async { std::thread::sleep(Duration::from_millis(50)) });
        spawn_two_pending(&runner);
        runner.close();
    });
}

#[test]
fn report_debug_flags() {
    if !is_child("report_debug_flags") {
        return;
    }
    let flags = (
        Runner::new().is_debug(),
        Runner::builder().build().is_debug(),
        Runner::builder().debug(false).build().is_debug(),
    );
    println!("flags: {} {} {}", flags.0, flags.1, flags.2);
}

// Helpers.

fn debug_runner() -> Runner {
    Runner::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(10))
        .build()
}

fn spawn_two_pending(runner: &Runner) {
    runner.spawn(std::future::pending::<()>()).detach(); // PENDING-ONE
    runner.spawn_local(std::future::pending::<()>()).detach(); // PENDING-TWO
}

fn is_child(case: &str) -> bool {
    std::env::var("RUNNER_DEBUG_CHILD").is_ok_and(|child| child == case)
}

struct Output {
    stdout: String,
    stderr: String,
}

/// Runs one child case of this binary and returns what it printed.
fn child(case: &str, env: &[(&str, &str)]) -> Output {
    let started = Instant::now();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([case, "--exact", "--nocapture", "--test-threads=1"]);
    command
        .env("RUNNER_DEBUG_CHILD", case)
        .env_remove("RUNNER_DEBUG");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("the child ran");
    assert!(output.status.success(), "child {case} failed: {output:?}");
    assert!(started.elapsed() < Duration::from_secs(60));
    Output {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `text` from the first occurrence of `needle` on (a report and what
/// follows it); fails the test, showing `text`, if there is none.
fn from<'a>(text: &'a str, needle: &str) -> &'a str {
    let start = text
        .find(needle)
        .unwrap_or_else(|| panic!("no {needle:?} in:\n{text}"));
    &text[start..]
}

fn find<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in:\n{text}"))
}

/// The line of this file that carries `// MARKER`.
fn marker_line(marker: &str) -> usize {
    let source = include_str!("debug.rs");
    let tag = format!("// {marker}");
    source
        .lines()
        .position(|line| line.trim_end().ends_with(&tag))
        .expect("marker present")
        + 1
}
