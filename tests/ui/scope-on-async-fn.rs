#[runner::scope]
pub async fn fetch() -> u8 {
    run!(async { 1 })
}

fn main() {}
