//! Every HTTP request is untrusted: malformed, oversized and slow requests get an error or a
//! closed connection, and the server keeps answering everyone else promptly.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

/// Sends raw bytes and returns the status code of the answer (None: closed without one).
fn raw(addr: SocketAddr, bytes: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    head.split_whitespace().nth(1)?.parse().ok()
}

/// `/healthz` answers, and quickly.
fn healthy_and_quick(addr: SocketAddr) -> Duration {
    let started = Instant::now();
    let (code, _) = get_json(addr, "/healthz");
    assert_eq!(code, 200);
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_oversized_and_slow_requests_do_not_take_the_server_down() {
    let repo = GitRepo::new(&config(BRANCH, "2h", ""));
    let data = tempfile::tempdir().unwrap();
    let service = start(&repo.path, data.path()).await;
    let addr = service.addr;

    let results = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        // Garbage instead of HTTP.
        seen.push(("garbage", raw(addr, b"\x00\x01\x02 hello\r\n\r\n")));
        seen.push(("bad request line", raw(addr, b"GET\r\n\r\n")));
        seen.push(("bad version", raw(addr, b"GET / HTTP/9.9\r\n\r\n")));
        // Huge headers: 1 MB of one header.
        let mut big = b"GET /api/posts HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 1024 * 1024));
        big.extend(b"\r\n\r\n");
        seen.push(("1 MB header", raw(addr, &big)));
        // A webhook body announced larger than any forge sends.
        seen.push((
            "60 MB webhook",
            raw(
                addr,
                b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000000\r\n\r\n{",
            ),
        ));
        // A query string that is not what the API takes.
        seen.push((
            "bad filter",
            raw(addr, b"GET /api/posts?state=%ff%fe&from=yesterday HTTP/1.1\r\nHost: x\r\n\r\n"),
        ));
        seen.push((
            "long path",
            raw(
                addr,
                format!("GET /api/posts/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a%2F".repeat(20000))
                    .as_bytes(),
            ),
        ));
        seen
    })
    .await
    .unwrap();
    let status_of = |what: &str| results.iter().find(|(w, _)| *w == what).and_then(|r| r.1);
    assert_eq!(status_of("60 MB webhook"), Some(413), "{results:?}");
    for (what, status) in &results {
        assert!(
            status.is_none_or(|s| (400..500).contains(&s)),
            "{what}: answered {status:?}"
        );
    }

    // Slow clients: 60 connections that send half a request and then dribble.
    let slow: Vec<TcpStream> = (0..60)
        .filter_map(|_| {
            let mut s = TcpStream::connect(addr).ok()?;
            let _ = s.write_all(b"GET /api/posts HTTP/1.1\r\nHost: x\r\nX-Slow: ");
            Some(s)
        })
        .collect();
    let took = tokio::task::spawn_blocking(move || {
        let mut worst = Duration::ZERO;
        for _ in 0..10 {
            worst = worst.max(healthy_and_quick(addr));
        }
        worst
    })
    .await
    .unwrap();
    assert!(
        took < Duration::from_secs(2),
        "others are answered while slow clients hang on: worst {took:?}"
    );
    drop(slow);
    let (code, v) = get_json(addr, "/api/posts");
    assert_eq!(code, 200, "{v}");
    eprintln!("abuse answers: {results:?}; /healthz worst {took:?} beside 60 slow clients");
    service.shutdown().await;
}
