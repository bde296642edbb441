#[runner::scope]
pub fn fetch() -> u8 {
    let double = async |x: u8| run!(async move { x * 2 });
    run!(double(1))
}

fn main() {}
