//! The load-test floor: the smallest axum server, answering `GET /me` (and every other path)
//! with `{"ok":true}`. Tessera's HTTP figures are reported as a fraction of this one's, measured
//! in the same run (`scripts/bench-floor.sh`, `scripts/load.sh`).
//!
//! `cargo run --release --example bare_axum -- 127.0.0.1:8181`

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

async fn me() -> Json<Value> {
    Json(json!({ "ok": true }))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8181".into());
    let app = Router::new().route("/me", get(me)).fallback(get(me));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
