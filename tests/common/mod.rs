//! Helpers shared by the integration tests (each test binary uses some).
#![allow(dead_code)]

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts its drops: each future or value under test is dropped exactly once.
pub(crate) struct DropCounter(pub(crate) Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Runs `f`, which must panic, and returns the panic's message.
pub(crate) fn panic_message(f: impl FnOnce()) -> String {
    let payload = panic::catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// A future that holds `value` and never finishes: a task parked until it is
/// dropped, which drops `value` (a [`DropCounter`], say) with it.
pub(crate) async fn pending_holding<T>(value: T) {
    let _value = value;
    std::future::pending::<()>().await
}
