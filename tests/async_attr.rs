//! `async fn` under `#[runner::scope]` and `#[runner::test]`: the whole body
//! is one run on the function's runner, as `#[tokio::main]` and
//! `#[tokio::test]` do, with every option of the attributes.

use std::cell::Cell;
use std::error::Error;
use std::num::ParseIntError;
use std::panic;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use runner::ContextVar;

static REQUEST: ContextVar<u32> = ContextVar::new("request");

#[runner::test]
async fn an_async_test_runs_its_body_as_one_run() {
    // One future from the first line to the last: a value that is not
    // `Send` lives across awaits, and the context carries through.
    let local = Rc::new(Cell::new(1));
    REQUEST.set(7);
    runner::yield_now().await;
    let task = runner::spawn(async { REQUEST.get() });
    local.set(local.get() + 1);
    assert_eq!(task.await, Some(7));
    assert_eq!(REQUEST.get(), Some(7));
    assert_eq!(local.get(), 2);
}

#[runner::test]
async fn an_async_test_may_return_a_result_and_use_question_mark() -> Result<(), Box<dyn Error>> {
    // `?` converts as in the `async fn`: `ParseIntError` into `Box<dyn Error>`.
    let n: u32 = "42".parse()?;
    runner::yield_now().await;
    assert_eq!(n, 42);
    Ok(())
}

#[runner::test(debug, worker_threads = 2, close_timeout = "200ms", timeout = "5s")]
async fn an_async_test_takes_every_option() {
    let tasks: Vec<_> = (0..4u32)
        .map(|i| runner::spawn(async move { i * 2 }))
        .collect();
    let mut sum = 0;
    for task in tasks {
        sum += task.await;
    }
    assert_eq!(sum, 12);
}

#[runner::test(crate = "rt")]
async fn an_async_test_takes_the_crate_option() {
    assert_eq!(rt::spawn(async { 1 }).await, 1);
}

#[runner::test(timeout = "100ms")]
#[should_panic(expected = "timed out after 100ms")]
// TIMES OUT: the `async fn` below, whose body is the test's one run
async fn an_async_test_past_its_timeout_fails() {
    std::future::pending::<()>().await;
}

#[test]
fn an_async_tests_timeout_names_the_test_not_the_library() {
    let payload = panic::catch_unwind(an_async_test_past_its_timeout_fails).unwrap_err();
    let message = message(&*payload);
    let site = format!(
        "in the run at tests/async_attr.rs:{}:",
        marker_line("TIMES OUT") + 1
    );
    assert!(message.contains(&site), "{site:?} not in {message:?}");
}

#[runner::test]
#[should_panic(expected = "the server said no")]
async fn a_panic_in_an_async_test_fails_it() {
    runner::yield_now().await;
    panic!("the server said no");
}

