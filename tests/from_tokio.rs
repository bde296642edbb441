//! Tests of tokio's own suite (tokio 1.54.1, `tokio/tests/`, MIT), moved
//! over from `#[tokio::test]` by changing that attribute to
//! `#[runner::test]` and nothing else: the one-word migration. Each module
//! is one of tokio's files, with its `use` lines; the `#[cfg(feature =
//! "full")]` that tokio puts on some tests (a feature of tokio's own crate)
//! is left out. They need runner's `tokio` feature, for tokio's I/O, timers
//! and `tokio::spawn`.

#![cfg(feature = "tokio")]

/// tokio's `tests/tcp_into_split.rs`.
mod tcp_into_split {
    use std::io::{Error, Result};
    use std::io::{Read, Write};
    use std::{net, thread};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::try_join;

    #[runner::test]
    async fn split() -> Result<()> {
        const MSG: &[u8] = b"split";

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;

        let (stream1, (mut stream2, _)) = try_join! {
            TcpStream::connect(&addr),
            listener.accept(),
        }?;
        let (mut read_half, mut write_half) = stream1.into_split();

        let ((), (), ()) = try_join! {
            async {
                let len = stream2.write(MSG).await?;
                assert_eq!(len, MSG.len());

                let mut read_buf = vec![0u8; 32];
                let read_len = stream2.read(&mut read_buf).await?;
                assert_eq!(&read_buf[..read_len], MSG);
                Result::Ok(())
            },
            async {
                let len = write_half.write(MSG).await?;
                assert_eq!(len, MSG.len());
                Ok(())
            },
            async {
                let mut read_buf = [0u8; 32];
                let peek_len1 = read_half.peek(&mut read_buf[..]).await?;
                let peek_len2 = read_half.peek(&mut read_buf[..]).await?;
                assert_eq!(peek_len1, peek_len2);

                let read_len = read_half.read(&mut read_buf[..]).await?;
                assert_eq!(peek_len1, read_len);
                assert_eq!(&read_buf[..read_len], MSG);
                Ok(())
            },
        }?;

        Ok(())
    }

    #[runner::test]
    async fn reunite() -> Result<()> {
        let listener = net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;

        let handle = thread::spawn(move || {
            drop(listener.accept().unwrap());
            drop(listener.accept().unwrap());
        });

        let stream1 = TcpStream::connect(&addr).await?;
        let (read1, write1) = stream1.into_split();

        let stream2 = TcpStream::connect(&addr).await?;
        let (_, write2) = stream2.into_split();

        let read1 = match read1.reunite(write2) {
            Ok(_) => panic!("Reunite should not succeed"),
            Err(err) => err.0,
        };

        read1.reunite(write1).expect("Reunite should succeed");

        handle.join().unwrap();
        Ok(())
    }

    /// Test that dropping the write half actually closes the stream.
    #[runner::test]
    async fn drop_write() -> Result<()> {
        const MSG: &[u8] = b"split";

        let listener = net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;

        let handle = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(MSG).unwrap();

            let mut read_buf = [0u8; 32];
            let res = match stream.read(&mut read_buf) {
                Ok(0) => Ok(()),
                Ok(len) => Err(Error::other(format!("Unexpected read: {len} bytes."))),
                Err(err) => Err(err),
            };

            drop(stream);

            res
        });

        let stream = TcpStream::connect(&addr).await?;
        let (mut read_half, write_half) = stream.into_split();

        let mut read_buf = [0u8; 32];
        let read_len = read_half.read(&mut read_buf[..]).await?;
        assert_eq!(&read_buf[..read_len], MSG);

        // drop it while the read is in progress
        std::thread::spawn(move || {
            thread::sleep(std::time::Duration::from_millis(10));
            drop(write_half);
        });

        match read_half.read(&mut read_buf[..]).await {
            Ok(0) => {}
            Ok(len) => panic!("Unexpected read: {len} bytes."),
            Err(err) => panic!("Unexpected error: {err}."),
        }

        handle.join().unwrap().unwrap();
        Ok(())
    }
}

/// tokio's `tests/tcp_split.rs`.
mod tcp_split {
    use std::io::Result;
    use std::io::{Read, Write};
    use std::{net, thread};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    #[runner::test]
    async fn split() -> Result<()> {
        const MSG: &[u8] = b"split";

        let listener = net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;

        let handle = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream.write_all(MSG).unwrap();

            let mut read_buf = [0u8; 32];
            let read_len = stream.read(&mut read_buf).unwrap();
            assert_eq!(&read_buf[..read_len], MSG);
        });

        let mut stream = TcpStream::connect(&addr).await?;
        let (mut read_half, mut write_half) = stream.split();

        let mut read_buf = [0u8; 32];
        let peek_len1 = read_half.peek(&mut read_buf[..]).await?;
        let peek_len2 = read_half.peek(&mut read_buf[..]).await?;
        assert_eq!(peek_len1, peek_len2);

        let read_len = read_half.read(&mut read_buf[..]).await?;
        assert_eq!(peek_len1, read_len);
        assert_eq!(&read_buf[..read_len], MSG);

        assert_eq!(write_half.write(MSG).await?, MSG.len());
        handle.join().unwrap();
        Ok(())
    }
}

