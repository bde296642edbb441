//! The attribute macros of the [`runner`] crate (package `asyncio-runner`):
//! `#[runner::scope]` and `#[runner::test]`.
//!
//! Use them through `runner`, which re-exports them and provides the paths
//! that their expansion names; their documentation, with runnable examples,
//! lives here and is shown there. This crate only parses and delegates: the
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

/// Gives a function one `Runner`, on which every `run!(fut)` of its body
/// runs; on an `async fn`, the whole body is one run on it.
///
/// The runner is built when the function starts and closed when it returns,
/// whatever the way out: the end of the body, `return`, `?`, or a panic. It
/// closes after the body's own locals are dropped, so they can still use it
/// in their `Drop`. All the `run!` calls of one call of the function share
/// the runner: a task spawned by one keeps running during the next, and a
/// context variable set by one is seen by the next. The runner is entered
/// for the whole body, so `runner::spawn`, `runner::spawn_local` and
/// `runner::on_close` also work between two `run!`s.
///
/// # Examples
///
/// ```
/// use std::io;
/// # struct Conn;
/// # impl Conn {
/// #     async fn ping(&self) -> io::Result<&'static str> {
/// #         runner::yield_now().await;
/// #         Ok("pong")
/// #     }
/// # }
/// # async fn connect(_addr: &str) -> io::Result<Conn> {
/// #     Ok(Conn)
/// # }
///
/// #[runner::scope]
/// fn ping_twice() -> io::Result<String> {
///     let conn = run!(connect("127.0.0.1:7000"))?;
///     let first = run!(conn.ping())?;
///     let second = run!(conn.ping())?;
///     Ok(format!("{first} {second}"))
/// }
///
/// assert_eq!(ping_twice()?, "pong pong");
/// # Ok::<(), io::Error>(())
/// ```
///
/// Equivalent code without the macro:
///
/// ```
/// use std::io;
/// # struct Conn;
/// # impl Conn {
/// #     async fn ping(&self) -> io::Result<&'static str> {
/// #         Ok("pong")
/// #     }
/// # }
/// # async fn connect(_addr: &str) -> io::Result<Conn> {
/// #     Ok(Conn)
/// # }
///
/// fn ping_twice() -> io::Result<String> {
///     let owner = runner::Runner::builder().build();
///     // The body only sees a reference: a `move` closure copies it.
///     let runner = &owner;
///     // Dropped before `owner`, which closes the runner.
///     let _entered = runner.enter();
///     let ret: io::Result<String> = {
///         let conn = runner.run(connect("127.0.0.1:7000"))?;
///         let first = runner.run(conn.ping())?;
///         let second = runner.run(conn.ping())?;
///         Ok(format!("{first} {second}"))
///     };
///     ret
/// }
/// # assert_eq!(ping_twice().unwrap(), "pong pong");
/// ```
///
/// # Where `run!` comes from
///
/// `run!` is not a macro in scope in the body: the attribute finds each
/// `run!(fut)` of the body and replaces it with `Runner::run` on the
/// function's runner, before the compiler looks for a macro named `run`. So
/// no import is needed. In a function without the attribute, the compiler
/// says "cannot find macro `run`"; with `use runner::run;` (harmless inside
/// scopes), it says instead that the function needs `#[runner::scope]`.
///
/// `run!(fut)` blocks until `fut` is done and evaluates to its output; `fut`
/// is anything that implements `IntoFuture`. It works in statements, nested
/// expressions (`run!(a()) + run!(b())`), loops, ordinary closures (`move`
/// ones too), and in other macros' arguments (`assert_eq!(run!(f()), 1)`).
/// It is recognized as `run!`, `runner::run!`, `::runner::run!` and, with
/// `crate = "path"`, `path::run!`. Errors, lints and panics about a `run!`
/// point at its line, never at the attribute.
///
/// ```
/// async fn double(n: u32) -> u32 {
///     runner::yield_now().await;
///     n * 2
/// }
///
/// #[runner::scope]
/// fn doubles(numbers: &[u32]) -> Vec<u32> {
///     let offset = run!(double(0));
///     let shifted = move |n: u32| run!(double(n)) + offset;
///     assert_eq!(run!(double(run!(double(1)))), 4);
///     numbers.iter().map(|&n| shifted(n)).collect()
/// }
///
/// assert_eq!(doubles(&[1, 2, 3]), [2, 4, 6]);
/// ```
///
/// Only the function's own body is rewritten: a nested `fn`, `impl` or
/// `mod` is not part of the scope, so a `run!` there is a compile error, as
/// is any `run!` outside a scope. So is a `run!` inside an `async` block or
/// `async` closure of the body, since it would block the loop that polls it:
/// there, `.await` the future instead. And so is a `run!` in a closure
/// passed to `thread::spawn`, `scope.spawn`, `spawn_blocking` or
/// `runner::unblock`: a runner stays on its thread; spawn a task instead, or
/// give the thread a `runner::Handle`, whose `block_on` runs a future there.
///
/// # Between runs
///
/// ```
/// #[runner::scope]
/// fn background() -> u32 {
///     // No run is going on: the function's runner is entered.
///     let task = runner::spawn(async { 40 });
///     runner::on_close(async { println!("closing") });
///     run!(task) + 2
/// }
///
/// assert_eq!(background(), 42);
/// ```
///
/// # On `async fn`
///
/// As `#[tokio::main]` does, the attribute turns an `async fn` into a sync
/// one whose whole body is one run on the function's runner: the body is an
/// `async move` block, entered like a sync scope's body (so
/// `runner::spawn`, `spawn_local` and `on_close` work in it), whose value
/// has the function's return type, so `?` converts errors as in the
/// `async fn`. The parameters it uses move into that block, as into the
/// future of an `async fn`; the ones it never names are dropped when the
/// function returns, after the runner closed. Every option works, `fn main`
/// included. `run!` in the body is a compile error: there, `.await` the
/// future.
///
/// ```
/// use std::num::ParseIntError;
///
/// async fn parse(text: &str) -> Result<u32, ParseIntError> {
///     runner::yield_now().await;
///     text.parse()
/// }
///
/// #[runner::scope(worker_threads = 1)]
/// async fn sum(texts: &[&str]) -> Result<u32, ParseIntError> {
///     let background = runner::spawn(async { 1 });
///     let mut total = background.await;
///     for text in texts {
///         total += parse(text).await?;
///     }
///     Ok(total)
/// }
///
/// assert_eq!(sum(&["2", "3"]), Ok(6));
/// assert!(sum(&["x"]).is_err());
/// ```
///
/// Equivalent code without the macro:
///
/// ```
/// # use std::num::ParseIntError;
/// # async fn parse(text: &str) -> Result<u32, ParseIntError> { text.parse() }
/// fn sum(texts: &[&str]) -> Result<u32, ParseIntError> {
///     let owner = runner::Runner::builder().worker_threads(1).build();
///     let runner = &owner;
///     let _entered = runner.enter();
///     runner.run(async move {
///         let ret: Result<u32, ParseIntError> = {
///             let background = runner::spawn(async { 1 });
///             let mut total = background.await;
///             for text in texts {
///                 total += parse(text).await?;
///             }
///             Ok(total)
///         };
///         return ret;
///     })
/// }
/// # assert_eq!(sum(&["2", "3"]), Ok(6));
/// ```
///
/// # On `fn main`
///
/// A Ctrl-C during a run (see `Runner::try_run`) closes the runner, so the
/// `on_close` cleanups run, and exits with status 130, without a panic
/// message. The body becomes a closure handed to a hidden helper:
///
/// ```
/// # use std::io;
/// # async fn connect(_addr: &str) -> io::Result<()> { Ok(()) }
/// fn main() -> io::Result<()> {
///     runner::__private::main(runner::Runner::builder().build(), |runner| -> io::Result<()> {
///         runner.run(connect("127.0.0.1:7000"))?;
///         Ok(())
///     })
/// }
/// ```
///
/// where `main` enters the runner, runs the closure and, if a run unwinds
/// with `runner::Interrupted`, drops the runner and calls
/// `std::process::exit(130)`.
///
/// The attribute goes on any function with a body: a free function, a
/// method (`self`, `&self`, `&mut self`), a generic function, one returning
/// `impl Trait`, or a `#[test]` (above or below it; see also
/// `#[runner::test]`). The hidden bindings cannot be named by the body, and
/// do not clash with its own names.
///
/// # Options
///
/// | option | builder call | |
/// | --- | --- | --- |
/// | `debug` (or `debug = true`/`false`) | `.debug(true)` | see `Builder::debug`; without it, `RUNNER_DEBUG` decides |
/// | `worker_threads = 2` | `.worker_threads(2)` | threads that run `Send` tasks besides the caller's |
/// | `close_timeout = "200ms"` | `.close_timeout(Duration::from_millis(200))` | units: `ms` and `s` |
/// | `virtual_time` (or `virtual_time = true`/`false`) | `.virtual_time(true)` | the runner's clock starts paused and jumps when the loop is idle; see `Builder::virtual_time` |
/// | `auto_advance = "0ms"` (with `virtual_time`) | `.auto_advance_threshold(Duration::from_millis(0))` | units: `ms` and `s`; how long the loop must stay idle, in real time, before the virtual clock jumps (default 5 ms, so that an answer on loopback arrives before a virtual timeout fires); `"0ms"` jumps at once, for tests whose waits are all on the virtual clock; without `virtual_time`, a compile error |
/// | `crate = "path"` | | where the `runner` crate is, when it is renamed or re-exported |
///
/// ```
/// async fn sync(path: &str) -> usize {
///     runner::unblock({
///         let path = path.to_owned();
///         move || path.len()
///     })
///     .await
/// }
///
/// #[runner::scope(debug, worker_threads = 2, close_timeout = "200ms")]
/// fn sync_all(paths: &[&str]) -> usize {
///     paths.iter().map(|path| run!(sync(path))).sum()
/// }
///
/// assert_eq!(sync_all(&["a", "bc"]), 3);
/// ```
///
/// Equivalent code without the macro:
///
/// ```
/// # async fn sync(path: &str) -> usize { path.len() }
/// fn sync_all(paths: &[&str]) -> usize {
///     let owner = runner::Runner::builder()
///         .debug(true)
///         .worker_threads(2)
///         .close_timeout(std::time::Duration::from_millis(200))
///         .build();
///     let runner = &owner;
///     let _entered = runner.enter();
///     let ret: usize = { paths.iter().map(|path| runner.run(sync(path))).sum() };
///     ret
/// }
/// # assert_eq!(sync_all(&["a", "bc"]), 3);
/// ```
///
/// With `crate = "rt"`, for a crate that re-exports `runner` as `rt`, the
/// expansion names `rt::Runner` instead of `::runner::Runner`, and
/// `rt::run!` is recognized:
///
/// ```
/// mod rt {
///     pub use runner::*;
/// }
///
/// #[runner::scope(crate = "rt")]
/// fn through_rt() -> u8 {
///     rt::run!(async { 1 }) + run!(async { 2 })
/// }
///
/// assert_eq!(through_rt(), 3);
/// ```
///
/// # Errors
///
/// These are compile errors that point at the offending tokens and say what
/// to do instead: the attribute on a `const fn`, or on anything but a
/// function; an unknown, repeated or ill-typed option; `timeout` (a
/// `#[runner::test]` option); `run!` inside an `async` block or closure (the
/// body of an `async fn` included), or a closure run on another thread, or
/// with other than one argument. The function is still emitted, so there are
/// no follow-on errors.
///
/// ```compile_fail
/// #[runner::scope]
/// async fn fetch() -> u8 {
///     run!(async { 1 }) // error: `run!` cannot be used inside an `async` block
/// }
/// ```
#[proc_macro_attribute]
pub fn scope(args: TokenStream, item: TokenStream) -> TokenStream {
    scope::expand(args.into(), item.into()).into()
}

