//! The second example of the classic `asyncio.Runner` tutorial, with
//! `#[runner::scope]`: a clock that prints the time every second for ten
//! seconds, then a message after five more, on one runner.
//!
//! In Python:
//!
//! ```text
//! async def print_time_every_second():
//!     for _ in range(10):
//!         print(datetime.now().strftime("%H:%M:%S"))
//!         await asyncio.sleep(1)
//!
//! async def print_message():
//!     await asyncio.sleep(5)
//!     print("Five more seconds have passed. Goodbye from Sling Academy!")
//!
//! with asyncio.Runner() as runner:
//!     runner.run(print_time_every_second())
//!     runner.run(print_message())
//! ```
//!
//! Run it with `cargo run --example clock`; it takes 15 seconds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

async fn print_time_every_second() {
    for _ in 0..10 {
        println!("{}", wall_clock(SystemTime::now()));
        runner::sleep(Duration::from_secs(1)).await;
    }
}

async fn print_message() {
    runner::sleep(Duration::from_secs(5)).await;
    println!("Five more seconds have passed. Goodbye from Sling Academy!");
}

#[runner::scope]
fn main() {
    run!(print_time_every_second());
    run!(print_message());
}

/// `time` as `HH:MM:SS UTC`, without a date-time crate.
fn wall_clock(time: SystemTime) -> String {
    // A clock set before 1970 prints midnight rather than failing.
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_secs())
        .unwrap_or(0);
    let of_day = seconds % (24 * 60 * 60);
    format!(
        "{:02}:{:02}:{:02} UTC",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}
