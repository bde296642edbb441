#[runner::scope(nope, worker_threads = -1)]
pub async fn work() -> u8 {
    let later = async move { run!(async { 1 }) };
    later.await
}

fn main() {}
