//! What every handler is handed: the engine, and what only the HTTP front end needs.

use std::sync::Arc;

use tessera_engine::Engine;

use crate::config::Config;
use crate::cookies::CookieNames;

/// The HTTP side of the state: the configuration, cookie names and the public origin.
#[derive(Debug)]
pub struct Web {
    pub config: Config,
    pub cookies: CookieNames,
    /// `scheme://host[:port]` of `server.public_url`, for the same-origin checks.
    pub public_origin: String,
}

impl Web {
    pub fn new(config: Config) -> Self {
        let cookies = CookieNames::new(config.cookie_secure());
        let public_origin = config.public_origin();
        Self {
            config,
            cookies,
            public_origin,
        }
    }
}

/// Cheap to clone; handed to every handler. Dereferences to the [`Engine`], so a handler passes
/// `&state` to a use case.
#[derive(Debug, Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub web: Arc<Web>,
}

impl AppState {
    pub fn new(engine: Arc<Engine>, config: Config) -> Self {
        Self {
            engine,
            web: Arc::new(Web::new(config)),
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Engine;
    fn deref(&self) -> &Engine {
        &self.engine
    }
}
