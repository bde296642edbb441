//! The signatures an `async fn` may have under the attributes: methods,
//! generics, `impl Trait` in and out, borrowed and `'static` returns, `!`.

use std::fmt::Display;
use std::future::Future;

struct Store {
    items: Vec<String>,
}

impl Store {
    #[runner::scope]
    async fn first(&self) -> Option<&str> {
        runner::yield_now().await;
        self.items.first().map(String::as_str)
    }

    #[runner::scope(worker_threads = 1)]
    async fn push(&mut self, item: impl Into<String>) -> &mut Self {
        self.items.push(item.into());
        self
    }

    #[runner::scope]
    async fn into_len(self: Box<Self>) -> usize {
        runner::spawn(async move { self.items.len() }).await
    }

    #[runner::scope]
    async fn new() -> Self {
        Store { items: Vec::new() }
    }
}

#[runner::scope(debug = false, close_timeout = "1s")]
async fn describe<T: Display, F: Future<Output = T>>(future: F) -> impl Display {
    format!("<{}>", future.await)
}

#[runner::scope(virtual_time, auto_advance = "0ms")]
async fn forever() -> ! {
    loop {
        runner::sleep(std::time::Duration::from_secs(60)).await;
    }
}

#[runner::scope]
pub(crate) async unsafe fn unchecked(bytes: &[u8]) -> &str {
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

fn main() {
    let mut store = Store::new();
    store.push("a").push(String::from("b"));
    assert_eq!(store.first(), Some("a"));
    assert_eq!(Box::new(store).into_len(), 2);
    assert_eq!(describe(async { 7 }).to_string(), "<7>");
    assert_eq!(unsafe { unchecked(b"ok") }, "ok");
    let _never: fn() -> ! = forever;
}
