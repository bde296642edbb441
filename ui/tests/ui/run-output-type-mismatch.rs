//! A `run!` whose output has the wrong type: the error points at the `run!`.

#[runner::scope]
fn length() -> usize {
    let text: String = run!(async { 1u32 });
    text.len()
}

fn main() {}
