//! `?` on a `run!` whose error does not convert: the error points at the
//! `run!` and its `?`.

#[derive(Debug)]
struct AppError;

#[runner::scope]
fn load() -> Result<u8, AppError> {
    let byte = run!(async { "x".parse::<u8>() })?;
    Ok(byte)
}

fn main() {}
