use std::thread;

#[runner::scope]
fn in_a_thread() -> u8 {
    let handle = thread::spawn(|| run!(async { 1 }));
    handle.join().unwrap()
}

fn main() {}
