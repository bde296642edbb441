//! `auto_advance` sets when a virtual clock jumps: without `virtual_time`
//! there is none, and the error says to add it.

#[runner::scope(auto_advance = "0ms")]
fn heartbeat() {
    run!(runner::sleep(std::time::Duration::from_secs(10)));
}

fn main() {}
