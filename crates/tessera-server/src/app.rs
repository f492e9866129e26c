//! Building and running the server: open the store, bind, serve until told to stop.

use std::net::SocketAddr;
use std::sync::Arc;

use tessera_core::password::PasswordHasher;
use tessera_core::store::Store;
use tessera_core::{Clock, SystemClock};
use tessera_engine::tasks::Background;
use tessera_engine::{Dependencies, Engine};
use tessera_store::FeedEvent;
use tokio::net::TcpListener;
use tokio::sync::broadcast;

use crate::config::Config;
use crate::state::AppState;

/// A bound, not yet running server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    state: AppState,
    events: broadcast::Receiver<FeedEvent>,
}

/// What to run with besides the configuration; tests swap the clock and the hashing cost.
#[derive(Debug, Clone)]
pub struct Options {
    pub clock: Arc<dyn Clock>,
    pub hasher: PasswordHasher,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            hasher: PasswordHasher::recommended(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the store: {0}")]
    Store(#[source] tessera_core::StoreError),
    #[error(transparent)]
    Engine(#[from] tessera_engine::StartError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl Application {
    pub async fn build(config: Config, options: Options) -> Result<Self, StartError> {
        let store = tessera_store::open(&config.store.url, true)
            .await
            .map_err(StartError::Store)?;
        Self::with_store(config, store, options).await
    }

    pub async fn with_store(
        config: Config,
        store: Arc<dyn Store>,
        options: Options,
    ) -> Result<Self, StartError> {
        // Install the recorder before the first request so no early count is lost.
        crate::telemetry::prometheus();
        if config.cookies_insecure_over_https() {
            tracing::warn!(
                "server.public_url is https but cookie.secure = false: session cookies will also \
                 be sent over plain http, where a network attacker can read them"
            );
        }
        let addr = config.server.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let (state, events) = build_state_subscribed(config, store, options).await?;
        Ok(Self {
            listener,
            state,
            events,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish and stops the
    /// engine's background tasks.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = self.local_addr();
        let background = Background::start(&self.state.engine, self.events);
        let app = crate::routes::router(self.state.clone());
        tracing::info!(backend = self.state.store.backend(), "listening on {addr}");
        // Revocation streams never end on their own, and graceful shutdown waits for every
        // open response: end them as the shutdown begins.
        let state = self.state.clone();
        let shutdown = async move {
            shutdown.await;
            state.revocation_stream.close();
        };
        let result =
            crate::serve::run(self.listener, app, &self.state.web.config.server, shutdown).await;
        background.shutdown().await;
        tracing::info!("server stopped");
        result
    }
}

/// Everything a server or a one-shot command needs, loaded from the store: shared secrets,
/// signing keys (created on first start) and the recently revoked sessions.
pub async fn build_state(
    config: Config,
    store: Arc<dyn Store>,
    options: Options,
) -> Result<AppState, StartError> {
    let (state, _events) = build_state_subscribed(config, store, options).await?;
    Ok(state)
}

/// As [`build_state`], also returning a subscription to the revocation feed taken *before* the
/// revoked set was loaded from the store, so no revocation falls between the two.
pub async fn build_state_subscribed(
    config: Config,
    store: Arc<dyn Store>,
    options: Options,
) -> Result<(AppState, broadcast::Receiver<FeedEvent>), StartError> {
    let deps = Dependencies {
        store,
        clock: options.clock,
        hasher: options.hasher,
    };
    let (engine, events) = Engine::start(config.engine_settings(), deps).await?;
    Ok((AppState::new(Arc::new(engine), config), events))
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
