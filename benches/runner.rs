//! `runner` against the executors it is measured by, one criterion group per
//! case so that a single `cargo bench --bench runner` measures all of them
//! side by side. `benches/summarize.py` turns the results into BENCHMARKS.md.
//!
//! Every contender does the same work: the same futures, the same channel,
//! the same number of tasks; each one uses its own `yield_now`, `spawn` and
//! timer, and the executors that can be reused (a runner, a tokio runtime,
//! an async-executor) are built once, outside the measured loop.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use async_executor::{Executor, LocalExecutor};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput,
};

/// Tasks per iteration of the spawn and sleep cases.
const TASKS: usize = 10_000;
/// Tasks per iteration of the fan-out and close cases.
const MANY_TASKS: usize = 100_000;
/// Round trips per iteration of the channel case.
const ROUND_TRIPS: usize = 10_000;
/// How long each task of the sleep case sleeps.
const SLEEP: Duration = Duration::from_millis(1);

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio current_thread runtime")
}

/// A waker that does nothing, for polling by hand (`Waker::noop` needs a
/// newer Rust than the workspace's `rust-version`).
struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
    fn wake_by_ref(self: &Arc<Self>) {}
}

fn noop_waker() -> Waker {
    Waker::from(Arc::new(Noop))
}

/// Polls `future` with `waker` until it is ready: the floor under any executor.
fn poll_by_hand<F: Future>(waker: &Waker, future: F) -> F::Output {
    let mut cx = Context::from_waker(waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn small_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group
}

fn large_group<'a>(
    c: &'a mut Criterion,
    name: &str,
    elements: usize,
) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(elements as u64));
    group.sample_size(20);
    group
}

/// `run` of a future that is ready at its first poll, on a reused executor.
fn run_ready(c: &mut Criterion) {
    let mut group = small_group(c, "run_ready");

    let runner = runner::Runner::new();
    group.bench_function("runner", |b| {
        b.iter(|| runner.run(std::future::ready(black_box(1))))
    });
    group.bench_function("futures_lite_block_on", |b| {
        b.iter(|| futures_lite::future::block_on(std::future::ready(black_box(1))))
    });
    group.bench_function("pollster_block_on", |b| {
        b.iter(|| pollster::block_on(std::future::ready(black_box(1))))
    });
    group.bench_function("async_io_block_on", |b| {
        b.iter(|| async_io::block_on(std::future::ready(black_box(1))))
    });
    let rt = current_thread();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| rt.block_on(std::future::ready(black_box(1))))
    });
    let local = LocalExecutor::new();
    group.bench_function("local_executor", |b| {
        b.iter(|| futures_lite::future::block_on(local.run(std::future::ready(black_box(1)))))
    });
    let waker = noop_waker();
    group.bench_function("poll_once", |b| {
        b.iter(|| poll_by_hand(&waker, std::future::ready(black_box(1))))
    });
    group.finish();
    drop(runner);
}

/// `run` of a future that yields once, each contender with its own yield.
fn run_yield(c: &mut Criterion) {
    let mut group = small_group(c, "run_yield");

    let runner = runner::Runner::new();
    group.bench_function("runner", |b| b.iter(|| yield_once(&runner)));
    group.bench_function("futures_lite_block_on", |b| {
        b.iter(|| {
            futures_lite::future::block_on(async {
                futures_lite::future::yield_now().await;
                black_box(1)
            })
        })
    });
    group.bench_function("pollster_block_on", |b| {
        b.iter(|| {
            pollster::block_on(async {
                futures_lite::future::yield_now().await;
                black_box(1)
            })
        })
    });
    group.bench_function("async_io_block_on", |b| {
        b.iter(|| {
            async_io::block_on(async {
                futures_lite::future::yield_now().await;
                black_box(1)
            })
        })
    });
    let rt = current_thread();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| {
            rt.block_on(async {
                tokio::task::yield_now().await;
                black_box(1)
            })
        })
    });
    let local = LocalExecutor::new();
    group.bench_function("local_executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(local.run(async {
                futures_lite::future::yield_now().await;
                black_box(1)
            }))
        })
    });
    let waker = noop_waker();
    group.bench_function("poll_by_hand", |b| {
        b.iter(|| {
            poll_by_hand(&waker, async {
                futures_lite::future::yield_now().await;
                black_box(1)
            })
        })
    });
    group.finish();
    drop(runner);
}

