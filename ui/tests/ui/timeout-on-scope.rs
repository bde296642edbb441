#[runner::scope(timeout = "5s")]
pub fn work() {}

fn main() {}
