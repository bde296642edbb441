// A `Runner` stays on the thread that made it: the error names `Runner`, once
// (a `Handle` is what reaches it from other threads).
fn main() {
    let runner = runner::Runner::new();
    std::thread::spawn(move || runner.run(async {}));
}
