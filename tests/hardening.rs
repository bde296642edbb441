//! Hardening: the contracts of issue 8, each as a regression test.
//!
//! Close must survive thread-local teardown, busy tasks on workers, values
//! and outputs that panic in `Drop`, panicking wakers, late cleanups and
//! timeouts of `Duration::MAX`; contexts must be readable while entered
//! elsewhere. Cases that abort the process when the contract is broken run
//! in a child process: this test binary, re-run with `RUNNER_HARDENING_CHILD`
//! naming the case (a `child_*` test that does nothing otherwise), killed
//! after a generous timeout. The parent asserts the child's exit status and
//! what it printed.

mod common;
use common::DropCounter;
use std::future::Future;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context as TaskContext, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use runner::{ContextVar, Runner};

// 1. A runner in a thread-local closes when its thread exits.

#[test]
fn a_runner_in_a_thread_local_closes_when_its_thread_exits() {
    let out = child("child_thread_local_runner_on_an_exiting_thread");
    let line = find(&out.stdout, "events at join:");
    assert_close_did_its_steps(line, &out);
}

#[test]
#[cfg_attr(
    not(target_os = "linux"),
    ignore = "relies on `exit` running the calling thread's thread-local destructors (glibc)"
)]
fn a_runner_in_a_thread_local_closes_when_the_process_exits() {
    // `std::process::exit` runs the calling thread's thread-local destructors
    // (glibc's `exit` calls `__call_tls_dtors`), as returning from `main`
    // does for the main thread: the path of a `thread_local!` runner on the
    // main thread of a program.
    let out = child("child_thread_local_runner_at_process_exit");
    assert!(out.stdout.contains("exiting"), "{out}");
    assert_close_did_its_steps(&out.stdout, &out);
}

#[test]
fn a_runner_in_a_thread_local_of_the_main_thread_closes_after_main_returns() {
    // A real `fn main`, as a user writes it: this binary's own `main` is
    // libtest's. Compiled against the `runner` this test links, by the same
    // toolchain.
    let out = run_main_program(MAIN_WITH_A_THREAD_LOCAL_RUNNER);
    assert!(out.stdout.contains("main returns"), "{out}");
    assert_close_did_its_steps(&out.stdout, &out);
}

/// A program whose `thread_local!` runner has run something and has work
/// for each step of close when `main` returns.
const MAIN_WITH_A_THREAD_LOCAL_RUNNER: &str = r#"
use std::sync::mpsc;
use std::time::Duration;

thread_local! {
    static RUNNER: runner::Runner = runner::Runner::new();
}

struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        println!("task future dropped");
    }
}

fn main() {
    RUNNER.with(|runner| {
        assert_eq!(runner.run(async { 1 }), 1);
        let (started_tx, started_rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        runner.run(async move {
            runner::spawn(runner::unblock(move || {
                started_tx.send(()).unwrap();
                let _ = release_rx.recv_timeout(Duration::from_secs(5));
                println!("blocking job finished");
            }))
            .detach();
            runner::on_close(async move {
                println!("cleanup ran");
                let _ = release_tx.send(());
            });
            let guard = Guard;
            runner::spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await
            })
            .detach();
            runner::yield_now().await;
        });
        started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    });
    println!("main returns");
}
"#;

#[test]
fn child_thread_local_runner_on_an_exiting_thread() {
    if !is_child("child_thread_local_runner_on_an_exiting_thread") {
        return;
    }
    thread_local! {
        static RUNNER: Runner = Runner::new();
    }
    let owner = thread::spawn(|| {
        RUNNER.with(|runner| {
            assert_eq!(runner.run(async { 1 }), 1);
            give_close_work(runner);
        });
    });
    owner.join().expect("the owner thread exited normally");
    println!("events at join: {:?}", events());
}

#[test]
fn child_thread_local_runner_at_process_exit() {
    if !is_child("child_thread_local_runner_at_process_exit") {
        return;
    }
    thread_local! {
        static RUNNER: Runner = Runner::new();
    }
    RUNNER.with(|runner| {
        assert_eq!(runner.run(async { 1 }), 1);
        give_close_work(runner);
    });
    say("exiting");
    std::process::exit(0);
}

// 2. Close with workers stops tasks that keep waking.

#[test]
fn close_with_workers_stops_a_task_that_keeps_waking_itself() {
    let out = child("child_close_stops_self_waking_tasks");
    assert!(out.stdout.contains("checked 120 lifecycles"), "{out}");
}

#[test]
fn close_with_workers_stops_tasks_that_keep_waking_each_other() {
    let out = child("child_close_stops_ping_pong_tasks");
    assert!(out.stdout.contains("checked 60 lifecycles"), "{out}");
}

#[test]
fn child_close_stops_self_waking_tasks() {
    if !is_child("child_close_stops_self_waking_tasks") {
        return;
    }
    let mut checked = close_stops_busy_tasks("yield loop", 1, spawn_yield_loop);
    checked += close_stops_busy_tasks("cpu chunks", 1, spawn_cpu_chunks);
    println!("checked {checked} lifecycles");
}

