//! `unblock`: blocking closures on the pool, accounted for by the runner.

use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::time::Duration;

use runner::Runner;

#[test]
fn unblock_returns_the_closure_result() {
    let runner = Runner::new();
    assert_eq!(runner.run(runner::unblock(|| 2 + 2)), 4);
}

#[test]
fn unblock_runs_off_the_runner_thread() {
    let runner = Runner::new();
    let here = std::thread::current().id();
    let there = runner.run(runner::unblock(|| std::thread::current().id()));
    assert_ne!(here, there);
}

#[test]
fn a_panic_in_the_closure_comes_out_of_the_await_with_its_payload() {
    let runner = Runner::new();
    let payload = panic::catch_unwind(AssertUnwindSafe(|| {
        runner.run(runner::unblock(|| panic::panic_any(5_i32)))
    }))
    .expect_err("the closure panicked");
    assert_eq!(payload.downcast_ref::<i32>(), Some(&5));
    assert_eq!(runner.close().panicked, 0);
}

#[test]
fn a_panic_in_a_job_nobody_awaits_is_counted() {
    let runner = Runner::new();
    let (sender, receiver) = mpsc::channel();
    runner.run(async move {
        runner::spawn(runner::unblock(move || {
            let _signal = SendOnDrop(sender);
            panic!("job failed");
        }))
        .detach();
        runner::yield_now().await;
    });
    receiver.recv_timeout(Duration::from_secs(10)).unwrap();
    // The detached task observes nothing; the panic is counted once the task
    // finishes with it or close drops it.
    assert_eq!(runner.close().panicked, 1);
}

#[test]
fn unblock_works_outside_a_runner_too() {
    assert_eq!(futures_lite::future::block_on(runner::unblock(|| 7)), 7);
}

#[test]
fn the_pool_thread_keeps_an_empty_context() {
    static MARK: runner::ContextVar<u32> = runner::ContextVar::new("mark");
    let runner = Runner::new();
    runner.run(async {
        MARK.set(1);
        assert_eq!(runner::unblock(|| MARK.get()).await, Some(1));
    });
    // A job from outside any context sees none of it, on whichever thread.
    for _ in 0..20 {
        assert_eq!(
            futures_lite::future::block_on(runner::unblock(|| MARK.get())),
            None
        );
    }
}

// Helpers.

struct SendOnDrop(mpsc::Sender<()>);

impl Drop for SendOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}
