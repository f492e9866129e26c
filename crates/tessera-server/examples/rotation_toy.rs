//! The floor for refresh grants: an in-memory refresh-token rotation behind the same
//! `POST /v1/token` form interface, with no store, no session check and no signed access token.
//! A spent token stays known (reuse is refused), and of concurrent spenders exactly one wins,
//! under one mutex. `refresh_load` drives it exactly as it drives Tessera.
//!
//! `cargo run --release --example rotation_toy -- 127.0.0.1:8282`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;
use tessera_core::{SecretToken, TokenHash, TokenKind};

/// Token hash → spent?
type Tokens = Arc<Mutex<HashMap<TokenHash, bool>>>;

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: String,
    refresh_token: Option<String>,
}

async fn token(State(tokens): State<Tokens>, Form(req): Form<TokenRequest>) -> Response {
    let successor = SecretToken::generate(TokenKind::Refresh);
    let mut tokens_held = tokens.lock().expect("not poisoned");
    match req.grant_type.as_str() {
        "password" => {}
        "refresh_token" => {
            let presented = req
                .refresh_token
                .as_deref()
                .and_then(|t| SecretToken::parse(TokenKind::Refresh, t));
            let Some(presented) = presented else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            match tokens_held.get_mut(&presented.hash()) {
                Some(spent @ false) => *spent = true,
                _ => return StatusCode::BAD_REQUEST.into_response(),
            }
        }
        _ => return StatusCode::BAD_REQUEST.into_response(),
    }
    tokens_held.insert(successor.hash(), false);
    drop(tokens_held);
    Json(json!({
        "access_token": "toy",
        "token_type": "Bearer",
        "expires_in": 900,
        "refresh_token": successor.expose(),
    }))
    .into_response()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8282".into());
    let app = Router::new()
        .route("/v1/token", post(token))
        .with_state(Tokens::default());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
