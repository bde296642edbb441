use runner::run;

#[runner::scope]
pub fn outer() -> u8 {
    // A nested item is not part of the scope.
    fn inner() -> u8 {
        run!(async { 1 })
    }
    inner() + run!(async { 1 })
}

fn main() {}
