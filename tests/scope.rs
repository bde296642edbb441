//! `#[runner::scope]`: one runner per call of the function, shared by every
//! `run!` of its body, closed on every way out after the body's locals.
//!
//! The tests talk to a small TCP echo server on 127.0.0.1, the way a user
//! tests an async client. The server runs on a thread of its own, on
//! async-executor, so it does not depend on the runner under test.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use async_io::Async;
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};

#[runner::scope]
fn ping_pong(addr: SocketAddr) -> io::Result<(String, String)> {
    let mut client = run!(Client::connect(addr))?;
    let ping = run!(client.echo("ping"))?;
    let pong = run!(client.echo("pong"))?;
    Ok((ping, pong))
}

#[test]
fn a_connection_made_by_one_run_serves_the_next_runs() {
    let server = EchoServer::start();
    let (ping, pong) = ping_pong(server.addr).unwrap();
    assert_eq!((ping.as_str(), pong.as_str()), ("ping", "pong"));
}

#[runner::scope]
fn collect_from_a_background_task() -> Vec<u32> {
    let (sender, receiver) = async_channel::unbounded();
    run!(async move {
        runner::spawn(async move {
            for i in 0..3 {
                sender.send(i).await.unwrap();
                runner::yield_now().await;
            }
        })
        .detach();
    });
    // The task spawned by the first run goes on during the next ones.
    (0..3).map(|_| run!(receiver.recv()).unwrap()).collect()
}

#[test]
fn a_task_spawned_by_one_run_progresses_during_the_next() {
    assert_eq!(collect_from_a_background_task(), [0, 1, 2]);
}

// Methods: `&self`, `&mut self`, `self`.

struct Greeter {
    name: String,
}

impl Greeter {
    #[runner::scope]
    fn greet(&self, addr: SocketAddr) -> io::Result<String> {
        let mut client = run!(Client::connect(addr))?;
        run!(client.echo(&format!("hello {}", self.name)))
    }
}

impl Client {
    #[runner::scope]
    fn send(&mut self, message: &str) -> io::Result<String> {
        self.sent += 1;
        run!(self.echo(message))
    }

    #[runner::scope]
    fn finish(mut self) -> io::Result<usize> {
        run!(self.stream.close())?;
        Ok(self.sent)
    }

    #[runner::scope]
    fn open(addr: SocketAddr) -> io::Result<Self> {
        run!(Client::connect(addr))
    }
}

#[test]
fn methods_taking_ref_self() {
    let server = EchoServer::start();
    let greeter = Greeter {
        name: "ferris".into(),
    };
    assert_eq!(greeter.greet(server.addr).unwrap(), "hello ferris");
}

#[test]
fn methods_taking_mut_self_and_self_across_scopes() {
    let server = EchoServer::start();
    // Each call is its own scope with its own runner; the connection
    // outlives them all.
    let mut client = Client::open(server.addr).unwrap();
    assert_eq!(client.send("one").unwrap(), "one");
    assert_eq!(client.send("two").unwrap(), "two");
    assert_eq!(client.finish().unwrap(), 2);
}

// Generics, `Result` with `?`, `impl Trait`.

#[runner::scope]
fn echo_all<S: AsRef<str>>(addr: SocketAddr, messages: &[S]) -> io::Result<Vec<String>> {
    let mut client = run!(Client::connect(addr))?;
    messages
        .iter()
        .map(|message| run!(client.echo(message.as_ref())))
        .collect()
}

#[test]
fn generic_fn() {
    let server = EchoServer::start();
    assert_eq!(echo_all(server.addr, &["a", "b"]).unwrap(), ["a", "b"]);
    assert_eq!(echo_all(server.addr, &[String::from("c")]).unwrap(), ["c"]);
}

#[runner::scope]
fn echo_lines(addr: SocketAddr, count: usize) -> impl Iterator<Item = String> {
    let mut client = run!(Client::connect(addr)).unwrap();
    let lines: Vec<String> = (0..count)
        .map(|i| run!(client.echo(&i.to_string())).unwrap())
        .collect();
    lines.into_iter().rev()
}

#[test]
fn fn_returning_impl_trait() {
    let server = EchoServer::start();
    assert_eq!(
        echo_lines(server.addr, 3).collect::<Vec<_>>(),
        ["2", "1", "0"]
    );
}

#[runner::scope]
fn connect_to_nothing(log: &Log) -> io::Result<String> {
    let _local = LogOnDrop(log.clone(), "local dropped");
    run!(log_on_close(log.clone()));
    let addr = closed_port();
    let mut client = run!(Client::connect(addr))?;
    unreachable!("connected to a closed port: {:?}", run!(client.echo("?")))
}

#[test]
fn question_mark_returns_the_error_and_closes_after_locals() {
    let log = Log::default();
    let error = connect_to_nothing(&log).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(log.entries(), ["local dropped", "runner closed"]);
}

