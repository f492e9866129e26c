//! A service guarded by tessera-guard, against a local Tessera:
//!
//! ```sh
//! cargo run -- serve                                   # terminal 1: Tessera on :8080
//! cargo run -p tessera-guard --example guarded         # terminal 2: this service on :3000
//! ```
//!
//! Then `curl localhost:3000/me -H "authorization: Bearer <access token or tss_ token>"`.
//! With a registered client (`cargo run -- clients add demo-api`) in `TESSERA_CLIENT_ID` and
//! `TESSERA_CLIENT_SECRET`, the guard follows the revocation stream and refuses a logged-out
//! JWT within milliseconds without asking Tessera; without one it asks Tessera (`/v1/check`)
//! about every token, as the default cut-off policy says.
//!
//! `TESSERA_ISSUER` (default `http://localhost:8080`) and `GUARDED_LISTEN` (default
//! `127.0.0.1:3000`) change where things are.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tessera_guard::{Guard, GuardConfig, GuardLayer, Principal};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tessera_guard=debug".into()),
        )
        .init();
    let issuer = env("TESSERA_ISSUER").unwrap_or_else(|| "http://localhost:8080".into());
    let mut cfg = GuardConfig::new(issuer);
    if let (Some(id), Some(secret)) = (env("TESSERA_CLIENT_ID"), env("TESSERA_CLIENT_SECRET")) {
        cfg = cfg.client(id, secret);
    } else {
        tracing::warn!(
            "TESSERA_CLIENT_ID/TESSERA_CLIENT_SECRET unset: every token is checked with Tessera"
        );
    }
    let guard = Guard::start(cfg).await?;
    if guard.wait_in_sync(std::time::Duration::from_secs(5)).await {
        tracing::info!("following Tessera's revocation stream");
    }

    let app = Router::new()
        .route("/me", get(me))
        .layer(GuardLayer::new(guard))
        // Added after the layer, so not guarded.
        .route("/health", get(|| async { "ok" }));
    let listen = env("GUARDED_LISTEN").unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!("guarded service on http://{listen}/me");
    axum::serve(listener, app).await?;
    Ok(())
}

/// Who is calling, as the guard verified it.
async fn me(principal: Principal) -> Json<Value> {
    Json(json!({
        "user": principal.user.to_string(),
        "session": principal.session.to_string(),
        "client_id": principal.client_id,
        "scope": principal.scope,
        "expires_at": principal.expires_at.unix_timestamp(),
        "method": format!("{:?}", principal.method),
    }))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
