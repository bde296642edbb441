//! Context variables: the nine rules of the contextvars issue, with ports of
//! CPython's `test_context.py` and of asyncio's inheritance rules.

mod common;
use common::panic_message;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::Duration;

use runner::{Context, ContextVar, Runner};

// 1. Lookup: the current context's value, else the default, else `None`.

#[test]
fn get_falls_back_to_the_default_then_to_none() {
    static WITH_DEFAULT: ContextVar<u32> = ContextVar::with_default("with_default", || 42);
    static WITHOUT: ContextVar<u32> = ContextVar::new("without");
    Context::new().run(|| {
        assert_eq!(WITH_DEFAULT.get(), Some(42));
        assert_eq!(WITHOUT.get(), None);
        WITH_DEFAULT.set(1);
        assert_eq!(WITH_DEFAULT.get(), Some(1));
    });
}

#[test]
fn defaults_are_never_stored_in_a_context() {
    static LEVEL: ContextVar<u32> = ContextVar::with_default("level", || 42);
    let ctx = Context::new();
    ctx.run(|| {
        assert_eq!(LEVEL.get(), Some(42));
        assert_eq!(ctx.get(&LEVEL), None);
        let token = LEVEL.set(1);
        assert_eq!(ctx.get(&LEVEL), Some(1));
        LEVEL.reset(token);
        assert_eq!(ctx.get(&LEVEL), None);
    });
}

#[test]
fn variables_are_told_apart_by_identity_not_by_name() {
    static FIRST: ContextVar<u32> = ContextVar::new("same");
    static SECOND: ContextVar<u32> = ContextVar::new("same");
    Context::new().run(|| {
        FIRST.set(1);
        assert_eq!(SECOND.get(), None);
        SECOND.set(2);
        assert_eq!((FIRST.get(), SECOND.get()), (Some(1), Some(2)));
        assert_eq!(FIRST.name(), SECOND.name());
    });
}

// 2. `set` returns a token; `reset` restores exactly what was there.

#[test]
fn reset_restores_the_value_before_the_set_or_removes_it() {
    static C: ContextVar<&str> = ContextVar::new("c");
    Context::new().run(|| {
        let first = C.set("42");
        let second = C.set("spam");
        assert_eq!(C.get(), Some("spam"));
        C.reset(second);
        assert_eq!(C.get(), Some("42"));
        C.set("spam2");
        let snapshot = Context::current();
        C.reset(first);
        assert_eq!(C.get(), None, "reset to before the first set: no value");
        assert_eq!(
            snapshot.get(&C),
            Some("spam2"),
            "a snapshot keeps its values"
        );
    });
}

#[test]
fn reset_with_a_token_of_another_variable_panics() {
    static V1: ContextVar<u32> = ContextVar::new("v1");
    static V2: ContextVar<u32> = ContextVar::new("v2");
    let message = panic_message(|| {
        Context::new().run(|| {
            let token = V1.set(42);
            V2.reset(token);
        })
    });
    assert!(message.contains("token of another variable"), "{message}");
}

#[test]
fn reset_with_a_token_of_another_context_panics() {
    static C: ContextVar<u32> = ContextVar::with_default("c", || 42);
    let token = Context::new().run(|| C.set(1));
    let message = panic_message(|| Context::new().run(|| C.reset(token)));
    assert!(
        message.contains("token created in another context"),
        "{message}"
    );
}

#[test]
fn a_task_cannot_reset_a_token_of_its_parent() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let runner = Runner::new();
    let message = panic_message(|| {
        runner.run(async {
            let token = C.set(1);
            runner::spawn(async move { C.reset(token) }).await;
        })
    });
    assert!(message.contains("another context"), "{message}");
}

#[test]
fn a_task_resets_a_token_it_made_polls_earlier_on_any_thread() {
    static C: ContextVar<u32> = ContextVar::new("c");
    for workers in [0, 2] {
        let runner = Runner::builder().worker_threads(workers).build();
        let seen = runner.run(async {
            runner::spawn(async {
                let token = C.set(1);
                for _ in 0..10 {
                    runner::yield_now().await;
                }
                C.reset(token);
                C.get()
            })
            .await
        });
        assert_eq!(seen, None, "with {workers} worker(s)");
    }
}

#[test]
fn a_token_of_a_finished_task_is_refused_by_the_tasks_after_it() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let runner = Runner::new();
    // One after the other, each task in the place the last one left.
    let mut token = runner.run(async { runner::spawn(async { C.set(1) }).await });
    for _ in 0..3 {
        let message = panic_message(|| {
            runner.run(async move { runner::spawn(async move { C.reset(token) }).await })
        });
        assert!(message.contains("another context"), "{message}");
        token = runner.run(async { runner::spawn(async { C.set(1) }).await });
    }
}

