#[runner::scope]
fn in_a_scoped_thread() -> u8 {
    std::thread::scope(|scope| {
        let handle = scope.spawn(|| run!(async { 1 }));
        handle.join().unwrap()
    })
}

fn main() {}
