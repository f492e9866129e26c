//! Building and running the server: open the store, bind, serve until told to stop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use tessera_core::password::PasswordHasher;
use tessera_core::store::Store;
use tessera_core::{Clock, SystemClock};
use tessera_store::FeedEvent;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

use crate::config::Config;
use crate::service::revocation;
use crate::service::tokens::{self, TokenService, TokenSetupError};
use crate::state::{AppState, Dependencies, ServerSecrets};

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
    #[error("cannot load signing keys: {0}")]
    Tokens(#[source] TokenSetupError),
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

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = self.local_addr();
        let (stop_tx, stop_rx) = watch::channel(false);
        let sweeper = tokio::spawn(sweep_loop(self.state.clone(), stop_rx.clone()));
        let maintainer = tokio::spawn(maintenance_loop(self.state.clone(), stop_rx.clone()));
        let follower = tokio::spawn(revocation::follow_feed(
            self.state.clone(),
            self.events,
            stop_rx,
        ));
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
            crate::serve::run(self.listener, app, &self.state.config.server, shutdown).await;
        let _ = stop_tx.send(true);
        let _ = sweeper.await;
        let _ = maintainer.await;
        let _ = follower.await;
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
    let feed = tessera_store::open_feed(
        store.clone(),
        &config.store.url,
        config.cache.url.as_deref(),
    )
    .await
    .map_err(StartError::Store)?;
    let events = feed.subscribe();
    let secrets = ServerSecrets::load(store.as_ref())
        .await
        .map_err(StartError::Store)?;
    let tokens = TokenService::load(&config, store.as_ref(), options.clock.as_ref())
        .await
        .map_err(StartError::Tokens)?;
    let deps = Dependencies {
        store,
        clock: options.clock,
        hasher: options.hasher,
        secrets,
        tokens,
        feed,
    };
    let state = AppState::new(config, deps).map_err(StartError::Store)?;
    Ok((state, events))
}

/// Deletes expired sessions, and revoked ones once no access token can still name them. The
/// delete is idempotent, so several instances sweeping the same store is harmless.
async fn sweep_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    let every =
        StdDuration::from_secs(state.config.session.sweep_interval.0.whole_seconds().max(1) as u64);
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let now = state.clock.now();
        let keep_revoked = state.config.token.access_ttl.0 + state.config.token.leeway.0;
        match state.store.sweep_sessions(now, now - keep_revoked).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(sessions = n, "swept expired sessions"),
            Err(err) => tracing::warn!(error = %err, "session sweep failed"),
        }
    }
}

/// How often the signing ring is rebuilt from the store (to pick up rotations made by another
/// instance or the CLI) and the revoked set is pruned.
const MAINTENANCE_EVERY: StdDuration = StdDuration::from_secs(30);

async fn maintenance_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(MAINTENANCE_EVERY) => {}
            _ = stop.changed() => return,
        }
        tokens::maintain(&state).await;
        // Belt and braces under the feed: Redis pub/sub is at-most-once.
        revocation::resync(&state).await;
    }
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