#[test]
fn child_close_stops_ping_pong_tasks() {
    if !is_child("child_close_stops_ping_pong_tasks") {
        return;
    }
    let checked = close_stops_busy_tasks("ping-pong", 2, spawn_ping_pong);
    println!("checked {checked} lifecycles");
}

// 3. A detached task's output that panics in `Drop`.

#[test]
fn a_detached_task_output_that_panics_in_drop_is_counted() {
    let out = child("child_detached_output_panics_in_drop");
    assert!(out.stdout.contains("workers=0 drops=1 panicked=1"), "{out}");
    assert!(out.stdout.contains("workers=1 drops=1 panicked=1"), "{out}");
}

#[test]
fn child_detached_output_panics_in_drop() {
    if !is_child("child_detached_output_panics_in_drop") {
        return;
    }
    for workers in [0, 1] {
        let runner = Runner::builder().worker_threads(workers).build();
        let drops = Arc::new(AtomicUsize::new(0));
        let output = PanicOnDrop(drops.clone());
        let (go_tx, go_rx) = async_channel::bounded::<()>(1);
        // The task finishes only after `detach`: async-task then drops the
        // output itself, not the caller of `detach`.
        let task = runner.spawn(async move {
            let _ = go_rx.recv().await;
            output
        });
        task.detach();
        go_tx.send_blocking(()).unwrap();
        let flag = drops.clone();
        runner.run(yield_until(move || flag.load(Ordering::SeqCst) > 0));
        let report = runner.close();
        println!(
            "workers={workers} drops={} panicked={}",
            drops.load(Ordering::SeqCst),
            report.panicked
        );
    }
}

// Not in issue 8: the same for the result of an `unblock` job whose future
// was dropped while the job ran (async-task drops it on the pool thread,
// inside its abort-on-panic guard).

#[test]
fn a_blocking_job_result_that_panics_in_drop_after_its_future_was_dropped_does_not_abort() {
    let out = child("child_blocking_result_panics_in_drop");
    assert!(out.stdout.contains("survived drops=1"), "{out}");
}

#[test]
fn child_blocking_result_panics_in_drop() {
    if !is_child("child_blocking_result_panics_in_drop") {
        return;
    }
    // A quick hook: an abort then follows the panic within the wait below,
    // rather than after a slow backtrace, racing with the end of the child.
    panic::set_hook(Box::new(|info| eprintln!("{info}")));
    let runner = Runner::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let result = PanicOnDrop(drops.clone());
    runner.run(async move {
        let (started_tx, started_rx) = async_channel::bounded::<()>(1);
        let job = runner::unblock(move || {
            started_tx.send_blocking(()).unwrap();
            let _ = release_rx.recv_timeout(Duration::from_secs(5));
            result
        });
        // Started: dropping its future lets it finish on its own.
        started_rx.recv().await.unwrap();
        drop(job);
    });
    release_tx.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while drops.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    runner.close();
    // Observing an absence: an abort follows the panic at once.
    thread::sleep(Duration::from_millis(100));
    println!("survived drops={}", drops.load(Ordering::SeqCst));
}

// 4. A context value that panics in `Drop`, set in a task.

static BOMB: ContextVar<Bomb> = ContextVar::new("hardening_bomb");

#[test]
fn a_context_value_that_panics_in_drop_set_in_a_finished_task_is_counted() {
    let out = child("child_context_value_panics_when_its_task_finishes");
    assert!(out.stdout.contains("drops=1 panicked=1"), "{out}");
}

#[test]
fn a_context_value_that_panics_in_drop_set_in_a_task_cancelled_by_close_is_counted() {
    let out = child("child_context_value_panics_when_close_cancels_its_task");
    assert!(
        out.stdout
            .contains("drops=1 cancelled=1 dropped=1 panicked=1"),
        "{out}"
    );
}