/// Create an executor, run one ready future on it, tear it down.
fn lifecycle(c: &mut Criterion) {
    let mut group = small_group(c, "new_run_close");

    group.bench_function("runner", |b| {
        b.iter(|| {
            let runner = runner::Runner::new();
            let out = runner.run(std::future::ready(black_box(1)));
            black_box(runner.close());
            out
        })
    });
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| {
            let rt = current_thread();
            let out = rt.block_on(std::future::ready(black_box(1)));
            drop(rt);
            out
        })
    });
    group.bench_function("local_executor", |b| {
        b.iter(|| {
            let local = LocalExecutor::new();
            let out = futures_lite::future::block_on(local.run(std::future::ready(black_box(1))));
            drop(local);
            out
        })
    });
    group.finish();
}

/// Spawn `TASKS` tiny tasks and await them all, inside one run.
fn spawn_many(c: &mut Criterion) {
    let mut group = large_group(c, "spawn_await_10k", TASKS);

    let runner = runner::Runner::new();
    group.bench_function("runner", |b| b.iter(|| spawn_and_await(&runner, TASKS)));
    let ex = Executor::new();
    group.bench_function("async_executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(ex.run(async {
                let tasks: Vec<_> = (0..TASKS).map(|i| ex.spawn(async move { i })).collect();
                let mut sum = 0;
                for task in tasks {
                    sum += task.await;
                }
                sum
            }))
        })
    });
    let local = LocalExecutor::new();
    group.bench_function("local_executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(local.run(async {
                let tasks: Vec<_> = (0..TASKS).map(|i| local.spawn(async move { i })).collect();
                let mut sum = 0;
                for task in tasks {
                    sum += task.await;
                }
                sum
            }))
        })
    });
    let rt = current_thread();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..TASKS).map(|i| tokio::spawn(async move { i })).collect();
                let mut sum = 0;
                for task in tasks {
                    sum += task.await.expect("the task finished");
                }
                sum
            })
        })
    });
    group.finish();
    drop(runner);
}

/// `TASKS` tasks that each sleep `SLEEP`, all at once. Every contender
/// creates its timer in the task's first poll (an `async` block), so that
/// the deadlines start at the same point for all of them.
fn sleep_many(c: &mut Criterion) {
    let mut group = large_group(c, "sleep_1ms_10k", TASKS);

    let runner = runner::Runner::new();
    group.bench_function("runner", |b| {
        b.iter(|| {
            runner.run(async {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| runner::spawn(async { runner::sleep(SLEEP).await }))
                    .collect();
                for task in tasks {
                    task.await;
                }
            })
        })
    });
    // What smol does: async-io's timers, driven by `async_io::block_on`.
    let ex = Executor::new();
    group.bench_function("async_io_timer_on_async_executor", |b| {
        b.iter(|| {
            async_io::block_on(ex.run(async {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| {
                        ex.spawn(async {
                            async_io::Timer::after(SLEEP).await;
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await;
                }
            }))
        })
    });
    let rt = current_thread();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| {
            rt.block_on(async {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|_| tokio::spawn(async { tokio::time::sleep(SLEEP).await }))
                    .collect();
                for task in tasks {
                    task.await.expect("the task finished");
                }
            })
        })
    });
    group.finish();
    drop(runner);
}

/// One side of the ping-pong: sends `i`, waits for it to come back.
async fn ping(tx: async_channel::Sender<usize>, rx: async_channel::Receiver<usize>) -> usize {
    let mut sum = 0;
    for i in 0..ROUND_TRIPS {
        tx.send(i).await.expect("pong is alive");
        sum += rx.recv().await.expect("pong is alive");
    }
    sum
}

/// The other side: sends back what it receives until the channel closes.
async fn pong(rx: async_channel::Receiver<usize>, tx: async_channel::Sender<usize>) {
    while let Ok(value) = rx.recv().await {
        if tx.send(value).await.is_err() {
            break;
        }
    }
}

type Channels = (
    (async_channel::Sender<usize>, async_channel::Receiver<usize>),
    (async_channel::Sender<usize>, async_channel::Receiver<usize>),
);

fn channels() -> Channels {
    (async_channel::bounded(1), async_channel::bounded(1))
}

