//! Task groups: joins in spawn and completion order, panics and errors that
//! cancel the siblings first, spawners, drops, workers.

mod common;
use common::{pending_holding, DropCounter};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_lite::FutureExt;
use runner::{Closed, ContextVar, Runner, TaskGroup, UnobservedPanics};

#[test]
fn join_returns_the_outputs_in_spawn_order() {
    let runner = Runner::new();
    let outputs = runner.run(async {
        let mut group = TaskGroup::new();
        // The first spawned finishes last.
        for i in 0..4_usize {
            group.spawn(async move {
                yield_times(4 - i).await;
                i
            });
        }
        group.join().await
    });
    assert_eq!(outputs, [0, 1, 2, 3]);
}

#[test]
fn join_next_returns_the_outputs_in_completion_order() {
    let runner = Runner::new();
    runner.run(async {
        let mut group = TaskGroup::new();
        let mut senders = Vec::new();
        for i in 0..3_usize {
            let (sender, receiver) = async_channel::bounded::<()>(1);
            senders.push(sender);
            group.spawn(async move {
                receiver.recv().await.unwrap();
                i
            });
        }
        for i in [2, 0, 1] {
            senders[i].send(()).await.unwrap();
            assert_eq!(group.join_next().await, Some(i));
        }
        assert_eq!(group.join_next().await, None);
    });
}

#[test]
fn join_next_on_an_empty_group_returns_none() {
    let runner = Runner::new();
    let mut group = TaskGroup::<u8>::new();
    assert_eq!(runner.run(group.join_next()), None);
    assert_eq!(runner.run(group.join()), Vec::<u8>::new());
}

#[test]
fn try_join_returns_the_ok_values_in_spawn_order() {
    let runner = Runner::new();
    let outputs = runner.run(async {
        let mut group = TaskGroup::new();
        for i in 0..3_u32 {
            group.spawn(async move {
                yield_times(3 - i as usize).await;
                Ok::<u32, String>(i)
            });
        }
        group.try_join().await
    });
    assert_eq!(outputs, Ok(vec![0, 1, 2]));
}

#[test]
fn try_join_returns_the_first_err_once_the_siblings_are_dropped() {
    let runner = Runner::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    let (result, dropped_at_return) = runner.run(async {
        let mut group = TaskGroup::new();
        group.spawn(async move {
            pending_holding(guard).await;
            Ok(0)
        });
        group.spawn(async {
            runner::yield_now().await;
            Err("first")
        });
        group.spawn(async {
            yield_times(3).await;
            Err("second")
        });
        let result = group.try_join().await;
        (result, dropped.load(Ordering::SeqCst))
    });
    assert_eq!(result, Err("first"));
    assert_eq!(
        dropped_at_return, 1,
        "the sibling was dropped before the error came out"
    );
}

#[test]
fn a_panic_drops_the_siblings_before_it_is_resumed() {
    static STAGE: ContextVar<&'static str> = ContextVar::new("stage");
    let runner = Runner::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    let seen_in_drop = Arc::new(Mutex::new(None));
    let seen = seen_in_drop.clone();
    let (payload, dropped_at_panic) = runner.run(async {
        let mut group = TaskGroup::new();
        group.spawn(async move {
            STAGE.set("sibling");
            // Dropped with the future: reads the task's own context.
            let _reader = OnDrop(move || *seen.lock().unwrap() = STAGE.get());
            pending_holding(guard).await
        });
        group.spawn(async {
            runner::yield_now().await;
            std::panic::panic_any(7_u8)
        });
        let payload = AssertUnwindSafe(group.join())
            .catch_unwind()
            .await
            .expect_err("the join resumes the panic");
        (payload, dropped.load(Ordering::SeqCst))
    });
    assert_eq!(
        payload.downcast_ref::<u8>(),
        Some(&7),
        "the original payload"
    );
    assert_eq!(
        dropped_at_panic, 1,
        "the sibling was dropped before the panic came out"
    );
    assert_eq!(
        *seen_in_drop.lock().unwrap(),
        Some("sibling"),
        "dropped in its own context"
    );
    assert_eq!(
        runner.close().panicked,
        0,
        "an observed panic is not counted"
    );
}

