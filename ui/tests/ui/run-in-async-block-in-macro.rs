#[runner::scope]
pub fn fetch() {
    assert_eq!(run!(async { async { run!(async { 1 }) }.await }), 1);
}

fn main() {}
