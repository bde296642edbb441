//! `Handle`, `runner::handle()`, `Closed` and `runner::shared()`: reaching a
//! runner from other threads.

mod common;
use common::{panic_message, DropCounter};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use runner::{Closed, ContextVar, Handle, Runner};

#[test]
fn a_handle_is_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<Handle>();
}

#[test]
fn a_task_spawned_through_a_handle_runs_in_the_next_run() {
    let runner = Runner::new();
    let handle = runner.handle();
    let task = thread::spawn(move || handle.spawn(async { 6 * 7 }).unwrap())
        .join()
        .unwrap();
    assert_eq!(runner.run(task), 42);
}

#[test]
fn a_task_spawned_through_a_handle_starts_with_a_copy_of_the_callers_context() {
    static USER: ContextVar<&str> = ContextVar::new("user");
    let runner = Runner::new();
    let handle = runner.handle();
    let task = thread::spawn(move || {
        let _token = USER.set("ada");
        handle.spawn(async { USER.get() }).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(runner.run(task), Some("ada"));
    assert_eq!(runner.run(async { USER.get() }), None);
}

#[test]
fn spawning_on_a_closed_runner_is_refused_and_drops_the_future() {
    let runner = Runner::new();
    let handle = runner.handle();
    runner.close();
    assert!(handle.is_closed());
    let drops = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(drops.clone());
    let refused = handle.spawn(async move { drop(guard) });
    assert_eq!(refused.unwrap_err(), Closed);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(handle.block_on(async { 1 }), Err(Closed));
}

#[test]
fn submissions_racing_close_are_each_refused_or_dropped_or_finished_exactly_once() {
    for workers in [0, 1] {
        let runner = Runner::builder().worker_threads(workers).build();
        let handle = runner.handle();
        let (submitted, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (drops, finished) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let start = Arc::new(Barrier::new(4));
        let spammers: Vec<_> = (0..3)
            .map(|_| {
                let (handle, start) = (handle.clone(), start.clone());
                let (submitted, refused) = (submitted.clone(), refused.clone());
                let (drops, finished) = (drops.clone(), finished.clone());
                thread::spawn(move || {
                    start.wait();
                    loop {
                        let guard = DropCounter(drops.clone());
                        let finished = finished.clone();
                        let task = handle.spawn(async move {
                            let _guard = guard;
                            runner::yield_now().await;
                            finished.fetch_add(1, Ordering::SeqCst);
                            std::future::pending::<()>().await
                        });
                        match task {
                            Ok(task) => {
                                submitted.fetch_add(1, Ordering::SeqCst);
                                task.detach();
                            }
                            Err(Closed) => {
                                refused.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        start.wait();
        runner.run(runner::sleep(Duration::from_millis(5)));
        let report = runner.close();
        for spammer in spammers {
            spammer.join().unwrap();
        }
        let submitted = submitted.load(Ordering::SeqCst);
        assert_eq!(refused.load(Ordering::SeqCst), 3);
        // Every future is dropped exactly once: the accepted ones (all still
        // pending at close) by close, the refused one of each thread at once.
        assert_eq!(
            drops.load(Ordering::SeqCst),
            submitted + 3,
            "workers: {workers}"
        );
        assert_eq!(
            report.cancelled,
            submitted,
            "{report:?} drops {}",
            drops.load(Ordering::SeqCst)
        );
        assert_eq!(report.dropped, submitted);
    }
}

#[test]
fn block_on_runs_a_non_send_future_that_borrows_a_local() {
    let runner = Runner::new();
    let handle = runner.handle();
    let counter = Rc::new(Cell::new(0));
    let seen = handle
        .block_on(async {
            counter.set(counter.get() + 1);
            runner::yield_now().await;
            counter.get()
        })
        .unwrap();
    assert_eq!(seen, 1);
}

#[test]
fn block_on_runs_the_runners_send_tasks_while_its_future_waits() {
    // No workers and no run: only the thread inside block_on can run the task.
    let runner = Runner::new();
    let handle = runner.handle();
    let value = thread::spawn(move || {
        let task = handle.spawn(async { thread::current().name().map(str::to_owned) });
        let task = task.unwrap();
        handle.block_on(task).unwrap()
    });
    let name = value.join().unwrap();
    assert_eq!(name, None, "the task ran on the unnamed helper thread");
}

#[test]
fn block_on_keeps_what_its_future_sets_in_the_callers_context() {
    static STEP: ContextVar<u32> = ContextVar::new("step");
    let runner = Runner::new();
    let handle = runner.handle();
    handle.block_on(async { STEP.set(1) }).unwrap();
    assert_eq!(STEP.get(), Some(1));
    assert_eq!(runner.run(async { STEP.get() }), None);
}

#[test]
fn spawn_inside_block_on_reaches_the_runner() {
    let runner = Runner::new();
    let handle = runner.handle();
    let value = handle
        .block_on(async { runner::spawn(async { 5 }).await })
        .unwrap();
    assert_eq!(value, 5);
}

#[test]
fn block_on_inside_a_run_panics_as_a_nested_run() {
    let runner = Runner::new();
    let handle = runner.handle();
    let message = panic_message(|| {
        runner.run(async {
            let _ = handle.block_on(async {});
        })
    });
    assert!(
        message.contains("cannot be called from a running event loop"),
        "{message}"
    );
    assert!(message.contains("`Handle::block_on`"), "{message}");
}

#[test]
fn shared_block_on_inside_a_run_names_the_shared_runner_in_its_panic() {
    let runner = Runner::new();
    let message = panic_message(|| {
        runner.run(async {
            let _ = runner::shared().block_on(async {});
        })
    });
    assert!(
        message.contains("`runner::shared().block_on` cannot be called from a running event loop"),
        "{message}"
    );
}

#[test]
fn block_on_returns_closed_when_the_runner_closes_while_it_waits() {
    let runner = Runner::builder()
        .close_timeout(Duration::from_secs(10))
        .build();
    let handle = runner.handle();
    let (entered, wait_entered) = mpsc::channel();
    let waiter = thread::spawn(move || {
        handle.block_on(async {
            entered.send(()).unwrap();
            std::future::pending::<()>().await
        })
    });
    wait_entered.recv_timeout(Duration::from_secs(10)).unwrap();
    runner.close();
    assert_eq!(waiter.join().unwrap(), Err(Closed));
}

#[test]
fn a_handle_does_not_keep_the_runner_open() {
    let runner = Runner::new();
    let handle = runner.handle();
    drop(runner);
    assert!(handle.is_closed());
}

#[test]
fn the_free_handle_reaches_the_running_and_the_entered_runner() {
    let runner = Runner::new();
    let from_run = runner.run(async { runner::handle() });
    let from_enter = {
        let _guard = runner.enter();
        runner::handle()
    };
    let a = from_run.spawn(async { 1 }).unwrap();
    let b = from_enter.spawn(async { 2 }).unwrap();
    assert_eq!(runner.run(async { a.await + b.await }), 3);
}

#[test]
fn the_free_handle_outside_a_runner_panics_saying_so() {
    let message = panic_message(|| {
        runner::handle();
    });
    assert!(
        message.contains("`runner::handle` must be called from code"),
        "{message}"
    );
}

#[test]
fn a_handle_entered_on_another_thread_takes_spawns_but_refuses_spawn_local() {
    let runner = Runner::new();
    let handle = runner.handle();
    let (task, message) = thread::spawn(move || {
        let _guard = handle.enter();
        let task = runner::spawn(async { 4 });
        let message = panic_message(|| drop(runner::spawn_local(async {})));
        (task, message)
    })
    .join()
    .unwrap();
    assert_eq!(runner.run(task), 4);
    assert!(
        message.contains("can only be called on the runner's own thread"),
        "{message}"
    );
}

#[test]
fn the_shared_runner_keeps_a_server_alive_for_every_thread() {
    use async_io::Async;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use std::net::{TcpListener, TcpStream};

    let shared = runner::shared();
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
    let address = listener.get_ref().local_addr().unwrap();
    shared
        .spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                runner::spawn(async move {
                    let mut buffer = [0; 5];
                    stream.read_exact(&mut buffer).await.unwrap();
                    stream.write_all(&buffer).await.unwrap();
                })
                .detach();
            }
        })
        .unwrap()
        .detach();
    // Clients on other threads, none of which runs the shared runner itself.
    let clients: Vec<_> = (0..3)
        .map(|_| {
            thread::spawn(move || {
                let mut stream = TcpStream::connect(address).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                std::io::Write::write_all(&mut stream, b"hello").unwrap();
                let mut buffer = [0; 5];
                std::io::Read::read_exact(&mut stream, &mut buffer).unwrap();
                buffer
            })
        })
        .collect();
    for client in clients {
        assert_eq!(&client.join().unwrap(), b"hello");
    }
    assert!(!shared.is_closed());
}

// Helpers.