#[test]
fn two_panics_at_once_resume_the_first_and_report_the_other_nowhere() {
    let runner = Runner::builder()
        .unobserved_panics(UnobservedPanics::Propagate)
        .build();
    let payload = runner.run(async {
        let mut group = TaskGroup::<()>::new();
        group.spawn(async { std::panic::panic_any(1_u8) });
        group.spawn(async { std::panic::panic_any(2_u8) });
        AssertUnwindSafe(group.join())
            .catch_unwind()
            .await
            .expect_err("the join resumes a panic")
    });
    assert_eq!(payload.downcast_ref::<u8>(), Some(&1), "the first panic");
    // An unobserved second panic would come out of this run, and be counted.
    runner.run(yield_times(3));
    assert_eq!(runner.close().panicked, 0);
}

#[test]
fn a_task_can_add_siblings_while_the_group_is_joined() {
    let runner = Runner::new();
    let outputs = runner.run(async {
        let mut group = TaskGroup::new();
        let spawner = group.spawner();
        group.spawn(async move {
            let again = spawner.clone();
            spawner.spawn(async { 1 }).unwrap();
            spawner
                .spawn(async move {
                    runner::yield_now().await;
                    // Added once the group is joining the others.
                    again.spawn(async { 3 }).unwrap();
                    2
                })
                .unwrap();
            0
        });
        group.join().await
    });
    assert_eq!(outputs, [0, 1, 2, 3]);
}

#[test]
fn a_spawner_refuses_tasks_once_the_group_has_joined_or_dropped() {
    let runner = Runner::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let polled = Arc::new(AtomicUsize::new(0));
    let (joined, dropped_group) = runner.run(async {
        let mut group = TaskGroup::<()>::new();
        let joined = group.spawner();
        group.spawn(async {});
        group.join().await;
        let group = TaskGroup::<()>::new();
        let dropped_group = group.spawner();
        assert!(!dropped_group.is_closed());
        drop(group);
        (joined, dropped_group)
    });
    for spawner in [joined, dropped_group] {
        assert!(spawner.is_closed());
        let guard = DropCounter(dropped.clone());
        let polled = polled.clone();
        let refused = runner.run(async {
            spawner.spawn(async move {
                polled.fetch_add(1, Ordering::SeqCst);
                drop(guard);
            })
        });
        assert_eq!(refused, Err(Closed));
    }
    runner.run(yield_times(3));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        2,
        "refused futures are dropped"
    );
    assert_eq!(polled.load(Ordering::SeqCst), 0, "and never polled");
}

#[test]
fn every_task_a_spawner_accepted_from_another_thread_is_joined() {
    // `Ok` from a spawner means the task is joined: a spawn racing with the
    // end of the join is either taken by it or refused.
    let runner = Runner::new();
    for _ in 0..100 {
        let mut group = TaskGroup::new();
        let spawner = group.spawner();
        let handle = runner.handle();
        let (busy, adding) = async_channel::bounded(1);
        let adder = std::thread::spawn(move || {
            let _entered = handle.enter();
            let mut accepted = 0;
            while accepted < 2000 && spawner.spawn(async { 1 }).is_ok() {
                accepted += 1;
                if accepted == 20 {
                    // The join may end from now on, while this goes on adding.
                    busy.send_blocking(()).unwrap();
                }
            }
            accepted
        });
        let joined = runner.run(async {
            group.spawn(async move {
                let _ = adding.recv().await;
                1
            });
            group.join().await.len()
        });
        assert_eq!(joined, adder.join().unwrap() + 1);
    }
}