#[test]
fn an_on_close_cleanup_resets_a_token_it_made_polls_earlier() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let (sender, receiver) = mpsc::channel();
    let runner = Runner::new();
    runner.run(async move {
        runner::on_close(async move {
            let token = C.set(1);
            runner::yield_now().await;
            let reset = panic::catch_unwind(AssertUnwindSafe(|| C.reset(token)));
            sender.send((reset.is_ok(), C.get())).unwrap();
        });
    });
    runner.close();
    assert_eq!(receiver.try_recv(), Ok((true, None)));
}

// 3. `Context`: new, current, run, copy, clone, already entered.

#[test]
fn run_returns_the_value_and_keeps_changes_in_the_context_only() {
    static VAR: ContextVar<&str> = ContextVar::new("var");
    let ctx1 = Context::new();
    let ctx2 = Context::new();
    let returned = ctx1.run(|| {
        assert_eq!(VAR.get(), None);
        VAR.set("spam");
        ctx2.run(|| assert_eq!(VAR.get(), None));
        assert_eq!(VAR.get(), Some("spam"));
        Context::current()
    });
    assert_eq!(returned.get(&VAR), Some("spam"));
    assert_eq!(ctx1.get(&VAR), Some("spam"));
    assert_eq!(ctx2.get(&VAR), None);
    assert_eq!(VAR.get(), None, "the caller's context is untouched");
}

#[test]
fn what_run_sets_stays_in_the_context_when_the_closure_panics() {
    static VAR: ContextVar<&str> = ContextVar::new("var");
    let ctx = Context::new();
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        ctx.run(|| {
            VAR.set("spam");
            panic!("1 / 0");
        })
    }));
    assert!(result.is_err());
    assert_eq!(VAR.get(), None);
    assert_eq!(ctx.get(&VAR), Some("spam"));
    assert_eq!(
        ctx.run(|| VAR.get()),
        Some("spam"),
        "and the context can be entered again"
    );
}

#[test]
fn entering_a_context_recursively_panics_with_already_entered() {
    let ctx = Context::new();
    let message = panic_message(|| ctx.run(|| ctx.run(|| ())));
    assert!(message.contains("already entered"), "{message}");
    ctx.run(|| ()); // and it was left properly
}

#[test]
fn entering_a_context_entered_on_another_thread_panics_with_already_entered() {
    let ctx = Context::new();
    let inside = Arc::new(Barrier::new(2));
    let leave = Arc::new(Barrier::new(2));
    let holder = {
        let (ctx, inside, leave) = (ctx.clone(), inside.clone(), leave.clone());
        thread::spawn(move || {
            ctx.run(|| {
                inside.wait();
                leave.wait();
            })
        })
    };
    inside.wait();
    let message = panic_message(|| ctx.run(|| ()));
    leave.wait();
    holder.join().unwrap();
    assert!(message.contains("already entered"), "{message}");
    ctx.run(|| ());
}

#[test]
fn a_clone_is_the_same_context_and_copy_is_a_snapshot() {
    static C: ContextVar<u32> = ContextVar::with_default("c", || 42);
    let ctx1 = Context::new();
    let same = ctx1.clone();
    ctx1.run(|| {
        C.set(10);
        let ctx2 = ctx1.copy();
        assert_eq!(ctx2.get(&C), Some(10));
        C.set(20);
        assert_eq!(ctx1.get(&C), Some(20));
        assert_eq!(ctx2.get(&C), Some(10));
        ctx2.run(|| {
            assert_eq!(C.get(), Some(10));
            C.set(30);
        });
        assert_eq!(ctx1.get(&C), Some(20));
        assert_eq!(ctx2.get(&C), Some(30));
    });
    assert_eq!(same.get(&C), Some(20));
}

#[test]
fn a_copied_context_holds_its_own_mutations() {
    static C: ContextVar<Vec<u32>> = ContextVar::new("c");
    Context::new().run(|| {
        C.set(Vec::new());
        Context::current().run(|| {
            let mut list = C.get().unwrap();
            list.push(42);
            C.set(list);
            assert_eq!(C.get(), Some(vec![42]));
        });
        assert_eq!(C.get(), Some(vec![]));
    });
}

