pub struct Client;

#[runner::scope]
impl Client {
    pub fn ping(&self) -> u8 {
        1
    }
}

fn main() {}
