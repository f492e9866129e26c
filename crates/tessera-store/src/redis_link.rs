//! One lazily opened Redis connection shared by all callers, reopened after a failure, with
//! timeouts everywhere: a Redis that is down or hung must cost a request about a second at
//! most, then nothing while it stays down, because every Redis use in Tessera has a fallback.

use std::fmt;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, FromRedisValue, RedisError};
use tessera_core::StoreError;
use tokio::sync::Mutex;
use tokio::time::Instant;

pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failed connect, callers fail fast for this long instead of each waiting on a
/// connect of its own.
const RETRY_PAUSE: Duration = Duration::from_millis(250);

pub(crate) struct RedisLink {
    client: Client,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    conn: Option<(u64, MultiplexedConnection)>,
    generation: u64,
    retry_at: Option<Instant>,
}

impl RedisLink {
    /// Parses `redis://…` (or `rediss://…`, `redis+unix://…`) without connecting.
    pub(crate) fn new(url: &str) -> Result<Self, StoreError> {
        Ok(Self {
            client: Client::open(url).map_err(StoreError::unavailable)?,
            state: Mutex::new(State::default()),
        })
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) async fn cmd<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let (generation, mut conn) = self.connection().await?;
        let result = tokio::time::timeout(RESPONSE_TIMEOUT, cmd.query_async(&mut conn)).await;
        self.settle(generation, result).await
    }

    pub(crate) async fn pipe<T: FromRedisValue>(
        &self,
        pipe: &redis::Pipeline,
    ) -> Result<T, StoreError> {
        let (generation, mut conn) = self.connection().await?;
        let result = tokio::time::timeout(RESPONSE_TIMEOUT, pipe.query_async(&mut conn)).await;
        self.settle(generation, result).await
    }

    async fn connection(&self) -> Result<(u64, MultiplexedConnection), StoreError> {
        // Held across the connect so that concurrent callers share one attempt.
        let mut state = self.state.lock().await;
        if let Some((generation, conn)) = &state.conn {
            return Ok((*generation, conn.clone()));
        }
        if state.retry_at.is_some_and(|at| Instant::now() < at) {
            return Err(StoreError::unavailable(Unreachable));
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT);
        let connect = self
            .client
            .get_multiplexed_async_connection_with_config(&config);
        match tokio::time::timeout(CONNECT_TIMEOUT * 2, connect).await {
            Ok(Ok(conn)) => {
                state.generation += 1;
                state.retry_at = None;
                state.conn = Some((state.generation, conn.clone()));
                Ok((state.generation, conn))
            }
            Ok(Err(err)) => {
                state.retry_at = Some(Instant::now() + RETRY_PAUSE);
                Err(StoreError::unavailable(err))
            }
            Err(elapsed) => {
                state.retry_at = Some(Instant::now() + RETRY_PAUSE);
                Err(StoreError::unavailable(elapsed))
            }
        }
    }

    /// Maps the outcome, dropping the connection if the failure says it is unusable, so the
    /// next call reconnects. An error reply from a healthy server keeps it.
    async fn settle<T>(
        &self,
        generation: u64,
        result: Result<Result<T, RedisError>, tokio::time::error::Elapsed>,
    ) -> Result<T, StoreError> {
        let broken = match &result {
            Ok(Ok(_)) => false,
            Ok(Err(err)) => {
                err.is_io_error()
                    || err.is_timeout()
                    || err.is_connection_dropped()
                    || err.is_connection_refusal()
                    || err.is_unrecoverable_error()
            }
            Err(_) => true,
        };
        if broken {
            let mut state = self.state.lock().await;
            // Only the connection that failed: another caller may have replaced it already.
            if state.conn.as_ref().is_some_and(|(g, _)| *g == generation) {
                state.conn = None;
            }
        }
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(StoreError::unavailable(err)),
            Err(elapsed) => Err(StoreError::unavailable(elapsed)),
        }
    }
}

impl fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the client: its connection info holds the password.
        f.debug_struct("RedisLink").finish_non_exhaustive()
    }
}

/// Redis failed to connect a moment ago; this call did not try again.
#[derive(Debug)]
struct Unreachable;

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redis was unreachable a moment ago; not retrying yet")
    }
}

impl std::error::Error for Unreachable {}