/// Two tasks bouncing a value over two `async_channel::bounded(1)`.
fn ping_pong(c: &mut Criterion) {
    let mut group = large_group(c, "ping_pong_10k", ROUND_TRIPS);

    let runner = runner::Runner::new();
    group.bench_function("runner", |b| {
        b.iter(|| {
            let ((tx1, rx1), (tx2, rx2)) = channels();
            runner.run(async {
                let pong = runner::spawn(pong(rx1, tx2));
                let sum = runner::spawn(ping(tx1, rx2)).await;
                pong.await;
                sum
            })
        })
    });
    let rt = current_thread();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| {
            let ((tx1, rx1), (tx2, rx2)) = channels();
            rt.block_on(async {
                let pong = tokio::spawn(pong(rx1, tx2));
                let sum = tokio::spawn(ping(tx1, rx2)).await.expect("ping finished");
                pong.await.expect("pong finished");
                sum
            })
        })
    });
    let ex = Executor::new();
    group.bench_function("async_executor", |b| {
        b.iter(|| {
            let ((tx1, rx1), (tx2, rx2)) = channels();
            futures_lite::future::block_on(ex.run(async {
                let pong = ex.spawn(pong(rx1, tx2));
                let sum = ex.spawn(ping(tx1, rx2)).await;
                pong.await;
                sum
            }))
        })
    });
    let local = LocalExecutor::new();
    group.bench_function("local_executor", |b| {
        b.iter(|| {
            let ((tx1, rx1), (tx2, rx2)) = channels();
            futures_lite::future::block_on(local.run(async {
                let pong = local.spawn(pong(rx1, tx2));
                let sum = local.spawn(ping(tx1, rx2)).await;
                pong.await;
                sum
            }))
        })
    });
    group.finish();
    drop(runner);
}

/// Fan-out: spawn `MANY_TASKS` tiny tasks, then await them all, inside one
/// run. Against `spawn_await_10k` this is ten times the tasks, so queues and
/// the task registry grow past any cache; the case that matters here is
/// `runner_1_worker`, the same runner with one worker thread, which shares
/// the tasks with the loop through its global queue (target: <= 1.2 x the
/// runner without workers). tokio's `current_thread` and async-executor are
/// the anchors for a single-threaded spawn; the same two with a second
/// thread (`async_executor_1_more_thread`, `tokio_multi_thread_1_worker`)
/// show what a worker does to them.
fn fan_out(c: &mut Criterion) {
    let mut group = large_group(c, "fan_out_100k", MANY_TASKS);
    group.sample_size(10);

    let runner = runner::Runner::new();
    group.bench_function("runner", |b| {
        b.iter(|| spawn_and_await(&runner, MANY_TASKS))
    });
    let one_worker = runner::Runner::builder().worker_threads(1).build();
    group.bench_function("runner_1_worker", |b| {
        b.iter(|| spawn_and_await(&one_worker, MANY_TASKS))
    });
    let rt = current_thread();
    group.bench_function("tokio_current_thread", |b| b.iter(|| tokio_fan_out(&rt)));
    let ex = Executor::new();
    group.bench_function("async_executor", |b| b.iter(|| executor_fan_out(&ex)));
    // The anchors with a second thread: what their workers do to the same
    // fan-out (an async-executor with one more thread in `run`, tokio's
    // multi-threaded runtime with one worker; the ratios to their own rows
    // above are item 3's yardstick).
    let helped = Executor::new();
    let (stop, stopped) = async_channel::bounded::<()>(1);
    std::thread::scope(|scope| {
        scope.spawn(|| futures_lite::future::block_on(helped.run(stopped.recv())));
        group.bench_function("async_executor_1_more_thread", |b| {
            b.iter(|| executor_fan_out(&helped))
        });
        drop(stop);
    });
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("a tokio runtime");
    group.bench_function("tokio_multi_thread_1_worker", |b| {
        b.iter(|| tokio_fan_out(&multi))
    });
    group.finish();
    drop((runner, one_worker));
}

/// The fan-out on a tokio runtime: `MANY_TASKS` spawned, then awaited.
fn tokio_fan_out(rt: &tokio::runtime::Runtime) -> usize {
    rt.block_on(async {
        let tasks: Vec<_> = (0..MANY_TASKS)
            .map(|i| tokio::spawn(async move { i }))
            .collect();
        let mut sum = 0;
        for task in tasks {
            sum += task.await.expect("the task finished");
        }
        sum
    })
}

/// The fan-out on an async-executor, run on this thread (and on whichever
/// other threads run it too).
fn executor_fan_out(ex: &Executor<'_>) -> usize {
    futures_lite::future::block_on(ex.run(async {
        let tasks: Vec<_> = (0..MANY_TASKS)
            .map(|i| ex.spawn(async move { i }))
            .collect();
        let mut sum = 0;
        for task in tasks {
            sum += task.await;
        }
        sum
    }))
}

