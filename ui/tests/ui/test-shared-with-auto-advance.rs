#[runner::test(shared, auto_advance = "0ms")]
fn heartbeat() {
    run!(runner::yield_now());
}

fn main() {}
