//! The 200 tiny I/O tests of `suite_per_test.rs`, on one shared runner
//! (`#[runner::test(shared)]`): one echo server, started by the first test
//! that needs it, serves them all.

use std::net::SocketAddr;
use std::sync::OnceLock;

use async_net::{TcpListener, TcpStream};
use futures_lite::{io, AsyncReadExt, AsyncWriteExt};

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let shared = runner::shared();
        let listener = shared
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .unwrap()
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = async move {
            while let Ok((stream, _)) = listener.accept().await {
                runner::spawn(async move { io::copy(stream.clone(), &mut stream.clone()).await })
                    .detach();
            }
        };
        shared.spawn(accept).unwrap().detach();
        addr
    })
}

async fn round_trip(addr: SocketAddr) {
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(&[7; 64]).await.unwrap();
    let mut reply = [0; 64];
    client.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply, [7; 64]);
}

macro_rules! twenty {
    ($($name:ident)*) => {$(
        #[runner::test(shared)]
        fn $name() {
            run!(crate::round_trip(crate::server()));
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
