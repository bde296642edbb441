#[runner::scope]
pub fn two() -> u8 {
    run!(async { 1 }, async { 2 })
}

fn main() {}
