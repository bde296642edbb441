//! Loopback TCP echo: `runner` against smol's setup and tokio's
//! `current_thread` runtime, in one criterion group so that a single
//! `cargo bench --bench net` measures all of them side by side.
//! `benches/summarize.py` turns the results into BENCHMARKS.md.
//!
//! The case is I/O bound on purpose: the other benches never touch the
//! reactor, and a loop that drives the reactor well is what a network
//! service needs. `CONNECTIONS` connections, each in its own client task,
//! send `MESSAGE` bytes and read them back `ROUNDS` times per iteration; the
//! server spawns one task per accepted connection that echoes until EOF.
//! Server and clients run on the runtime under test, in one process, over
//! 127.0.0.1 with `TCP_NODELAY`.
//!
//! The listener, the server tasks and the connections are set up once per
//! contender, outside the measured loop; an iteration spawns the client
//! tasks, hands each one its connection, and awaits them all, so it measures
//! round trips (and spawning 50 tasks), not `connect`/`accept`.
//!
//! Anchors: smol (async-io's `Async` sockets on async-executor, driven by
//! `async_io::block_on`, which is what `smol::block_on` is), because `runner`
//! is built on the same crates and should cost no more; and tokio's
//! `current_thread` runtime with `tokio::net`, the single-threaded loop most
//! Rust services would otherwise use. `runner_in_block_on` is a diagnostic,
//! not a way to use `runner`: the same runner with each run called inside
//! `async_io::block_on`, which changes one thing, that async-io's helper
//! thread sees a thread blocked on the reactor and backs off between its
//! reactor polls (BENCHMARKS.md, "Before the core rework", says why that
//! matters here).
//!
//! Counting syscalls: with `RUNNER_BENCH_ECHO=<contender>:<iterations>` set,
//! the binary skips criterion, sets up that contender, runs that many
//! iterations and exits, so that `strace -c -f` or `perf stat -e
//! 'raw_syscalls:sys_enter'` can count them (BENCHMARKS.md has the commands;
//! two iteration counts, subtracted, cancel the setup).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use async_executor::{Executor, LocalExecutor};
use async_io::Async;
use criterion::{criterion_group, Criterion, Throughput};
use futures_lite::{AsyncReadExt, AsyncWriteExt};

/// Connections, each with its own client task and its own server task.
const CONNECTIONS: usize = 50;
/// Bytes per message.
const MESSAGE: usize = 64;
/// Round trips per connection per iteration: 50 x 10 = 500 round trips,
/// 7 to 30 ms per iteration on the machine of BENCHMARKS.md (a loaded VM
/// where a syscall costs about 2 µs), 14 to 60 µs per round trip.
const ROUNDS: usize = 10;

const LOCALHOST: (Ipv4Addr, u16) = (Ipv4Addr::LOCALHOST, 0);

/// One contender: set up once, then run iterations.
trait Echo {
    /// Runs one iteration: `ROUNDS` round trips on every connection.
    fn iteration(&mut self);
}

/// Server side for async-io sockets: echo every message until EOF.
async fn serve(mut stream: Async<TcpStream>) {
    let mut buf = [0; MESSAGE];
    while stream.read_exact(&mut buf).await.is_ok() {
        if stream.write_all(&buf).await.is_err() {
            break;
        }
    }
}

/// Client side for async-io sockets: `ROUNDS` round trips, then the
/// connection goes back to the fixture for the next iteration.
async fn client(mut stream: Async<TcpStream>) -> Async<TcpStream> {
    let mut buf = [0; MESSAGE];
    for round in 0..ROUNDS {
        buf[0] = round as u8;
        stream.write_all(&buf).await.expect("the server is alive");
        stream
            .read_exact(&mut buf)
            .await
            .expect("the server is alive");
        assert_eq!(buf[0], round as u8);
    }
    stream
}

/// Accepts `CONNECTIONS` connections on `listener` while `connect` opens
/// them; each accepted stream goes to `spawn_server`.
async fn connect_all(
    listener: Async<TcpListener>,
    mut spawn_server: impl FnMut(Async<TcpStream>),
) -> Vec<Async<TcpStream>> {
    let addr = listener.get_ref().local_addr().expect("a bound listener");
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let (client, (server, _)) =
            futures_lite::future::try_zip(Async::<TcpStream>::connect(addr), listener.accept())
                .await
                .expect("a loopback connection");
        client.get_ref().set_nodelay(true).expect("TCP_NODELAY");
        server.get_ref().set_nodelay(true).expect("TCP_NODELAY");
        spawn_server(server);
        clients.push(client);
    }
    clients
}