#[test]
fn reading_a_context_entered_on_another_thread_sees_its_values_as_of_entry() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let ctx = Context::new();
    ctx.run(|| C.set(1));
    let (inside, leave) = (Arc::new(Barrier::new(2)), Arc::new(Barrier::new(2)));
    let holder = {
        let (ctx, inside, leave) = (ctx.clone(), inside.clone(), leave.clone());
        thread::spawn(move || {
            ctx.run(|| {
                C.set(2);
                inside.wait();
                leave.wait();
            })
        })
    };
    inside.wait();
    // Entered elsewhere: reads neither panic nor see a change in progress.
    let (during, copy) = (ctx.get(&C), ctx.copy());
    leave.wait();
    holder.join().unwrap();
    assert_eq!(during, Some(1));
    assert_eq!(copy.get(&C), Some(1));
    // Leaving wrote the values back.
    assert_eq!(ctx.get(&C), Some(2));
}

// 4. Each OS thread has its own implicit context, empty when it starts.

#[test]
fn each_thread_starts_with_an_empty_context_of_its_own() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let _token = C.set(1);
    let (in_thread, set_in_thread) = thread::spawn(|| {
        let seen = C.get();
        C.set(2);
        (seen, C.get())
    })
    .join()
    .unwrap();
    assert_eq!((in_thread, set_in_thread), (None, Some(2)));
    assert_eq!(C.get(), Some(1));
}

#[test]
fn threads_setting_one_variable_do_not_see_each_other() {
    static CVAR: ContextVar<u32> = ContextVar::new("cvar");
    let handles: Vec<_> = (0..8)
        .map(|num| {
            thread::spawn(move || {
                for i in 0..1000 {
                    CVAR.set(num * 1000 + i);
                    assert_eq!(CVAR.get(), Some(num * 1000 + i));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
}

// 5. The runner's context: a snapshot at `new`, shared by every run.

#[test]
fn the_runner_starts_with_a_snapshot_of_the_creating_thread_context() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let token = C.set(1);
    let runner = Runner::new();
    C.reset(token);
    assert_eq!(runner.run(async { C.get() }), Some(1));
    assert_eq!(C.get(), None);
}

#[test]
fn runs_keep_the_context() {
    static CVAR: ContextVar<i32> = ContextVar::with_default("cvar", || -1);
    let runner = Runner::new();
    runner.run(async { CVAR.set(1) });
    assert_eq!(runner.run(async { CVAR.get() }), Some(1));
    assert_eq!(runner.context().get(&CVAR), Some(1));
    assert_eq!(
        CVAR.get(),
        Some(-1),
        "the thread's own context is untouched"
    );
}

#[test]
fn run_in_executes_in_the_given_context() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let runner = Runner::new();
    let ctx = Context::new();
    runner.run_in(&ctx, async { C.set(5) });
    assert_eq!(ctx.get(&C), Some(5));
    assert_eq!(runner.run(async { C.get() }), None);
    assert_eq!(runner.run_in(&ctx, async { C.get() }), Some(5));
}

#[test]
fn a_panicking_run_restores_the_thread_context_and_keeps_what_it_set() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let runner = Runner::new();
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        runner.run(async {
            C.set(7);
            runner::yield_now().await;
            panic!("boom");
        })
    }));
    assert_eq!(C.get(), None);
    assert_eq!(runner.context().get(&C), Some(7));
    assert_eq!(runner.run(async { C.get() }), Some(7));
}

#[test]
#[allow(clippy::async_yields_async)] // the task is returned for a later run to await
fn runner_spawn_during_a_run_copies_the_runner_context_as_it_is_then() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let runner = Runner::new();
    let task = runner.run(async {
        C.set(3);
        runner.spawn(async { C.get() })
    });
    assert_eq!(runner.run(task), Some(3));
}

// 6. Every task has its own context.

#[test]
fn a_task_starts_with_a_copy_of_its_spawner_context() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let runner = Runner::new();
    runner.run(async {
        C.set(1);
        let task = runner::spawn(async { C.get() });
        C.set(2); // after the spawn: the task does not see it
        assert_eq!(task.await, Some(1));
    });
}

#[test]
fn nothing_a_child_sets_reaches_its_parent() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let runner = Runner::new();
    let parent = runner.run(async {
        C.set(1);
        runner::spawn(async {
            C.set(2);
            runner::spawn_local(async { C.set(3) }).await;
            assert_eq!(C.get(), Some(2));
        })
        .await;
        C.get()
    });
    assert_eq!(parent, Some(1));
}

#[test]
fn awaiting_a_plain_future_shares_the_awaiting_task_context() {
    static C: ContextVar<u32> = ContextVar::new("c");
    async fn set_it() {
        C.set(9);
    }
    let runner = Runner::new();
    assert_eq!(
        runner.run(async {
            set_it().await;
            C.get()
        }),
        Some(9)
    );
}

