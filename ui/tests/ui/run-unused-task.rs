//! A `run!` whose output is a `Task` that is dropped at once: `unused_must_use`
//! points at the `run!`.
#![deny(unused_must_use)]

#[runner::scope]
fn forget() {
    run!(async { runner::spawn(async { 1 }) });
}

fn main() {}
