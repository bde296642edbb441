//! A tour of `runner`: one loop for several runs, a background task that
//! keeps going between them, context carried across runs, and the report
//! that close returns.
//!
//! Run it with `cargo run --example tour`.

use std::time::{Duration, Instant};

use runner::{ContextVar, Runner};

/// A request id, as a web framework or a CLI would set it.
static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");

/// A "connection" that the first run opens and the second uses.
struct Connection {
    opened: Instant,
}

impl Connection {
    async fn open() -> Connection {
        runner::sleep(Duration::from_millis(50)).await;
        Connection {
            opened: Instant::now(),
        }
    }

    async fn query(&self, sql: &str) -> String {
        runner::sleep(Duration::from_millis(20)).await;
        let id = REQUEST_ID.get().unwrap_or_default();
        format!(
            "[request {id}] {sql} -> ok (connection open for {:?})",
            self.opened.elapsed()
        )
    }
}

fn main() {
    let runner = Runner::new();

    // Run 1: open a connection and start a heartbeat in the background.
    let connection = runner.run(async {
        REQUEST_ID.set(42); // stays in the runner's context for later runs
        runner::spawn(async {
            let mut beats = 0;
            loop {
                runner::sleep(Duration::from_millis(30)).await;
                beats += 1;
                println!("  heartbeat {beats}");
            }
        })
        .detach();
        runner::on_close(async { println!("on_close: connection closed") });
        Connection::open().await
    });
    println!("run 1: connected");

    // Sync code between runs: the heartbeat waits, since no run is going on.
    std::thread::sleep(Duration::from_millis(50));

    // Run 2: same loop, same connection, same context; the heartbeat resumes.
    let answer = runner.run(async {
        let answer = connection.query("SELECT 1").await;
        runner::sleep(Duration::from_millis(70)).await;
        answer
    });
    println!("run 2: {answer}");

    // Blocking work goes to the pool, in a copy of the caller's context:
    // call `unblock` inside the run, where the request id is set.
    let from_pool = runner.run(async {
        runner::unblock(|| format!("blocking job sees request {:?}", REQUEST_ID.get())).await
    });
    println!("run 3: {from_pool}");

    // Close: the heartbeat is still pending, so it is cancelled and dropped.
    let report = runner.close();
    println!(
        "closed in {:?}: {} task(s) cancelled, {} dropped, {} unobserved panic(s), {} blocking job(s) abandoned",
        report.elapsed, report.cancelled, report.dropped, report.panicked, report.blocking_abandoned
    );
}
