#[runner::scope(worker_threads(2))]
fn scoped() {}

fn main() {}