// Every way out closes the runner after the body's locals are dropped.

#[runner::scope]
fn exit_by(way: Way, log: &Log) -> u32 {
    let _local = LogOnDrop(log.clone(), "local dropped");
    run!(log_on_close(log.clone()));
    for i in 0.. {
        if i == 2 {
            match way {
                Way::Return => return run!(async { i }),
                Way::Panic => panic!("leaving by panic"),
                Way::Tail => break,
            }
        }
    }
    run!(async { 7 })
}

#[derive(Clone, Copy)]
enum Way {
    Return,
    Panic,
    Tail,
}

#[test]
fn tail_expression_closes_the_runner_after_locals() {
    let log = Log::default();
    assert_eq!(exit_by(Way::Tail, &log), 7);
    assert_eq!(log.entries(), ["local dropped", "runner closed"]);
}

#[test]
fn early_return_closes_the_runner_after_locals() {
    let log = Log::default();
    assert_eq!(exit_by(Way::Return, &log), 2);
    assert_eq!(log.entries(), ["local dropped", "runner closed"]);
}

#[test]
fn panic_closes_the_runner_after_locals() {
    let log = Log::default();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| exit_by(Way::Panic, &log)));
    let payload = caught.expect_err("the body panicked");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"leaving by panic"));
    assert_eq!(log.entries(), ["local dropped", "runner closed"]);
}

// The runner is entered for the whole body, so the free functions reach it
// between runs too.

#[runner::scope]
fn spawn_between_runs(log: &Log) -> (u32, u32) {
    let (sender, receiver) = async_channel::unbounded();
    let first = run!(one());
    let sent = runner::spawn(async move { sender.send(first + 1).await.is_ok() });
    let local = runner::spawn_local(async { 3 });
    let log = log.clone();
    runner::on_close(async move { log.push("runner closed") });
    let second = run!(receiver.recv()).unwrap();
    assert!(run!(sent));
    (second, run!(local))
}

#[test]
fn runner_spawn_between_runs_progresses_in_the_next_run() {
    let log = Log::default();
    assert_eq!(spawn_between_runs(&log), (2, 3));
    assert_eq!(log.entries(), ["runner closed"]);
}

/// What the error for `run!` in a thread's closure suggests.
#[runner::scope]
fn block_on_from_another_thread() -> u32 {
    let handle = runner::handle();
    let from_thread = thread::spawn(move || handle.block_on(add(1, 1)).unwrap());
    run!(one()) + from_thread.join().unwrap()
}

#[test]
fn a_handle_taken_between_runs_serves_another_thread() {
    assert_eq!(block_on_from_another_thread(), 3);
}

#[runner::scope]
fn leave_a_task_pending(log: &Log) {
    let guard = LogOnDrop(log.clone(), "pending task dropped");
    run!(async move {
        runner::spawn(async move {
            let _guard = guard;
            future::pending::<()>().await;
        })
        .detach();
    });
}

#[test]
fn tasks_still_pending_are_cancelled_when_the_fn_returns() {
    let log = Log::default();
    leave_a_task_pending(&log);
    assert_eq!(log.entries(), ["pending task dropped"]);
}

// Tail expressions: their temporaries are dropped before the runner closes.

#[runner::scope]
fn greeting_len() -> usize {
    run!(async { String::from("hello") }).len()
}

#[runner::scope]
fn describe(n: u32) -> &'static str {
    let words = ["zero", "one"];
    match run!(async { n }) {
        0 => words[0],
        _ => words[1],
    }
}

#[runner::scope]
fn borrow_a_local_in_the_tail() -> usize {
    let words = [String::from("a"), String::from("bc")];
    run!(async { words.iter().map(String::len).sum::<usize>() })
}

#[runner::scope]
fn tail_with_a_temporary(log: &Log) -> u32 {
    run!(log_on_close(log.clone()));
    // The guard is a temporary of the tail expression.
    LogOnDrop(log.clone(), "tail temporary dropped").plus(run!(one()))
}

#[test]
fn tail_temporaries_are_dropped_before_the_runner_closes() {
    let log = Log::default();
    assert_eq!(tail_with_a_temporary(&log), 1);
    assert_eq!(log.entries(), ["tail temporary dropped", "runner closed"]);
}

#[test]
fn tail_expressions_with_temporaries() {
    assert_eq!(greeting_len(), 5);
    assert_eq!(describe(0), "zero");
    assert_eq!(describe(3), "one");
    assert_eq!(borrow_a_local_in_the_tail(), 3);
}

// Where `run!` may appear.

async fn one() -> u32 {
    runner::yield_now().await;
    1
}

async fn add(a: u32, b: u32) -> u32 {
    runner::yield_now().await;
    a + b
}