#[runner::test(virtual_time, timeout = "10s")]
async fn an_async_test_with_virtual_time_sleeps_an_hour_at_once() {
    let start = Instant::now();
    let before = runner::now();
    runner::sleep(Duration::from_secs(3600)).await;
    assert_eq!(runner::now() - before, Duration::from_secs(3600));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[runner::test(virtual_time, auto_advance = "0ms", timeout = "10s")]
async fn auto_advance_zero_jumps_without_real_idle() {
    let start = Instant::now();
    let before = runner::now();
    // An hour of 10 s heartbeats: 360 jumps of the clock. With the default
    // threshold, each jump waits 5 ms of real idle time (1.8 s in all).
    let mut beats = 0;
    while runner::now() - before < Duration::from_secs(3600) {
        runner::sleep(Duration::from_secs(10)).await;
        beats += 1;
    }
    assert_eq!(beats, 360);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

#[runner::scope(virtual_time, auto_advance = "200ms")]
async fn heartbeats_with_a_long_threshold(beats: u32) -> Duration {
    let start = Instant::now();
    for _ in 0..beats {
        runner::sleep(Duration::from_secs(10)).await;
    }
    start.elapsed()
}

#[test]
fn auto_advance_waits_its_threshold_of_real_idle_before_each_jump() {
    // Two jumps, each after 200 ms of real idle time.
    let elapsed = heartbeats_with_a_long_threshold(2);
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
}

// Shared tests.

#[runner::test(shared, timeout = "5s")]
async fn an_async_shared_test_starts_with_an_empty_context_and_keeps_it() {
    assert_eq!(REQUEST.get(), None);
    REQUEST.set(8);
    runner::yield_now().await;
    assert_eq!(REQUEST.get(), Some(8));
}

#[runner::test(shared)]
#[should_panic(expected = "can only be called on the runner's own thread")]
async fn an_async_shared_test_runs_on_the_shared_runner() {
    // Only the shared runner refuses `spawn_local` from a test's thread.
    drop(runner::spawn_local(async {}));
}

#[runner::test(shared, timeout = "5s")]
async fn an_async_shared_tests_tasks_progress_on_the_shared_runners_thread() {
    // A task of the shared runner outlives the test: it reports when it ran.
    let (sender, receiver) = mpsc::channel();
    runner::spawn(async move {
        runner::yield_now().await;
        sender.send(()).unwrap();
    })
    .detach();
    // Received by the shared runner's own thread, not by this test's run.
    std::thread::spawn(move || receiver.recv_timeout(Duration::from_secs(5)))
        .join()
        .unwrap()
        .unwrap();
}

#[runner::test(shared, timeout = "100ms")]
#[should_panic(expected = "timed out after 100ms, in the run at tests/async_attr.rs")]
async fn an_async_shared_tests_timeout_applies_to_that_test() {
    std::future::pending::<()>().await;
}

// Scopes.

#[runner::scope]
async fn parse_sum(numbers: &[&str], total: &mut u32) -> Result<u32, ParseIntError> {
    for number in numbers {
        runner::yield_now().await;
        *total += number.parse::<u32>()?;
    }
    Ok(*total)
}

#[test]
fn an_async_scope_fn_borrows_its_parameters_and_returns_its_result() {
    let mut total = 1;
    assert_eq!(parse_sum(&["2", "3"], &mut total), Ok(6));
    assert_eq!(total, 6);
    assert!(parse_sum(&["4", "x"], &mut total).is_err());
    assert_eq!(total, 10);
}

#[runner::scope]
async fn first_word(text: &str) -> &str {
    runner::yield_now().await;
    text.split(' ').next().unwrap_or(text)
}

#[test]
fn an_async_scope_fn_returns_a_borrow_of_its_parameter() {
    let text = String::from("hello world");
    assert_eq!(first_word(&text), "hello");
}

struct Counter {
    count: u32,
}

impl Counter {
    #[runner::scope]
    async fn get(&self) -> u32 {
        runner::yield_now().await;
        self.count
    }

    #[runner::scope]
    async fn bump(&mut self) {
        runner::yield_now().await;
        self.count += 1;
    }

    #[runner::scope]
    async fn into_count(self) -> u32 {
        runner::spawn(async move { self.count }).await
    }
}

#[test]
fn async_methods_take_self_in_every_way() {
    let mut counter = Counter { count: 1 };
    counter.bump();
    assert_eq!(counter.get(), 2);
    assert_eq!(counter.into_count(), 2);
}

#[runner::scope]
async fn generic_len<T: AsRef<str>>(items: Vec<T>) -> impl std::fmt::Display {
    runner::yield_now().await;
    items.iter().map(|item| item.as_ref().len()).sum::<usize>()
}

#[test]
fn an_async_scope_fn_may_be_generic_and_return_impl_trait() {
    assert_eq!(generic_len(vec!["ab", "c"]).to_string(), "3");
}

#[runner::scope]
async fn leave_a_task_pending(dropped: Arc<AtomicUsize>) {
    let guard = DropCounter(dropped);
    runner::spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    })
    .detach();
    runner::yield_now().await;
}

#[test]
fn an_async_scope_closes_its_runner_when_it_returns() {
    let dropped = Arc::new(AtomicUsize::new(0));
    leave_a_task_pending(dropped.clone());
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
}

#[runner::scope]
async fn register_a_cleanup(log: Arc<Mutex<Vec<&'static str>>>) {
    let cleanup = log.clone();
    runner::on_close(async move { cleanup.lock().unwrap().push("cleanup") });
    log.lock().unwrap().push("body");
}

#[test]
fn an_async_scope_runs_its_cleanups_at_close() {
    let log = Arc::new(Mutex::new(Vec::new()));
    register_a_cleanup(log.clone());
    assert_eq!(*log.lock().unwrap(), ["body", "cleanup"]);
}

#[runner::scope(virtual_time)]
async fn a_virtual_minute() -> Duration {
    let before = runner::now();
    runner::sleep(Duration::from_secs(60)).await;
    runner::now() - before
}

#[test]
fn an_async_scope_with_virtual_time_sleeps_a_minute_at_once() {
    let start = Instant::now();
    assert_eq!(a_virtual_minute(), Duration::from_secs(60));
    assert!(start.elapsed() < Duration::from_secs(30));
}

// Helpers.

mod rt {
    pub(crate) use runner::*;
}

/// Counts its drops.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The text of a panic's payload.
fn message(payload: &(dyn std::any::Any + Send)) -> String {
    match (
        payload.downcast_ref::<String>(),
        payload.downcast_ref::<&str>(),
    ) {
        (Some(text), _) => text.clone(),
        (None, Some(text)) => (*text).to_owned(),
        (None, None) => String::new(),
    }
}

/// The line of this file that starts with `// MARKER`.
fn marker_line(marker: &str) -> usize {
    let tag = format!("// {marker}");
    include_str!("async_attr.rs")
        .lines()
        .position(|line| line.trim_start().starts_with(&tag))
        .expect("the marker is in this file")
        + 1
}