#[test]
fn a_hundred_interleaved_tasks_each_see_their_own_value() {
    static C: ContextVar<usize> = ContextVar::new("c");
    let runner = Runner::builder().worker_threads(2).build();
    let all_good = runner.run(async {
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                runner::spawn(async move {
                    for round in 0..10 {
                        C.set(i * 100 + round);
                        if round % 2 == 0 {
                            runner::yield_now().await;
                        } else {
                            runner::sleep(Duration::from_micros(100)).await;
                        }
                        if C.get() != Some(i * 100 + round) {
                            return false;
                        }
                    }
                    true
                })
            })
            .collect();
        let mut all_good = true;
        for task in tasks {
            all_good &= task.await;
        }
        all_good && C.get().is_none()
    });
    assert!(all_good);
}

#[test]
fn a_panicking_task_leaks_nothing_into_its_siblings_or_parent() {
    static C: ContextVar<&str> = ContextVar::new("c");
    let runner = Runner::new();
    let seen = runner.run(async {
        C.set("parent");
        let doomed = runner::spawn(async {
            C.set("doomed");
            runner::yield_now().await;
            panic!("the task fails");
        });
        let sibling = runner::spawn(async {
            runner::yield_now().await;
            runner::yield_now().await;
            C.get()
        });
        let failed = futures_lite::FutureExt::catch_unwind(AssertUnwindSafe(doomed))
            .await
            .is_err();
        (failed, sibling.await, C.get())
    });
    assert_eq!(seen, (true, Some("parent"), Some("parent")));
}

// 7. `unblock` runs in a copy of the caller's context taken at the call.

#[test]
fn unblock_runs_in_a_snapshot_taken_at_the_call() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let runner = Runner::new();
    let (job_saw, after) = runner.run(async {
        C.set(1);
        let job = runner::unblock(|| {
            let seen = C.get();
            C.set(100); // stays in the job's copy
            seen
        });
        C.set(2); // after the call: the job does not see it
        (job.await, C.get())
    });
    assert_eq!((job_saw, after), (Some(1), Some(2)));
}

#[test]
fn unblock_never_pollutes_the_pool_thread_context() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let runner = Runner::new();
    runner.run(async {
        C.set(1);
        runner::unblock(|| C.set(5)).await;
    });
    // Whichever pool thread runs these, it has no value of its own.
    for _ in 0..20 {
        assert_eq!(
            runner.run(async { Context::new().run(|| runner::unblock(|| C.get())).await }),
            None
        );
    }
}

// 8. A task's context is entered while its future is dropped.

#[test]
#[allow(clippy::async_yields_async)] // the task is returned for a later run to await
fn drop_code_of_a_cancelled_task_runs_in_the_task_context() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let (sender, receiver) = mpsc::channel();
    let runner = Runner::new();
    let task = runner.run(async move {
        C.set(1);
        runner::spawn(async move {
            let token = C.set(2);
            let _guard = ReadOnDrop {
                var: &C,
                sender,
                token: Some(token),
            };
            std::future::pending::<()>().await
        })
    });
    runner.run(runner::yield_now());
    drop(task);
    runner.run(runner::yield_now());
    assert_eq!(receiver.try_recv(), Ok((Some(2), Some(1))));
}

#[test]
fn drop_code_of_a_task_dropped_at_close_runs_in_the_task_context() {
    static C: ContextVar<u32> = ContextVar::new("c");
    let (sender, receiver) = mpsc::channel();
    let runner = Runner::new();
    runner.run(async move {
        runner::spawn(async move {
            let token = C.set(2);
            let _guard = ReadOnDrop {
                var: &C,
                sender,
                token: Some(token),
            };
            std::future::pending::<()>().await
        })
        .detach();
        runner::yield_now().await;
    });
    runner.close();
    assert_eq!(receiver.try_recv(), Ok((Some(2), None)));
    assert_eq!(
        C.get(),
        None,
        "and the closing thread's context is untouched"
    );
}

// 9. Values live behind `Arc`: copying a context never clones a value.

#[test]
fn snapshots_and_spawns_never_clone_values() {
    static C: ContextVar<CountClones> = ContextVar::new("c");
    let clones = Arc::new(AtomicUsize::new(0));
    let runner = Runner::new();
    let counter = clones.clone();
    runner.run(async move {
        C.set(CountClones(counter));
        for _ in 0..10 {
            let _ = Context::current();
            runner::spawn(async {}).await;
        }
    });
    assert_eq!(clones.load(Ordering::SeqCst), 0);
    let _ = runner.run(async { C.get() }); // `get` hands out a clone
    assert_eq!(clones.load(Ordering::SeqCst), 1);
}

