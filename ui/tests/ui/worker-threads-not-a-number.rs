#[runner::scope(worker_threads = "2")]
pub fn work() {}

fn main() {}
