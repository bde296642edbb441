//! Tests that share one runner, and tests on virtual time: a file to copy.
//!
//! Every `#[runner::test(shared)]` runs its `run!`s on `runner::shared()`,
//! one runner for the whole test binary, driven by a thread of its own. So a
//! server started by the first test that needs it stays up for all the
//! others, whichever of libtest's threads they run on. (Under cargo-nextest,
//! which runs each test in a process of its own, "shared" means shared by
//! the tests of one process: each test then starts the server itself.)

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use async_net::{TcpListener, TcpStream};
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use runner::ContextVar;

/// How many echo servers were started: one, however many tests use it.
static SERVERS: AtomicUsize = AtomicUsize::new(0);

/// The address of an echo server on the shared runner, started on first use.
fn echo_server() -> SocketAddr {
    static ADDRESS: OnceLock<SocketAddr> = OnceLock::new();
    *ADDRESS.get_or_init(|| {
        let shared = runner::shared();
        let listener = shared
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("the shared runner never closes")
            .expect("a loopback port");
        let address = listener.local_addr().expect("a bound address");
        SERVERS.fetch_add(1, Ordering::SeqCst);
        let server = shared.spawn(async move {
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
    assert_eq!(run!(echo(echo_server(), b"one")), b"one");
    assert_eq!(SERVERS.load(Ordering::SeqCst), 1);
}

#[runner::test(shared)]
fn a_second_client_of_the_same_server() {
    assert_eq!(run!(echo(echo_server(), b"two")), b"two");
    assert_eq!(SERVERS.load(Ordering::SeqCst), 1);
}

#[runner::test(shared, timeout = "10s")]
fn many_clients_at_once_on_the_shared_server() {
    let address = echo_server();
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
    use std::sync::OnceLock;
    use std::time::Duration;

    use async_net::{TcpListener, TcpStream};
    use futures_lite::{io, AsyncReadExt, AsyncWriteExt};

    /// An echo server on the shared runner, started by the first test that asks.
    fn server() -> SocketAddr {
        static ADDR: OnceLock<SocketAddr> = OnceLock::new();
        *ADDR.get_or_init(|| {
            let shared = runner::shared();
            let listener = shared
                .block_on(TcpListener::bind("127.0.0.1:0"))
                .unwrap()
                .unwrap();
            let addr = listener.local_addr().unwrap();
            let accept = async move {
                while let Ok((stream, _)) = listener.accept().await {
                    runner::spawn(
                        async move { io::copy(stream.clone(), &mut stream.clone()).await },
                    )
                    .detach();
                }
            };
            shared.spawn(accept).unwrap().detach();
            addr
        })
    }

    #[runner::test(shared, timeout = "5s")]
    fn echoes() {
        let mut client = run!(TcpStream::connect(server())).unwrap();
        run!(client.write_all(b"ping")).unwrap();
        let mut reply = [0; 4];
        run!(client.read_exact(&mut reply)).unwrap();
        assert_eq!(&reply, b"ping");
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
