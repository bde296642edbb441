//! Task names and snapshots: `spawn_named`, `Runner::tasks`, `Handle::tasks`,
//! `runner::tasks`, `runner::current_task`, `TaskInfo` and its line.
//!
//! States are observed with explicit signals (channels, a barrier), never
//! with sleeps; no assertion depends on timing. One test is about a date:
//! it pauses between runs so that a stale date would show, and its bound is
//! the pause itself, not a speed.

use std::collections::HashSet;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use runner::{Runner, TaskInfo, TaskState};

#[test]
fn a_named_task_shows_its_name_and_spawn_site_in_a_snapshot() {
    let runner = Runner::new();
    runner
        .spawn_named("ticker", std::future::pending::<()>())
        .detach();
    let line = line!() - 2;
    runner.spawn(std::future::pending::<()>()).detach();
    let tasks = runner.tasks();
    assert_eq!(tasks.len(), 2);
    let named = find(&tasks, Some("ticker"));
    assert_eq!(named.spawned_at().file(), file!());
    assert_eq!(named.spawned_at().line(), line);
    assert!(find(&tasks, None).name().is_none());
}

#[test]
fn runner_spawn_named_free_function_names_the_task() {
    let runner = Runner::new();
    let names = runner.run(async {
        runner::spawn_named(String::from("owned name"), std::future::pending::<()>()).detach();
        runner::tasks()
            .iter()
            .map(|task| task.name().map(str::to_owned))
            .collect::<Vec<_>>()
    });
    assert_eq!(names, [Some("owned name".to_owned())]);
}

#[test]
fn a_task_not_yet_polled_is_scheduled_with_no_polls_and_no_idle_time() {
    let runner = Runner::new();
    runner.spawn(async {}).detach();
    let task = &runner.tasks()[0];
    assert_eq!(task.state(), TaskState::Scheduled);
    assert_eq!(task.polls(), 0);
    assert_eq!(task.idle_for(), None);
}

#[test]
fn a_task_sees_itself_running_in_current_task() {
    let runner = Runner::new();
    let (me, all) = runner.run(async {
        runner::spawn_named("me", async { (runner::current_task(), runner::tasks()) }).await
    });
    let me = me.expect("inside a task");
    assert_eq!(me.state(), TaskState::Running);
    assert_eq!(me.name(), Some("me"));
    assert_eq!(me.polls(), 0, "the poll in progress is not counted yet");
    assert_eq!(me.idle_for(), None);
    let seen = find(&all, Some("me"));
    assert_eq!((seen.id(), seen.state()), (me.id(), TaskState::Running));
}

#[test]
fn current_task_is_none_in_a_run_future_and_outside_tasks() {
    let runner = Runner::new();
    assert!(runner::current_task().is_none());
    assert!(runner.run(async { runner::current_task() }).is_none());
    // Inside a context the task entered, it is still the task.
    let name = runner.run(async {
        runner::spawn_named("outer", async {
            runner::Context::new().run(|| runner::current_task().map(|task| task.id()))
        })
        .await
    });
    assert!(name.is_some());
}

#[test]
fn a_task_parked_on_a_channel_is_idle_and_counts_its_polls() {
    let runner = Runner::new();
    let (tx, rx) = async_channel::unbounded::<()>();
    runner
        .spawn_named("receiver", async move { while rx.recv().await.is_ok() {} })
        .detach();
    runner.run(runner::yield_now());
    let parked = runner.tasks()[0].clone();
    assert_eq!(parked.state(), TaskState::Idle);
    assert_eq!(parked.polls(), 1);
    assert!(parked.idle_for().is_some());
    for _ in 0..3 {
        tx.try_send(()).unwrap();
        runner.run(runner::yield_now());
    }
    let later = &runner.tasks()[0];
    assert_eq!(later.id(), parked.id());
    assert_eq!(later.state(), TaskState::Idle);
    assert_eq!(later.polls(), 4);
    assert!(later.age() >= parked.age());
}

#[test]
fn a_task_spawned_in_a_runs_first_poll_is_dated_by_that_run_not_the_last_one() {
    // A pause between runs, then a task spawned at once: its age counts from
    // its spawn, not from the previous run's last reading of the clock. The
    // pause makes a stale date visible; the bound is the pause itself, a
    // date, not a speed.
    let pause = Duration::from_millis(100);
    let runner = Runner::new();
    runner.run(runner.spawn(async {}));
    thread::sleep(pause);
    let age = runner.run(async {
        let _task = runner::spawn(std::future::pending::<()>());
        runner::tasks()[0].age()
    });
    assert!(age < pause, "a task spawned just now is {age:?} old");
    // The same in a run whose future goes on after its first poll, and in a
    // close's cleanup.
    thread::sleep(pause);
    let age = runner.run(async {
        let _task = runner::spawn(std::future::pending::<()>());
        runner::yield_now().await;
        runner::tasks()[0].age()
    });
    assert!(age < pause, "a task spawned just now is {age:?} old");
    let (tx, rx) = mpsc::channel();
    runner.run(async move {
        runner::on_close(async move {
            let _task = runner::spawn(std::future::pending::<()>());
            tx.send(runner::tasks()[0].age()).unwrap();
        });
    });
    thread::sleep(pause);
    runner.close();
    let age = rx.recv().unwrap();
    assert!(age < pause, "a task spawned just now is {age:?} old");
}

