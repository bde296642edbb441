#[runner::scope(debug, worker_threads = 2, debug)]
pub fn work() {}

fn main() {}
