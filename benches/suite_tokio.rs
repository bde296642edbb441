//! The 200 tiny I/O tests of `suite_per_test.rs` with `#[tokio::test]`: a
//! tokio `current_thread` runtime per test, each starting its own echo
//! server, the way most tokio test suites are written.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn round_trip() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let (mut read, mut write) = stream.split();
        let _ = tokio::io::copy(&mut read, &mut write).await;
    });
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(&[7; 64]).await.unwrap();
    let mut reply = [0; 64];
    client.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply, [7; 64]);
}

macro_rules! twenty {
    ($($name:ident)*) => {$(
        #[tokio::test]
        async fn $name() {
            crate::round_trip().await;
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
