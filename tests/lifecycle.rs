//! Many runner lifecycles leave no threads or file descriptors behind.
//!
//! One test in its own binary: the counts are of the whole process.

use std::time::Duration;

use runner::Runner;

#[test]
fn a_thousand_lifecycles_leave_no_threads_or_file_descriptors_behind() {
    // Warm up what is global and lazy: async-io's reactor and its thread.
    lifecycle(0);
    lifecycle(1);
    let threads = count("/proc/self/task");
    let fds = count("/proc/self/fd");
    for i in 0..1000 {
        lifecycle(i % 3);
    }
    assert_eq!(count("/proc/self/task"), threads, "threads");
    assert_eq!(count("/proc/self/fd"), fds, "file descriptors");
}

fn lifecycle(worker_threads: usize) {
    let runner = Runner::builder().worker_threads(worker_threads).build();
    runner.spawn(std::future::pending::<()>()).detach();
    runner
        .spawn(runner::sleep(Duration::from_secs(60)))
        .detach();
    runner.run(async {
        runner::sleep(Duration::from_micros(10)).await;
        runner::spawn(async {}).await;
    });
    let report = runner.close();
    assert_eq!(report.dropped, 2);
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}