/// A runner with `MANY_TASKS` detached tasks parked on a future that never
/// completes, each polled once (the task spawned last runs last).
fn runner_with_pending_tasks() -> runner::Runner {
    let runner = runner::Runner::new();
    runner.run(async {
        for _ in 0..MANY_TASKS {
            runner::spawn(std::future::pending::<()>()).detach();
        }
        runner::spawn(async {}).await;
    });
    runner
}

/// Closing with `MANY_TASKS` tasks still pending, per task: `runner.close()`
/// (which cancels them and drops their futures, each in its own context)
/// against dropping a tokio `current_thread` runtime and an async-executor
/// `Executor` that hold the same parked tasks (target: <= 1.0 x tokio). Only
/// the close is timed; building the executor and parking the tasks is not.
fn close_pending(c: &mut Criterion) {
    let mut group = large_group(c, "close_100k_pending", MANY_TASKS);
    group.sample_size(10);

    // The case measures what it says: close finds every task pending.
    let report = runner_with_pending_tasks().close();
    assert_eq!(report.cancelled, MANY_TASKS, "{report:?}");

    group.bench_function("runner", |b| {
        b.iter_batched(
            runner_with_pending_tasks,
            runner::Runner::close,
            BatchSize::PerIteration,
        )
    });
    group.bench_function("tokio_current_thread", |b| {
        b.iter_batched(
            || {
                let rt = current_thread();
                rt.block_on(async {
                    for _ in 0..MANY_TASKS {
                        drop(tokio::spawn(std::future::pending::<()>()));
                    }
                    tokio::spawn(async {})
                        .await
                        .expect("the last task finished");
                });
                rt
            },
            drop,
            BatchSize::PerIteration,
        )
    });
    group.bench_function("async_executor", |b| {
        b.iter_batched(
            || {
                let ex = Executor::new();
                futures_lite::future::block_on(ex.run(async {
                    for _ in 0..MANY_TASKS {
                        ex.spawn(std::future::pending::<()>()).detach();
                    }
                    ex.spawn(async {}).await;
                }));
                ex
            },
            drop,
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// A run whose future yields once: the work of `run_yield`.
fn yield_once(runner: &runner::Runner) -> i32 {
    runner.run(async {
        runner::yield_now().await;
        black_box(1)
    })
}

/// Spawns and awaits `tasks` tiny tasks in one run: the work of
/// `spawn_await_10k` and `fan_out_100k`.
fn spawn_and_await(runner: &runner::Runner, tasks: usize) -> usize {
    runner.run(async {
        let tasks: Vec<_> = (0..tasks)
            .map(|i| runner::spawn(async move { i }))
            .collect();
        let mut sum = 0;
        for task in tasks {
            sum += task.await;
        }
        sum
    })
}

/// What debug mode costs: the same runs with debug off and on (the slow-poll
/// threshold is never reached, so nothing is reported).
fn debug_cost(c: &mut Criterion) {
    let off = runner::Runner::builder().debug(false).build();
    let on = runner::Runner::builder().debug(true).build();

    let mut group = small_group(c, "debug_cost_run_yield");
    group.bench_function("runner", |b| b.iter(|| yield_once(&off)));
    group.bench_function("runner_debug", |b| b.iter(|| yield_once(&on)));
    group.finish();

    let mut group = large_group(c, "debug_cost_spawn_10k", TASKS);
    group.bench_function("runner", |b| b.iter(|| spawn_and_await(&off, TASKS)));
    group.bench_function("runner_debug", |b| b.iter(|| spawn_and_await(&on, TASKS)));
    group.finish();
}

/// What Ctrl-C handling costs a run: criterion runs on the main thread, where
/// every run arms SIGINT; on another thread runs arm nothing.
fn sigint_cost(c: &mut Criterion) {
    let mut group = small_group(c, "sigint_cost_run_ready");
    let runner = runner::Runner::builder().debug(false).build();
    group.bench_function("runner", |b| {
        b.iter(|| runner.run(std::future::ready(black_box(1))))
    });
    group.bench_function("runner_off_main_thread", |b| {
        b.iter_custom(|iterations| {
            std::thread::scope(|scope| {
                scope
                    .spawn(move || {
                        let runner = runner::Runner::builder().debug(false).build();
                        let start = std::time::Instant::now();
                        for _ in 0..iterations {
                            black_box(runner.run(std::future::ready(black_box(1))));
                        }
                        start.elapsed()
                    })
                    .join()
                    .expect("the benchmark thread")
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = run_ready, run_yield, lifecycle, spawn_many, sleep_many, ping_pong, debug_cost, sigint_cost,
        fan_out, close_pending
}
criterion_main!(benches);
