//! Ctrl-C, tested on real processes: each case runs this binary again as a
//! child (`RUNNER_INTERRUPT_CHILD` names the case), waits for the line the
//! child prints once it is inside a run, sends SIGINT, and checks how the
//! child ended and what it printed.
//!
//! `harness = false`: the children need `fn main` on the main thread, as
//! `#[runner::scope] fn main` is in a real program.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use runner::{on_close, Interrupted, Runner};

const CHILD: &str = "RUNNER_INTERRUPT_CHILD";

/// A check run by the parent: `Err` says what went wrong.
type Case = fn() -> Result<(), String>;

#[runner::scope]
fn main() {
    match std::env::var(CHILD).as_deref() {
        Err(_) => parent(),
        // `#[runner::scope]` on `fn main`: Ctrl-C closes the runner, exit 130.
        Ok("scope_on_main") => {
            run!(async {
                on_close(async { println!("on_close cleanup ran") });
                let _guard = PrintOnDrop("the run's future was dropped");
                println!("ready");
                std::future::pending::<()>().await
            });
            println!("not reached");
        }
        Ok(case) => child(case),
    }
}

/// The checks, one child each.
fn parent() {
    let cases: [(&str, Case); 8] = [
        (
            "scope_on_main_exits_with_130_after_closing_the_runner",
            scope_on_main_exits_with_130_after_closing_the_runner,
        ),
        (
            "try_run_returns_interrupted_and_the_next_run_works",
            try_run_returns_interrupted_and_the_next_run_works,
        ),
        (
            "an_interrupted_run_drops_the_tasks_of_its_group_before_try_run_returns",
            an_interrupted_run_drops_the_tasks_of_its_group_before_try_run_returns,
        ),
        (
            "a_run_interrupted_in_its_first_poll_does_not_poll_its_future_again",
            a_run_interrupted_in_its_first_poll_does_not_poll_its_future_again,
        ),
        (
            "a_second_ctrl_c_during_a_slow_drop_ends_the_process",
            a_second_ctrl_c_during_a_slow_drop_ends_the_process,
        ),
        (
            "an_application_handler_keeps_the_signal_and_the_run_completes",
            an_application_handler_keeps_the_signal_and_the_run_completes,
        ),
        (
            "between_runs_sigint_ends_the_process_as_by_default",
            between_runs_sigint_ends_the_process_as_by_default,
        ),
        (
            "after_close_sigint_ends_the_process_as_by_default",
            after_close_sigint_ends_the_process_as_by_default,
        ),
    ];
    if sigint_is_ignored() {
        // Children inherit an ignored SIGINT (as a shell without job control
        // starts background commands); none of these cases can run then.
        for (name, _) in cases {
            println!("test {name} ... skipped: SIGINT is ignored in this process, and children inherit that");
        }
        println!("0 passed, 0 failed, {} skipped", cases.len());
        return;
    }
    let mut failed = 0;
    for (name, case) in cases {
        match case() {
            Ok(()) => println!("test {name} ... ok"),
            Err(why) => {
                failed += 1;
                println!("test {name} ... FAILED\n{why}");
            }
        }
    }
    println!("{} passed, {failed} failed", cases.len() - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}

fn scope_on_main_exits_with_130_after_closing_the_runner() -> Result<(), String> {
    let mut child = Spawned::new("scope_on_main")?;
    child.wait_for("ready")?;
    child.interrupt()?;
    let (status, out, err) = child.finish()?;
    check(
        status.code() == Some(130),
        format!("exit status {status:?}"),
    )?;
    check(
        out.contains("the run's future was dropped"),
        format!("no Drop output: {out}"),
    )?;
    check(
        out.contains("on_close cleanup ran"),
        format!("no on_close output: {out}"),
    )?;
    check(!out.contains("not reached"), format!("main went on: {out}"))?;
    check(
        !err.contains("panicked at"),
        format!("a panic message: {err}"),
    )
}

fn try_run_returns_interrupted_and_the_next_run_works() -> Result<(), String> {
    let mut child = Spawned::new("try_run")?;
    child.wait_for("ready")?;
    child.interrupt()?;
    let (status, out, err) = child.finish()?;
    check(status.success(), format!("exit status {status:?}: {err}"))?;
    check(
        out.contains("dropped in its context: Some(7)"),
        format!("no Drop output in context: {out}"),
    )?;
    check(
        out.contains("try_run: Err(Interrupted)"),
        format!("no Err(Interrupted): {out}"),
    )?;
    check(
        out.contains("next run: 2"),
        format!("the next run did not work: {out}"),
    )?;
    check(
        !err.contains("panicked at"),
        format!("a panic message: {err}"),
    )
}

fn a_run_interrupted_in_its_first_poll_does_not_poll_its_future_again() -> Result<(), String> {
    let mut child = Spawned::new("interrupted_then_yields")?;
    child.wait_for("try_run: Err(Interrupted)")?;
    let (status, out, err) = child.finish()?;
    check(status.success(), format!("exit status {status:?}: {err}"))?;
    check(
        !out.contains("polled after Ctrl-C"),
        format!("the future was polled after Ctrl-C: {out}"),
    )
}

fn an_interrupted_run_drops_the_tasks_of_its_group_before_try_run_returns() -> Result<(), String> {
    let mut child = Spawned::new("group")?;
    child.wait_for("ready")?;
    child.interrupt()?;
    let (status, out, err) = child.finish()?;
    check(status.success(), format!("exit status {status:?}: {err}"))?;
    check(
        out.contains("try_run: Err(Interrupted); tasks left: 0; dropped: 3 (local 1)"),
        format!("the group's tasks outlived the run: {out}"),
    )?;
    check(
        out.contains("close: cancelled 0"),
        format!("close found tasks: {out}"),
    )
}

fn a_second_ctrl_c_during_a_slow_drop_ends_the_process() -> Result<(), String> {
    let mut child = Spawned::new("slow_drop")?;
    child.wait_for("ready")?;
    child.interrupt()?;
    child.wait_for("dropping slowly")?;
    let sent = Instant::now();
    child.interrupt()?;
    let (status, out, _) = child.finish()?;
    check(
        status.signal() == Some(2),
        format!("not ended by SIGINT: {status:?} {out}"),
    )?;
    check(
        sent.elapsed() < Duration::from_secs(10),
        format!("took {:?}", sent.elapsed()),
    )
}

fn an_application_handler_keeps_the_signal_and_the_run_completes() -> Result<(), String> {
    let mut child = Spawned::new("app_handler")?;
    child.wait_for("ready")?;
    child.interrupt()?;
    let (status, out, err) = child.finish()?;
    check(status.success(), format!("exit status {status:?}: {err}"))?;
    check(
        out.contains("the application's handler saw SIGINT; the run completed"),
        out,
    )
}

fn between_runs_sigint_ends_the_process_as_by_default() -> Result<(), String> {
    let mut child = Spawned::new("between_runs")?;
    child.wait_for("between runs")?;
    child.interrupt()?;
    let (status, _, _) = child.finish()?;
    check(
        status.signal() == Some(2),
        format!("not ended by SIGINT: {status:?}"),
    )
}

fn after_close_sigint_ends_the_process_as_by_default() -> Result<(), String> {
    let mut child = Spawned::new("after_close")?;
    child.wait_for("closed")?;
    child.interrupt()?;
    let (status, _, _) = child.finish()?;
    check(
        status.signal() == Some(2),
        format!("not ended by SIGINT: {status:?}"),
    )
}

/// The children other than `scope_on_main`.
fn child(case: &str) {
    static VALUE: runner::ContextVar<u32> = runner::ContextVar::new("value");
    match case {
        "try_run" => {
            let runner = Runner::new();
            let result = runner.try_run(async {
                VALUE.set(7);
                let _guard = ReadOnDrop(&VALUE);
                println!("ready");
                std::future::pending::<()>().await
            });
            println!("try_run: {result:?}");
            assert_eq!(result, Err(Interrupted));
            println!("next run: {}", runner.run(async { 1 + 1 }));
        }
        "interrupted_then_yields" => {
            let runner = Runner::new();
            let result = runner.try_run(async {
                // Ctrl-C during the first poll, which then yields (wakes
                // itself): the run ends without polling it again.
                signal_hook::low_level::raise(signal_hook::consts::SIGINT).unwrap();
                runner::yield_now().await;
                println!("polled after Ctrl-C");
            });
            println!("try_run: {result:?}");
        }
        "group" => {
            let runner = Runner::new();
            let dropped = Arc::new(AtomicUsize::new(0));
            let local = Arc::new(AtomicUsize::new(0));
            let result = runner.try_run(async {
                let mut group = runner::TaskGroup::new();
                for _ in 0..2 {
                    let guard = CountOnDrop(dropped.clone());
                    group.spawn(async move {
                        let _guard = guard;
                        loop {
                            runner::sleep(Duration::from_millis(5)).await;
                        }
                    });
                }
                let guards = (CountOnDrop(dropped.clone()), CountOnDrop(local.clone()));
                group.spawn_local(async move {
                    let _guards = guards;
                    std::future::pending::<()>().await
                });
                println!("ready");
                group.join().await;
            });
            println!(
                "try_run: {result:?}; tasks left: {}; dropped: {} (local {})",
                runner.tasks().len(),
                dropped.load(Ordering::SeqCst),
                local.load(Ordering::SeqCst),
            );
            println!("close: cancelled {}", runner.close().cancelled);
        }
        "slow_drop" => {
            let runner = Runner::new();
            runner.run(async {
                let _guard = SlowDrop;
                println!("ready");
                std::future::pending::<()>().await
            });
        }
        "app_handler" => {
            let seen = Arc::new(AtomicBool::new(false));
            signal_hook::flag::register(signal_hook::consts::SIGINT, seen.clone()).unwrap();
            let runner = Runner::new();
            runner.run(async {
                println!("ready");
                while !seen.load(Ordering::SeqCst) {
                    runner::sleep(Duration::from_millis(5)).await;
                }
            });
            println!("the application's handler saw SIGINT; the run completed");
        }
        "between_runs" => {
            let runner = Runner::new();
            runner.run(runner::yield_now());
            println!("between runs");
            thread::sleep(Duration::from_secs(30));
            runner.run(async {});
        }
        "after_close" => {
            let runner = Runner::new();
            runner.run(runner::yield_now());
            runner.close();
            println!("closed");
            thread::sleep(Duration::from_secs(30));
        }
        other => panic!("unknown child case {other}"),
    }
}

// Helpers.

/// A child process of this binary, with its stdout read line by line.
struct Spawned {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Spawned {
    fn new(case: &str) -> Result<Spawned, String> {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD, case)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("spawning the child: {error}"))?;
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        Ok(Spawned {
            child,
            lines,
            seen: Vec::new(),
        })
    }

    /// Waits (at most 10 s) for the child to print `expected`.
    fn wait_for(&mut self, expected: &str) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line == expected;
                    self.seen.push(line);
                    if found {
                        return Ok(());
                    }
                }
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        Err(format!(
            "the child never printed {expected:?}; it printed {:?}",
            self.seen
        ))
    }

    fn interrupt(&self) -> Result<(), String> {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::INT)
            .map_err(|error| error.to_string())
    }

    /// Waits (at most 10 s) for the child to end; returns its status, stdout and stderr.
    fn finish(mut self) -> Result<(ExitStatus, String, String), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().map_err(|error| error.to_string())? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return Err("the child did not end within 10 s".into());
            }
            thread::sleep(Duration::from_millis(10));
        };
        self.seen.extend(self.lines.try_iter());
        let mut err = String::new();
        std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut err).ok();
        Ok((status, self.seen.join("\n"), err))
    }
}

/// Whether this process ignores SIGINT, per `/proc/self/status`.
fn sigint_is_ignored() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let ignored = status.lines().find_map(|line| line.strip_prefix("SigIgn:"));
    let mask = ignored.and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok());
    // SIGINT is signal 2: bit 1.
    mask.is_some_and(|mask| mask & (1 << 1) != 0)
}

fn check(condition: bool, why: String) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(why)
    }
}

struct PrintOnDrop(&'static str);

impl Drop for PrintOnDrop {
    fn drop(&mut self) {
        println!("{}", self.0);
    }
}

/// Prints the variable's value as seen from `Drop`.
struct ReadOnDrop(&'static runner::ContextVar<u32>);

impl Drop for ReadOnDrop {
    fn drop(&mut self) {
        println!("dropped in its context: {:?}", self.0.get());
    }
}

/// A `Drop` that takes long: a second Ctrl-C must not wait for it.
struct SlowDrop;

impl Drop for SlowDrop {
    fn drop(&mut self) {
        println!("dropping slowly");
        thread::sleep(Duration::from_secs(30));
    }
}

/// Counts its drop.
struct CountOnDrop(Arc<AtomicUsize>);

impl Drop for CountOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