#[test]
fn a_panic_inside_a_poll_leaves_the_right_context_behind() {
    static C: ContextVar<&str> = ContextVar::new("c");
    let runner = Runner::new();
    runner.run(async {
        C.set("main");
        let task = runner::spawn(async {
            C.set("task");
            panic!("inside a poll");
        });
        let _ = futures_lite::FutureExt::catch_unwind(AssertUnwindSafe(task)).await;
        assert_eq!(C.get(), Some("main"));
    });
    assert_eq!(C.get(), None);
}

// 10. Writes land in the context that made them, whatever was written
// before and whatever snapshot was taken in between.

#[test]
fn a_snapshot_taken_between_writes_keeps_what_it_saw() {
    static N: ContextVar<u32> = ContextVar::new("n");
    Context::new().run(|| {
        N.set(1);
        let first = Context::current();
        let token = N.set(2);
        let second = Context::current();
        N.reset(token);
        N.set(3);
        assert_eq!(first.get(&N), Some(1));
        assert_eq!(second.get(&N), Some(2));
        assert_eq!(N.get(), Some(3));
        first.run(|| N.set(10));
        assert_eq!(N.get(), Some(3));
    });
}

#[test]
fn writes_in_nested_contexts_stay_in_their_own() {
    static X: ContextVar<u32> = ContextVar::new("x");
    static Y: ContextVar<u32> = ContextVar::new("y");
    let (outer, inner) = (Context::new(), Context::new());
    outer.run(|| {
        X.set(1);
        inner.run(|| {
            assert_eq!(X.get(), None);
            X.set(2);
            Y.set(2);
            assert_eq!(outer.get(&X), Some(1));
        });
        assert_eq!((X.get(), Y.get()), (Some(1), None));
        X.set(3);
        inner.run(|| assert_eq!((X.get(), Y.get()), (Some(2), Some(2))));
        assert_eq!(outer.get(&X), Some(3));
    });
    assert_eq!((outer.get(&X), outer.get(&Y)), (Some(3), None));
    assert_eq!((inner.get(&X), inner.get(&Y)), (Some(2), Some(2)));
}

#[test]
fn a_task_writing_between_writes_of_its_run_changes_only_its_own_values() {
    static X: ContextVar<u32> = ContextVar::new("x");
    let runner = Runner::new();
    runner.run(async {
        X.set(1);
        let task = runner::spawn(async {
            X.set(2);
            runner::yield_now().await;
            let seen = X.get();
            X.set(4);
            seen
        });
        runner::yield_now().await;
        X.set(3);
        assert_eq!(task.await, Some(2));
        assert_eq!(X.get(), Some(3));
    });
    assert_eq!(runner.run(async { X.get() }), Some(3));
}

#[test]
fn a_value_whose_clone_takes_a_snapshot_sees_the_current_values() {
    static SEEN: ContextVar<SnapshotOnClone> = ContextVar::new("seen");
    static OTHER: ContextVar<u32> = ContextVar::new("other");
    Context::new().run(|| {
        SEEN.set(SnapshotOnClone(None));
        OTHER.set(5);
        // `get` clones the value while it reads the context.
        let snapshot = SEEN
            .get()
            .and_then(|seen| seen.0)
            .expect("a clone took a snapshot");
        assert_eq!(snapshot.get(&OTHER), Some(5));
        OTHER.set(6);
        assert_eq!(snapshot.get(&OTHER), Some(5));
        assert_eq!(OTHER.get(), Some(6));
    });
}

// Helpers.

/// Reports what its variable holds in `Drop`, and after resetting its token there.
struct ReadOnDrop {
    var: &'static ContextVar<u32>,
    sender: mpsc::Sender<(Option<u32>, Option<u32>)>,
    token: Option<runner::Token<u32>>,
}

impl Drop for ReadOnDrop {
    fn drop(&mut self) {
        let before = self.var.get();
        if let Some(token) = self.token.take() {
            self.var.reset(token);
        }
        let _ = self.sender.send((before, self.var.get()));
    }
}

#[derive(Debug)]
struct CountClones(Arc<AtomicUsize>);

impl Clone for CountClones {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::SeqCst);
        CountClones(self.0.clone())
    }
}

/// Takes a snapshot of the current context when cloned.
#[derive(Debug)]
struct SnapshotOnClone(Option<Context>);

impl Clone for SnapshotOnClone {
    fn clone(&self) -> Self {
        SnapshotOnClone(Some(Context::current()))
    }
}
