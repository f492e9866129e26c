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

/// RFC 9112 §9.6: a server that answers before reading the body must either read it or say
/// `Connection: close`; closing silently makes a proxy's pooled connection fail its next request.
#[tokio::test]
async fn an_answer_sent_before_the_body_arrived_keeps_the_connection_usable() {
    let app = spawn_app_with(Backend::Memory, "").await;
    for head in [
        "POST /nowhere HTTP/1.1\r\nContent-Type: application/json\r\n",
        "PUT /healthz HTTP/1.1\r\nContent-Type: application/json\r\n",
        "POST /v1/users HTTP/1.1\r\nContent-Type: text/plain\r\n",
        "GET /login HTTP/1.1\r\nContent-Type: text/plain\r\n",
    ] {
        let mut stream = connect(&app).await;
        let head = format!("{head}Host: test\r\nContent-Length: 1500\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        // Let the server answer before the body is there, as a slow client or proxy would.
        tokio::time::sleep(Duration::from_millis(50)).await;
        stream.write_all(&[b'x'; 1500]).await.unwrap();
        // The server may already have closed; the answer below says what it did.
        let _ = stream.write_all(HEALTHZ_CLOSE).await;
        let answer = read_until_closed(&mut stream).await;
        let first = answer.split("\r\n\r\n").next().unwrap_or_default();
        let answered_twice = answer.matches("HTTP/1.1 ").count() == 2;
        let said_close = first.to_ascii_lowercase().contains("connection: close");
        assert!(answered_twice || said_close, "{head}: {answer}");
        assert!(
            answered_twice,
            "a small unread body is drained: {head}: {answer}"
        );
    }
}

/// A body too large to be worth reading is not waited for: the answer says the connection ends.
#[tokio::test]
async fn an_answer_before_a_large_body_says_connection_close() {
    let app = spawn_app_with(Backend::Memory, "").await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"POST /nowhere HTTP/1.1\r\nHost: test\r\nContent-Length: 10000000\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("connection: close\r\n"),
        "{answer}"
    );
}
