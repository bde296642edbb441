#[runner::test(shared, virtual_time)]
fn waits() {
    run!(runner::sleep(std::time::Duration::from_secs(1)));
}

fn main() {}
