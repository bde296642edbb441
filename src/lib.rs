//! Python's [`asyncio.Runner`] for Rust: one event loop, many top-level runs.
//!
//! Sync code (a CLI `main`, a test, a sync library) often calls several async
//! functions in a row that should share one event loop: a connection opened by
//! the first call is used by the second, background tasks keep going between
//! calls, and context such as a request id carries across. A [`Runner`] is that
//! loop:
//!
//! ```
//! let runner = runner::Runner::new();
//! let a = runner.run(async { 1 });
//! let b = runner.run(async move { a + 1 });
//! assert_eq!(b, 2);
//! let report = runner.close();
//! assert_eq!(report.cancelled, 0);
//! ```
//!
//! [`asyncio.Runner`]: https://docs.python.org/3/library/asyncio-runner.html#asyncio.Runner

pub use runner_core::*;

/// Runs every `run!(fut)` in a sync function on one [`Runner`], closed when
/// the function returns, by any path.
///
/// # Examples
///
/// ```
/// async fn double(n: u32) -> u32 {
///     runner::yield_now().await;
///     n * 2
/// }
///
/// #[runner::scope]
/// fn total() -> u32 {
///     let a = run!(double(1)); // every run! shares one Runner,
///     a + run!(double(a)) // closed when `total` returns
/// }
///
/// assert_eq!(total(), 6);
/// ```
#[doc(inline)]
pub use runner_macros::scope;

/// `#[test]` plus [`#[runner::scope]`](scope): a test whose `run!` calls
/// share one [`Runner`].
///
/// Import items by name rather than with `use runner::*`: the glob would
/// bring this `test` into scope and make a plain `#[test]` ambiguous.
///
/// # Examples
///
/// ```
/// #[runner::test(timeout = "5s")]
/// fn doubles() {
///     assert_eq!(run!(async { 2 * 2 }), 4);
/// }
/// ```
#[doc(inline)]
pub use runner_macros::test;

/// Runs a future on the runner of the enclosing [`#[runner::scope]`](scope).
///
/// `#[runner::scope]` and `#[runner::test]` rewrite every `run!(fut)` in the
/// function body into a `run` call on the function's own [`Runner`]. Used
/// anywhere else, `run!` is a compile error that says so.
///
/// # Examples
///
/// ```
/// use runner::run;
///
/// #[runner::scope]
/// fn main() {
///     let one = run!(async { 1 });
///     assert_eq!(one, 1);
/// }
/// # main();
/// ```
#[macro_export]
macro_rules! run {
    ($($tokens:tt)*) => {
        ::core::compile_error!(
            "`run!` can only be used inside a function marked `#[runner::scope]` or `#[runner::test]`"
        )
    };
}

/// Paths used by the code that the macros generate. Not public API.
#[doc(hidden)]
pub mod __private {
    use std::panic::{self, AssertUnwindSafe};

    pub use runner_core::{Builder, Runner};

    /// The body of `#[runner::scope] fn main`: a run interrupted by Ctrl-C
    /// closes the runner (its `on_close` cleanups run) and exits with status
    /// 130, quietly; any other panic goes on unwinding.
    pub fn main<R>(runner: Runner, body: impl FnOnce(&Runner) -> R) -> R {
        match panic::catch_unwind(AssertUnwindSafe(|| body(&runner))) {
            Ok(output) => output,
            Err(payload) if payload.is::<runner_core::Interrupted>() => {
                drop(runner);
                std::process::exit(130)
            }
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}
