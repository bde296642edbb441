//! Helpers shared by the integration tests (each test binary uses some).
#![allow(dead_code)]

use std::io::Read;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Counts its drops: each future or value under test is dropped exactly once.
pub(crate) struct DropCounter(pub(crate) Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs `f`, which must panic, and returns the panic's message.
pub(crate) fn panic_message(f: impl FnOnce()) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// A future that holds `value` and never finishes: a task parked until it is
/// dropped, which drops `value` (a [`DropCounter`], say) with it.
pub(crate) async fn pending_holding<T>(value: T) {
    let _value = value;
    std::future::pending::<()>().await
}

/// Runs `command` (a child test process, say) to its end, reading its
/// output as it goes, or kills it after `timeout`: its exit status (`None`
/// when killed), stdout and stderr.
pub(crate) fn run_child(
    mut command: Command,
    timeout: Duration,
) -> (Option<ExitStatus>, String, String) {
    let mut process = command
        .env_remove("RUNNER_DEBUG")
        // Short reports; rerun the child by hand for a backtrace.
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child started");
    let stdout = read_all(process.stdout.take().unwrap());
    let stderr = read_all(process.stderr.take().unwrap());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = process.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > timeout {
            let _ = process.kill();
            let _ = process.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(5));
    };
    (status, stdout.join().unwrap(), stderr.join().unwrap())
}

/// Reads `pipe` to its end on a thread of its own, so that a child that
/// fills one pipe never blocks on it while the other is read.
fn read_all(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
