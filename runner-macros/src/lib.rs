//! The attribute macros of the [`runner`] crate: `#[runner::scope]` and
//! `#[runner::test]`.
//!
//! Use them through `runner`, which re-exports them and provides the paths
//! that their expansion names. This crate only parses and delegates: the
//! options are in `args.rs`, the expansion in `scope.rs` and `test_attr.rs`,
//! the `run!` rewrite in `rewrite.rs` and the output on errors in
//! `fallback.rs`.
//!
//! [`runner`]: https://docs.rs/asyncio-runner

use proc_macro::TokenStream;

mod args;
mod fallback;
mod rewrite;
mod scope;
mod test_attr;

#[cfg(test)]
mod no_panic;

/// Gives a sync function one `Runner`, on which every `run!(fut)` of its body
/// runs.
///
/// The runner is built when the function starts and closed when it returns,
/// whatever the way out: the end of the body, `return`, `?`, or a panic. It
/// closes after the body's own locals are dropped, so they can still use it
/// in their `Drop`. All the `run!` calls of one call of the function share
/// the runner: a task spawned by one keeps running during the next, and a
/// context variable set by one is seen by the next.
///
/// ```text
/// use std::io;
///
/// #[runner::scope]
/// fn ping_twice() -> io::Result<()> {
///     let conn = run!(connect("127.0.0.1:7000"))?;
///     let reply = run!(conn.ping())?;
///     println!("{reply}");
///     Ok(())
/// }
/// ```
///
/// Equivalent code without the macro:
///
/// ```text
/// use std::io;
///
/// fn ping_twice() -> io::Result<()> {
///     let runner = runner::Runner::builder().build();
///     let ret: io::Result<()> = {
///         let conn = runner.run(connect("127.0.0.1:7000"))?;
///         let reply = runner.run(conn.ping())?;
///         println!("{reply}");
///         Ok(())
///     };
///     ret
/// }
/// ```
///
/// # On `fn main`
///
/// A Ctrl-C during a run (see `Runner::try_run`) closes the runner, so the
/// `on_close` cleanups run, and exits with status 130, without a panic
/// message. The body becomes a closure handed to a hidden helper:
///
/// ```text
/// fn main() -> io::Result<()> {
///     runner::__private::main(runner::Runner::builder().build(), |runner| -> io::Result<()> {
///         let conn = runner.run(connect("127.0.0.1:7000"))?;
///         Ok(())
///     })
/// }
/// ```
///
/// where `main` runs the closure and, if a run unwinds with
/// `runner::Interrupted`, drops the runner and calls
/// `std::process::exit(130)`.
///
/// The attribute goes on any sync function with a body: a free function, a
/// method (`self`, `&self`, `&mut self`), a generic function, one returning
/// `impl Trait`, or a `#[test]` (above or below it; see also
/// `#[runner::test]`). The hidden bindings cannot be named by the body, and
/// do not clash with its own names.
///
/// # `run!`
///
/// `run!(fut)` becomes `runner.run(fut)`: it blocks until `fut` is done and
/// evaluates to its output. It works in statements, nested expressions
/// (`run!(a()) + run!(b())`), loops, ordinary closures, and in other macros'
/// arguments (`assert_eq!(run!(f()), 1)`). It is recognized as `run!`,
/// `runner::run!`, `::runner::run!` and, with `crate = "path"`, `path::run!`.
///
/// Only the function's own body is rewritten: a nested `fn`, `impl` or `mod`
/// is not part of the scope, so a `run!` there is a compile error, as is any
/// `run!` outside a scope. So is a `run!` inside an `async` block or `async`
/// closure of the body, since it would block the loop that polls it: there,
/// `.await` the future instead.
///
/// # Options
///
/// | option | builder call | |
/// | --- | --- | --- |
/// | `debug` (or `debug = true`/`false`) | `.debug(true)` | see `Builder::debug`; without it, `RUNNER_DEBUG` decides |
/// | `worker_threads = 2` | `.worker_threads(2)` | threads that run `Send` tasks besides the caller's |
/// | `close_timeout = "200ms"` | `.close_timeout(Duration::from_millis(200))` | units: `ms` and `s` |
/// | `crate = "path"` | | where the `runner` crate is, when it is renamed or re-exported |
///
/// ```text
/// #[runner::scope(debug, worker_threads = 2, close_timeout = "200ms")]
/// fn sync_all(paths: &[&str]) -> usize {
///     paths.iter().map(|path| run!(sync(path))).sum()
/// }
/// ```
///
/// Equivalent code without the macro:
///
/// ```text
/// fn sync_all(paths: &[&str]) -> usize {
///     let runner = runner::Runner::builder()
///         .debug(true)
///         .worker_threads(2)
///         .close_timeout(std::time::Duration::from_millis(200))
///         .build();
///     let ret: usize = {
///         paths.iter().map(|path| runner.run(sync(path))).sum()
///     };
///     ret
/// }
/// ```
///
/// With `crate = "rt"`, for a crate that re-exports `runner` as `rt`,
/// the expansion names `rt::Runner` instead of `::runner::Runner`, and
/// `rt::run!` is recognized.
///
/// # Errors
///
/// These are compile errors that point at the offending tokens and say what
/// to do instead: the attribute on an `async fn` (at `async`), on a
/// `const fn`, or on anything but a function; an unknown, repeated or
/// ill-typed option; `timeout` (a `#[runner::test]` option); `run!` inside an
/// `async` block or closure, or with other than one argument. The function
/// is still emitted, so there are no follow-on errors.
#[proc_macro_attribute]
pub fn scope(args: TokenStream, item: TokenStream) -> TokenStream {
    scope::expand(args::Kind::Scope, args.into(), item.into()).into()
}

