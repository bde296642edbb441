#[runner::scope]
pub const fn answer() -> u8 {
    42
}

fn main() {}
