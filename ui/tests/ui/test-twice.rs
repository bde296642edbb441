#[runner::test]
#[runner::test(debug)]
fn pings() {
    assert_eq!(run!(async { 1 }), 1);
}

fn main() {}
