//! One Redis connection shared by all callers, with timeouts everywhere, and no caller ever
//! queued behind a reconnect: a Redis that is down or hung costs a request about a second at
//! most, then nothing while it stays down, because every Redis use in Tessera has a fallback.
//!
//! The link is in one of three states:
//! - **up**: calls share the connection; each waits at most [`RESPONSE_TIMEOUT`] for its reply.
//! - **down**, from the moment a connect fails or the connection breaks (an I/O error, a
//!   dropped connection, a reply later than [`RESPONSE_TIMEOUT`]) until a reconnect succeeds:
//!   calls fail at once, without any I/O, while one background task reconnects — at once, then
//!   after 100 ms doubling to [`RECONNECT_MAX`]. A connect only counts once Redis has answered a
//!   `PING` on it, since a hung server may still accept connections.
//! - **cold**, before the first connect: the first calls start the background task and wait for
//!   its first attempt, at most [`CONNECT_TIMEOUT`]; after that the link counts as down too.
//!
//! An error reply (a healthy server refusing one command) leaves the link up.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, FromRedisValue, RedisError};
use tessera_core::StoreError;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::feed::error_chain;

pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// A whole connect attempt: TCP (and TLS), the client's handshake, and the `PING`.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest pause between two reconnect attempts while Redis stays down.
const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// Cheap to clone: clones share the connection. The background reconnect stops when the last
/// clone is dropped.
#[derive(Clone)]
pub(crate) struct RedisLink {
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    state: Mutex<State>,
    /// Whether the link is up; every connect attempt's outcome is sent, changed or not, so
    /// that cold callers can wait for it.
    up: watch::Sender<bool>,
    stop: CancellationToken,
}

#[derive(Default)]
struct State {
    conn: Option<(u64, MultiplexedConnection)>,
    generation: u64,
    /// Why calls fail fast: set when a connect fails or the connection breaks, cleared by the
    /// next successful connect.
    down: Option<Arc<str>>,
    /// Whether the background reconnect task is running.
    reconnecting: bool,
}

