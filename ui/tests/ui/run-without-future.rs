#[runner::scope]
pub fn nothing() {
    run!();
}

fn main() {}