/// Marks a test whose body runs its `run!` calls on one `Runner`:
/// `#[test]` plus [`#[runner::scope]`](macro@scope).
///
/// ```text
/// #[runner::test]
/// fn pings() {
///     let conn = run!(connect("127.0.0.1:7000")).unwrap();
///     assert_eq!(run!(conn.ping()).unwrap(), "pong");
/// }
/// ```
///
/// Equivalent code without the macro:
///
/// ```text
/// #[test]
/// fn pings() {
///     let runner = runner::Runner::builder().build();
///     let ret: () = {
///         let conn = runner.run(connect("127.0.0.1:7000")).unwrap();
///         assert_eq!(runner.run(conn.ping()).unwrap(), "pong");
///     };
///     ret
/// }
/// ```
///
/// The test may return a `Result`, and other attributes such as
/// `#[should_panic]` and `#[ignore]` are kept.
///
/// # Options
///
/// Those of [`#[runner::scope]`](macro@scope), and `timeout = "5s"` (units
/// `ms` and `s`): the test fails when it runs longer, with a panic message
/// that contains `timed out after` and lists the tasks still pending.
///
/// ```text
/// #[runner::test(timeout = "5s", worker_threads = 2)]
/// fn replies_in_time() {
///     assert!(run!(ping()));
/// }
/// ```
///
/// Equivalent code without the macro (`__test_timeout` is hidden API of the
/// builder, there for this macro):
///
/// ```text
/// #[test]
/// fn replies_in_time() {
///     let runner = runner::Runner::builder()
///         .worker_threads(2)
///         .__test_timeout(std::time::Duration::from_secs(5))
///         .build();
///     let ret: () = {
///         assert!(runner.run(ping()));
///     };
///     ret
/// }
/// ```
///
/// # Errors
///
/// Those of [`#[runner::scope]`](macro@scope); a test function with
/// parameters; and another test attribute on the same function (`#[test]`,
/// `#[tokio::test]`, a second `#[runner::test]`), since this one already adds
/// `#[test]`.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    test_attr::expand(args.into(), item.into()).into()
}
