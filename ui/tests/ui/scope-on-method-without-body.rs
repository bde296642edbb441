pub trait Ping {
    #[runner::scope]
    fn ping(&self) -> u8;
}

fn main() {}
