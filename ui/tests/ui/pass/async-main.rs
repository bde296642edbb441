//! `#[runner::scope] async fn main` returning a `Result`, with `?`: the
//! whole body is one run, entered, so `runner::spawn` works in it.

use std::error::Error;

async fn parse(text: &str) -> Result<u32, std::num::ParseIntError> {
    runner::yield_now().await;
    text.parse()
}

#[runner::scope(worker_threads = 1, close_timeout = "1s")]
async fn main() -> Result<(), Box<dyn Error>> {
    let task = runner::spawn(async { 40 });
    let two = parse("2").await?;
    assert_eq!(task.await + two, 42);
    Ok(())
}
