//! A closure that calls `run!` returned from the scope: it would outlive
//! the runner. The error points at the closure and the `run!`.

#[runner::scope]
fn make_adder() -> impl Fn(u8) -> u8 {
    move |n| run!(async move { n + 1 })
}

fn main() {}
