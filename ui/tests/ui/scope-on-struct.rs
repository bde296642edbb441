#[runner::scope]
pub struct Client {
    pub addr: String,
}

fn main() {}
