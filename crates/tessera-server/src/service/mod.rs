//! Service functions: what handlers call. They take the state (stores, clock, caches), apply
//! the rules from `tessera-core`, and return domain results that handlers map to HTTP.

pub mod accounts;
pub mod clients;
pub mod key_file;
pub mod revocation;
pub mod sessions;
pub mod stream;
pub mod tokens;
