//! Borrowing from a `run!`'s output that is dropped at the end of the
//! statement: the borrow error points at the `run!`.

#[runner::scope]
fn first_word() -> usize {
    let word: &str = run!(async { String::from("hello world") }).as_str();
    word.len()
}

fn main() {}