/// Marks a test whose body runs its `run!` calls on one `Runner`:
/// `#[test]` plus [`#[runner::scope]`](macro@scope).
///
/// Import items by name rather than with `use runner::*`: the glob would
/// bring this `test` into scope and make a plain `#[test]` ambiguous.
///
/// # Examples
///
/// ```
/// async fn ping() -> bool {
///     runner::yield_now().await;
///     true
/// }
///
/// #[runner::test]
/// fn pings() {
///     let server = runner::spawn(async { "up" }); // the runner is entered
///     assert_eq!(run!(server), "up");
///     assert!(run!(ping()));
/// }
/// ```
///
/// The test may return a `Result`, and other attributes such as
/// `#[should_panic]` and `#[ignore]` are kept.
///
/// # On `async fn`: coming from tokio
///
/// An `async fn` test is one run of its whole body (see
/// [`#[runner::scope]`](macro@scope) on `async fn`), with every option, so
/// a `#[tokio::test] async fn` moves over by changing the attribute alone:
///
/// ```
/// # async fn ping() -> Result<bool, std::io::Error> { Ok(true) }
/// #[runner::test(timeout = "5s")] // was: #[tokio::test]
/// async fn pings() -> Result<(), std::io::Error> {
///     let server = runner::spawn(async { "up" });
///     assert!(ping().await?);
///     assert_eq!(server.await, "up");
///     Ok(())
/// }
/// # fn main() {}
/// ```
///
/// tokio's own I/O and timers (`tokio::net`, `tokio::time`, `tokio::spawn`)
/// need the `tokio` cargo feature of `runner`. With `shared`, the body is
/// one `runner::shared().block_on(..)`, in the test's own context.
///
/// # Options
///
/// Those of [`#[runner::scope]`](macro@scope), and `timeout = "5s"` (units
/// `ms` and `s`): the test fails when it runs longer. A run still going at
/// the deadline panics with a message that contains `timed out after` and
/// lists the tasks still pending. A test that blocks its thread (a
/// `std::thread::sleep`, a lock, blocking I/O, inside a poll or between
/// `run!`s) fails when its body ends, with a message saying that it ran for
/// so long, longer than its timeout; shortly after the deadline, a watchdog
/// thread prints to stderr which `run!` the test is blocked in, or after
/// which one, so a test blocked for good says where.
///
/// ```
/// # async fn ping() -> bool { true }
/// #[runner::test(timeout = "5s", worker_threads = 2)]
/// fn replies_in_time() {
///     assert!(run!(ping()));
/// }
/// ```
///
/// `shared`: the test has no runner of its own; every `run!(fut)` is
/// `runner::shared().block_on(fut)`, on one runner for the whole test
/// binary, driven by a thread of its own and never closed. Tasks and
/// resources one test creates there (a server, a pool, a client in a
/// `static`) stay alive for the others, whichever of libtest's threads they
/// run on. The shared runner is entered for the whole body, so
/// `runner::spawn` between `run!`s goes there (`runner::spawn_local` panics,
/// saying why). The test's context starts empty and carries from one `run!`
/// to the next; `timeout` applies to this test alone. `shared` cannot be
/// combined with the options that configure a test's own runner (`debug`,
/// `worker_threads`, `close_timeout`, `auto_advance`) nor with
/// `virtual_time` (the shared clock counts real time): each is a compile
/// error. Under cargo-nextest,
/// which runs each test in a process of its own, "shared" means shared by
/// the tests of one process.
///
/// ```
/// use std::sync::OnceLock;
///
/// fn port() -> u16 {
///     static PORT: OnceLock<u16> = OnceLock::new();
///     // Started once, on the shared runner, for every test that asks.
///     *PORT.get_or_init(|| {
///         runner::shared().spawn(std::future::pending::<()>()).unwrap().detach();
///         8080
///     })
/// }
///
/// #[runner::test(shared, timeout = "5s")]
/// fn uses_the_shared_server() {
///     assert_eq!(run!(async { port() }), 8080);
/// }
/// ```
///
/// Equivalent code without the macro (`__test_timeout` and `__private` are
/// hidden API, there for this macro):
///
/// ```
/// # async fn ping() -> bool { true }
/// // With `#[test]` on it:
/// fn replies_in_time() {
///     let timeout = std::time::Duration::from_secs(5);
///     let runner = runner::Runner::builder()
///         .worker_threads(2)
///         .__test_timeout(timeout)
///         .build();
///     // Enters the runner, watches the clock, runs the body.
///     runner::__private::test(runner, Some(timeout), "replies_in_time", |runner| {
///         assert!(runner.run(ping()));
///     })
/// }
/// # replies_in_time();
/// ```
///
/// # Errors
///
/// Those of [`#[runner::scope]`](macro@scope); a test function with
/// parameters (`async` or not); and another test attribute on the same function (`#[test]`,
/// `#[tokio::test]`, a second `#[runner::test]`), since this one already adds
/// `#[test]`.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    test_attr::expand(args.into(), item.into()).into()
}
