#[runner::scope]
async fn main() {
    let one = run!(async { 1 });
    let two = async { 2 }.await;
    assert_eq!(one + two, 3);
}
