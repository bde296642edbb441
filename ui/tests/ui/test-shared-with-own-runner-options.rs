#[runner::test(shared, worker_threads = 2, close_timeout = "1s", debug)]
fn uses_the_shared_runner() {
    run!(async {});
}

fn main() {}
