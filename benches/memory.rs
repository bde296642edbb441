//! Memory per parked task: how many heap bytes a task costs while it waits,
//! for `runner`, tokio's `current_thread` runtime and async-executor.
//!
//! Not a criterion bench (`harness = false`): bytes are counted, not timed,
//! by a global allocator that keeps the number of live bytes (the `cap`
//! crate; the workspace forbids `unsafe`, which a hand-written
//! `GlobalAlloc` needs). A server holding 100,000 idle connections pays this
//! per connection task, whatever its time per poll.
//!
//! For each contender and for 10,000 and 100,000 tasks: build the executor,
//! spawn and finish one chunk of tasks (so that queues and lazily created
//! state exist before counting), then spawn the tasks in chunks of `CHUNK`,
//! awaiting after each chunk one more task spawned last, so that every task
//! of the chunk has been polled once and is parked (all three run tasks in
//! spawn order). The live bytes after, minus before, divided by the number
//! of tasks, is the cost of one parked task: the task's allocation with its
//! future, and whatever the executor keeps per task (a registry entry, a
//! waker). The chunks keep run queues short, so that their capacity, kept
//! after a burst, is not counted as per-task memory. Handles are dropped
//! (detached): what is counted is what the executor needs.
//!
//! Two futures, the same for every contender:
//! - `pending`: `std::future::pending::<()>()`, which registers nothing: the
//!   executor's own cost (the target applies to it);
//! - `channel_recv`: a receive on one shared `async_channel` that nobody
//!   sends on: a realistic wait, adding the channel's per-waiter listener.
//!
//! Output, one line per measurement, read by `benches/summarize.py`:
//! `memory/<future>/<contender>/<tasks>: <bytes> bytes per task`.

use std::alloc::System;
use std::future::Future;

use async_executor::Executor;
use cap::Cap;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// Tasks spawned between two checks that all of them are parked.
const CHUNK: usize = 1_000;
/// The numbers of parked tasks measured.
const COUNTS: [usize; 2] = [10_000, 100_000];

/// The futures the tasks park on; each call makes one task's future.
#[derive(Clone, Copy)]
enum Park {
    Pending,
    ChannelRecv,
}

impl Park {
    fn name(self) -> &'static str {
        match self {
            Park::Pending => "pending",
            Park::ChannelRecv => "channel_recv",
        }
    }
}

/// A never-ready future of kind `park`; `rx` is the shared channel, whose
/// sender the caller keeps alive.
fn parked(park: Park, rx: &async_channel::Receiver<()>) -> impl Future<Output = ()> + Send {
    let rx = rx.clone();
    async move {
        match park {
            Park::Pending => std::future::pending().await,
            Park::ChannelRecv => {
                let _ = rx.recv().await;
            }
        }
    }
}

/// Live heap bytes added by `spawn_parked`, per task.
fn per_task(tasks: usize, spawn_parked: impl FnOnce(usize)) -> f64 {
    let before = ALLOCATOR.allocated();
    spawn_parked(tasks);
    let after = ALLOCATOR.allocated();
    (after as f64 - before as f64) / tasks as f64
}

fn runner_bytes(park: Park, tasks: usize) -> f64 {
    let (_tx, rx) = async_channel::unbounded();
    let runner = runner::Runner::new();
    // Warm up: the loop, its queues and its registry exist; the tasks finish.
    runner.run(async {
        let tasks: Vec<_> = (0..CHUNK).map(|_| runner::spawn(async {})).collect();
        for task in tasks {
            task.await;
        }
    });
    let bytes = per_task(tasks, |tasks| {
        runner.run(async {
            for _ in 0..tasks / CHUNK {
                for _ in 0..CHUNK {
                    runner::spawn(parked(park, &rx)).detach();
                }
                // Spawned last, run last: once it is done, the chunk is parked.
                runner::spawn(async {}).await;
            }
        })
    });
    drop(runner);
    bytes
}

fn tokio_bytes(park: Park, tasks: usize) -> f64 {
    let (_tx, rx) = async_channel::unbounded();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio current_thread runtime");
    rt.block_on(async {
        let tasks: Vec<_> = (0..CHUNK).map(|_| tokio::spawn(async {})).collect();
        for task in tasks {
            task.await.expect("the task finished");
        }
    });
    let bytes = per_task(tasks, |tasks| {
        rt.block_on(async {
            for _ in 0..tasks / CHUNK {
                for _ in 0..CHUNK {
                    drop(tokio::spawn(parked(park, &rx)));
                }
                tokio::spawn(async {})
                    .await
                    .expect("the last task finished");
            }
        })
    });
    drop(rt);
    bytes
}

fn async_executor_bytes(park: Park, tasks: usize) -> f64 {
    let (_tx, rx) = async_channel::unbounded();
    let ex = Executor::new();
    futures_lite::future::block_on(ex.run(async {
        let tasks: Vec<_> = (0..CHUNK).map(|_| ex.spawn(async {})).collect();
        for task in tasks {
            task.await;
        }
    }));
    let bytes = per_task(tasks, |tasks| {
        futures_lite::future::block_on(ex.run(async {
            for _ in 0..tasks / CHUNK {
                for _ in 0..CHUNK {
                    ex.spawn(parked(park, &rx)).detach();
                }
                ex.spawn(async {}).await;
            }
        }))
    });
    drop(ex);
    bytes
}

fn main() {
    // `cargo bench` passes `--bench`; a filter, as criterion takes one, keeps
    // only the lines that contain it.
    let filter = std::env::args()
        .skip(1)
        .find(|arg| !arg.starts_with("--"))
        .unwrap_or_default();
    let (_tx, rx) = async_channel::unbounded::<()>();
    println!(
        "# size of the parked future: {} bytes",
        std::mem::size_of_val(&parked(Park::Pending, &rx))
    );
    type Contender = fn(Park, usize) -> f64;
    let contenders: [(&str, Contender); 3] = [
        ("runner", runner_bytes),
        ("tokio_current_thread", tokio_bytes),
        ("async_executor", async_executor_bytes),
    ];
    for park in [Park::Pending, Park::ChannelRecv] {
        for tasks in COUNTS {
            for (name, bytes) in contenders {
                let label = format!("memory/{}/{name}/{tasks}", park.name());
                if label.contains(&filter) {
                    println!("{label}: {:.1} bytes per task", bytes(park, tasks));
                }
            }
        }
    }
}