#[test]
fn dropping_a_group_mid_run_drops_its_idle_tasks_at_once() {
    let runner = Runner::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    let spawned_guard = DropCounter(dropped.clone());
    let local_guard = DropCounter(dropped.clone());
    let after_drop = runner.run(async {
        let mut group = TaskGroup::new();
        let spawner = group.spawner();
        group.spawn(pending_holding(guard));
        spawner.spawn(pending_holding(spawned_guard)).unwrap();
        group.spawn_local(pending_holding(local_guard));
        runner::yield_now().await;
        drop(group);
        // No turn of the runner in between.
        dropped.load(Ordering::SeqCst)
    });
    assert_eq!(after_drop, 3);
    assert_eq!(runner.close().cancelled, 0, "nothing left for close");
}

#[test]
fn a_group_dropped_between_runs_drops_its_tasks_at_once() {
    let runner = Runner::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    let group = parked_group(&runner, guard);
    drop(group);
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert!(runner.tasks().is_empty());
    assert_eq!(runner.close().cancelled, 0);
}

#[test]
fn a_dropped_groups_tasks_waiting_in_the_run_queue_are_dropped_at_once_never_polled() {
    let runner = Runner::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let polls = Arc::new(AtomicUsize::new(0));
    let (guard, local_guard) = (DropCounter(dropped.clone()), DropCounter(dropped.clone()));
    let (counted, local_counted) = (polls.clone(), polls.clone());
    let at_once = runner.run(async {
        // Another task queued before them keeps its place.
        let other = runner::spawn(async { 7 });
        let mut group = TaskGroup::new();
        // Spawned, so queued, not idle: found in the run queue.
        group.spawn(async move {
            counted.fetch_add(1, Ordering::SeqCst);
            pending_holding(guard).await
        });
        group.spawn_local(async move {
            local_counted.fetch_add(1, Ordering::SeqCst);
            pending_holding(local_guard).await
        });
        drop(group);
        let at_once = dropped.load(Ordering::SeqCst);
        assert_eq!(other.await, 7);
        at_once
    });
    assert_eq!(at_once, 2);
    assert_eq!(
        polls.load(Ordering::SeqCst),
        0,
        "a cancelled task is never polled"
    );
    assert_eq!(runner.close().cancelled, 0);
}

#[test]
fn a_dropped_groups_task_woken_from_another_thread_is_dropped_at_once() {
    let runner = Runner::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    let (tx, rx) = async_channel::bounded::<()>(1);
    let at_once = runner.run(async {
        let mut group = TaskGroup::new();
        group.spawn(async move {
            let _guard = guard;
            let _ = rx.recv().await;
            std::future::pending::<()>().await
        });
        runner::yield_now().await;
        // Woken from another thread: in the runner's shared queue.
        std::thread::spawn(move || tx.send_blocking(()))
            .join()
            .unwrap()
            .unwrap();
        drop(group);
        dropped.load(Ordering::SeqCst)
    });
    assert_eq!(at_once, 1);
    assert_eq!(runner.close().cancelled, 0);
}

#[test]
fn cancel_all_drops_every_future_and_keeps_the_group_usable() {
    let runner = Runner::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guards = [DropCounter(dropped.clone()), DropCounter(dropped.clone())];
    let outputs = runner.run(async {
        let mut group = TaskGroup::new();
        for guard in guards {
            group.spawn(async move {
                pending_holding(guard).await;
                0
            });
        }
        assert_eq!(group.len(), 2);
        runner::yield_now().await;
        group.cancel_all();
        assert!(group.is_empty());
        assert_eq!(dropped.load(Ordering::SeqCst), 2, "dropped at once");
        group.spawn(async { 5 });
        group.join().await
    });
    assert_eq!(outputs, [5]);
}

#[test]
fn a_group_dropped_on_another_thread_drops_its_idle_send_tasks_there() {
    let runner = Runner::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    let group = parked_group(&runner, guard);
    std::thread::spawn(move || drop(group)).join().unwrap();
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert_eq!(runner.close().cancelled, 0);
}