#[runner::scope]
fn run_in_expressions() -> u32 {
    let sum = run!(one()) + run!(add(1, 1)) * run!(one());
    let nested = run!(add(run!(one()), run!(add(1, 2))));
    let braced = run! { one() };
    let path = runner::run!(one()) + ::runner::run!(one());
    let trailing_comma = run!(one(),);
    sum + nested + braced + path + trailing_comma
}

#[test]
fn run_in_nested_expressions() {
    assert_eq!(run_in_expressions(), 3 + 4 + 1 + 2 + 1);
}

#[runner::scope]
fn run_in_loops() -> u32 {
    let mut total = 0;
    for i in 0..3 {
        total += run!(add(i, 1));
    }
    while run!(async { total < 10 }) {
        total += 1;
    }
    let mut rounds = 0;
    let last = loop {
        rounds += 1;
        if rounds == 3 {
            break run!(one());
        }
    };
    if run!(one()) == 1 {
        total += last;
    }
    let Some(extra) = run!(async { Some(5) }) else {
        unreachable!()
    };
    total + extra
}

#[test]
fn run_in_loops_conditions_and_let_else() {
    assert_eq!(run_in_loops(), 10 + 1 + 5);
}

#[runner::scope]
fn run_in_closures() -> Vec<u32> {
    let double = |x: u32| run!(add(x, x));
    let mut all = vec![double(1), double(2)];
    all.extend([3, 4].into_iter().map(|x| run!(add(x, 10))));
    all
}

#[test]
fn run_in_ordinary_closures() {
    assert_eq!(run_in_closures(), [2, 4, 13, 14]);
}

#[runner::scope]
fn run_in_a_move_closure(log: &Log) -> u32 {
    run!(log_on_close(log.clone()));
    let base = 10;
    // The closure copies a reference to the runner; the runner stays here.
    let add_base = move |x: u32| run!(add(x, base));
    let sum = add_base(1) + add_base(2);
    sum + run!(one())
}

#[test]
fn a_move_closure_borrows_the_runner_and_later_runs_still_work() {
    let log = Log::default();
    assert_eq!(run_in_a_move_closure(&log), 11 + 12 + 1);
    assert_eq!(log.entries(), ["runner closed"]);
}

#[runner::scope]
fn run_in_macros() -> String {
    assert_eq!(run!(one()), 1);
    assert!(matches!(run!(async { Some(1) }), Some(1)));
    println!("{}", run!(one()));
    let list = vec![run!(one()), runner::run![add(1, 1)]];
    let text = format!("{:?} {x}", list, x = run!(add(2, 1)));
    debug_assert_ne!(run!(one()), 0, "message {}", run!(one()));
    text
}

#[test]
fn run_inside_other_macros() {
    assert_eq!(run_in_macros(), "[1, 2] 3");
}

#[test]
fn hidden_names_do_not_clash_with_the_body() {
    #[runner::scope]
    fn shadowing() -> u32 {
        let __runner = 1;
        let __runner_scope = 2;
        let __runner_ret = 3;
        let runner = 4;
        __runner + __runner_scope + __runner_ret + runner + run!(one())
    }
    assert_eq!(shadowing(), 11);
}

#[test]
#[runner::scope]
fn on_a_test_below_test() {
    assert_eq!(run!(add(1, 2)), 3);
}

#[runner::scope]
#[test]
fn on_a_test_above_test() {
    assert_eq!(run!(add(2, 2)), 4);
}

/// `use runner::run;` makes nothing ambiguous. The import is unused: every
/// `run!` in a scope is rewritten before name resolution.
mod with_run_imported {
    #![allow(unused_imports)]
    use runner::run;

    #[runner::scope]
    fn three() -> u32 {
        run!(super::one()) + runner::run!(super::add(1, 1))
    }

    #[test]
    fn run_still_means_the_scope_runner() {
        assert_eq!(three(), 3);
    }
}

// The call made for a `run!` is located at the `run!`.

#[runner::scope(debug)]
fn poll_slowly() -> u32 {
    let line = line!() + 1;
    run!(async { thread::sleep(Duration::from_millis(150)) });
    line
}

#[test]
fn debug_reports_name_the_run_line() {
    let report = SharedBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(report.clone())
        .without_time()
        .with_ansi(false)
        .finish();
    let line = tracing::subscriber::with_default(subscriber, poll_slowly);
    let report = report.text();
    // The slow-poll report names `Location::caller()` of `Runner::run`.
    assert!(report.contains("slow poll"), "{report}");
    assert!(
        report.contains(&format!("tests/scope.rs:{line}:")),
        "expected line {line} in {report}"
    );
}

// Options.

