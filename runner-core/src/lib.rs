//! The runtime behind the [`runner`](https://docs.rs/runner) crate:
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
//! tasks, which optional worker threads run too. `run` polls its future once
//! and returns if it is ready; otherwise it runs ready tasks and polls the
//! future again when it is woken, sleeping in async-io's reactor (timers,
//! I/O) when nothing is ready. Every task carries its own [`Context`],
//! switched in for each poll; [`unblock`] sends closures to smol's blocking
//! pool with a copy of the caller's context.

#![forbid(unsafe_code)]

mod blocking;
mod builder;
mod close;
mod context;
mod debug;
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
pub use crate::interrupt::Interrupted;
pub use crate::runner::{EnterGuard, Runner};
pub use crate::task::{spawn, spawn_local, Task};
pub use crate::time::{sleep, timeout, yield_now, Elapsed, Sleep, Timeout, YieldNow};