/// tokio's `tests/io_mem_stream.rs`.
mod io_mem_stream {
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

    #[runner::test]
    async fn ping_pong() {
        let (mut a, mut b) = duplex(32);

        let mut buf = [0u8; 4];

        a.write_all(b"ping").await.unwrap();
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");

        b.write_all(b"pong").await.unwrap();
        a.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
    }

    #[runner::test]
    async fn across_tasks() {
        let (mut a, mut b) = duplex(32);

        let t1 = tokio::spawn(async move {
            a.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            a.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"pong");
        });

        let t2 = tokio::spawn(async move {
            let mut buf = [0u8; 4];
            b.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ping");
            b.write_all(b"pong").await.unwrap();
        });

        t1.await.unwrap();
        t2.await.unwrap();
    }

    #[runner::test]
    async fn disconnect() {
        let (mut a, mut b) = duplex(32);

        let t1 = tokio::spawn(async move {
            a.write_all(b"ping").await.unwrap();
            // and dropped
        });

        let t2 = tokio::spawn(async move {
            let mut buf = [0u8; 32];
            let n = b.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"ping");

            let n = b.read(&mut buf).await.unwrap();
            assert_eq!(n, 0);
        });

        t1.await.unwrap();
        t2.await.unwrap();
    }
}

/// tokio's `tests/sync_semaphore.rs`.
mod sync_semaphore {
    use std::sync::Arc;
    use tokio::sync::Semaphore;

    #[runner::test]
    async fn acquire() {
        let sem = Arc::new(Semaphore::new(1));
        let p1 = sem.try_acquire().unwrap();
        let sem_clone = sem.clone();
        let j = tokio::spawn(async move {
            let _p2 = sem_clone.acquire().await;
        });
        drop(p1);
        j.await.unwrap();
    }

    #[runner::test]
    async fn add_permits() {
        let sem = Arc::new(Semaphore::new(0));
        let sem_clone = sem.clone();
        let j = tokio::spawn(async move {
            let _p2 = sem_clone.acquire().await;
        });
        sem.add_permits(1);
        j.await.unwrap();
    }

    #[runner::test]
    async fn stress_test() {
        let sem = Arc::new(Semaphore::new(5));
        let mut join_handles = Vec::new();
        for _ in 0..1000 {
            let sem_clone = sem.clone();
            join_handles.push(tokio::spawn(async move {
                let _p = sem_clone.acquire().await;
            }));
        }
        for j in join_handles {
            j.await.unwrap();
        }
        // there should be exactly 5 semaphores available now
        let _p1 = sem.try_acquire().unwrap();
        let _p2 = sem.try_acquire().unwrap();
        let _p3 = sem.try_acquire().unwrap();
        let _p4 = sem.try_acquire().unwrap();
        let _p5 = sem.try_acquire().unwrap();
        assert!(sem.try_acquire().is_err());
    }
}

/// tokio's `tests/sync_mutex.rs`.
mod sync_mutex {
    use std::sync::Arc;
    use tokio::sync::Mutex;

    /// Ensure a mutex is unlocked if a future holding the lock
    /// is aborted prematurely.
    #[runner::test]
    async fn aborted_future_1() {
        use std::time::Duration;
        use tokio::time::{interval, timeout};

        let m1: Arc<Mutex<usize>> = Arc::new(Mutex::new(0));
        {
            let m2 = m1.clone();
            // Try to lock mutex in a future that is aborted prematurely
            timeout(Duration::from_millis(1u64), async move {
                let iv = interval(Duration::from_millis(1000));
                tokio::pin!(iv);
                let _g = m2.lock().await;
                iv.as_mut().tick().await;
                iv.as_mut().tick().await;
            })
            .await
            .unwrap_err();
        }
        // This should succeed as there is no lock left for the mutex.
        timeout(Duration::from_millis(1u64), async move {
            let _g = m1.lock().await;
        })
        .await
        .expect("Mutex is locked");
    }

    /// This test is similar to `aborted_future_1` but this time the
    /// aborted future is waiting for the lock.
    #[runner::test]
    async fn aborted_future_2() {
        use std::time::Duration;
        use tokio::time::timeout;

        let m1: Arc<Mutex<usize>> = Arc::new(Mutex::new(0));
        {
            // Lock mutex
            let _lock = m1.lock().await;
            {
                let m2 = m1.clone();
                // Try to lock mutex in a future that is aborted prematurely
                timeout(Duration::from_millis(1u64), async move {
                    let _g = m2.lock().await;
                })
                .await
                .unwrap_err();
            }
        }
        // This should succeed as there is no lock left for the mutex.
        timeout(Duration::from_millis(1u64), async move {
            let _g = m1.lock().await;
        })
        .await
        .expect("Mutex is locked");
    }
}
