//! The first example of the classic `asyncio.Runner` tutorial, with
//! `#[runner::scope]`: two async functions run one after the other on one
//! runner.
//!
//! In Python:
//!
//! ```text
//! async def first():
//!     await asyncio.sleep(1)
//!     print("Welcome to Sling Academy!")
//!
//! async def second():
//!     await asyncio.sleep(2)
//!     print("Have a nice day and have fun with Python!")
//!
//! with asyncio.Runner() as runner:
//!     runner.run(first())
//!     runner.run(second())
//! ```
//!
//! Run it with `cargo run --example welcome`; it takes 3 seconds.

use std::time::Duration;

async fn first() {
    runner::sleep(Duration::from_secs(1)).await;
    println!("Welcome to Sling Academy!");
}

async fn second() {
    runner::sleep(Duration::from_secs(2)).await;
    println!("Have a nice day and have fun with Python!");
}

/// `main` gets one runner; each `run!` runs a future on it to completion,
/// and the runner closes when `main` returns, like the `with` block.
#[runner::scope]
fn main() {
    run!(first());
    run!(second());
}
