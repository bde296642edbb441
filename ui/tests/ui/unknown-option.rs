#[runner::scope(threads = 2)]
pub fn work() {}

fn main() {}
