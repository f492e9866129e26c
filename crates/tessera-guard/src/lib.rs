//! tessera-guard: verify Tessera credentials inside a resource server.
//!
//! - Access tokens (JWTs) are verified in process by tessera-token's [`tessera_token::Verifier`]
//!   — the server's own code, not a copy — with keys from the server's JWKS (discovered through
//!   RFC 8414 metadata, cached for its `max-age`, refetched on an unknown `kid` at most once per
//!   interval and whenever the server announces new keys).
//! - Revocations arrive over the server's revocation stream (`GET /v1/revocations`), so a token
//!   dies with its session here too, not only at `exp`. When the stream has been lost for longer
//!   than a bound, a [`CutoffPolicy`] decides; the default asks the server.
//! - Opaque credentials (`tss_` tokens, the session cookie) are checked with `GET /v1/check`
//!   and cached briefly; the stream ends a cached answer early.
//! - [`GuardLayer`] (tower) and, with the `axum` feature, [`Principal`] as an axum extractor.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use tessera_guard::{Guard, GuardConfig, GuardLayer, Principal};
//! let guard = Guard::start(GuardConfig::new("http://localhost:8080").client("id", "secret")).await?;
//! let app: axum::Router = axum::Router::new()
//!     .route("/me", axum::routing::get(|p: Principal| async move { p.user.to_string() }))
//!     .layer(GuardLayer::new(guard));
//! # let _ = app; Ok(()) }
//! ```
//!
//! docs/guard.md describes the guard and the stream protocol for implementations in other
//! languages.

mod check_cache;
mod config;
mod credential;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod guard;
mod layer;
mod principal;
mod server;
pub mod sse;
mod stream;

pub use config::{CutoffPolicy, GuardConfig};
pub use credential::Credential;
pub use error::{GuardError, StartError};
pub use guard::Guard;
pub use layer::{GuardLayer, GuardService};
pub use principal::{AuthMethod, Principal};