fn listener() -> Async<TcpListener> {
    Async::<TcpListener>::bind(SocketAddr::from(LOCALHOST)).expect("a loopback listener")
}

/// `runner`: a reused runner; the server tasks are spawned with
/// `runner::spawn` and progress in every run.
struct RunnerEcho {
    runner: runner::Runner,
    clients: Vec<Async<TcpStream>>,
}

impl RunnerEcho {
    fn new() -> RunnerEcho {
        let runner = runner::Runner::new();
        let clients = runner.run(connect_all(listener(), |server| {
            runner::spawn(serve(server)).detach()
        }));
        RunnerEcho { runner, clients }
    }
}

impl Echo for RunnerEcho {
    fn iteration(&mut self) {
        let clients = std::mem::take(&mut self.clients);
        self.clients = self.runner.run(async {
            let tasks: Vec<_> = clients
                .into_iter()
                .map(|stream| runner::spawn(client(stream)))
                .collect();
            let mut clients = Vec::with_capacity(CONNECTIONS);
            for task in tasks {
                clients.push(task.await);
            }
            clients
        });
    }
}

/// Diagnostic: the same runner, each run called inside `async_io::block_on`,
/// which only tells async-io's helper thread that a thread is blocked on it
/// (so that thread backs off instead of polling the reactor at once again).
struct RunnerInBlockOnEcho(RunnerEcho);

impl Echo for RunnerInBlockOnEcho {
    fn iteration(&mut self) {
        async_io::block_on(async { self.0.iteration() })
    }
}

/// smol: async-executor's `Executor` driven by `async_io::block_on`.
struct SmolEcho {
    ex: Arc<Executor<'static>>,
    clients: Vec<Async<TcpStream>>,
}

impl SmolEcho {
    fn new() -> SmolEcho {
        let ex = Arc::new(Executor::new());
        let clients = async_io::block_on(ex.run(connect_all(listener(), |server| {
            ex.spawn(serve(server)).detach()
        })));
        SmolEcho { ex, clients }
    }
}

impl Echo for SmolEcho {
    fn iteration(&mut self) {
        let clients = std::mem::take(&mut self.clients);
        self.clients = async_io::block_on(self.ex.run(async {
            let tasks: Vec<_> = clients
                .into_iter()
                .map(|stream| self.ex.spawn(client(stream)))
                .collect();
            let mut clients = Vec::with_capacity(CONNECTIONS);
            for task in tasks {
                clients.push(task.await);
            }
            clients
        }));
    }
}

/// smol with a `LocalExecutor`: the same without `Send` tasks.
struct SmolLocalEcho {
    ex: Rc<LocalExecutor<'static>>,
    clients: Vec<Async<TcpStream>>,
}

impl SmolLocalEcho {
    fn new() -> SmolLocalEcho {
        let ex = Rc::new(LocalExecutor::new());
        let clients = async_io::block_on(ex.run(connect_all(listener(), |server| {
            ex.spawn(serve(server)).detach()
        })));
        SmolLocalEcho { ex, clients }
    }
}

impl Echo for SmolLocalEcho {
    fn iteration(&mut self) {
        let clients = std::mem::take(&mut self.clients);
        self.clients = async_io::block_on(self.ex.run(async {
            let tasks: Vec<_> = clients
                .into_iter()
                .map(|stream| self.ex.spawn(client(stream)))
                .collect();
            let mut clients = Vec::with_capacity(CONNECTIONS);
            for task in tasks {
                clients.push(task.await);
            }
            clients
        }));
    }
}

/// tokio: a reused `current_thread` runtime with `tokio::net`; the server
/// tasks are spawned with `tokio::spawn` and progress in every `block_on`.
struct TokioEcho {
    rt: tokio::runtime::Runtime,
    clients: Vec<tokio::net::TcpStream>,
}

