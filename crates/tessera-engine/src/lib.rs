//! Tessera's engine: every use case of the authentication server, free of HTTP.
//!
//! Accounts, sessions, tokens and grants, revocation (and the stream resource servers follow),
//! registered clients, signing-key maintenance, throttles, the password-hashing pool, the
//! session cache and the audit log live here. Use cases take an [`Engine`], transport-neutral
//! inputs (a [`Caller`], a presented credential, typed requests) and return domain results or
//! one [`EngineError`]. A front end — the HTTP server, the CLI, a test — decides how inputs
//! arrive and how results and errors are shown. `cargo tree -p tessera-engine -e normal` lists
//! no HTTP crate, and must not.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod authz;
pub mod caller;
pub mod clients;
pub mod credential;
mod engine;
pub mod error;
pub mod factors;
pub mod grants;
pub mod hashing;
pub mod key_file;
pub mod keys;
pub mod mail;
pub mod outage;
pub mod recovery;
pub mod revocation;
pub mod session_cache;
pub mod sessions;
pub mod settings;
pub mod stream;
pub mod tasks;
pub mod throttle;
pub mod tokens;
pub mod verification;

pub use audit::AuditKind;
pub use caller::Caller;
pub use credential::{AuthMethod, Channel, Principal};
pub use engine::{Dependencies, Engine, Health, ServerSecrets, StartError};
pub use error::{EngineError, EngineResult};
pub use settings::{
    AuthzSettings, EmailSettings, KeySettings, Limits, MfaSettings, Settings, VerificationMode,
    WebauthnSettings,
};
