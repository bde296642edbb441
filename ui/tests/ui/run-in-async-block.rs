#[runner::scope]
pub fn fetch() -> u8 {
    let later = async { run!(async { 1 }) + 1 };
    run!(later)
}

fn main() {}
