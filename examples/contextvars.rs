//! A request id flowing from a sync `main` through several runs, into
//! spawned tasks and into `unblock`, and what is and is not inherited.
//!
//! Run it with `cargo run --example contextvars`.

use std::time::Duration;

use runner::{Context, ContextVar, Runner};

static REQUEST_ID: ContextVar<u64> = ContextVar::new("request_id");
static USER: ContextVar<&str> = ContextVar::with_default("user", || "anonymous");

fn log(place: &str) {
    println!(
        "{place:<38} request_id={:?} user={:?}",
        REQUEST_ID.get(),
        USER.get()
    );
}

fn main() {
    // Set in sync code before the runner exists: the runner copies it.
    REQUEST_ID.set(1);
    let runner = Runner::new();
    REQUEST_ID.set(999); // after `new`: the runner does not see it
    log("main (thread's own context)");

    runner.run(async {
        log("run 1 (runner's context, copied at new)");
        USER.set("ada"); // stays in the runner's context
    });

    runner.run(async {
        log("run 2 (what run 1 set is still there)");

        // A task starts with a copy of its spawner's context...
        REQUEST_ID.set(2);
        let child = runner::spawn(async {
            log("  task (copy taken at spawn)");
            REQUEST_ID.set(3); // ...and what it sets stays in the task.
            runner::sleep(Duration::from_millis(10)).await;
            log("  task after a sleep (its own value)");
        });
        REQUEST_ID.set(4); // after the spawn: the task does not see it
        child.await;
        log("run 2 after the task (unchanged by it)");

        // A blocking job gets a copy of the caller's context at the call.
        runner::unblock(|| log("  unblock (copy taken at the call)")).await;
    });

    // A context of your own, entered for one run.
    let ctx = Context::new();
    runner.run_in(&ctx, async { log("run_in(empty context)") });

    log("main again (never touched by the runs)");
    println!(
        "the runner's context has request_id={:?}",
        runner.context().get(&REQUEST_ID)
    );
}