#[test]
fn a_group_dropped_inside_another_runners_run_drops_its_tasks_for_their_own_runner() {
    let (own, other) = (Runner::new(), Runner::new());
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    let group = parked_group(&own, guard);
    // Dropped at once on this thread, while it polls another runner's tasks:
    // the task leaves its own runner's registry, not the other's.
    let other_task = other.spawn(std::future::pending::<()>());
    other.run(async move {
        runner::yield_now().await;
        drop(group);
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert!(own.tasks().is_empty(), "{:?}", own.tasks());
    assert_eq!(other.tasks().len(), 1, "{:?}", other.tasks());
    drop(other_task);
    assert_eq!(own.close().cancelled, 0);
    assert_eq!(other.close().panicked, 0);
}

#[test]
fn a_group_on_a_runner_with_workers_joins_in_spawn_order() {
    let runner = Runner::builder().worker_threads(2).build();
    let outputs = runner.run(async {
        let mut group = TaskGroup::new();
        let spawner = group.spawner();
        for i in 0..100_usize {
            group.spawn(async move {
                yield_times(i % 5).await;
                i
            });
        }
        group.spawn(async move {
            for i in 100..150 {
                spawner.spawn(async move { i }).unwrap();
                runner::yield_now().await;
            }
            150
        });
        group.join().await
    });
    let mut expected: Vec<usize> = (0..100).collect();
    // The adder was spawned before the tasks it added.
    expected.push(150);
    expected.extend(100..150);
    assert_eq!(outputs, expected);
}

#[test]
fn a_panic_on_a_worker_drops_the_siblings_before_it_is_resumed() {
    let runner = Runner::builder().worker_threads(2).build();
    let dropped = Arc::new(AtomicUsize::new(0));
    let (payload, dropped_at_panic) = runner.run(async {
        let mut group = TaskGroup::new();
        for _ in 0..10 {
            // A slow drop on a worker: a join that did not wait for it would
            // see it unfinished (no assertion depends on the duration).
            let slow = OnDrop(|| std::thread::sleep(Duration::from_millis(5)));
            let guard = DropCounter(dropped.clone());
            group.spawn(pending_holding((slow, guard)));
        }
        group.spawn(async {
            yield_times(2).await;
            std::panic::panic_any("on a worker")
        });
        let payload = AssertUnwindSafe(group.join())
            .catch_unwind()
            .await
            .expect_err("the join resumes the panic");
        (payload, dropped.load(Ordering::SeqCst))
    });
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"on a worker"));
    assert_eq!(dropped_at_panic, 10);
}

#[test]
fn group_tasks_progress_between_runs() {
    let runner = Runner::new();
    let (sender, receiver) = async_channel::unbounded();
    let group = runner.run(async {
        let mut group = TaskGroup::new();
        group.spawn(async move {
            runner::yield_now().await;
            sender.send("progressed").await.unwrap();
            1
        });
        group
    });
    // Another run, which does not join the group, runs its task.
    assert_eq!(runner.run(receiver.recv()), Ok("progressed"));
    assert_eq!(runner.run(group.join()), [1]);
}

#[test]
fn group_tasks_start_with_a_copy_of_the_spawners_context() {
    static USER: ContextVar<&'static str> = ContextVar::new("user");
    let runner = Runner::new();
    let seen = runner.run(async {
        USER.set("ada");
        let mut group = TaskGroup::new();
        let spawner = group.spawner();
        group.spawn(async move {
            USER.set("changed in the task");
            // A sibling added by this task copies this task's context.
            spawner.spawn(async { USER.get() }).unwrap();
            None
        });
        group.spawn(async { USER.get() });
        let seen = group.join().await;
        assert_eq!(USER.get(), Some("ada"), "the caller's context is its own");
        seen
    });
    assert_eq!(seen, [None, Some("ada"), Some("changed in the task")]);
}

#[test]
fn close_cancels_and_counts_the_tasks_of_a_group_still_alive() {
    let runner = Runner::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    let group = runner.run(async {
        let mut group = TaskGroup::new();
        group.spawn(pending_holding(guard));
        group.spawn(async {});
        runner::yield_now().await;
        group
    });
    let report = runner.close();
    assert_eq!(report.cancelled, 1);
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    drop(group);
}

