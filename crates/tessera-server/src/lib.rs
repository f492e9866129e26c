//! The Tessera authentication server.
//!
//! Handlers are thin: they parse input, call a function in [`service`] that applies the rules of
//! `tessera-core`, and map the result to HTTP. See `docs/architecture.md`.

pub mod app;
pub mod auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod extract;
pub mod forwarded;
pub mod hashing;
pub mod routes;
pub mod serve;
pub mod service;
pub mod shared_sessions;
pub mod state;
pub mod telemetry;
pub mod throttle;

pub use app::{Application, Options};
pub use config::Config;
