//! The `tokio` feature's costs, side by side in one run.
//!
//! - `tokio_echo_joined` / `tokio_echo_spawned` (with `--features tokio`):
//!   loopback TCP echo with `tokio::net`, `CONNECTIONS` connections each doing
//!   `ROUNDS` round trips of `MESSAGE` bytes per iteration, on tokio's own
//!   `current_thread` runtime (the anchor), inside `runner.run`, and through
//!   async-compat (the baseline: `futures_lite::future::block_on` of
//!   `Compat`). `joined`: both ends of every connection are one future
//!   (`join_all`), the same future for all three. `spawned`: the echo servers
//!   are tasks of each executor, spawned once; the clients are the run.
//! - `tokio_feature_overhead` (built with and without the feature, to
//!   compare the two builds): futures that never touch tokio, a run whose
//!   future yields once, and a task that yields 1,000 times.
//!
//! For instruction counts, which this noisy machine keeps steadier than
//! times, `TOKIO_ECHO_COUNT=<case>:<n>` runs one overhead case `n` times with
//! no criterion, for `valgrind --tool=callgrind`: run it with two values of
//! `n` and divide the difference of the totals by the difference of `n`.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, Criterion};

/// A run of a future that yields once: one trip through the loop.
fn run_yield(runner: &runner::Runner) -> i32 {
    runner.run(async {
        runner::yield_now().await;
        black_box(1)
    })
}

/// A run of a task that yields `YIELDS` times: `YIELDS + 1` task polls.
fn task_yields(runner: &runner::Runner) -> usize {
    const YIELDS: usize = 1000;
    runner.run(runner.spawn(async {
        for _ in 0..YIELDS {
            runner::yield_now().await;
        }
        black_box(YIELDS)
    }))
}

fn overhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("tokio_feature_overhead");
    let feature = if cfg!(feature = "tokio") {
        "feature_on"
    } else {
        "feature_off"
    };
    let runner = runner::Runner::new();
    group.bench_function(format!("run_yield/{feature}"), |b| {
        b.iter(|| run_yield(&runner))
    });
    group.bench_function(format!("task_yield_1000/{feature}"), |b| {
        b.iter(|| task_yields(&runner))
    });
    group.finish();
}

#[cfg(feature = "tokio")]
mod echo {
    use std::hint::black_box;
    use std::time::Duration;

    use async_compat::Compat;
    use criterion::Criterion;
    use futures::future::{join, join_all};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Connections per iteration.
    const CONNECTIONS: usize = 50;
    /// Round trips per connection per iteration.
    const ROUNDS: usize = 10;
    /// Bytes per message.
    const MESSAGE: usize = 64;