/// The same server and client as above, over tokio's I/O traits.
mod tokio_side {
    use super::{MESSAGE, ROUNDS};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    pub(super) async fn serve(mut stream: TcpStream) {
        let mut buf = [0; MESSAGE];
        while stream.read_exact(&mut buf).await.is_ok() {
            if stream.write_all(&buf).await.is_err() {
                break;
            }
        }
    }

    pub(super) async fn client(mut stream: TcpStream) -> TcpStream {
        let mut buf = [0; MESSAGE];
        for round in 0..ROUNDS {
            buf[0] = round as u8;
            stream.write_all(&buf).await.expect("the server is alive");
            stream
                .read_exact(&mut buf)
                .await
                .expect("the server is alive");
            assert_eq!(buf[0], round as u8);
        }
        stream
    }
}

impl TokioEcho {
    fn new() -> TokioEcho {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("a tokio current_thread runtime");
        let clients = rt.block_on(async {
            let listener = tokio::net::TcpListener::bind(LOCALHOST)
                .await
                .expect("a loopback listener");
            let addr = listener.local_addr().expect("a bound listener");
            let mut clients = Vec::with_capacity(CONNECTIONS);
            for _ in 0..CONNECTIONS {
                let (client, (server, _)) =
                    tokio::try_join!(tokio::net::TcpStream::connect(addr), listener.accept())
                        .expect("a loopback connection");
                client.set_nodelay(true).expect("TCP_NODELAY");
                server.set_nodelay(true).expect("TCP_NODELAY");
                drop(tokio::spawn(tokio_side::serve(server)));
                clients.push(client);
            }
            clients
        });
        TokioEcho { rt, clients }
    }
}

impl Echo for TokioEcho {
    fn iteration(&mut self) {
        let clients = std::mem::take(&mut self.clients);
        self.clients = self.rt.block_on(async {
            let tasks: Vec<_> = clients
                .into_iter()
                .map(|stream| tokio::spawn(tokio_side::client(stream)))
                .collect();
            let mut clients = Vec::with_capacity(CONNECTIONS);
            for task in tasks {
                clients.push(task.await.expect("the client finished"));
            }
            clients
        });
    }
}

/// The contenders by name, as they appear in the criterion group.
fn contender(name: &str) -> Box<dyn Echo> {
    match name {
        "runner" => Box::new(RunnerEcho::new()),
        "runner_in_block_on" => Box::new(RunnerInBlockOnEcho(RunnerEcho::new())),
        "smol" => Box::new(SmolEcho::new()),
        "smol_local_executor" => Box::new(SmolLocalEcho::new()),
        "tokio_current_thread" => Box::new(TokioEcho::new()),
        _ => panic!(
            "unknown contender `{name}`: runner, smol, smol_local_executor or tokio_current_thread"
        ),
    }
}

const CONTENDERS: [&str; 5] = [
    "runner",
    "runner_in_block_on",
    "smol",
    "smol_local_executor",
    "tokio_current_thread",
];

/// 50 connections x `ROUNDS` round trips of 64 bytes over 127.0.0.1.
fn tcp_echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_echo");
    group.throughput(Throughput::Elements((CONNECTIONS * ROUNDS) as u64));
    group.sample_size(20);
    for name in CONTENDERS {
        // Each fixture (its runtime, listener, tasks and sockets) is dropped
        // before the next one is built.
        let mut echo = contender(name);
        group.bench_function(name, |b| b.iter(|| echo.iteration()));
    }
    group.finish();
}

/// `RUNNER_BENCH_ECHO=<contender>:<iterations>`: set up one contender and
/// run it, for a syscall counter; prints what it ran.
fn count_mode(spec: &str) {
    let (name, iterations) = spec
        .split_once(':')
        .expect("RUNNER_BENCH_ECHO=<contender>:<iterations>");
    let iterations: usize = iterations.parse().expect("a number of iterations");
    let mut echo = contender(name);
    for _ in 0..iterations {
        echo.iteration();
    }
    println!(
        "{name}: {iterations} iterations, {} round trips",
        iterations * CONNECTIONS * ROUNDS
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = tcp_echo
}

// `criterion_main!`, plus the syscall-counting mode.
fn main() {
    if let Ok(spec) = std::env::var("RUNNER_BENCH_ECHO") {
        count_mode(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
