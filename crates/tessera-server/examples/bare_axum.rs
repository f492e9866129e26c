//! The load-test baseline: the smallest axum server, answering "ok" on every path. Tessera's
//! HTTP figures are reported as a fraction of this one's, measured in the same run.
//!
//! `cargo run --release --example bare_axum -- 127.0.0.1:8181`

use axum::routing::get;
use axum::Router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8181".into());
    let app = Router::new().fallback(get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