    /// `CONNECTIONS` loopback connections: (client end, server end).
    async fn connect() -> Vec<(TcpStream, TcpStream)> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut pairs = Vec::with_capacity(CONNECTIONS);
        for _ in 0..CONNECTIONS {
            let (client, accepted) = tokio::join!(TcpStream::connect(address), listener.accept());
            let (client, server) = (client.unwrap(), accepted.unwrap().0);
            client.set_nodelay(true).unwrap();
            server.set_nodelay(true).unwrap();
            pairs.push((client, server));
        }
        pairs
    }

    /// `ROUNDS` round trips from the client end.
    async fn ask(client: &mut TcpStream) {
        let mut buffer = [7u8; MESSAGE];
        for _ in 0..ROUNDS {
            client.write_all(&buffer).await.unwrap();
            client.read_exact(&mut buffer).await.unwrap();
        }
        black_box(buffer);
    }

    /// Echoes `rounds` messages back, or until the client hangs up.
    async fn answer(server: &mut TcpStream, rounds: usize) {
        let mut buffer = [0u8; MESSAGE];
        for _ in 0..rounds {
            if server.read_exact(&mut buffer).await.is_err() {
                return;
            }
            server.write_all(&buffer).await.unwrap();
        }
    }

    /// One iteration with both ends of every connection in one future.
    async fn joined(pairs: &mut [(TcpStream, TcpStream)]) {
        join_all(
            pairs
                .iter_mut()
                .map(|(client, server)| join(ask(client), answer(server, ROUNDS))),
        )
        .await;
    }

    /// One iteration of the clients; the servers are tasks.
    async fn clients(clients: &mut [TcpStream]) {
        join_all(clients.iter_mut().map(ask)).await;
    }

    /// Splits the pairs: the clients, and the servers, each an echo future
    /// for the whole benchmark.
    fn split(
        pairs: Vec<(TcpStream, TcpStream)>,
    ) -> (
        Vec<TcpStream>,
        Vec<impl std::future::Future<Output = ()> + Send + 'static>,
    ) {
        pairs
            .into_iter()
            .map(|(client, mut server)| {
                (client, async move { answer(&mut server, usize::MAX).await })
            })
            .unzip()
    }

    pub(crate) fn joined_group(c: &mut Criterion) {
        let mut group = c.benchmark_group("tokio_echo_joined");
        group
            .sample_size(30)
            .measurement_time(Duration::from_secs(3));

        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut pairs = tokio.block_on(connect());
        group.bench_function("tokio_current_thread", |b| {
            b.iter(|| tokio.block_on(joined(&mut pairs)))
        });
        drop(pairs);

        let runner = runner::Runner::new();
        let mut pairs = runner.run(connect());
        group.bench_function("runner", |b| b.iter(|| runner.run(joined(&mut pairs))));
        drop(pairs);

        let mut pairs = futures_lite::future::block_on(Compat::new(connect()));
        group.bench_function("async_compat", |b| {
            b.iter(|| futures_lite::future::block_on(Compat::new(joined(&mut pairs))))
        });
        group.finish();
    }

    pub(crate) fn spawned_group(c: &mut Criterion) {
        let mut group = c.benchmark_group("tokio_echo_spawned");
        group
            .sample_size(30)
            .measurement_time(Duration::from_secs(3));

        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (mut ends, servers) = split(tokio.block_on(connect()));
        for server in servers {
            tokio.spawn(server);
        }
        group.bench_function("tokio_current_thread", |b| {
            b.iter(|| tokio.block_on(clients(&mut ends)))
        });
        drop(ends);

        let runner = runner::Runner::new();
        let (mut ends, servers) = split(runner.run(connect()));
        for server in servers {
            runner.spawn(server).detach();
        }
        group.bench_function("runner", |b| b.iter(|| runner.run(clients(&mut ends))));
        drop(ends);

        let executor = async_executor::LocalExecutor::new();
        let (mut ends, servers) = split(futures_lite::future::block_on(Compat::new(connect())));
        for server in servers {
            executor.spawn(Compat::new(server)).detach();
        }
        group.bench_function("async_compat", |b| {
            b.iter(|| futures_lite::future::block_on(executor.run(Compat::new(clients(&mut ends)))))
        });
        group.finish();
    }
}

/// `TOKIO_ECHO_COUNT=<case>:<n>`: runs an overhead case `n` times, for
/// callgrind; returns whether it did.
fn count_mode() -> bool {
    let Ok(spec) = std::env::var("TOKIO_ECHO_COUNT") else {
        return false;
    };
    let (case, n) = spec.split_once(':').expect("TOKIO_ECHO_COUNT=<case>:<n>");
    let n: usize = n.parse().expect("a count");
    let runner = runner::Runner::new();
    match case {
        "run_yield" => (0..n).for_each(|_| _ = black_box(run_yield(&runner))),
        "task_yield_1000" => (0..n).for_each(|_| _ = black_box(task_yields(&runner))),
        other => panic!("unknown case {other}: run_yield or task_yield_1000"),
    }
    true
}

#[cfg(feature = "tokio")]
criterion_group!(benches, overhead, echo::joined_group, echo::spawned_group);
#[cfg(not(feature = "tokio"))]
criterion_group!(benches, overhead);

fn main() {
    if count_mode() {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
