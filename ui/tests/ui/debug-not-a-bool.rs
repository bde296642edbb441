#[runner::scope(debug = "yes")]
fn scoped() {}

fn main() {}
