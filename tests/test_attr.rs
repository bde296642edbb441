//! `#[runner::test]`: a `#[test]` whose `run!` calls share one runner.
//!
//! Like `tests/scope.rs`, these talk to a TCP echo server on 127.0.0.1,
//! which here is a task of the test's own runner.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::Duration;

use async_io::Async;
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};

#[runner::test(timeout = "5s")]
fn pings_a_server_started_by_an_earlier_run() {
    let addr = run!(start_echo_server()).unwrap();
    let mut stream = run!(Async::<TcpStream>::connect(addr)).unwrap();
    assert_eq!(run!(echo(&mut stream, "ping")).unwrap(), "ping");
    assert_eq!(run!(echo(&mut stream, "pong")).unwrap(), "pong");
}

#[runner::test(timeout = "5s")]
fn may_return_a_result() -> io::Result<()> {
    let addr = run!(start_echo_server())?;
    let mut stream = run!(Async::<TcpStream>::connect(addr))?;
    assert_eq!(run!(echo(&mut stream, "okay"))?, "okay");
    Ok(())
}

#[runner::test]
#[should_panic(expected = "the server said no")]
fn a_panic_in_a_run_fails_the_test() {
    run!(async {
        runner::yield_now().await;
        panic!("the server said no");
    });
}

#[runner::test(timeout = "100ms")]
#[should_panic(expected = "timed out after")]
fn a_run_past_the_timeout_fails_the_test() {
    let addr = run!(start_echo_server()).unwrap();
    let mut stream = run!(Async::<TcpStream>::connect(addr)).unwrap();
    // The server echoes nothing back until it gets all 4 bytes: this read
    // never finishes, and the timeout ends it.
    run!(stream.write_all(b"ab")).unwrap();
    let mut reply = [0; 4];
    run!(stream.read_exact(&mut reply)).unwrap();
}

#[runner::test(timeout = "100ms")]
#[should_panic(expected = "timed out after")]
fn a_pending_future_fails_at_the_timeout() {
    run!(future::pending::<()>());
}

// A sleep past the timeout: how far past does not matter, the check is
// elapsed > timeout at the end of the body.
#[runner::test(timeout = "250ms")]
#[should_panic(expected = "longer than its timeout of 250ms")]
fn a_test_that_blocks_its_thread_after_its_last_run_fails() {
    run!(runner::yield_now());
    // No run is going on: only the end of the body can tell.
    thread::sleep(Duration::from_millis(400));
}

#[runner::test(timeout = "250ms")]
#[should_panic(expected = "longer than its timeout of 250ms")]
fn a_test_that_blocks_its_thread_inside_a_poll_fails() {
    // The poll never gives the runner's deadline a chance.
    run!(async { thread::sleep(Duration::from_millis(400)) });
}

#[runner::test(timeout = "200ms")]
fn blocked_in_a_run() {
    if !is_child("blocked_in_a_run") {
        return;
    }
    run!(runner::yield_now());
    // Blocked past the watchdog's report (450 ms: 200 ms + its grace).
    run!(async { thread::sleep(Duration::from_secs(1)) }); // BLOCKED
}

#[test]
fn a_blocked_test_is_reported_with_its_run_site_at_the_deadline() {
    let stderr = run_child("blocked_in_a_run");
    let report = stderr
        .lines()
        .find(|line| line.contains("past its timeout of 200ms"))
        .unwrap_or_else(|| panic!("no watchdog report in:\n{stderr}"));
    let site = format!(
        "in the `run!` at tests/test_attr.rs:{}:",
        marker_line("BLOCKED")
    );
    assert!(report.contains(&site), "{site:?} not in {report}");
    assert!(report.contains("blocked or never yields"), "{report}");
}

#[runner::test(timeout = "200ms")]
// BLOCKED ASYNC: its `async`, on the next line
async fn blocked_async_test() {
    if !is_child("blocked_async_test") {
        return;
    }
    thread::sleep(Duration::from_secs(1));
}

#[test]
fn a_blocked_async_test_is_reported_in_the_run_of_its_body() {
    let stderr = run_child("blocked_async_test");
    let report = stderr
        .lines()
        .find(|line| line.contains("past its timeout of 200ms"))
        .unwrap_or_else(|| panic!("no watchdog report in:\n{stderr}"));
    // The run of the body is located at its `async`: line, then column 1.
    let line = marker_line("BLOCKED ASYNC") + 1;
    let site = format!("in the run at tests/test_attr.rs:{line}:1");
    assert!(report.contains(&site), "{site:?} not in {report}");
    assert!(report.contains("blocked or never yields"), "{report}");
}

#[runner::test(shared, timeout = "100ms")]
// BLOCKED SHARED: the test's name, on the next line
fn blocked_shared_test() {
    if !is_child("blocked_shared_test") {
        return;
    }
    run!(async { thread::sleep(Duration::from_millis(600)) });
}

#[test]
fn a_shared_test_past_its_timeout_fails_at_the_users_test() {
    let stderr = run_child("blocked_shared_test");
    let site = format!(
        "panicked at tests/test_attr.rs:{}:4:",
        marker_line("BLOCKED SHARED") + 1
    );
    assert!(stderr.contains(&site), "{site:?} not in:\n{stderr}");
    assert!(
        stderr.contains("longer than its timeout of 100ms"),
        "{stderr}"
    );
    assert!(stderr.contains("blocked or never yields"), "{stderr}");
}

#[runner::test(timeout = "200ms")]
fn blocked_in_a_task() {
    if !is_child("blocked_in_a_task") {
        return;
    }
    runner::spawn_named("waiting", std::future::pending::<()>()).detach();
    run!(runner::spawn_named("sleeper", async {
        thread::sleep(Duration::from_secs(1));
    }));
}

