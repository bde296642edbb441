//! The runtime behind the [`runner`](https://docs.rs/asyncio-runner) crate:
//! [`Runner`], context variables, and the close sequence.
//!
//! Use it through `runner`, which re-exports everything here.
//!
//! # Examples
//!
//! ```
//! use runner_core::Runner;
//!
//! let runner = Runner::new();
//! let task = runner.spawn(async { 1 });
//! assert_eq!(runner.run(task), 1);
//! runner.close();
//! ```
//!
//! # How it works
//!
//! A [`Runner`] owns a small scheduler built on async-task: a queue for
//! `!Send` tasks, which only the runner's thread runs, and one for `Send`
//! tasks, which optional worker threads (and threads inside
//! [`Handle::block_on`]) run too. `run` polls its future once and returns if
//! it is ready; otherwise it stays inside one async-io `block_on`, running
//! ready tasks and polling the future again when it is woken, and driving
//! the reactor (timers, I/O) itself whenever nothing is ready. Every task
//! carries its own [`Context`], switched in for each poll; [`unblock`] sends
//! closures to smol's blocking pool with a copy of the caller's context.
//!
//! Where each concern lives, floor by floor: a file imports only files on
//! lower floors, except the core (floor 1), which is one deliberate circle:
//! read `shared`, `local` and `scheduler/` together. The rule that keeps the
//! floors: a field type of `Shared` is defined in a file that imports
//! neither `shared` nor `local`; code that needs the runner or the thread
//! lives above it.
//!
//! | floor | module | what it owns |
//! | --- | --- | --- |
//! | 4 | `runner`, `builder`, `handle` | [`Runner`] (the owner, its context, run and spawn), [`Builder`], [`Handle`], [`EnterGuard`], [`shared()`]: three files that know each other |
//! | 4 | `close` | the numbered close sequence, [`CloseReport`], [`on_close`], [`closing`] |
//! | 3 | `task` | [`Task`], [`spawn`], [`spawn_local`], how a task is made |
//! | 3 | `group` | [`TaskGroup`], [`GroupSpawner`]: tasks joined together, none outliving its group |
//! | 3 | `blocking` | [`unblock`], counted per runner |
//! | 3 | `time`, `time::virtual_time` | [`sleep`], [`timeout`], [`now`]; [`advance`], [`hold_clock`] |
//! | 2 | `poll` | the one wrapper every task and cleanup poll goes through |
//! | 2 | `context` | [`Context`], [`ContextVar`], [`Token`] |
//! | 1 | `shared` | what a started runner shares, one field per concern |
//! | 1 | `local` | the one per-thread state: running and entered runners, the active loop's plain queues, the context stack |
//! | 1 | `scheduler`, `scheduler::worker` | run queues, the loop, workers and helpers, who wakes whom |
//! | 0 | `lifecycle` | open, closing, closed; [`Closed`] |
//! | 0 | `config` | the settings a built runner runs with |
//! | 0 | `registry` | pending tasks, for close, debug reports and snapshots; each task's counted polls |
//! | 0 | `info` | [`TaskInfo`], [`TaskState`]; interned spawn sites; the coarse clock that dates spawns and polls |
//! | 0 | `hooks` | `closing()` waiters, `on_close` cleanups |
//! | 0 | `jobs` | blocking jobs in flight |
//! | 0 | `wait` | real-time deadlines, waiting for a condition, the plain parker |
//! | 0 | `time::clock` | the clock engine: real or virtual time, virtual timers |
//! | 0 | `context::vars` | a context's values, a frame of the context stack |
//! | 0 | `tokio` | the `tokio` feature's runtime and its context guards |
//! | 0 | `spans` | the `tracing` feature: a task's span, and hiding a thread's spans from the tasks it polls |
//! | 0 | `debug`, `interrupt` | debug mode's reports and unobserved panics; Ctrl-C |

#![forbid(unsafe_code)]

// Floor 4: the owner, its builder and handle; the close sequence.
mod builder;
mod close;
mod handle;
mod runner;
// Floor 3: entry points that find the current runner.
mod blocking;
mod group;
mod task;
mod time;
// Floor 2: the poll wrapper; the context API.
mod context;
mod poll;
// Floor 1: the core, read together.
mod local;
mod scheduler;
mod shared;
// Floor 0: leaves.
mod config;
mod debug;
mod hooks;
mod info;
mod interrupt;
mod jobs;
mod lifecycle;
mod registry;
mod spans;
#[cfg(feature = "tokio")]
mod tokio;
mod wait;

pub use crate::blocking::{unblock, Unblock};
pub use crate::builder::Builder;
pub use crate::close::{closing, on_close, CloseReport, Closing};
pub use crate::context::{Context, ContextVar, Token};
pub use crate::debug::UnobservedPanics;
pub use crate::group::{GroupSpawner, TaskGroup};
pub use crate::handle::{handle, shared, EnterGuard, Handle};
pub use crate::info::{TaskInfo, TaskState};
pub use crate::interrupt::Interrupted;
pub use crate::lifecycle::Closed;
#[doc(hidden)]
pub use crate::poll::PanicSink;
pub use crate::runner::Runner;
pub use crate::task::{current_task, spawn, spawn_local, spawn_named, tasks, Task};
pub use crate::time::{
    advance, hold_clock, now, sleep, sleep_until, timeout, yield_now, Advance, ClockHold, Elapsed,
    Sleep, Timeout, YieldNow, DEFAULT_AUTO_ADVANCE,
};
