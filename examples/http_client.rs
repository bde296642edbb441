//! reqwest, a tokio-based HTTP client, on a `Runner` with no wrapper:
//! several runs share one client and its keep-alive connection.
//!
//! Run it with `cargo run --example http_client --features tokio`. It starts
//! a small HTTP server on 127.0.0.1 (a thread of its own, with its own tokio
//! runtime) and talks to it.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn main() {
    let address = serve();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client without TLS builds");
    let runner = runner::Runner::new();

    // Run 1: a request; hyper keeps the connection in the client's pool.
    let greeting = runner.run(async {
        let response = client.get(format!("http://{address}/hello")).send().await?;
        response.text().await
    });
    println!("GET /hello -> {:?}", greeting.expect("the server answers"));

    // Run 2: several requests at once, as tasks of the runner.
    let sizes = runner.run(async {
        let tasks: Vec<_> = ["/a", "/bb", "/ccc"]
            .into_iter()
            .map(|path| {
                let (client, url) = (client.clone(), format!("http://{address}{path}"));
                runner::spawn(async move { client.get(url).send().await?.text().await })
            })
            .collect();
        let mut sizes = Vec::new();
        for task in tasks {
            sizes.push(task.await.map(|body| body.len()));
        }
        sizes
    });
    println!("three requests at once -> body sizes {sizes:?}");

    // Run 3: a tokio timer between two requests, in the same context.
    let late = runner.run(async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        client
            .get(format!("http://{address}/late"))
            .send()
            .await?
            .text()
            .await
    });
    println!(
        "after a tokio sleep -> {:?}",
        late.expect("the server answers")
    );

    let report = runner.close();
    println!(
        "closed: {} task(s) cancelled, {} panic(s)",
        report.cancelled, report.panicked
    );
}

/// Starts an HTTP/1.1 server on a thread of its own that answers every
/// request with its path, keeping connections alive; returns its address.
fn serve() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    listener
        .set_nonblocking(true)
        .expect("a non-blocking listener");
    let address = listener.local_addr().expect("a bound address");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the server");
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (reader, mut writer) = stream.into_split();
                    let mut lines = BufReader::new(reader).lines();
                    while let Ok(Some(request)) = lines.next_line().await {
                        // Skip the headers, up to the blank line.
                        while let Ok(Some(header)) = lines.next_line().await {
                            if header.is_empty() {
                                break;
                            }
                        }
                        let path = request.split(' ').nth(1).unwrap_or("/").to_owned();
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{path}",
                            path.len()
                        );
                        if writer.write_all(response.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
    });
    address
}
