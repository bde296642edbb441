//! In `#[runner::scope] fn main`, the runner is entered for the whole body:
//! `runner::spawn` works between two `run!`s.

#[runner::scope]
fn main() {
    let task = runner::spawn(async { 6 * 7 });
    let local = runner::spawn_local(async { 1 });
    assert_eq!(run!(task) + run!(local), 43);
}
