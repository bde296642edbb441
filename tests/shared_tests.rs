//! Tests that share one runner, and tests on virtual time: a file to copy.
//!
//! Every `#[runner::test(shared)]` runs its `run!`s on `runner::shared()`,
//! one runner for the whole test binary, driven by a thread of its own. So a
//! server started by the first test that needs it stays up for all the
//! others, whichever of libtest's threads they run on.
//!
//! The server is a lazy fixture behind an *async* once-cell
//! (`async_lock::OnceCell`): whoever asks first starts it, be it a sync test
//! (`run!(echo_server())`), an `async fn` test, or a task on the shared runner,
//! and the others wait for that start instead of starting a second server.
//! A `std::sync::OnceLock` whose init calls `runner::shared().block_on(..)`
//! would panic when the first caller is async code (a run cannot block on
//! another), which then depends on which test runs first: under cargo-nextest,
//! one process per test, every test is the first. CI runs this file under
//! both `cargo test` and `cargo nextest run`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_lock::OnceCell;
use async_net::{TcpListener, TcpStream};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use runner::ContextVar;

/// How many echo servers were started: one per process, however many tests use it.
static SERVERS: AtomicUsize = AtomicUsize::new(0);

/// The address of an echo server on the shared runner, started on first use,
/// from sync or async code alike.
async fn echo_server() -> SocketAddr {
    static ADDRESS: OnceCell<SocketAddr> = OnceCell::new();
    *ADDRESS
        .get_or_init(|| async {
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback port");
            let address = listener.local_addr().expect("a bound address");
            SERVERS.fetch_add(1, Ordering::SeqCst);
            // The accept loop lives on the shared runner, which never closes,
            // whichever runner the first caller was on.
            let server = runner::shared().spawn(async move {
                loop {
                    let (mut stream, _) = listener.accept().await.expect("a connection");
                    runner::spawn(async move {
                        let mut buffer = [0; 64];
                        while let Ok(n @ 1..) = stream.read(&mut buffer).await {
                            if stream.write_all(&buffer[..n]).await.is_err() {
                                break;
                            }
                        }
                    })
                    .detach();
                }
            });
            server.expect("the shared runner never closes").detach();
            address
        })
        .await
}

async fn echo(address: SocketAddr, message: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).await.expect("the server is up");
    stream.write_all(message).await.expect("sent");
    let mut reply = vec![0; message.len()];
    stream.read_exact(&mut reply).await.expect("echoed");
    reply
}

#[runner::test(shared)]
fn the_first_client_of_the_shared_server() {
    let address = run!(echo_server());
    assert_eq!(run!(echo(address, b"one")), b"one");
    assert_eq!(SERVERS.load(Ordering::SeqCst), 1);
}

#[runner::test(shared)]
fn a_second_client_of_the_same_server() {
    assert_eq!(
        run!(async { echo(echo_server().await, b"two").await }),
        b"two"
    );
    assert_eq!(SERVERS.load(Ordering::SeqCst), 1);
}

#[runner::test(timeout = "10s")]
async fn an_async_test_can_be_the_first_to_ask_for_the_fixture() {
    // Not shared: this test's own runner starts the fixture if it asks first;
    // the server still lives on the shared runner, after this runner closes.
    assert_eq!(echo(echo_server().await, b"async").await, b"async");
    assert_eq!(SERVERS.load(Ordering::SeqCst), 1);
}

#[runner::test(shared, timeout = "10s")]
fn a_task_on_the_shared_runner_can_be_the_first_to_ask_for_the_fixture() {
    let task = runner::spawn(async { echo(echo_server().await, b"task").await });
    assert_eq!(run!(task), b"task");
    assert_eq!(SERVERS.load(Ordering::SeqCst), 1);
}

#[runner::test(shared, timeout = "10s")]
fn many_clients_at_once_on_the_shared_server() {
    let address = run!(echo_server());
    let replies = run!(async move {
        let clients: Vec<_> = (0..20u8)
            .map(|n| runner::spawn(async move { echo(address, &[n; 8]).await }))
            .collect();
        let mut replies = Vec::new();
        for client in clients {
            replies.push(client.await);
        }
        replies
    });
    for (n, reply) in (0..20u8).zip(replies) {
        assert_eq!(reply, [n; 8]);
    }
}

static REQUEST: ContextVar<u32> = ContextVar::new("request");

