//! Real reverse proxies in front of a real upstream, with Tessera as their forward-auth check.
//! The proxies' configurations are read from docs/integrations/, so what the docs show is what
//! is tested. A missing proxy binary skips its test with a message, except under `CI`, where it
//! fails (`.ci/run` installs the proxies).

#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../api/helpers/mod.rs"]
mod helpers;

mod caddy;
mod nginx;
mod support;
