#[runner::scope(shared)]
fn helper() {
    run!(async {});
}

fn main() {}
