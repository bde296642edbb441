#[runner::scope(nope, worker_threads = -1)]
pub const fn work() -> u8 {
    let later = async move { run!(async { 1 }) };
    run!(later)
}

fn main() {}
