//! `?` in an `async fn` on an error that does not convert into the
//! function's: the error points at the `?` and the declared type.

#[derive(Debug)]
struct AppError;

#[runner::scope]
async fn load() -> Result<u8, AppError> {
    let byte: u8 = "x".parse()?;
    Ok(byte)
}

fn main() {}
