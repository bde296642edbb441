//! The `tokio` feature: futures of tokio-based crates work in every place a
//! runner runs or drops user code, with no wrapper. One test per promise of
//! API.md's "tokio-based crates" section; the HTTP server they talk to runs
//! on a thread of its own, with its own tokio runtime, like a remote one.

#![cfg(feature = "tokio")]

use std::future::Future;
use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use runner::{ContextVar, Runner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long any single wait of these tests may take before it fails.
const BOUND: Duration = Duration::from_secs(20);

/// A tokio timer short enough to keep the tests fast.
const TICK: Duration = Duration::from_millis(5);

#[test]
fn tokio_sleep_works_in_run_tasks_unblock_and_cleanups() {
    let slept = Arc::new(AtomicUsize::new(0));
    let runner = Runner::builder().worker_threads(1).build();
    let count = slept.clone();
    runner.run(bounded(async move {
        // The run's own future.
        tokio::time::sleep(TICK).await;
        count.fetch_add(1, Ordering::SeqCst);
        // A `Send` task (it may run on the worker) and a local one.
        let counted = count.clone();
        let task = runner::spawn(async move {
            tokio::time::sleep(TICK).await;
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let counted = count.clone();
        let local = runner::spawn_local(async move {
            tokio::time::sleep(TICK).await;
            counted.fetch_add(1, Ordering::SeqCst);
        });
        task.await;
        local.await;
        // A blocking job: the tokio context is entered on the pool's thread.
        let counted = count.clone();
        runner::unblock(move || {
            tokio::runtime::Handle::current().block_on(tokio::time::sleep(TICK));
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .await;
        // A cleanup, which close awaits.
        let counted = count.clone();
        runner::on_close(async move {
            tokio::time::sleep(TICK).await;
            counted.fetch_add(1, Ordering::SeqCst);
        });
    }));
    assert_eq!(slept.load(Ordering::SeqCst), 4);
    let report = runner.close();
    assert_eq!(slept.load(Ordering::SeqCst), 5);
    assert_eq!(report.panicked, 0);
}

#[test]
fn reqwest_works_in_run_try_run_run_in_and_the_run_macro() {
    let url = server().url("/hello");
    let client = reqwest::Client::new();
    let runner = Runner::new();
    assert_eq!(runner.run(bounded(get(&client, &url))), "/hello");
    assert_eq!(
        runner.try_run(bounded(get(&client, &url))).unwrap(),
        "/hello"
    );
    let context = runner::Context::new();
    assert_eq!(
        runner.run_in(&context, bounded(get(&client, &url))),
        "/hello"
    );
    assert_eq!(in_a_scope(&client, &url), "/hello");
    assert_eq!(runner.close().panicked, 0);
}

#[runner::scope]
fn in_a_scope(client: &reqwest::Client, url: &str) -> String {
    let first = run!(bounded(get(client, url)));
    let second = run!(bounded(get(client, url)));
    assert_eq!(first, second);
    first
}

#[test]
fn a_tokio_resource_created_in_one_run_works_in_later_runs() {
    let runner = Runner::new();
    let (mut client, mut accepted) = runner.run(bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(address).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        (client, accepted)
    }));
    for round in 0..3u8 {
        let echoed = runner.run(bounded(async {
            client.write_all(&[round]).await.unwrap();
            let mut byte = [0];
            accepted.read_exact(&mut byte).await.unwrap();
            byte[0]
        }));
        assert_eq!(echoed, round);
    }
    assert_eq!(runner.close().panicked, 0);
}

#[test]
fn a_tokio_resource_created_while_entered_works_in_later_runs() {
    let runner = Runner::new();
    let (sleep, listener) = {
        let _entered = runner.enter();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        // Both panic outside a tokio context: "there is no reactor running".
        let sleep = tokio::time::sleep(TICK);
        let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
        (sleep, listener)
    };
    let address = listener.local_addr().unwrap();
    runner.run(bounded(sleep));
    let accepted = runner.run(bounded(async {
        let (_client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(address), listener.accept());
        accepted.unwrap().1
    }));
    assert_eq!(accepted.ip(), address.ip());
    assert_eq!(runner.close().panicked, 0);
}

/// The client every runner of this test uses, on every thread.
static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();

/// A scope enters its runner (and its tokio context) for the whole body, so
/// a tokio future made as the argument of `run!` works with no wrapper.
#[runner::scope]
fn sleeps_made_in_a_scope_body() -> Duration {
    let start = Instant::now();
    run!(tokio::time::sleep(Duration::from_millis(5)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = runner::spawn(async move { listener.accept().await.is_ok() });
    run!(tokio::net::TcpStream::connect(address)).unwrap();
    assert!(run!(accepted));
    start.elapsed()
}

#[test]
fn tokio_futures_made_as_run_arguments_in_a_scope_work() {
    assert!(sleeps_made_in_a_scope_body() >= Duration::from_millis(5));
}

/// The same on the shared runner: a shared test enters it for the body.
#[runner::test(shared, timeout = "10s")]
fn tokio_futures_made_as_run_arguments_in_a_shared_test_work() {
    run!(tokio::time::sleep(Duration::from_millis(5)));
}

#[test]
fn a_static_reqwest_client_works_under_a_second_runner_after_the_first_closed() {
    // A server of its own, so that its connections are this test's.
    let server = start_server();
    let url = server.url("/static");
    let first = {
        let url = url.clone();
        thread::spawn(move || {
            let runner = Runner::new();
            let body = runner.run(bounded(async {
                let client = CLIENT.get_or_init(reqwest::Client::new);
                get(client, &url).await
            }));
            (body, runner.close())
        })
    };
    let (body, report) = first.join().unwrap();
    assert_eq!(body, "/static");
    assert_eq!(report.panicked, 0);
    // The first runner is closed and its thread gone: another runner, on
    // another thread, uses the same client and its pooled connection.
    let second = thread::spawn(move || {
        let runner = Runner::new();
        let bodies = runner.run(bounded(async {
            let client = CLIENT.get().unwrap();
            (get(client, &url).await, get(client, &url).await)
        }));
        (bodies, runner.close())
    });
    let (bodies, report) = second.join().unwrap();
    assert_eq!(bodies, ("/static".to_owned(), "/static".to_owned()));
    assert_eq!(report.panicked, 0);
    // One keep-alive connection, made under the first runner, served all three.
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}

#[test]
fn close_drops_tokio_resources_without_panics() {
    let close_timeout = Duration::from_secs(2);
    let runner = Runner::builder().close_timeout(close_timeout).build();
    let (spawned, spawned_on_drop) = mpsc::channel();
    let url = server().url("/close");
    runner.run(bounded(async move {
        let client = reqwest::Client::new();
        // A connection in the client's pool, a socket and a timer.
        get(&client, &url).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sleep = Box::pin(tokio::time::sleep(Duration::from_secs(3600)));
        // A whole runtime: dropping one where blocking is not allowed panics.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pending = SpawnsOnDrop(Some(spawned.clone()));
        runner::spawn(async move {
            let _held = (client, listener, sleep, runtime, pending);
            std::future::pending::<()>().await
        })
        .detach();
        // Like sqlx's pooled connection, whose `Drop` calls `tokio::spawn`,
        // held by a cleanup and by the runner's context.
        let cleanup = SpawnsOnDrop(Some(spawned.clone()));
        runner::on_close(async move { drop(cleanup) });
        CONTEXT_VALUE.set(Arc::new(SpawnsOnDrop(Some(spawned))));
        runner::yield_now().await;
    }));
    let report = runner.close();
    assert_eq!(
        (report.cancelled, report.dropped, report.panicked),
        (1, 1, 0)
    );
    assert!(report.elapsed < close_timeout, "{report:?}");
    for _ in 0..3 {
        spawned_on_drop
            .recv_timeout(BOUND)
            .expect("the task a `Drop` spawned with `tokio::spawn` ran");
    }
}

static CONTEXT_VALUE: ContextVar<Arc<SpawnsOnDrop>> = ContextVar::new("spawns_on_drop");

#[test]
fn tokio_spawn_inside_a_runner_works() {
    let runner = Runner::builder().worker_threads(1).build();
    let sum = runner.run(bounded(async {
        let from_run = tokio::spawn(async { 1 });
        let from_task = runner::spawn(async { tokio::spawn(async { 2 }).await.unwrap() });
        let blocking = tokio::task::spawn_blocking(|| 3);
        // Needs a multi-thread runtime (async-compat#50).
        let in_place = tokio::spawn(async { tokio::task::block_in_place(|| 4) });
        from_run.await.unwrap()
            + from_task.await
            + blocking.await.unwrap()
            + in_place.await.unwrap()
    }));
    assert_eq!(sum, 10);
    assert_eq!(runner.close().panicked, 0);
}

static REQUEST: ContextVar<u32> = ContextVar::new("request");

#[test]
fn tokio_spawned_tasks_are_tokios_not_the_runners() {
    let runner = Runner::new();
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let (task, seen) = runner.run(bounded(async {
        REQUEST.set(7);
        let seen = tokio::spawn(async { REQUEST.get() }).await.unwrap();
        // Still waiting when the runner closes.
        let task = tokio::spawn(async move { released.await.is_ok() });
        (task, seen)
    }));
    // No context variables in a tokio task.
    assert_eq!(seen, None);
    // Close neither counts nor cancels it...
    let report = runner.close();
    assert_eq!((report.cancelled, report.dropped), (0, 0));
    assert!(!task.is_finished());
    // ... and it keeps running after the runner closed.
    release.send(()).unwrap();
    let finished = Runner::new().run(bounded(task));
    assert!(finished.unwrap());
}

#[test]
fn a_supplied_tokio_handle_is_used() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("supplied-tokio")
        .enable_all()
        .build()
        .unwrap();
    let runner = Runner::builder()
        .tokio_handle(tokio.handle().clone())
        .build();
    let url = server().url("/supplied");
    let (thread, body) = runner.run(bounded(async move {
        let thread = tokio::spawn(async { thread::current().name().map(str::to_owned) });
        let body = get(&reqwest::Client::new(), &url).await;
        (thread.await.unwrap(), body)
    }));
    assert_eq!(thread.as_deref(), Some("supplied-tokio"));
    assert_eq!(body, "/supplied");
    assert_eq!(runner.close().panicked, 0);
}

#[test]
fn an_entered_current_thread_runtime_is_not_used() {
    // Inside `#[tokio::test]`'s runtime, whose I/O only its `block_on`
    // drives, and `run` blocks it: runner uses its own runtime instead.
    let url = server().url("/ambient");
    let (sent, received) = mpsc::channel();
    thread::spawn(move || {
        let ambient = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let body = ambient.block_on(async {
            let runner = Runner::new();
            let body = runner.run(bounded(get(&reqwest::Client::new(), &url)));
            runner.close();
            body
        });
        sent.send(body).unwrap();
    });
    assert_eq!(received.recv_timeout(BOUND).unwrap(), "/ambient");
}

#[test]
fn the_process_exits_cleanly() {
    if std::env::var_os(CHILD).is_some() {
        // The child: several runners, a static client, tokio tasks left
        // running, and no explicit close; the test harness then exits.
        let url = server().url("/exit");
        for _ in 0..2 {
            let runner = Runner::new();
            runner.run(bounded(async {
                let client = CLIENT.get_or_init(reqwest::Client::new);
                get(client, &url).await;
                tokio::spawn(std::future::pending::<()>());
                runner::spawn(std::future::pending::<()>()).detach();
            }));
        }
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "the_process_exits_cleanly", "--nocapture"])
        .env(CHILD, "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BOUND {
            child.kill().unwrap();
            panic!("the child process did not exit within {BOUND:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Set in the child process of `the_process_exits_cleanly`.
const CHILD: &str = "RUNNER_TOKIO_EXIT_CHILD";

#[test]
fn without_the_feature_no_tokio_crate_is_compiled_in() {
    let tree = |features: &[&str]| {
        let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "tree",
                "--offline",
                "-e",
                "normal",
                "--prefix",
                "none",
                "-p",
            ])
            .arg(env!("CARGO_PKG_NAME"))
            .args(features)
            .arg("--manifest-path")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let crates = String::from_utf8(output.stdout).unwrap();
        crates
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .any(|name| name == "tokio" || name.starts_with("tokio-"))
    };
    assert!(
        !tree(&[]),
        "tokio is compiled in without the `tokio` feature"
    );
    assert!(
        tree(&["--features", "tokio"]),
        "the check finds tokio when it is there"
    );
}

// Helpers.

/// Bounds a wait, in runner's own time (async-io's timers), so a tokio
/// future that never wakes fails the test instead of hanging it.
async fn bounded<F: Future>(future: F) -> F::Output {
    runner::timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {BOUND:?}"))
}

/// GETs `url` and returns the body.
async fn get(client: &reqwest::Client, url: &str) -> String {
    let response = client.get(url).send().await.unwrap();
    assert!(response.status().is_success());
    response.text().await.unwrap()
}

/// A value whose `Drop` calls `tokio::spawn`, as sqlx's pooled connection
/// does to give itself back to the pool; the spawned task reports on `0`.
struct SpawnsOnDrop(Option<mpsc::Sender<()>>);

impl Drop for SpawnsOnDrop {
    fn drop(&mut self) {
        let sender = self.0.take().unwrap();
        tokio::spawn(async move { sender.send(()).unwrap() });
    }
}

/// The HTTP server the tests talk to.
struct Server {
    address: SocketAddr,
    /// Connections accepted so far.
    connections: AtomicUsize,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

/// The server most tests share, started on first use.
fn server() -> &'static Server {
    static SERVER: OnceLock<&'static Server> = OnceLock::new();
    SERVER.get_or_init(start_server)
}

/// Starts an HTTP/1.1 server on a thread of its own with a tokio runtime of
/// its own: each response's body is the request's path, and connections are
/// kept alive. It serves until the process exits.
fn start_server() -> &'static Server {
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let server: &'static Server = Box::leak(Box::new(Server {
            address: listener.local_addr().unwrap(),
            connections: AtomicUsize::new(0),
        }));
        thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    server.connections.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(serve(stream));
                }
            });
        });
        server
    }
}

/// Answers the requests of one connection until the client closes it.
async fn serve(stream: tokio::net::TcpStream) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(reader);
    loop {
        let mut request_line = String::new();
        match tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut request_line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // Skip the headers: these requests have no body.
        loop {
            let mut header = String::new();
            match tokio::io::AsyncBufReadExt::read_line(&mut reader, &mut header).await {
                Ok(0) | Err(_) => return,
                Ok(_) if header == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n\r\n{path}",
            path.len()
        );
        if writer.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}