#[test]
fn a_finished_task_leaves_the_snapshot_and_its_name_goes_with_it() {
    let runner = Runner::new();
    let task = runner.spawn_named("short", async {});
    runner.run(task);
    assert!(runner.tasks().is_empty());
    // Its slot is reused by a task without a name, which shows none.
    runner.spawn(std::future::pending::<()>()).detach();
    assert_eq!(runner.tasks()[0].name(), None);
}

#[test]
fn task_ids_are_unique_across_tasks_and_runners() {
    let mut ids = HashSet::new();
    for _ in 0..3 {
        let runner = Runner::builder().worker_threads(2).build();
        for _ in 0..300 {
            runner.spawn(std::future::pending::<()>()).detach();
        }
        for task in runner.tasks() {
            assert!(ids.insert(task.id()), "id {} seen twice", task.id());
        }
    }
    assert_eq!(ids.len(), 900);
}

#[test]
fn handle_tasks_from_another_thread_sees_a_task_running_while_it_blocks() {
    let runner = Runner::new();
    let handle = runner.handle();
    let (entered_tx, entered_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    runner
        .spawn_named("blocked", async move {
            entered_tx.send(()).unwrap();
            // Blocks the loop's thread inside this poll.
            release_rx.recv().unwrap();
        })
        .detach();
    let observer = thread::spawn(move || {
        entered_rx.recv().unwrap();
        let tasks = handle.tasks().unwrap();
        release_tx.send(()).unwrap();
        tasks
    });
    runner.run(runner::yield_now());
    let tasks = observer.join().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].name(), Some("blocked"));
    assert_eq!(tasks[0].state(), TaskState::Running);
    assert!(runner.tasks().is_empty());
}

#[test]
fn a_snapshot_sees_a_task_running_on_a_worker() {
    let runner = Runner::builder().worker_threads(2).build();
    let barrier = Arc::new(Barrier::new(2));
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let inside = barrier.clone();
    let task = runner.spawn_named("on a worker", async move {
        inside.wait();
        release_rx.recv().unwrap();
    });
    // The task's poll holds a worker; the runner's thread is free.
    barrier.wait();
    let tasks = runner.tasks();
    release_tx.send(()).unwrap();
    runner.run(task);
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].state(), TaskState::Running);
}

#[test]
fn handle_tasks_fails_once_the_runner_has_closed() {
    let runner = Runner::new();
    let handle = runner.handle();
    runner.spawn(std::future::pending::<()>()).detach();
    assert_eq!(handle.tasks().unwrap().len(), 1);
    runner.close();
    assert_eq!(handle.tasks().unwrap_err(), runner::Closed);
}

#[test]
fn a_task_line_shows_id_name_state_site_polls_and_idle_time() {
    let runner = Runner::new();
    runner
        .spawn_named("line", std::future::pending::<()>())
        .detach();
    let line_no = line!() - 2;
    runner.run(runner::yield_now());
    let task = &runner.tasks()[0];
    let line = task.to_string();
    assert!(
        line.starts_with(&format!(
            "task {} \"line\" idle, spawned at {}:{line_no}:",
            task.id(),
            file!()
        )),
        "{line}"
    );
    assert!(line.contains(", 1 poll, idle for "), "{line}");
    assert!(!line.contains('\n'));
}

#[test]
fn close_in_debug_mode_reports_pending_tasks_by_name() {
    let output = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::fmt()
        .with_writer(Capture(output.clone()))
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let runner = Runner::builder().debug(true).build();
        runner
            .spawn_named("forgotten", std::future::pending::<()>())
            .detach();
        runner.run(runner::yield_now());
        runner.close();
    });
    let output = String::from_utf8(output.lock().unwrap().clone()).unwrap();
    assert!(
        output.contains("close: 1 task(s) still pending"),
        "{output}"
    );
    assert!(
        output.contains("\"forgotten\" idle, spawned at tests/tasks.rs:"),
        "{output}"
    );
}

#[test]
fn a_test_timeout_lists_the_pending_tasks_by_name() {
    let runner = Runner::builder()
        .__test_timeout(Duration::from_millis(100))
        .build();
    runner
        .spawn_named("never done", std::future::pending::<()>())
        .detach();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        runner.run(std::future::pending::<()>());
    }));
    let payload = caught.expect_err("the run timed out");
    let message = payload
        .downcast_ref::<String>()
        .expect("a formatted message");
    assert!(message.contains("1 task(s) still pending"), "{message}");
    assert!(
        message.contains("\"never done\" idle, spawned at tests/tasks.rs:"),
        "{message}"
    );
}

/// The task named `name` in `tasks`.
fn find<'a>(tasks: &'a [TaskInfo], name: Option<&str>) -> &'a TaskInfo {
    tasks
        .iter()
        .find(|task| task.name() == name)
        .unwrap_or_else(|| panic!("no task named {name:?} in {tasks:?}"))
}

/// A `tracing-subscriber` writer into a shared buffer.
#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}
