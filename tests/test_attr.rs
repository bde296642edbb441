//! `#[runner::test]`: a `#[test]` whose `run!` calls share one runner.
//!
//! Like `tests/scope.rs`, these talk to a TCP echo server on 127.0.0.1,
//! which here is a task of the test's own runner.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

use async_io::Async;
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};

#[runner::test(timeout = "5s")]
fn pings_a_server_started_by_an_earlier_run() {
    let addr = run!(start_echo_server()).unwrap();
    let mut stream = run!(Async::<TcpStream>::connect(addr)).unwrap();
    assert_eq!(run!(echo(&mut stream, "ping")).unwrap(), "ping");
    assert_eq!(run!(echo(&mut stream, "pong")).unwrap(), "pong");
}

#[runner::test(timeout = "5s")]
fn may_return_a_result() -> io::Result<()> {
    let addr = run!(start_echo_server())?;
    let mut stream = run!(Async::<TcpStream>::connect(addr))?;
    assert_eq!(run!(echo(&mut stream, "okay"))?, "okay");
    Ok(())
}

#[runner::test]
#[should_panic(expected = "the server said no")]
fn a_panic_in_a_run_fails_the_test() {
    run!(async {
        runner::yield_now().await;
        panic!("the server said no");
    });
}

#[runner::test(timeout = "100ms")]
#[should_panic(expected = "timed out after")]
fn a_run_past_the_timeout_fails_the_test() {
    let addr = run!(start_echo_server()).unwrap();
    let mut stream = run!(Async::<TcpStream>::connect(addr)).unwrap();
    // The server echoes nothing back until it gets all 4 bytes: this read
    // never finishes, and the timeout ends it.
    run!(stream.write_all(b"ab")).unwrap();
    let mut reply = [0; 4];
    run!(stream.read_exact(&mut reply)).unwrap();
}

#[runner::test(timeout = "100ms")]
#[should_panic(expected = "timed out after")]
fn a_pending_future_fails_at_the_timeout() {
    run!(future::pending::<()>());
}

#[runner::test(timeout = "5s")]
fn a_test_within_its_timeout_passes() {
    let addr = run!(start_echo_server()).unwrap();
    let mut stream = run!(Async::<TcpStream>::connect(addr)).unwrap();
    assert_eq!(run!(echo(&mut stream, "fast")).unwrap(), "fast");
}

#[runner::test(debug, worker_threads = 2, close_timeout = "200ms", timeout = "5s")]
fn takes_every_option() {
    let task = run!(spawn_the_answer());
    assert_eq!(run!(task), 42);
}

mod rt {
    pub(crate) use runner::*;
}

#[runner::test(crate = "rt")]
fn crate_option_names_the_runner_crate() {
    assert_eq!(rt::run!(async { 1 }) + run!(async { 1 }), 2);
}

// Helpers.

async fn spawn_the_answer() -> runner::Task<u32> {
    runner::spawn(async { 40 + 2 })
}

/// Starts an echo server as a task of the runner running the caller, and
/// returns its address. The server echoes whole 4-byte frames.
async fn start_echo_server() -> io::Result<SocketAddr> {
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0))?;
    let addr = listener.get_ref().local_addr()?;
    runner::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            runner::spawn(echo_frames(stream)).detach();
        }
    })
    .detach();
    Ok(addr)
}

async fn echo_frames(mut stream: Async<TcpStream>) -> io::Result<()> {
    let mut frame = [0; 4];
    loop {
        stream.read_exact(&mut frame).await?;
        stream.write_all(&frame).await?;
    }
}

/// Sends `message` (a whole number of 4-byte frames) and reads the echo.
async fn echo(stream: &mut Async<TcpStream>, message: &str) -> io::Result<String> {
    stream.write_all(message.as_bytes()).await?;
    let mut reply = vec![0; message.len()];
    stream.read_exact(&mut reply).await?;
    String::from_utf8(reply).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
