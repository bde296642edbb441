#[runner::test]
#[test]
fn pings() {
    assert_eq!(run!(async { 1 }), 1);
}

fn main() {}