#[runner::scope(worker_threads = 2)]
fn meet_a_worker() -> bool {
    let (started, is_started) = mpsc::channel();
    let (finish, is_finished) = mpsc::channel::<()>();
    run!(async move {
        let task = runner::spawn(async move {
            started.send(()).unwrap();
            is_finished.recv_timeout(Duration::from_secs(5)).is_ok()
        });
        // Blocks this thread: only a worker thread can start the task now.
        let met = is_started.recv_timeout(Duration::from_secs(5)).is_ok();
        finish.send(()).unwrap();
        met && task.await
    })
}

#[test]
fn worker_threads_run_send_tasks_while_the_caller_blocks() {
    assert!(meet_a_worker());
}

#[runner::scope(close_timeout = "200ms")]
fn leave_a_task_that_ignores_closing(log: &Log) {
    let guard = LogOnDrop(log.clone(), "stubborn task dropped");
    let (waiting, is_waiting) = async_channel::bounded(1);
    run!(async move {
        runner::spawn(async move {
            let _guard = guard;
            let closing = runner::closing();
            waiting.try_send(()).unwrap();
            closing.await;
            future::pending::<()>().await;
        })
        .detach();
        // The task is now waiting on `closing()`.
        is_waiting.recv().await.unwrap();
    });
}

#[test]
fn close_timeout_bounds_the_wait_for_pending_tasks() {
    let log = Log::default();
    let start = Instant::now();
    leave_a_task_that_ignores_closing(&log);
    let elapsed = start.elapsed();
    assert_eq!(log.entries(), ["stubborn task dropped"]);
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    // The default close timeout is 5 s.
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[runner::scope(debug)]
fn with_debug() -> u32 {
    run!(one())
}

#[runner::scope(debug = false, worker_threads = 1, close_timeout = "1s")]
fn with_every_option() -> u32 {
    run!(add(1, 1))
}

#[test]
fn debug_and_combined_options() {
    assert_eq!(with_debug(), 1);
    assert_eq!(with_every_option(), 2);
}

/// A crate that re-exports `runner` under another name.
mod rt {
    pub(crate) use runner::*;
}

#[runner::scope(crate = "rt")]
fn through_a_reexport() -> u32 {
    rt::run!(another_one()) + run!(one())
}

async fn another_one() -> u32 {
    1
}

#[test]
fn crate_option_names_the_runner_crate() {
    assert_eq!(through_a_reexport(), 2);
}

// Helpers.

/// A connection to the echo server.
struct Client {
    stream: Async<TcpStream>,
    sent: usize,
}

impl Client {
    async fn connect(addr: SocketAddr) -> io::Result<Client> {
        let stream = Async::<TcpStream>::connect(addr).await?;
        Ok(Client { stream, sent: 0 })
    }

    /// Sends `message` and reads back as many bytes.
    async fn echo(&mut self, message: &str) -> io::Result<String> {
        self.stream.write_all(message.as_bytes()).await?;
        let mut reply = vec![0; message.len()];
        self.stream.read_exact(&mut reply).await?;
        String::from_utf8(reply).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// An echo server on 127.0.0.1, stopped and joined on drop.
struct EchoServer {
    addr: SocketAddr,
    stop: Option<async_channel::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl EchoServer {
    fn start() -> EchoServer {
        let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let thread = thread::spawn(move || {
            let executor = async_executor::LocalExecutor::new();
            let accept = async {
                while let Ok((stream, _)) = listener.accept().await {
                    executor.spawn(echo_until_eof(stream)).detach();
                }
            };
            // `recv` fails once the sender is dropped.
            let stop = async {
                let _ = stopped.recv().await;
            };
            async_io::block_on(executor.run(future::or(accept, stop)));
        });
        EchoServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn echo_until_eof(mut stream: Async<TcpStream>) -> io::Result<()> {
    let mut buffer = [0; 1024];
    loop {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        stream.write_all(&buffer[..read]).await?;
    }
}

/// An address where nothing listens.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap()
}

/// What happened, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<&'static str>>>);

impl Log {
    fn push(&self, entry: &'static str) {
        self.0.lock().unwrap().push(entry);
    }

    fn entries(&self) -> Vec<&'static str> {
        self.0.lock().unwrap().clone()
    }
}

/// Logs its message when dropped.
struct LogOnDrop(Log, &'static str);

impl Drop for LogOnDrop {
    fn drop(&mut self) {
        self.0.push(self.1);
    }
}

impl LogOnDrop {
    fn plus(&self, n: u32) -> u32 {
        n
    }
}

/// Where a `tracing` subscriber writes, to read back.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl io::Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SharedBuffer {
    type Writer = SharedBuffer;

    fn make_writer(&'a self) -> SharedBuffer {
        self.clone()
    }
}

/// Registers an `on_close` cleanup that logs "runner closed".
async fn log_on_close(log: Log) {
    runner::on_close(async move { log.push("runner closed") });
}
