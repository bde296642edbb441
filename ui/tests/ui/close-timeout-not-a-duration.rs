#[runner::scope(close_timeout = "2 minutes")]
pub fn work() {}

fn main() {}