#[test]
fn child_context_value_panics_when_its_task_finishes() {
    if !is_child("child_context_value_panics_when_its_task_finishes") {
        return;
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let runner = Runner::new();
    let bomb = Bomb::new(drops.clone());
    let task = runner.spawn(async move {
        BOMB.set(bomb);
    });
    runner.run(task);
    let report = runner.close();
    println!(
        "drops={} panicked={}",
        drops.load(Ordering::SeqCst),
        report.panicked
    );
}

#[test]
fn child_context_value_panics_when_close_cancels_its_task() {
    if !is_child("child_context_value_panics_when_close_cancels_its_task") {
        return;
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let runner = Runner::new();
    let bomb = Bomb::new(drops.clone());
    let started = Arc::new(AtomicBool::new(false));
    let flag = started.clone();
    runner
        .spawn(async move {
            BOMB.set(bomb);
            flag.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await
        })
        .detach();
    runner.run(yield_until(move || started.load(Ordering::SeqCst)));
    let report = runner.close();
    println!(
        "drops={} cancelled={} dropped={} panicked={}",
        drops.load(Ordering::SeqCst),
        report.cancelled,
        report.dropped,
        report.panicked
    );
}

// 5. The same value in the runner's context or in a cleanup's context.

#[test]
fn a_context_value_that_panics_in_drop_in_the_runners_context_is_counted_by_close() {
    let drops = Arc::new(AtomicUsize::new(0));
    let runner = Runner::new();
    let bomb = Bomb::new(drops.clone());
    runner.run(async move {
        BOMB.set(bomb);
    });
    let closed = panic::catch_unwind(AssertUnwindSafe(|| runner.close()));
    let report = closed.unwrap_or_else(|payload| {
        panic!("close panicked: {}", message(&*payload));
    });
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the value dropped once");
    assert_eq!(report.panicked, 1, "{report:?}");
}

#[test]
fn a_context_value_that_panics_in_drop_in_a_cleanups_context_does_not_stop_close() {
    let drops = Arc::new(AtomicUsize::new(0));
    let earlier_ran = Arc::new(AtomicBool::new(false));
    let job_done = Arc::new(AtomicBool::new(false));
    let runner = Runner::new();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (ran, done) = (earlier_ran.clone(), job_done.clone());
    let bomb = Bomb::new(drops.clone());
    runner.run(async move {
        // A blocking job that close must wait for; the earlier cleanup
        // releases it.
        let (started_tx, started_rx) = async_channel::bounded::<()>(1);
        let job = runner::unblock(move || {
            started_tx.send_blocking(()).unwrap();
            let _ = release_rx.recv_timeout(Duration::from_secs(5));
            done.store(true, Ordering::SeqCst);
        });
        started_rx.recv().await.unwrap();
        drop(job);
        // Registered first, so it runs last.
        runner::on_close(async move {
            ran.store(true, Ordering::SeqCst);
            let _ = release_tx.send(());
        });
        // Only this cleanup's context keeps the value once the run resets it.
        let token = BOMB.set(bomb);
        runner::on_close(async {});
        BOMB.reset(token);
    });
    let closed = panic::catch_unwind(AssertUnwindSafe(|| runner.close()));
    let report = closed.unwrap_or_else(|payload| {
        panic!("close panicked: {}", message(&*payload));
    });
    assert!(
        earlier_ran.load(Ordering::SeqCst),
        "the earlier cleanup ran"
    );
    assert!(job_done.load(Ordering::SeqCst), "close waited for the job");
    assert_eq!(report.blocking_abandoned, 0, "{report:?}");
    assert_eq!(drops.load(Ordering::SeqCst), 1, "the value dropped once");
    assert_eq!(report.panicked, 1, "{report:?}");
}

#[test]
fn dropping_a_runner_while_unwinding_survives_a_context_value_that_panics_in_drop() {
    let out = child("child_runner_dropped_while_unwinding_with_a_bomb_in_its_context");
    assert!(out.stdout.contains("unwound: unwinding drops=1"), "{out}");
}

#[test]
fn child_runner_dropped_while_unwinding_with_a_bomb_in_its_context() {
    if !is_child("child_runner_dropped_while_unwinding_with_a_bomb_in_its_context") {
        return;
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let bomb = Bomb::new(drops.clone());
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
        let runner = Runner::new();
        runner.run(async move {
            BOMB.set(bomb);
        });
        panic!("unwinding");
    }))
    .unwrap_err();
    println!(
        "unwound: {} drops={}",
        message(&*unwound),
        drops.load(Ordering::SeqCst)
    );
}

// 6. Cleanups registered late in close.

#[test]
fn a_cleanup_registered_by_a_task_dropped_in_close_is_run_or_dropped_and_close_releases_it() {
    let runs = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let held = Arc::new(());
    let runner = Runner::new();
    let late = late_cleanup(&runs, &drops, &held);
    runner.run(async move {
        // This cleanup spawns a task; close drops the task after the
        // cleanups ran, and the task's `Drop` registers one more cleanup.
        runner::on_close(async move {
            let register = OnDrop::new(move || runner::on_close(late));
            runner::spawn(async move {
                let _register = register;
                std::future::pending::<()>().await
            })
            .detach();
        });
    });
    let report = runner.close();
    assert_eq!(drops.load(Ordering::SeqCst), 1, "{report:?}");
    assert!(runs.load(Ordering::SeqCst) <= 1);
    assert_eq!(
        Arc::strong_count(&held),
        1,
        "close released the late cleanup"
    );
}

#[test]
fn a_cleanup_registered_by_a_cleanup_close_drops_unrun_is_run_or_dropped_and_close_releases_it() {
    let runs = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let held = Arc::new(());
    let runner = Runner::builder()
        .close_timeout(Duration::from_millis(100))
        .build();
    let late = late_cleanup(&runs, &drops, &held);
    runner.run(async move {
        // Registered first, so it would run last: it never starts, and its
        // future registers one more cleanup when close drops it.
        let register = OnDrop::new(move || runner::on_close(late));
        runner::on_close(async move {
            let _register = register;
        });
        // Runs first and never finishes: the cleanup step times out.
        runner::on_close(std::future::pending());
    });
    let report = runner.close();
    assert_eq!(drops.load(Ordering::SeqCst), 1, "{report:?}");
    assert!(runs.load(Ordering::SeqCst) <= 1);
    assert_eq!(
        Arc::strong_count(&held),
        1,
        "close released the late cleanup"
    );
}

