//! A closure that calls `run!` kept past the body of `main` (which, like a
//! test, hands its body to a helper as a closure taking the runner): the
//! error points at the user's function and closure, not at the attribute.

static mut KEPT: Option<Box<dyn Fn() -> u8>> = None;

#[runner::scope]
fn main() {
    let one: Box<dyn Fn() -> u8> = Box::new(move || run!(async { 1 }));
    unsafe { KEPT = Some(one) };
}