#[test]
fn a_blocked_test_lists_its_tasks_with_the_stuck_one_running() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["blocked_in_a_task", "--exact", "--nocapture"])
        .env(CHILD, "blocked_in_a_task")
        .output()
        .expect("the child test ran");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    let after = stderr
        .split_once("past its timeout of 200ms")
        .unwrap_or_else(|| panic!("no watchdog report in:\n{stderr}"))
        .1;
    assert!(
        after.contains("\"sleeper\" running, spawned at tests/test_attr.rs:"),
        "{stderr}"
    );
    assert!(after.contains("\"waiting\" "), "{stderr}");
}

#[runner::test(timeout = "5s")]
fn a_test_within_its_timeout_passes() {
    let addr = run!(start_echo_server()).unwrap();
    let mut stream = run!(Async::<TcpStream>::connect(addr)).unwrap();
    assert_eq!(run!(echo(&mut stream, "fast")).unwrap(), "fast");
}

#[runner::test(timeout = "5s")]
fn spawns_between_runs() {
    let task = runner::spawn(async { 40 + 2 });
    assert_eq!(run!(task), 42);
    let add_one = move |n: u32| run!(async move { n + 1 });
    assert_eq!(add_one(1) + add_one(2), 5);
    assert_eq!(run!(async { 1 }), 1);
}

#[runner::test(debug, worker_threads = 2, close_timeout = "200ms", timeout = "5s")]
fn takes_every_option() {
    let task = run!(spawn_the_answer());
    assert_eq!(run!(task), 42);
}

mod rt {
    pub(crate) use runner::*;
}

#[runner::test(crate = "rt")]
fn crate_option_names_the_runner_crate() {
    assert_eq!(rt::run!(async { 1 }) + run!(async { 1 }), 2);
}

/// A stand-in for the hidden API the attribute calls, to see where its test
/// helper is called from: `runner::__private::test` is called the same way.
mod located {
    pub(crate) mod __private {
        use std::future::IntoFuture;
        use std::panic::Location;
        use std::sync::Mutex;
        use std::time::Duration;

        pub(crate) use runner::__private::Runner;

        /// Where [`test`] was last called from.
        pub(crate) static CALLED_FROM: Mutex<Option<&'static Location<'static>>> = Mutex::new(None);

        pub(crate) struct TestScope<'a>(&'a Runner);

        impl TestScope<'_> {
            pub(crate) fn run<F: IntoFuture>(&self, future: F) -> F::Output {
                self.0.run(future)
            }
        }

        #[track_caller]
        pub(crate) fn test<R>(
            runner: Runner,
            _timeout: Option<Duration>,
            _name: &'static str,
            body: impl FnOnce(&TestScope<'_>) -> R,
        ) -> R {
            *CALLED_FROM.lock().unwrap() = Some(Location::caller());
            body(&TestScope(&runner))
        }
    }
}

#[runner::test(crate = "located", timeout = "5s")]
// CALLED FROM: the test's name, on the next line
fn calls_the_test_helper() {
    assert_eq!(run!(async { 1 }), 1);
}

#[test]
fn the_test_helper_is_called_from_the_users_test_not_the_attribute() {
    // A failure the helper raises with `#[track_caller]` (a test that blocked
    // its thread past its timeout) then names the user's test.
    calls_the_test_helper();
    let site = located::__private::CALLED_FROM.lock().unwrap().unwrap();
    assert_eq!(site.file(), "tests/test_attr.rs");
    assert_eq!(site.line() as usize, marker_line("CALLED FROM") + 1);
    assert_eq!(site.column(), 4, "at the name after `fn `");
}

// Helpers.

/// Runs the test `case` of this binary in a child process that must fail;
/// returns its stderr.
fn run_child(case: &str) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([case, "--exact", "--nocapture"])
        .env(CHILD, case)
        .output()
        .expect("the child test ran");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{stderr}");
    stderr
}

/// Set in the child process of a test that runs one test of this binary.
const CHILD: &str = "RUNNER_TEST_ATTR_CHILD";

fn is_child(case: &str) -> bool {
    std::env::var(CHILD).is_ok_and(|child| child == case)
}

/// The line of this file that ends with `// MARKER`, or starts with it.
fn marker_line(marker: &str) -> usize {
    let tag = format!("// {marker}");
    include_str!("test_attr.rs")
        .lines()
        .position(|line| line.trim_end().ends_with(&tag) || line.trim_start().starts_with(&tag))
        .expect("the marker is in this file")
        + 1
}

async fn spawn_the_answer() -> runner::Task<u32> {
    runner::spawn(async { 40 + 2 })
}

/// Starts an echo server as a task of the runner running the caller, and
/// returns its address. The server echoes whole 4-byte frames.
async fn start_echo_server() -> io::Result<SocketAddr> {
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
    let addr = listener.get_ref().local_addr()?;
    runner::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            runner::spawn(echo_frames(stream)).detach();
        }
    })
    .detach();
    Ok(addr)
}

async fn echo_frames(mut stream: Async<TcpStream>) -> io::Result<()> {
    let mut frame = [0; 4];
    loop {
        stream.read_exact(&mut frame).await?;
        stream.write_all(&frame).await?;
    }
}

/// Sends `message` (a whole number of 4-byte frames) and reads the echo.
async fn echo(stream: &mut Async<TcpStream>, message: &str) -> io::Result<String> {
    stream.write_all(message.as_bytes()).await?;
    let mut reply = vec![0; message.len()];
    stream.read_exact(&mut reply).await?;
    String::from_utf8(reply).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