// 7. Panicking wakers.

#[test]
fn a_closing_waker_that_panics_does_not_make_close_panic() {
    let drops = Arc::new(AtomicUsize::new(0));
    let cleanup_ran = Arc::new(AtomicBool::new(false));
    let runner = Runner::builder()
        .close_timeout(Duration::from_millis(100))
        .build();
    spawn_closing_with_panicking_waker(&runner, &drops, &cleanup_ran);
    let closed = panic::catch_unwind(AssertUnwindSafe(|| runner.close()));
    let report = closed.unwrap_or_else(|payload| {
        panic!("close panicked: {}", message(&*payload));
    });
    assert_eq!(drops.load(Ordering::SeqCst), 1, "{report:?}");
    assert_eq!((report.cancelled, report.dropped), (1, 1), "{report:?}");
    assert!(
        cleanup_ran.load(Ordering::SeqCst),
        "close went on to the cleanups"
    );
}

#[test]
fn dropping_a_runner_while_unwinding_survives_a_closing_waker_that_panics() {
    let out = child("child_runner_dropped_while_unwinding_with_a_panicking_closing_waker");
    assert!(
        out.stdout
            .contains("unwound: unwinding drops=1 cleanup_ran=true"),
        "{out}"
    );
}

#[test]
fn child_runner_dropped_while_unwinding_with_a_panicking_closing_waker() {
    if !is_child("child_runner_dropped_while_unwinding_with_a_panicking_closing_waker") {
        return;
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let cleanup_ran = Arc::new(AtomicBool::new(false));
    let unwound = panic::catch_unwind(AssertUnwindSafe(|| {
        let runner = Runner::builder()
            .close_timeout(Duration::from_millis(100))
            .build();
        spawn_closing_with_panicking_waker(&runner, &drops, &cleanup_ran);
        panic!("unwinding");
    }))
    .unwrap_err();
    println!(
        "unwound: {} drops={} cleanup_ran={}",
        message(&*unwound),
        drops.load(Ordering::SeqCst),
        cleanup_ran.load(Ordering::SeqCst)
    );
}

#[test]
fn a_panicking_waker_of_a_future_awaiting_a_task_does_not_abort() {
    let out = child("child_panicking_waker_awaits_a_task");
    assert!(out.stdout.contains("output=5 panicked=1"), "{out}");
}

#[test]
fn close_counts_a_panicking_waker_of_whoever_awaits_a_task_it_cancels() {
    let out = child("child_close_wakes_a_panicking_awaiter");
    assert!(
        out.stdout.contains("cancelled=1 dropped=1 panicked=1"),
        "{out}"
    );
}

#[test]
fn a_panicking_waker_of_a_task_s_cancel_does_not_abort() {
    let out = child("child_panicking_waker_awaits_a_cancel");
    assert!(out.stdout.contains("cancelled=None panicked=1"), "{out}");
}

#[test]
fn a_panicking_waker_of_whoever_joins_a_group_does_not_abort() {
    let out = child("child_panicking_waker_joins_a_group");
    assert!(out.stdout.contains("joined=[5] panicked=1"), "{out}");
}

#[test]
fn child_close_wakes_a_panicking_awaiter() {
    if !is_child("child_close_wakes_a_panicking_awaiter") {
        return;
    }
    let runner = Runner::new();
    let mut task = Box::pin(runner.spawn(std::future::pending::<()>()));
    runner.run(runner::yield_now());
    // The task registers this waker as its awaiter; close drops the task's
    // future and wakes it.
    let waker = Waker::from(Arc::new(PanickingWaker));
    assert!(task
        .as_mut()
        .poll(&mut TaskContext::from_waker(&waker))
        .is_pending());
    let report = runner.close();
    println!(
        "cancelled={} dropped={} panicked={}",
        report.cancelled, report.dropped, report.panicked
    );
}

#[test]
fn child_panicking_waker_awaits_a_cancel() {
    if !is_child("child_panicking_waker_awaits_a_cancel") {
        return;
    }
    let runner = Runner::new();
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();
    let task = runner.spawn(async move {
        let _flag = OnDrop::new(move || flag.store(true, Ordering::SeqCst));
        std::future::pending::<()>().await;
    });
    let cancelled = runner.run(async move {
        runner::yield_now().await;
        let mut cancel = Box::pin(task.cancel());
        // The task is idle: `cancel` has its runner drop the future on its
        // next turn, then wakes this waker, before anything polls it again.
        let waker = Waker::from(Arc::new(PanickingWaker));
        let first = cancel.as_mut().poll(&mut TaskContext::from_waker(&waker));
        assert!(first.is_pending());
        yield_until(|| dropped.load(Ordering::SeqCst)).await;
        cancel.await
    });
    let report = runner.close();
    println!("cancelled={cancelled:?} panicked={}", report.panicked);
}

#[test]
fn child_panicking_waker_joins_a_group() {
    if !is_child("child_panicking_waker_joins_a_group") {
        return;
    }
    let runner = Runner::new();
    let (go_tx, go_rx) = async_channel::bounded::<()>(1);
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let joined = runner.run(async move {
        let mut group = runner::TaskGroup::new();
        group.spawn(async move {
            let _flag = OnDrop::new(move || flag.store(true, Ordering::SeqCst));
            let _ = go_rx.recv().await;
            5
        });
        let mut join = Box::pin(group.join());
        // The group registers this waker as its joiner, and wakes it when
        // its task ends.
        let waker = Waker::from(Arc::new(PanickingWaker));
        assert!(join
            .as_mut()
            .poll(&mut TaskContext::from_waker(&waker))
            .is_pending());
        go_tx.send(()).await.unwrap();
        // The task ends (its future dropped, then its joiner woken) before
        // anything polls the join again.
        yield_until(|| done.load(Ordering::SeqCst)).await;
        join.await
    });
    let report = runner.close();
    println!("joined={joined:?} panicked={}", report.panicked);
}

#[test]
fn child_panicking_waker_awaits_a_task() {
    if !is_child("child_panicking_waker_awaits_a_task") {
        return;
    }
    let runner = Runner::new();
    let (go_tx, go_rx) = async_channel::bounded::<()>(1);
    let task = runner.spawn(async move {
        let _ = go_rx.recv().await;
        5
    });
    let output = runner.run(async move {
        let mut task = pin!(task);
        // The task registers this waker as its awaiter...
        let waker = Waker::from(Arc::new(PanickingWaker));
        let polled = task.as_mut().poll(&mut TaskContext::from_waker(&waker));
        assert!(polled.is_pending());
        // ...and wakes it when it finishes, before anything polls it again.
        go_tx.send(()).await.unwrap();
        yield_until(|| task.is_finished()).await;
        task.await
    });
    println!("output={output} panicked={}", runner.close().panicked);
}

// Smaller ones: `Duration::MAX` means never.

#[test]
fn a_timeout_of_duration_max_never_elapses() {
    let runner = Runner::new();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        let ready = runner.run(runner::timeout(Duration::MAX, async { 1 }));
        let pending = runner.run(runner::timeout(
            Duration::from_millis(20),
            runner::timeout(Duration::MAX, std::future::pending::<()>()),
        ));
        (ready, pending)
    }));
    let (ready, pending) = outcome.unwrap_or_else(|payload| panic!("{}", message(&*payload)));
    assert_eq!(ready, Ok(1));
    assert_eq!(
        pending,
        Err(runner::Elapsed::new()),
        "the outer timeout fired"
    );
}

