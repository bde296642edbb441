//! A test binary of 200 tiny I/O tests, each on a runner of its own
//! (`#[runner::test]`): each test starts an echo server on its runner,
//! connects, and does one 64-byte round trip. Compared by wall time with
//! `suite_shared.rs` (one server on `runner::shared()`) and `suite_tokio.rs`
//! (`#[tokio::test]`); see BENCHMARKS.md for the command.

use async_net::{TcpListener, TcpStream};
use futures_lite::{io, AsyncReadExt, AsyncWriteExt};

async fn round_trip() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    runner::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = io::copy(stream.clone(), &mut stream.clone()).await;
    })
    .detach();
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(&[7; 64]).await.unwrap();
    let mut reply = [0; 64];
    client.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply, [7; 64]);
}

macro_rules! twenty {
    ($($name:ident)*) => {$(
        #[runner::test]
        fn $name() {
            run!(crate::round_trip());
        }
    )*};
}

macro_rules! suite {
    ($($module:ident)*) => {$(
        mod $module {
            twenty!(t00 t01 t02 t03 t04 t05 t06 t07 t08 t09 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19);
        }
    )*};
}

suite!(m0 m1 m2 m3 m4 m5 m6 m7 m8 m9);
