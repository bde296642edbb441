use runner::run;

pub fn not_a_scope() -> u8 {
    run!(async { 1 })
}

fn main() {}