#[test]
fn a_sleep_of_duration_max_never_ends() {
    let runner = Runner::new();
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        runner.run(runner::timeout(
            Duration::from_millis(20),
            runner::sleep(Duration::MAX),
        ))
    }));
    let slept = outcome.unwrap_or_else(|payload| panic!("{}", message(&*payload)));
    assert_eq!(slept, Err(runner::Elapsed::new()));
}

#[test]
fn a_close_timeout_of_duration_max_closes_a_runner_with_nothing_to_wait_for() {
    for workers in [0, 1] {
        let (report_tx, report_rx) = mpsc::channel();
        // On a thread of its own, so that a hang fails the test instead.
        thread::spawn(move || {
            let closed = panic::catch_unwind(|| {
                let runner = Runner::builder()
                    .worker_threads(workers)
                    .close_timeout(Duration::MAX)
                    .build();
                assert_eq!(runner.run(async { 1 }), 1);
                runner.close()
            });
            let _ = report_tx.send(closed.map_err(|payload| message(&*payload).to_owned()));
        });
        let report = report_rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("close with {workers} worker(s) hung"))
            .unwrap_or_else(|message| panic!("close with {workers} worker(s) panicked: {message}"));
        assert_eq!(report.cancelled, 0);
    }
}

#[test]
fn a_test_timeout_of_duration_max_never_fires() {
    let outcome = panic::catch_unwind(|| {
        let runner = Runner::builder().__test_timeout(Duration::MAX).build();
        let one = runner.run(async {
            runner::yield_now().await;
            1
        });
        runner.close();
        one
    });
    let one = outcome.unwrap_or_else(|payload| panic!("{}", message(&*payload)));
    assert_eq!(one, 1);
}

// Smaller ones: the close report.

#[test]
fn tasks_spawned_during_close_count_as_cancelled_and_dropped() {
    let drops = Arc::new(AtomicUsize::new(0));
    let runner = Runner::new();
    let guard = DropCounter(drops.clone());
    let counter = drops.clone();
    let spawner = OnDrop::new(move || {
        for _ in 0..100 {
            let guard = DropCounter(counter.clone());
            runner::spawn(common::pending_holding(guard)).detach();
        }
    });
    runner
        .spawn(async move {
            let _guard = guard;
            let _spawner = spawner;
            std::future::pending::<()>().await
        })
        .detach();
    runner.run(runner::yield_now());
    let report = runner.close();
    assert!(report.dropped <= report.cancelled, "{report:?}");
    assert_eq!((report.cancelled, report.dropped), (101, 101), "{report:?}");
    assert_eq!(drops.load(Ordering::SeqCst), 101);
}

// Smaller ones: a context entered on another thread.

static LEVEL: ContextVar<u32> = ContextVar::new("hardening_level");

