//! `run!` in an `async fn` under the attribute: its body is already one
//! run, and `run!` there would block the loop that polls it.

#[runner::scope]
async fn fetch() -> u8 {
    run!(async { 1 }) + 1
}

fn main() {}
