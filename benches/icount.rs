//! Operations for instruction counts under callgrind (`benches/icount.sh`),
//! not a timed benchmark: `cargo bench --bench icount` only says so.
//!
//! `icount OP N` does `OP` `N` times; callgrind's total for N = 40,000
//! minus the total for N = 20,000, divided by 20,000, is one operation,
//! without the process's start and end. Instruction counts are steady on a
//! shared, noisy machine where times are not: they show where nanoseconds
//! go, and what a change costs, to the instruction.

use std::hint::black_box;

static VAR: runner::ContextVar<u64> = runner::ContextVar::new("var");

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(op), Some(n)) = (args.next(), args.next()) else {
        println!("icount: run through benches/icount.sh (callgrind), not `cargo bench`");
        return;
    };
    if op == "--bench" {
        println!("icount: run through benches/icount.sh (callgrind), not `cargo bench`");
        return;
    }
    let n: usize = n.parse().expect("N is a number");
    match op.as_str() {
        // `runner.run` of a future that is ready at once, on a reused runner.
        "run_ready" => {
            let runner = runner::Runner::new();
            for i in 0..n {
                black_box(runner.run(async move { black_box(i) }));
            }
        }
        // `runner.run` of a future that yields once.
        "run_yield" => {
            let runner = runner::Runner::new();
            for _ in 0..n {
                runner.run(futures_lite::future::yield_now());
            }
        }
        // Spawn a task and await it, inside one run.
        "spawn_await" => {
            let runner = runner::Runner::new();
            runner.run(async {
                for i in 0..n {
                    black_box(runner::spawn(async move { black_box(i) }).await);
                }
            });
        }
        // One task that yields N times: one poll of a task (and its wake) each.
        "switch" => {
            let runner = runner::Runner::new();
            runner.run(async {
                runner::spawn(async move {
                    for _ in 0..n {
                        futures_lite::future::yield_now().await;
                    }
                })
                .await
            });
        }
        // `Runner::new` + one run of a ready future + `close`.
        "lifecycle" => {
            for i in 0..n {
                let runner = runner::Runner::new();
                black_box(runner.run(async move { black_box(i) }));
                black_box(runner.close());
            }
        }
        // `VAR.set(v)` + `VAR.reset(token)` in an entered context.
        "set_reset" => {
            runner::Context::new().run(|| {
                for i in 0..n {
                    let token = VAR.set(black_box(i as u64));
                    VAR.reset(token);
                }
            });
        }
        // `Context::current()` in an entered context with 0 or 1 variable set.
        "current_0" | "current_1" => {
            runner::Context::new().run(|| {
                if op == "current_1" {
                    VAR.set(1);
                }
                for _ in 0..n {
                    black_box(runner::Context::current());
                }
            });
        }
        other => panic!("unknown operation {other}"),
    }
}
