//! The Tessera authentication server.
//!
//! The server is the HTTP front end of [`tessera_engine`]: routing, extraction, cookies, CSRF,
//! rendering the engine's results and errors as JSON (API) or HTML (pages), configuration, the
//! CLI and telemetry. Handlers are thin: they parse input, call a use case of the engine, and
//! map the result to HTTP. See `docs/architecture.md`.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod extract;
pub mod forwarded;
#[doc(hidden)]
pub mod fuzzing;
pub mod openapi;
pub mod routes;
pub mod serve;
pub mod settings;
pub mod state;
pub mod telemetry;

pub use app::{Application, Options};
pub use config::Config;
