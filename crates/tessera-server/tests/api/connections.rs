//! Connection handling over raw TCP: deadlines, connection caps, keep-alive hygiene.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app_with, Backend, TestApp};

/// Only keeps a broken server from hanging the suite; every expected close comes far sooner.
const HANG_GUARD: Duration = Duration::from_secs(30);

const HEALTHZ_CLOSE: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Everything the server sends until it closes the connection (a reset counts as a close).
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let read = tokio::time::timeout(HANG_GUARD, async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&received).into_owned()
}

/// Sends one request that closes the connection and returns the whole answer, or "" when the
/// server closed the connection without answering.
async fn request_and_close(app: &TestApp) -> String {
    let mut stream = connect(app).await;
    if stream.write_all(HEALTHZ_CLOSE).await.is_err() {
        return String::new();
    }
    read_until_closed(&mut stream).await
}

#[tokio::test]
async fn a_half_sent_head_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(Backend::Memory, "[server]\nheader_read_timeout = \"200ms\"").await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(!answer.contains("200 OK"), "{answer}");

    // A connection that never sends a byte is held no longer.
    let mut silent = connect(&app).await;
    read_until_closed(&mut silent).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = spawn_app_with(Backend::Memory, "[server]\nkeep_alive_timeout = \"200ms\"").await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
}

#[tokio::test]
async fn the_per_ip_cap_refuses_the_next_connection_until_one_closes() {
    let app = spawn_app_with(
        Backend::Memory,
        "[server]\nmax_connections_per_ip = 2\nheader_read_timeout = \"60s\"",
    )
    .await;
    let mut first = connect(&app).await;
    let _second = connect(&app).await;

    assert_eq!(request_and_close(&app).await, "", "a third connection");

    first.write_all(HEALTHZ_CLOSE).await.unwrap();
    let answer = read_until_closed(&mut first).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");

    // The server frees the place just after it closes the socket, so allow it a moment.
    let mut served = false;
    for _ in 0..100 {
        if request_and_close(&app).await.starts_with("HTTP/1.1 200 OK") {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        served,
        "a place freed by a closed connection is given again"
    );
}