#[test]
fn another_thread_reads_and_copies_the_runners_context_during_a_run() {
    let runner = Runner::new();
    runner.run(async { LEVEL.set(1) });
    let context = runner.context();
    let (ask_tx, ask_rx) = mpsc::channel::<()>();
    let (answer_tx, answer_rx) = async_channel::bounded(1);
    let answer = thread::scope(|scope| {
        scope.spawn(move || {
            if ask_rx.recv_timeout(Duration::from_secs(10)).is_err() {
                return;
            }
            let read = panic::catch_unwind(|| (context.get(&LEVEL), context.copy().get(&LEVEL)));
            let _ = answer_tx.send_blocking(read.map_err(|payload| message(&*payload).to_owned()));
        });
        runner.run(async move {
            LEVEL.set(2);
            ask_tx.send(()).unwrap();
            runner::timeout(Duration::from_secs(10), answer_rx.recv()).await
        })
    });
    let (got, copied) = answer
        .expect("the monitor answered in time")
        .expect("the monitor sent its answer")
        .unwrap_or_else(|message| panic!("reading the entered context panicked: {message}"));
    // The values as of entry, or the last written back.
    assert!(matches!(got, Some(1 | 2)), "{got:?}");
    assert!(matches!(copied, Some(1 | 2)), "{copied:?}");
}

#[test]
fn runner_spawn_works_while_another_thread_has_the_runners_context_entered() {
    let runner = Runner::new();
    runner.run(async { LEVEL.set(7) });
    let context = runner.context();
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let spawned = thread::scope(|scope| {
        scope.spawn(move || {
            context.run(|| {
                entered_tx.send(()).unwrap();
                let _ = release_rx.recv_timeout(Duration::from_secs(10));
            })
        });
        entered_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the other thread entered the context");
        let spawned = panic::catch_unwind(AssertUnwindSafe(|| runner.spawn(async { LEVEL.get() })));
        release_tx.send(()).unwrap();
        spawned
    });
    let task =
        spawned.unwrap_or_else(|payload| panic!("Runner::spawn panicked: {}", message(&*payload)));
    assert_eq!(runner.run(task), Some(7));
}

// Helpers.

/// The environment variable that selects a child case.
const CHILD: &str = "RUNNER_HARDENING_CHILD";

/// How long a child may run before it is killed and counted as a failure.
const CHILD_TIMEOUT: Duration = Duration::from_secs(90);

/// The close timeout of the busy-task lifecycles: close must return well
/// before it, since no task listens to `closing()`.
const BUSY_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Lifecycles per worker count: enough to show a race lost one time in seven.
const LIFECYCLES: usize = 30;

fn is_child(case: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|child| child == case)
}

/// What a child printed, and how it ended (`None`: killed at the timeout).
struct Output {
    /// How to run the child again by hand.
    rerun: String,
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "child {}: {}\n--- stdout\n{}--- stderr\n{}",
            self.rerun,
            describe(self.status),
            self.stdout,
            self.stderr
        )
    }
}

fn describe(status: Option<ExitStatus>) -> String {
    let Some(status) = status else {
        return format!("killed after {CHILD_TIMEOUT:?}");
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        match status.signal() {
            Some(6) => return "aborted (SIGABRT)".to_owned(),
            Some(signal) => return format!("killed by signal {signal}"),
            None => {}
        }
    }
    format!("{status}")
}

/// Runs the child case `case` of this binary and asserts that it succeeded.
fn child(case: &'static str) -> Output {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new(&exe);
    command
        .args([case, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, case);
    let rerun = format!(
        "{CHILD}={case} {} {case} --exact --nocapture",
        exe.display()
    );
    let output = spawn_and_wait(rerun, command);
    assert!(
        output.status.is_some_and(|status| status.success()),
        "{output}"
    );
    output
}

/// Runs `command` to its end, or kills it after [`CHILD_TIMEOUT`].
fn spawn_and_wait(rerun: String, command: Command) -> Output {
    let (status, stdout, stderr) = common::run_child(command, CHILD_TIMEOUT);
    Output {
        rerun,
        status,
        stdout,
        stderr,
    }
}

/// Compiles `source` as a program linking the `runner` this test binary
/// links (the newest `librunner-*.rlib` next to it), runs it, and asserts
/// that it succeeded.
fn run_main_program(source: &str) -> Output {
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let rlib = std::fs::read_dir(&deps)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("librunner-") && name.ends_with(".rlib")
        })
        .max_by_key(|entry| entry.metadata().and_then(|meta| meta.modified()).ok())
        .unwrap_or_else(|| panic!("no librunner-*.rlib in {}", deps.display()))
        .path();
    let dir = std::env::temp_dir().join(format!("runner-hardening-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (main_rs, program) = (dir.join("main.rs"), dir.join("main"));
    std::fs::write(&main_rs, source).unwrap();
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let compiled = Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "bin",
            "-C",
            "debuginfo=0",
        ])
        .arg("-L")
        .arg(format!("dependency={}", deps.display()))
        .arg("--extern")
        .arg(format!("runner={}", rlib.display()))
        .arg(&main_rs)
        .arg("-o")
        .arg(&program)
        .output()
        .expect("rustc ran");
    assert!(
        compiled.status.success(),
        "compiling the program failed:\n{}",
        String::from_utf8_lossy(&compiled.stderr)
    );
    let output = spawn_and_wait(program.display().to_string(), Command::new(&program));
    assert!(
        output.status.is_some_and(|status| status.success()),
        "{output}"
    );
    // Kept for a rerun by hand when it failed.
    let _ = std::fs::remove_dir_all(&dir);
    output
}

