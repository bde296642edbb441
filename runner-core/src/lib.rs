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
//! Where each concern lives:
//!
//! | module | what it owns |
//! | --- | --- |
//! | `runner` | [`Runner`]: the owner, its context, run and spawn entry points |
//! | `shared` | what a started runner shares, split by concern; the one lifecycle (open, closing, closed) |
//! | `local` | the one per-thread state: running and entered runners, the active loop's plain queues, the context stack |
//! | `scheduler` | run queues, the loop, workers and helpers, who wakes whom |
//! | `registry` | pending tasks, for close and debug reports |
//! | `poll` | the one wrapper every task and cleanup poll goes through |
//! | `task` | [`Task`], [`spawn`], [`spawn_local`] |
//! | `close` | the numbered close sequence, [`CloseReport`], [`on_close`], [`closing`] |
//! | `time` | [`sleep`], [`timeout`], every internal deadline, the runner's clock (real or virtual) |
//! | `handle` | [`Handle`], [`Closed`], [`shared`] |
//! | `blocking` | [`unblock`], counted per runner |
//! | `context` | [`Context`], [`ContextVar`], [`Token`] |
//! | `debug`, `interrupt` | debug mode's reports; Ctrl-C |

#![forbid(unsafe_code)]

mod blocking;
mod builder;
mod close;
mod context;
mod debug;
mod handle;
mod interrupt;
mod local;
mod poll;
mod registry;
mod runner;
mod scheduler;
mod shared;
mod task;
mod time;
#[cfg(feature = "tokio")]
mod tokio;

pub use crate::blocking::{unblock, Unblock};
pub use crate::builder::Builder;
pub use crate::close::{closing, on_close, CloseReport, Closing};
pub use crate::context::{Context, ContextVar, Token};
pub use crate::handle::{handle, shared, Closed, Handle};
pub use crate::interrupt::Interrupted;
pub use crate::runner::{EnterGuard, Runner};
pub use crate::task::{spawn, spawn_local, Task};
pub use crate::time::{
    advance, hold_clock, now, sleep, sleep_until, timeout, yield_now, Advance, ClockHold, Elapsed,
    Sleep, Timeout, YieldNow, DEFAULT_AUTO_ADVANCE,
};
