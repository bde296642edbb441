#[runner::test(timeout = 5)]
fn finishes() {}

fn main() {}
