//! Virtual time: `Builder::virtual_time`, `now`, `sleep_until`, `advance`,
//! auto-advance and `hold_clock`.

mod common;
use common::panic_message;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runner::{Elapsed, Runner};

fn virtual_runner() -> Runner {
    Runner::builder().virtual_time(true).build()
}

#[test]
fn sleeping_an_hour_returns_at_once_with_now_an_hour_later() {
    let runner = virtual_runner();
    let real = Instant::now();
    let moved = runner.run(async {
        let start = runner::now();
        runner::sleep(Duration::from_secs(3600)).await;
        runner::now() - start
    });
    assert_eq!(moved, Duration::from_secs(3600));
    assert!(
        real.elapsed() < Duration::from_secs(30),
        "{:?}",
        real.elapsed()
    );
}

#[test]
fn auto_advance_fires_timers_in_deadline_order() {
    let runner = virtual_runner();
    let log = Arc::new(Mutex::new(Vec::new()));
    runner.run(async {
        let tasks: Vec<_> = [3, 1, 2]
            .into_iter()
            .map(|secs| {
                let log = log.clone();
                runner::spawn(async move {
                    runner::sleep(Duration::from_secs(secs)).await;
                    log.lock().unwrap().push(secs);
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
    });
    assert_eq!(*log.lock().unwrap(), [1, 2, 3]);
}

#[test]
fn advance_fires_due_timers_in_order_and_runs_their_tasks_before_returning() {
    let runner = virtual_runner();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (seen, moved) = runner.run(async {
        let start = runner::now();
        for secs in [30, 10, 20] {
            let log = log.clone();
            runner::spawn(async move {
                runner::sleep(Duration::from_secs(secs)).await;
                log.lock().unwrap().push(secs);
            })
            .detach();
        }
        runner::yield_now().await; // the tasks register their timers
        runner::advance(Duration::from_secs(25)).await;
        (log.lock().unwrap().clone(), runner::now() - start)
    });
    assert_eq!(seen, [10, 20]);
    assert_eq!(moved, Duration::from_secs(25));
}

#[test]
fn sleep_until_and_timeout_use_the_virtual_clock() {
    let runner = virtual_runner();
    let (elapsed, at) = runner.run(async {
        let deadline = runner::now() + Duration::from_secs(60);
        let slow = runner::timeout(
            Duration::from_secs(5),
            runner::sleep(Duration::from_secs(50)),
        );
        let elapsed = slow.await;
        runner::sleep_until(deadline).await;
        (elapsed, runner::now() == deadline)
    });
    assert_eq!(elapsed, Err(Elapsed::new()));
    assert!(at);
}

#[test]
fn auto_advance_waits_while_an_unblock_job_is_in_flight() {
    let runner = virtual_runner();
    let raced = runner.run(async {
        let job = runner::unblock(|| std::thread::sleep(Duration::from_millis(100)));
        runner::timeout(Duration::from_millis(1), job).await
    });
    assert_eq!(raced, Ok(()));
}

#[test]
fn a_clock_hold_keeps_real_io_from_being_outrun() {
    let runner = virtual_runner();
    let real_wait = || async_io::Timer::after(Duration::from_millis(200));
    let unheld = runner.run(runner::timeout(Duration::from_millis(1), real_wait()));
    assert_eq!(
        unheld,
        Err(Elapsed::new()),
        "the clock jumped past the idle threshold"
    );
    let held = runner.run(async {
        let _hold = runner::hold_clock();
        runner::timeout(Duration::from_millis(1), real_wait()).await
    });
    assert!(held.is_ok());
}

#[test]
fn releasing_a_clock_hold_lets_an_idle_loop_advance() {
    let runner = virtual_runner();
    runner.run(async {
        let hold = runner::hold_clock();
        let sleeper = runner::spawn(runner::sleep(Duration::from_secs(10)));
        runner::spawn(async move {
            async_io::Timer::after(Duration::from_millis(20)).await;
            drop(hold);
        })
        .detach();
        sleeper.await;
    });
}

#[test]
fn advance_without_virtual_time_panics_saying_so() {
    let runner = Runner::new();
    let message = panic_message(|| {
        runner.run(async { runner::advance(Duration::from_secs(1)).await });
    });
    assert!(
        message.contains("needs a runner with virtual time"),
        "{message}"
    );
}

#[test]
fn a_test_timeout_counts_real_time_under_virtual_time() {
    // A virtual hour does not trip a real 30 s deadline...
    let runner = Runner::builder()
        .virtual_time(true)
        .__test_timeout(Duration::from_secs(30))
        .build();
    runner.run(runner::sleep(Duration::from_secs(3600)));
    // ...and a real stall does trip a real 50 ms one.
    let stalled = Runner::builder()
        .virtual_time(true)
        .__test_timeout(Duration::from_millis(50))
        .build();
    let message = panic_message(|| stalled.run(std::future::pending::<()>()));
    assert!(message.contains("timed out after 50ms"), "{message}");
}

#[test]
fn close_lets_cleanup_sleeps_finish_on_the_virtual_clock() {
    let runner = Runner::builder()
        .virtual_time(true)
        .close_timeout(Duration::from_secs(30))
        .build();
    runner.run(async {
        runner::spawn(async {
            runner::closing().await;
            runner::sleep(Duration::from_secs(3600)).await;
        })
        .detach();
        runner::yield_now().await;
    });
    let report = runner.close();
    assert_eq!((report.cancelled, report.dropped), (1, 0));
    assert!(report.elapsed < Duration::from_secs(30));
}

#[test]
fn now_outside_a_runner_and_without_virtual_time_is_real_time() {
    let before = Instant::now();
    let outside = runner::now();
    let inside = Runner::new().run(async { runner::now() });
    assert!(outside >= before && inside >= outside);
}

#[test]
fn a_sleep_counts_on_the_clock_of_the_runner_that_polls_it() {
    let nap = || runner::sleep(Duration::from_secs(3600));
    let real = Instant::now();
    virtual_runner().run(nap());
    assert!(real.elapsed() < Duration::from_secs(30));
    let short = runner::sleep(Duration::from_millis(30));
    let start = Instant::now();
    Runner::new().run(short);
    assert!(start.elapsed() >= Duration::from_millis(30));
}

// Helpers.
