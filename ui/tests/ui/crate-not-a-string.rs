#[runner::scope(crate = runner)]
pub fn work() {}

fn main() {}
