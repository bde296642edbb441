//! The `tracing` feature: a task starts inside the span current where it was
//! spawned and re-enters it on every poll and drop, on any thread; `unblock`
//! jobs and `on_close` cleanups likewise; a span entered around a run stays
//! out of the tasks' polls. Checked with a real `tracing-subscriber`
//! registry, installed for the whole process (tasks run on workers and
//! blocking threads too).

use std::sync::{mpsc, Arc, Mutex, Once};

use runner::Runner;
use tracing::{Instrument, Span};

#[test]
fn a_task_starts_inside_its_spawners_span_and_keeps_it_on_every_poll() {
    subscribe();
    let runner = Runner::new();
    let (tx, rx) = async_channel::unbounded::<()>();
    let task = {
        let _entered = tracing::info_span!("request").entered();
        runner.spawn(async move {
            let mut seen = vec![current()];
            runner::yield_now().await;
            seen.push(current());
            rx.recv().await.unwrap();
            seen.push(current());
            seen
        })
    };
    runner.run(runner::yield_now());
    tx.try_send(()).unwrap();
    assert_eq!(runner.run(task), [Some("request"); 3]);
}

#[test]
fn a_task_on_a_worker_thread_is_inside_its_spawners_span() {
    subscribe();
    let runner = Runner::builder().worker_threads(2).build();
    let (tx, rx) = mpsc::channel();
    {
        let _entered = tracing::info_span!("on_worker").entered();
        runner
            .spawn(async move {
                for _ in 0..10 {
                    tx.send((std::thread::current().id(), current())).unwrap();
                    runner::yield_now().await;
                }
            })
            .detach();
    }
    // Not in a run: only the workers poll the task meanwhile.
    for _ in 0..10 {
        let (thread, span) = rx.recv().unwrap();
        assert_ne!(thread, std::thread::current().id());
        assert_eq!(span, Some("on_worker"));
    }
}

#[test]
fn a_task_is_inside_its_span_while_its_future_is_dropped_at_close() {
    subscribe();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let runner = Runner::new();
    {
        let _entered = tracing::info_span!("dropped").entered();
        let guard = OnDrop(seen.clone());
        runner
            .spawn(async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            })
            .detach();
    }
    runner.run(runner::yield_now());
    let report = runner.close();
    assert_eq!(report.dropped, 1);
    assert_eq!(*seen.lock().unwrap(), [Some("dropped")]);
}

#[test]
fn a_task_spawned_by_a_task_inherits_its_span() {
    subscribe();
    let runner = Runner::new();
    let task = {
        let _entered = tracing::info_span!("parent").entered();
        runner.spawn(async { runner::spawn(async { current() }).await })
    };
    assert_eq!(runner.run(task), Some("parent"));
}

#[test]
fn an_unblock_job_runs_in_its_callers_span() {
    subscribe();
    let runner = Runner::new();
    let seen = runner.run(
        async { runner::unblock(current).await }.instrument(tracing::info_span!("blocking_caller")),
    );
    assert_eq!(seen, Some("blocking_caller"));
}

#[test]
fn an_on_close_cleanup_runs_in_the_span_it_was_registered_in() {
    subscribe();
    let (tx, rx) = mpsc::channel();
    let runner = Runner::new();
    runner.run(
        async move {
            runner::on_close(async move {
                runner::yield_now().await;
                tx.send(current()).unwrap();
            });
        }
        .instrument(tracing::info_span!("registering")),
    );
    runner.close();
    assert_eq!(rx.recv().unwrap(), Some("registering"));
}

#[test]
fn a_span_entered_around_a_run_covers_the_run_but_no_task() {
    subscribe();
    let runner = Runner::new();
    let unrelated = runner.spawn(async {
        runner::yield_now().await;
        current()
    });
    let own = {
        let _entered = tracing::info_span!("spawner").entered();
        runner.spawn(async {
            runner::yield_now().await;
            current()
        })
    };
    let batch = tracing::info_span!("batch");
    let (in_run, unrelated, own, after) = {
        let _entered = batch.enter();
        runner.run(async {
            let before = current();
            let unrelated = unrelated.await;
            let own = own.await;
            (before, unrelated, own, current())
        })
    };
    assert_eq!(in_run, Some("batch"));
    assert_eq!(unrelated, None, "the run's span leaked into a task");
    assert_eq!(own, Some("spawner"));
    assert_eq!(after, Some("batch"));
    assert_eq!(current(), None);
}

#[test]
fn an_explicit_instrument_wins_inside_the_future() {
    subscribe();
    let runner = Runner::new();
    let task = {
        let _entered = tracing::info_span!("spawner").entered();
        runner.spawn(async { current() }.instrument(tracing::info_span!("explicit")))
    };
    assert_eq!(runner.run(task), Some("explicit"));
}

#[test]
fn a_handle_block_on_keeps_its_callers_span_out_of_the_tasks_it_helps_run() {
    subscribe();
    let runner = Runner::builder().build();
    let handle = runner.handle();
    let unrelated = runner.spawn(async { current() });
    let (seen, own) = std::thread::spawn(move || {
        let _entered = tracing::info_span!("helper").entered();
        handle
            .block_on(async { (unrelated.await, current()) })
            .unwrap()
    })
    .join()
    .unwrap();
    assert_eq!((seen, own), (None, Some("helper")));
}

/// The name of the span current on this thread.
fn current() -> Option<&'static str> {
    Span::current().metadata().map(|metadata| metadata.name())
}

/// A registry that tracks spans, for every thread of the process.
fn subscribe() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry())
            .expect("no other subscriber in this test binary");
    });
}

/// Records the current span when dropped.
struct OnDrop(Arc<Mutex<Vec<Option<&'static str>>>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.lock().unwrap().push(current());
    }
}
