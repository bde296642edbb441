//! The body of an `async fn` whose value has the wrong type: the error
//! points at the body's tail and at the declared type, never at the
//! attribute.

#[runner::scope]
async fn length() -> usize {
    runner::yield_now().await;
    String::from("hello")
}

fn main() {}
