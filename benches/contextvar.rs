//! Context variables against tokio's `task_local!`, one criterion group per
//! case. `benches/summarize.py` turns the results into BENCHMARKS.md.
//!
//! Each measurement that needs a particular set of variables runs inside its
//! own `Context::new().run(..)`, so the cases do not see each other's values
//! and the thread's implicit context stays empty (a runner created later
//! starts with a copy of it).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use async_executor::Executor;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use runner::{Context, ContextVar, Runner};

static VAR: ContextVar<u64> = ContextVar::new("var");

tokio::task_local! {
    static KEY: u64;
}

/// Yields per task in the per-poll case.
const YIELDS: usize = 1_000;
/// Tasks per iteration of the spawn case.
const TASKS: usize = 10_000;

/// `n` distinct variables (leaked: a variable is a `static` in real code).
fn many_vars(n: usize) -> Vec<&'static ContextVar<u64>> {
    (0..n)
        .map(|_| &*Box::leak(Box::new(ContextVar::new("many"))))
        .collect()
}

/// Sets every variable of `vars` in the current context.
fn set_all(vars: &[&'static ContextVar<u64>]) {
    for (i, var) in vars.iter().enumerate() {
        drop(var.set(i as u64));
    }
}

fn group<'a>(c: &'a mut Criterion, name: &str, elements: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(elements as u64));
    group
}

/// `VAR.get()` with the value set in the current context.
fn get(c: &mut Criterion) {
    let mut group = group(c, "get", 1);
    group.bench_function("runner", |b| {
        Context::new().run(|| {
            drop(VAR.set(7));
            b.iter(|| black_box(&VAR).get())
        })
    });
    let others = many_vars(99);
    group.bench_function("runner_100_vars_set", |b| {
        Context::new().run(|| {
            set_all(&others);
            drop(VAR.set(7));
            b.iter(|| black_box(&VAR).get())
        })
    });
    group.bench_function("tokio_task_local_with", |b| {
        KEY.sync_scope(7, || b.iter(|| KEY.with(|v| *black_box(v))))
    });
    group.bench_function("tokio_task_local_get", |b| {
        KEY.sync_scope(7, || b.iter(|| KEY.get()))
    });
    group.finish();
}

/// `set` then `reset`, against tokio's `sync_scope`.
fn set_reset(c: &mut Criterion) {
    let mut group = group(c, "set_reset", 1);
    group.bench_function("runner", |b| {
        Context::new().run(|| {
            b.iter(|| {
                let token = VAR.set(black_box(7));
                VAR.reset(token);
            })
        })
    });
    group.bench_function("tokio_sync_scope", |b| {
        b.iter(|| KEY.sync_scope(black_box(7), || black_box(())))
    });
    group.finish();
}

/// `Context::current()` (a snapshot) with 0, 1 and 100 variables set; each
/// iteration takes a snapshot and drops it.
fn snapshot(c: &mut Criterion) {
    let mut group = group(c, "context_current", 1);
    let hundred = many_vars(100);
    for n in [0, 1, 100] {
        group.bench_function(format!("runner_{n}_vars"), |b| {
            Context::new().run(|| {
                set_all(&hundred[..n]);
                b.iter(Context::current)
            })
        });
    }
    // The same snapshot with its drop left out of the timing, to split the
    // cost between taking a snapshot and releasing it.
    group.bench_function("runner_1_vars_drop_not_timed", |b| {
        Context::new().run(|| {
            set_all(&hundred[..1]);
            b.iter_with_large_drop(Context::current)
        })
    });
    group.finish();
}

/// A spawned task that yields `YIELDS` times, polled `YIELDS + 1` times.
async fn yielder() {
    for _ in 0..YIELDS {
        runner::yield_now().await;
    }
}

/// A runner whose context (and so its tasks' contexts) has `n` variables set.
fn runner_with(vars: &[&'static ContextVar<u64>]) -> Runner {
    let runner = Runner::new();
    runner.run(async { set_all(vars) });
    runner
}

/// The cost of entering a task's context on each poll: the same spawned task
/// yielding `YIELDS` times, with 0, 5 and 100 variables in its context; and
/// tokio's equivalent, a task inside `KEY.scope(..)` (which swaps the value in
/// and out on every poll) against the same task without it.
fn per_poll(c: &mut Criterion) {
    let mut group = group(c, "task_poll_context", YIELDS);
    group.sample_size(30);
    let vars = many_vars(100);
    for n in [0, 5, 100] {
        let runner = runner_with(&vars[..n]);
        group.bench_function(format!("runner_{n}_vars"), |b| {
            b.iter(|| runner.run(async { runner::spawn(yielder()).await }))
        });
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    group.bench_function("tokio_plain", |b| {
        b.iter(|| {
            rt.block_on(async {
                tokio::spawn(async {
                    for _ in 0..YIELDS {
                        tokio::task::yield_now().await;
                    }
                })
                .await
            })
        })
    });
    group.bench_function("tokio_task_local_scope", |b| {
        b.iter(|| {
            rt.block_on(async {
                tokio::spawn(KEY.scope(7, async {
                    for _ in 0..YIELDS {
                        tokio::task::yield_now().await;
                    }
                }))
                .await
            })
        })
    });
    let ex = Executor::new();
    group.bench_function("async_executor", |b| {
        b.iter(|| {
            futures_lite::future::block_on(ex.run(async {
                ex.spawn(async {
                    for _ in 0..YIELDS {
                        futures_lite::future::yield_now().await;
                    }
                })
                .await
            }))
        })
    });
    group.finish();
}

/// Spawn and await `TASKS` tasks in one run, with 5 variables set vs none.
fn spawn_with_vars(c: &mut Criterion) {
    let mut group = group(c, "spawn_await_10k_vars", TASKS);
    group.sample_size(20);
    let vars = many_vars(5);
    for n in [0, 5] {
        let runner = runner_with(&vars[..n]);
        group.bench_function(format!("runner_{n}_vars"), |b| {
            b.iter(|| {
                runner.run(async {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|i| runner::spawn(async move { i }))
                        .collect();
                    let mut sum = 0;
                    for task in tasks {
                        sum += task.await;
                    }
                    sum
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = get, set_reset, snapshot, per_poll, spawn_with_vars
}
criterion_main!(benches);
