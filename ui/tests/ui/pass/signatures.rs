//! Function forms that `#[runner::scope]` accepts, with no warning from
//! the expansion.
#![deny(warnings)]

use std::fmt::Display;

struct Counter {
    count: u32,
}

impl Counter {
    #[runner::scope]
    fn get(&self) -> u32 {
        run!(async { self.count })
    }

    #[runner::scope]
    fn bump(&mut self) -> &mut Self {
        self.count += run!(async { 1 });
        self
    }

    #[runner::scope]
    fn into_count(self) -> u32 {
        run!(async move { self.count })
    }

    #[runner::scope]
    fn new() -> Self {
        Counter {
            count: run!(async { 0 }),
        }
    }
}

trait Greet {
    #[runner::scope]
    fn greet(&self, name: &str) -> String {
        run!(async { format!("hello {name}") })
    }
}

impl Greet for Counter {}

#[runner::scope]
fn generic<'a, T: Display + ?Sized>(value: &'a T) -> String
where
    T: 'a,
{
    run!(async { value.to_string() })
}

#[runner::scope]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    let step = run!(async { 2 });
    (0..limit).step_by(step)
}

#[runner::scope]
fn boxed() -> Box<dyn Fn() -> u32> {
    let n = run!(async { 7 });
    Box::new(move || n)
}

#[runner::scope]
fn parsed() -> u64 {
    // The return type flows into the body, as without the macro.
    run!(async { "5" }).parse().unwrap()
}

#[runner::scope]
fn nothing() {}

#[runner::scope]
fn never() -> ! {
    run!(async { std::process::exit(0) })
}

/// A body that never reaches its end: no "unreachable code" warning from
/// the expansion.
#[runner::scope]
fn serve(stop_at: u8) -> u8 {
    let mut served = 0;
    loop {
        served += run!(async { 1 });
        if served == stop_at {
            return served;
        }
    }
}

#[runner::scope]
unsafe fn unsafe_fn() -> u8 {
    run!(async { 1 })
}

#[runner::scope]
extern "C" fn extern_fn() -> u8 {
    run!(async { 1 })
}

#[runner::scope(debug = false, worker_threads = 1, close_timeout = "1s")]
pub fn with_options() -> u8 {
    run!(async { 1 })
}

fn main() {
    let mut counter = Counter::new();
    counter.bump().bump();
    assert_eq!(counter.get(), 2);
    assert_eq!(counter.greet("you"), "hello you");
    assert_eq!(counter.into_count(), 2);
    assert_eq!(generic("x"), "x");
    assert_eq!(evens(5).collect::<Vec<_>>(), [0, 2, 4]);
    assert_eq!(boxed()(), 7);
    assert_eq!(parsed(), 5);
    assert_eq!(serve(3), 3);
    nothing();
    // SAFETY: nothing unsafe happens in it.
    assert_eq!(unsafe { unsafe_fn() }, 1);
    assert_eq!(extern_fn(), 1);
    assert_eq!(with_options(), 1);
    never();
}
