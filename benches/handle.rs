//! Reaching a runner from another thread: `Handle::spawn` and
//! `Handle::block_on`, side by side with tokio's `Handle::spawn` and
//! `Handle::block_on`, in one criterion group per case.
//!
//! Both runtimes are driven by a thread of their own (a runner in
//! `run(pending())`, a tokio `current_thread` runtime in `block_on(pending())`,
//! the way `runner::shared()` and a "runtime thread" are set up), and the
//! measuring thread is another one, so every call crosses threads:
//!
//! - `handle_spawn_1k`: 1,000 spawns of an empty task, then the measuring
//!   thread waits until the runtime's thread has run them all (a counter),
//!   so the cost of waking the runtime's thread is in;
//! - `handle_block_on_ready`: `block_on` of a future that is ready at once,
//!   from the measuring thread (tokio's runs it there too).

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Spawns per iteration of the spawn case.
const SPAWNS: usize = 1_000;

/// A runner driven by a thread of its own; its handle.
fn runner_on_a_thread() -> runner::Handle {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let runner = runner::Runner::new();
        sender
            .send(runner.handle())
            .expect("the bench waits for it");
        runner.run(std::future::pending::<()>());
    });
    receiver
        .recv()
        .expect("the runner's thread sends its handle")
}

/// A tokio `current_thread` runtime driven by a thread of its own; its handle.
fn tokio_on_a_thread() -> tokio::runtime::Handle {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a tokio current_thread runtime");
        sender
            .send(rt.handle().clone())
            .expect("the bench waits for it");
        rt.block_on(std::future::pending::<()>());
    });
    receiver
        .recv()
        .expect("the runtime's thread sends its handle")
}

/// Waits (spinning, then yielding) until `done` reaches `target`.
fn wait_for(done: &AtomicUsize, target: usize) {
    while done.load(Ordering::Acquire) < target {
        thread::yield_now();
    }
}

fn handle_spawn(c: &mut Criterion) {
    let mut group = c.benchmark_group("handle_spawn_1k");
    group.throughput(Throughput::Elements(SPAWNS as u64));
    let handle = runner_on_a_thread();
    group.bench_function("runner", |b| {
        b.iter(|| {
            let done = Arc::new(AtomicUsize::new(0));
            for _ in 0..SPAWNS {
                let done = done.clone();
                let task = handle.spawn(async move {
                    done.fetch_add(1, Ordering::Release);
                });
                task.expect("the runner is open").detach();
            }
            wait_for(&done, SPAWNS);
        })
    });
    let tokio = tokio_on_a_thread();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| {
            let done = Arc::new(AtomicUsize::new(0));
            for _ in 0..SPAWNS {
                let done = done.clone();
                drop(tokio.spawn(async move {
                    done.fetch_add(1, Ordering::Release);
                }));
            }
            wait_for(&done, SPAWNS);
        })
    });
    group.finish();
}

fn handle_block_on(c: &mut Criterion) {
    let mut group = c.benchmark_group("handle_block_on_ready");
    let handle = runner_on_a_thread();
    group.bench_function("runner", |b| {
        b.iter(|| handle.block_on(async { black_box(1) }).expect("open"))
    });
    let tokio = tokio_on_a_thread();
    group.bench_function("tokio_current_thread", |b| {
        b.iter(|| tokio.block_on(async { black_box(1) }))
    });
    group.finish();
}

criterion_group!(benches, handle_spawn, handle_block_on);
criterion_main!(benches);