#[test]
fn dropping_a_join_in_progress_cancels_the_tasks() {
    let runner = Runner::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    let after_drop = runner.run(async {
        let mut group = TaskGroup::new();
        group.spawn(pending_holding(guard));
        let mut join = Box::pin(group.join());
        assert!(futures_lite::future::poll_once(&mut join).await.is_none());
        // The join owns the group: dropping it drops the group.
        drop(join);
        runner::yield_now().await;
        dropped.load(Ordering::SeqCst)
    });
    assert_eq!(after_drop, 1);
}

#[test]
fn debug_mode_reports_pending_group_tasks_with_the_users_spawn_lines() {
    let output = Arc::new(Mutex::new(Vec::new()));
    let writer = output.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || SharedWriter(writer.clone()))
        .without_time()
        .with_ansi(false)
        .finish();
    let runner = Runner::builder().debug(true).build();
    let (group, lines) = runner.run(async {
        let mut group = TaskGroup::new();
        let spawner = group.spawner();
        let spawn_line = line!() + 1;
        group.spawn(std::future::pending::<()>());
        let local_line = line!() + 1;
        group.spawn_local(std::future::pending());
        let spawner_line = line!() + 1;
        spawner.spawn(std::future::pending()).unwrap();
        (group, [spawn_line, local_line, spawner_line])
    });
    tracing::subscriber::with_default(subscriber, || runner.close());
    let output = String::from_utf8(output.lock().unwrap().clone()).unwrap();
    assert!(output.contains("3 task(s) still pending"), "{output}");
    for line in lines {
        let site = format!("tests/task_group.rs:{line}");
        assert!(output.contains(&site), "{site} in {output}");
    }
    drop(group);
}

#[test]
fn a_group_its_join_and_its_spawner_are_send() {
    fn send_sync_clone<S: Send + Sync + Clone>(_: &S) {}
    let runner = Runner::builder().worker_threads(1).build();
    let outputs = runner.run(async {
        let mut group = TaskGroup::new();
        group.spawn(async { 1 });
        send_sync_clone(&group.spawner());
        // The group moves into a `Send` task, which joins it there.
        runner::spawn(async move { group.join().await }).await
    });
    assert_eq!(outputs, [1]);
}

// Helpers.

/// Yields to the runner `times` times.
async fn yield_times(times: usize) {
    for _ in 0..times {
        runner::yield_now().await;
    }
}

/// Writes into a shared buffer: what a `tracing` subscriber printed.
struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Calls its closure when dropped.
struct OnDrop<F: FnMut()>(F);

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// A group, out of its run, with one task that has been polled and is now
/// parked holding `guard`.
fn parked_group(runner: &Runner, guard: DropCounter) -> TaskGroup<()> {
    runner.run(async {
        let mut group = TaskGroup::new();
        group.spawn(pending_holding(guard));
        runner::yield_now().await;
        group
    })
}

#[test]
fn a_group_dropped_inside_another_runners_run_leaves_that_runners_queued_tasks_alone() {
    let (own, other) = (Runner::new(), Runner::new());
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    // A group whose task is queued on `own`, not polled yet.
    let group = own.run(async move {
        let mut group = TaskGroup::new();
        group.spawn(pending_holding(guard));
        group
    });
    let polled = Arc::new(AtomicUsize::new(0));
    let seen = other.run(async {
        // Queued on `other`, under the key `own`'s task has in its own
        // registry: only `own` may drop what that key names there.
        let count = polled.clone();
        let task = runner::spawn(async move {
            count.fetch_add(1, Ordering::SeqCst);
        });
        drop(group);
        let seen = polled.load(Ordering::SeqCst);
        task.await;
        seen
    });
    assert_eq!(
        seen, 0,
        "the other runner's task was polled inside the group's drop"
    );
    assert_eq!(polled.load(Ordering::SeqCst), 1);
    // The cancelled task's future goes on its own runner's next turn.
    own.run(runner::yield_now());
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    assert_eq!(own.close().cancelled, 0);
}
