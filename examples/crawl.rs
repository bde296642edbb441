//! A bounded parallel crawl with a `runner::TaskGroup`: a tiny web server on
//! 127.0.0.1 serves a few pages that link to each other, and the crawler
//! fetches every page it can reach, at most `MAX_IN_FLIGHT` at a time.
//!
//! In Python, the crawler would hold an `asyncio.TaskGroup` and a semaphore;
//! here `join_next` bounds the fetches: the crawler spawns up to the bound,
//! then takes the next page that arrives, whichever it is.
//!
//! Run it with `cargo run --example crawl`.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;

use async_net::{TcpListener, TcpStream};
use futures_lite::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use runner::TaskGroup;

/// At most this many fetches at once.
const MAX_IN_FLIGHT: usize = 3;

/// The site: each page and the pages it links to.
const SITE: &[(&str, &[&str])] = &[
    ("/", &["/news", "/about", "/shop"]),
    ("/news", &["/news/1", "/news/2", "/"]),
    ("/news/1", &["/news/2", "/about"]),
    ("/news/2", &["/news/1"]),
    ("/about", &["/", "/team"]),
    ("/team", &[]),
    ("/shop", &["/shop/cart", "/missing"]),
    ("/shop/cart", &["/shop"]),
];

#[runner::scope]
fn main() {
    let pages = run!(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Dropping the server's task at the end cancels it and, with it, the
        // group of connections it holds.
        let _server = runner::spawn(serve(listener));
        crawl(addr).await
    });
    println!("{pages} pages found");
    assert_eq!(pages, SITE.len());
}

/// Fetches every page reachable from `/`, at most `MAX_IN_FLIGHT` at once,
/// and returns how many it found.
async fn crawl(addr: SocketAddr) -> usize {
    let mut seen = HashSet::from(["/".to_string()]);
    let mut queue = VecDeque::from(["/".to_string()]);
    let mut found = 0;
    let mut group = TaskGroup::new();
    loop {
        // Start fetches up to the bound.
        while group.len() < MAX_IN_FLIGHT {
            let Some(path) = queue.pop_front() else { break };
            group.spawn(fetch(addr, path));
        }
        // The next page to arrive; `None` when nothing is in flight, and so
        // nothing is queued either.
        let Some((path, links)) = group.join_next().await else {
            return found;
        };
        match links {
            Some(links) => {
                found += 1;
                println!("{path} -> {links:?}");
                for link in links {
                    if seen.insert(link.clone()) {
                        queue.push_back(link);
                    }
                }
            }
            None => println!("{path}: not found"),
        }
    }
}

/// Fetches `path` and returns the links on the page, or `None` if there is
/// no such page.
async fn fetch(addr: SocketAddr, path: String) -> (String, Option<Vec<String>>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    if !response.starts_with("HTTP/1.0 200") {
        return (path, None);
    }
    let links = response
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect();
    (path, Some(links))
}

/// Serves `SITE`: each connection in a task of one group, which is
/// cancelled with this future.
async fn serve(listener: TcpListener) {
    let mut connections = TaskGroup::new();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        connections.spawn(respond(stream));
        // Forget the connections that are done (a finished task is ready).
        while connections.len() > MAX_IN_FLIGHT {
            connections.join_next().await;
        }
    }
}

/// Answers one request: the page, with a link for each page it links to.
async fn respond(stream: TcpStream) {
    let mut reader = BufReader::new(stream.clone());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).await.unwrap();
    // Skip the headers, up to the blank line.
    let mut header = String::new();
    while reader.read_line(&mut header).await.unwrap() > 2 {
        header.clear();
    }
    let path = request_line.split(' ').nth(1).unwrap_or("/");
    let response = match SITE.iter().find(|(page, _)| *page == path) {
        Some((_, links)) => {
            let body: String = links
                .iter()
                .map(|link| format!("<a href=\"{link}\">{link}</a>\n"))
                .collect();
            format!("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n{body}")
        }
        None => "HTTP/1.0 404 Not Found\r\n\r\n".to_string(),
    };
    let mut stream = stream;
    stream.write_all(response.as_bytes()).await.unwrap();
}
