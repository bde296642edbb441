#[runner::test]
async fn fetches(count: u8) {
    assert_eq!(count, 1);
}

fn main() {}
