#[runner::test]
async fn fetches() {
    assert_eq!(run!(async { 1 }), 1);
}

fn main() {}