fn find<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in:\n{text}"))
}

/// The message of a panic payload.
fn message(payload: &(dyn std::any::Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "Box<dyn Any>"
    }
}

/// Prints a line at once, also from destructors at process exit.
fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// What close did for `give_close_work`, in order.
static EVENTS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

fn event(name: &'static str) {
    EVENTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(name);
    say(name);
}

fn events() -> Vec<&'static str> {
    EVENTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// Asserts that `text` shows each step of close done once for the work
/// that `give_close_work` (or the main program) left.
fn assert_close_did_its_steps(text: &str, out: &Output) {
    for event in [
        "task future dropped",
        "cleanup ran",
        "blocking job finished",
    ] {
        assert_eq!(text.matches(event).count(), 1, "{event:?} once in {out}");
    }
}

/// Leaves work for each step of close: a pending task (step 1), a cleanup
/// (step 2) that releases a running blocking job (step 3).
fn give_close_work(runner: &Runner) {
    let (release_tx, release_rx) = mpsc::channel::<()>();
    runner.run(async move {
        let (started_tx, started_rx) = async_channel::bounded::<()>(1);
        let job = runner::unblock(move || {
            started_tx.send_blocking(()).unwrap();
            let _ = release_rx.recv_timeout(Duration::from_secs(5));
            event("blocking job finished");
        });
        // Started: dropping its future no longer cancels it.
        started_rx.recv().await.unwrap();
        drop(job);
        runner::on_close(async move {
            event("cleanup ran");
            let _ = release_tx.send(());
        });
        let guard = OnDrop::new(|| event("task future dropped"));
        runner::spawn(common::pending_holding(guard)).detach();
        runner::yield_now().await;
    });
}

/// Spawns busy tasks onto `runner`: they count their polls in the first
/// counter and their dropped futures in the second, and send on the channel
/// once they keep waking.
type SpawnBusy = fn(&Runner, &Arc<AtomicUsize>, &Arc<AtomicUsize>, mpsc::Sender<()>);