impl RedisLink {
    /// Parses `redis://…` (or `rediss://…`, `redis+unix://…`) without connecting.
    pub(crate) fn new(url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            shared: Arc::new(Shared {
                client: Client::open(url).map_err(StoreError::unavailable)?,
                state: Mutex::new(State::default()),
                up: watch::channel(false).0,
                stop: CancellationToken::new(),
            }),
        })
    }

    pub(crate) fn client(&self) -> &Client {
        &self.shared.client
    }

    /// Whether the last connect succeeded and nothing has broken since.
    pub(crate) fn is_up(&self) -> bool {
        *self.shared.up.borrow()
    }

    /// Sees every change of [`is_up`](Self::is_up) (and every failed reconnect attempt).
    pub(crate) fn watch_up(&self) -> watch::Receiver<bool> {
        self.shared.up.subscribe()
    }

    pub(crate) async fn cmd<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let (generation, mut conn) = self.connection().await?;
        let result = tokio::time::timeout(RESPONSE_TIMEOUT, cmd.query_async(&mut conn)).await;
        self.settle(generation, result)
    }

    pub(crate) async fn pipe<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let (generation, mut conn) = self.connection().await?;
        let result = tokio::time::timeout(RESPONSE_TIMEOUT, pipe.query_async(&mut conn)).await;
        self.settle(generation, result)
    }

    async fn connection(&self) -> Result<(u64, MultiplexedConnection), StoreError> {
        let mut settled = {
            let mut state = self.shared.lock();
            if let Some((generation, conn)) = &state.conn {
                return Ok((*generation, conn.clone()));
            }
            if let Some(reason) = &state.down {
                return Err(StoreError::unavailable(Down(Arc::clone(reason))));
            }
            // Cold. Subscribed under the lock, so the attempt's outcome cannot slip past.
            let settled = self.shared.up.subscribe();
            Shared::start_reconnecting(&self.shared, &mut state);
            settled
        };
        // The first calls wait for the first attempt, no longer than a connect may take.
        let _ = tokio::time::timeout(CONNECT_TIMEOUT, settled.changed()).await;
        let mut state = self.shared.lock();
        if let Some((generation, conn)) = &state.conn {
            return Ok((*generation, conn.clone()));
        }
        // Still trying (the task carries on): from now on, calls fail fast until it succeeds.
        let reason = state
            .down
            .get_or_insert_with(|| Arc::from("no connection within the connect timeout"));
        Err(StoreError::unavailable(Down(Arc::clone(reason))))
    }

    /// Maps the outcome, marking the link down if the failure says the connection is unusable.
    fn settle<T>(
        &self,
        generation: u64,
        result: Result<Result<T, RedisError>, tokio::time::error::Elapsed>,
    ) -> Result<T, StoreError> {
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                if err.is_io_error()
                    || err.is_timeout()
                    || err.is_connection_dropped()
                    || err.is_connection_refusal()
                    || err.is_unrecoverable_error()
                {
                    Shared::mark_down(&self.shared, generation, &error_chain(&err));
                }
                Err(StoreError::unavailable(err))
            }
            Err(elapsed) => {
                let reason = format!("no reply within {RESPONSE_TIMEOUT:?}");
                Shared::mark_down(&self.shared, generation, &reason);
                Err(StoreError::unavailable(elapsed))
            }
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn start_reconnecting(this: &Arc<Self>, state: &mut State) {
        if !state.reconnecting {
            state.reconnecting = true;
            tokio::spawn(reconnect(
                Arc::downgrade(this),
                this.client.clone(),
                this.stop.clone(),
            ));
        }
    }

    /// Drops connection `generation` and starts reconnecting, unless another caller has
    /// already replaced it.
    fn mark_down(this: &Arc<Self>, generation: u64, reason: &str) {
        let mut state = this.lock();
        if state.conn.as_ref().is_some_and(|(g, _)| *g == generation) {
            tracing::debug!(%reason, "redis connection unusable; failing fast until it is back");
            state.conn = None;
            state.down = Some(Arc::from(reason));
            this.up.send_replace(false);
            Self::start_reconnecting(this, &mut state);
        }
    }

    /// Records a connect attempt's outcome; true when the link is up again.
    fn connected(&self, attempt: Result<MultiplexedConnection, String>) -> bool {
        let mut state = self.lock();
        let up = match attempt {
            Ok(conn) => {
                state.generation += 1;
                state.conn = Some((state.generation, conn));
                state.down = None;
                state.reconnecting = false;
                true
            }
            Err(reason) => {
                state.down = Some(Arc::from(reason));
                false
            }
        };
        self.up.send_replace(up);
        up
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The background task: connects until it succeeds, then ends (the next failure starts
/// another). Holds the link only between attempts' outcomes, so dropping it stops the task.
async fn reconnect(shared: Weak<Shared>, client: Client, stop: CancellationToken) {
    let mut backoff = Backoff::with_max(RECONNECT_MAX);
    loop {
        let attempt = tokio::select! {
            () = stop.cancelled() => return,
            attempt = connect(&client) => attempt,
        };
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.connected(attempt) {
            return;
        }
        drop(shared);
        if !backoff.wait(&stop).await {
            return;
        }
    }
}

async fn connect(client: &Client) -> Result<MultiplexedConnection, String> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(RESPONSE_TIMEOUT);
    let attempt = async {
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("PING")
            .query_async::<redis::Value>(&mut conn)
            .await?;
        Ok::<_, RedisError>(conn)
    };
    match tokio::time::timeout(ATTEMPT_TIMEOUT, attempt).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(err)) => Err(error_chain(&err)),
        Err(_) => Err(format!("no connection within {ATTEMPT_TIMEOUT:?}")),
    }
}

impl fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the client: its connection info holds the password.
        f.debug_struct("RedisLink")
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

/// The link is down; this call did not try Redis.
#[derive(Debug)]
struct Down(Arc<str>);

impl fmt::Display for Down {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "redis is unavailable ({}); failing fast until a background reconnect succeeds",
            self.0
        )
    }
}

impl std::error::Error for Down {}