#[runner::test(shared)]
fn a_shared_test_starts_with_an_empty_context_that_carries_across_runs() {
    assert_eq!(run!(async { REQUEST.get() }), None);
    run!(async { REQUEST.set(7) });
    assert_eq!(run!(async { REQUEST.get() }), Some(7));
}

#[runner::test(shared)]
fn another_shared_test_does_not_see_that_context() {
    assert_eq!(run!(async { REQUEST.get() }), None);
    run!(async { REQUEST.set(8) });
}

#[runner::test(shared)]
fn spawn_between_runs_goes_to_the_shared_runner() {
    let task = runner::spawn(async { 40 + 2 });
    assert_eq!(run!(task), 42);
}

#[runner::test(shared)]
#[should_panic(expected = "can only be called on the runner's own thread")]
fn spawn_local_in_a_shared_test_panics_saying_why() {
    drop(runner::spawn_local(async {}));
}

#[runner::test(shared, timeout = "100ms")]
#[should_panic(expected = "timed out after 100ms, in the `run!` at tests/shared_tests.rs")]
fn a_shared_tests_timeout_applies_to_that_test() {
    run!(std::future::pending::<()>());
}

#[runner::test(virtual_time)]
fn a_virtual_hour_passes_at_once() {
    let start = std::time::Instant::now();
    let moved = run!(async {
        let before = runner::now();
        runner::sleep(Duration::from_secs(3600)).await;
        runner::now() - before
    });
    assert_eq!(moved, Duration::from_secs(3600));
    assert!(start.elapsed() < Duration::from_secs(30));
}

#[runner::test(virtual_time, timeout = "10s")]
fn retries_with_backoff_take_no_real_time() {
    let attempts = run!(async {
        let mut attempts = 0;
        let mut backoff = Duration::from_secs(1);
        while attempts < 10 {
            attempts += 1;
            runner::sleep(backoff).await;
            backoff *= 2;
        }
        attempts
    });
    assert_eq!(attempts, 10);
}

#[runner::scope(virtual_time)]
fn a_scope_on_virtual_time() -> Duration {
    let start = run!(async { runner::now() });
    run!(runner::sleep(Duration::from_secs(60)));
    run!(async { runner::now() }) - start
}

#[test]
fn a_scope_with_virtual_time_sleeps_a_minute_at_once() {
    assert_eq!(a_scope_on_virtual_time(), Duration::from_secs(60));
}

// The README's examples, as they appear there.

mod readme {
    use std::net::SocketAddr;
    use std::time::Duration;

    use async_lock::OnceCell;
    use async_net::{TcpListener, TcpStream};
    use futures_lite::{io, AsyncReadExt, AsyncWriteExt};

    /// An echo server on the shared runner, started by the first test that asks.
    async fn server() -> SocketAddr {
        static ADDR: OnceCell<SocketAddr> = OnceCell::new();
        *ADDR
            .get_or_init(|| async {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                let accept = async move {
                    while let Ok((stream, _)) = listener.accept().await {
                        runner::spawn(async move {
                            io::copy(stream.clone(), &mut stream.clone()).await
                        })
                        .detach();
                    }
                };
                runner::shared().spawn(accept).unwrap().detach();
                addr
            })
            .await
    }

    #[runner::test(shared, timeout = "5s")]
    fn echoes() {
        let mut client = run!(async { TcpStream::connect(server().await).await }).unwrap();
        run!(client.write_all(b"ping")).unwrap();
        let mut reply = [0; 4];
        run!(client.read_exact(&mut reply)).unwrap();
        assert_eq!(&reply, b"ping");
    }

    #[runner::test(timeout = "5s")]
    async fn echoes_in_an_async_test() {
        let mut client = TcpStream::connect(server().await).await.unwrap();
        client.write_all(b"pong").await.unwrap();
        let mut reply = [0; 4];
        client.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"pong");
    }

    #[runner::test(virtual_time)]
    fn gives_up_after_an_hour_of_retries() {
        let attempts = run!(async {
            let mut attempts = 0;
            while runner::timeout(Duration::from_secs(60), std::future::pending::<()>())
                .await
                .is_err()
            {
                attempts += 1;
                if attempts == 60 {
                    break;
                }
            }
            attempts
        });
        assert_eq!(attempts, 60); // an hour of virtual time, in milliseconds of real time
    }
}