/// Runs `LIFECYCLES` lifecycles per worker count of a runner whose close
/// meets `futures` busy futures; returns how many it checked, or panics
/// listing what went wrong.
fn close_stops_busy_tasks(name: &str, futures: usize, spawn: SpawnBusy) -> usize {
    let mut failures = Vec::new();
    let mut closed = Vec::new();
    'lifecycles: for workers in [1, 2] {
        for lifecycle in 0..LIFECYCLES {
            let at = format!("{name}, {workers} worker(s), lifecycle {lifecycle}");
            let runner = Runner::builder()
                .worker_threads(workers)
                .close_timeout(BUSY_CLOSE_TIMEOUT)
                .build();
            let polls = Arc::new(AtomicUsize::new(0));
            let drops = Arc::new(AtomicUsize::new(0));
            let (busy_tx, busy_rx) = mpsc::channel();
            spawn(&runner, &polls, &drops, busy_tx);
            if busy_rx.recv_timeout(Duration::from_secs(10)).is_err() {
                failures.push(format!("{at}: the tasks never got busy on the workers"));
                break 'lifecycles;
            }
            let start = Instant::now();
            let report = runner.close();
            let took = start.elapsed();
            let polls_at_close = polls.load(Ordering::SeqCst);
            let dropped = drops.load(Ordering::SeqCst);
            let mut problems = Vec::new();
            if took >= BUSY_CLOSE_TIMEOUT / 2 {
                problems.push(format!(
                    "close took {took:?} (close timeout {BUSY_CLOSE_TIMEOUT:?}, nobody waits on closing())"
                ));
            }
            if dropped != futures {
                problems.push(format!(
                    "{dropped} of {futures} future(s) dropped when close returned"
                ));
            }
            if (report.cancelled, report.dropped) != (futures, futures) {
                problems.push(format!("report {report:?}"));
            }
            closed.push((at.clone(), polls, polls_at_close, drops));
            if !problems.is_empty() {
                failures.push(format!("{at}: {}", problems.join("; ")));
                break 'lifecycles;
            }
        }
    }
    // Observing an absence takes a wait: a task still polled after close
    // returned moves its counter within this.
    thread::sleep(Duration::from_millis(50));
    for (at, polls, polls_at_close, drops) in &closed {
        let moved = polls.load(Ordering::SeqCst) - polls_at_close;
        if moved > 0 {
            failures.push(format!(
                "{at}: polled {moved} more time(s) after close returned"
            ));
        }
        let dropped = drops.load(Ordering::SeqCst);
        if dropped != futures {
            failures.push(format!("{at}: {dropped} drop(s) of {futures} future(s)"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    closed.len()
}

/// One task that yields in a loop: `loop { yield_now().await }`.
fn spawn_yield_loop(
    runner: &Runner,
    polls: &Arc<AtomicUsize>,
    drops: &Arc<AtomicUsize>,
    busy: mpsc::Sender<()>,
) {
    let (polls, guard) = (polls.clone(), DropCounter(drops.clone()));
    runner
        .spawn(async move {
            let _guard = guard;
            loop {
                if polls.fetch_add(1, Ordering::SeqCst) == 100 {
                    let _ = busy.send(());
                }
                runner::yield_now().await;
            }
        })
        .detach();
}

/// One task doing CPU work in chunks, yielding between them.
fn spawn_cpu_chunks(
    runner: &Runner,
    polls: &Arc<AtomicUsize>,
    drops: &Arc<AtomicUsize>,
    busy: mpsc::Sender<()>,
) {
    let (polls, guard) = (polls.clone(), DropCounter(drops.clone()));
    runner
        .spawn(async move {
            let _guard = guard;
            let mut sum = 0u64;
            loop {
                if polls.fetch_add(1, Ordering::SeqCst) == 20 {
                    let _ = busy.send(());
                }
                for i in 0..20_000u64 {
                    sum = std::hint::black_box(sum.wrapping_add(i));
                }
                runner::yield_now().await;
            }
        })
        .detach();
}

/// Two tasks that keep waking each other through channels.
fn spawn_ping_pong(
    runner: &Runner,
    polls: &Arc<AtomicUsize>,
    drops: &Arc<AtomicUsize>,
    busy: mpsc::Sender<()>,
) {
    let (ping_tx, ping_rx) = async_channel::bounded::<()>(1);
    let (pong_tx, pong_rx) = async_channel::bounded::<()>(1);
    let (polls_a, guard_a) = (polls.clone(), DropCounter(drops.clone()));
    runner
        .spawn(async move {
            let _guard = guard_a;
            for round in 0u64.. {
                polls_a.fetch_add(1, Ordering::SeqCst);
                if round == 100 {
                    let _ = busy.send(());
                }
                if ping_tx.send(()).await.is_err() || pong_rx.recv().await.is_err() {
                    // The other side is gone: never finish on our own.
                    std::future::pending::<()>().await;
                }
            }
        })
        .detach();
    let (polls_b, guard_b) = (polls.clone(), DropCounter(drops.clone()));
    runner
        .spawn(async move {
            let _guard = guard_b;
            loop {
                polls_b.fetch_add(1, Ordering::SeqCst);
                if ping_rx.recv().await.is_err() || pong_tx.send(()).await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        })
        .detach();
}

/// A cleanup that counts its runs and its drops, and holds `held`.
fn late_cleanup(
    runs: &Arc<AtomicUsize>,
    drops: &Arc<AtomicUsize>,
    held: &Arc<()>,
) -> impl Future<Output = ()> + Send + 'static {
    let (runs, guard, held) = (runs.clone(), DropCounter(drops.clone()), held.clone());
    async move {
        let _guard = guard;
        let _held = held;
        runs.fetch_add(1, Ordering::SeqCst);
    }
}

/// Spawns a task that waits on `closing()` with a waker that panics, and
/// registers a cleanup that sets `cleanup_ran`; returns once the task waits.
fn spawn_closing_with_panicking_waker(
    runner: &Runner,
    drops: &Arc<AtomicUsize>,
    cleanup_ran: &Arc<AtomicBool>,
) {
    let ran = cleanup_ran.clone();
    runner.run(async move {
        runner::on_close(async move { ran.store(true, Ordering::SeqCst) });
    });
    let waiting = Arc::new(AtomicBool::new(false));
    let (flag, guard) = (waiting.clone(), DropCounter(drops.clone()));
    runner
        .spawn(async move {
            let _guard = guard;
            let mut closing = pin!(runner::closing());
            let waker = Waker::from(Arc::new(PanickingWaker));
            let polled = closing.as_mut().poll(&mut TaskContext::from_waker(&waker));
            assert!(polled.is_pending());
            flag.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await
        })
        .detach();
    runner.run(yield_until(move || waiting.load(Ordering::SeqCst)));
}

/// Yields until `done()` holds, for at most 10 s.
async fn yield_until(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting");
        runner::yield_now().await;
    }
}

/// Counts its drop, then panics.
struct PanicOnDrop(Arc<AtomicUsize>);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("a value that panics in Drop");
    }
}

/// A context-variable value whose last clone panics when it drops.
#[derive(Clone)]
struct Bomb(#[allow(dead_code)] Arc<PanicOnDrop>);

impl Bomb {
    fn new(drops: Arc<AtomicUsize>) -> Bomb {
        Bomb(Arc::new(PanicOnDrop(drops)))
    }
}

/// Calls a closure when dropped.
struct OnDrop<F: FnOnce()>(Option<F>);

impl<F: FnOnce()> OnDrop<F> {
    fn new(f: F) -> OnDrop<F> {
        OnDrop(Some(f))
    }
}

impl<F: FnOnce()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// A waker that panics when woken.
struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("a waker that panics");
    }
}
