//! The accept loop: HTTP/1.1 connections under a connection cap and per-connection deadlines,
//! in place of `axum::serve`, which has neither.

mod admission;
mod timeouts;
mod unread_body;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

use crate::config::ServerConfig;
use admission::Admission;
use timeouts::{Activity, TrackedIo};
use unread_body::Leftover;

/// Descriptors kept free for everything but client connections: store and Redis pools, the
/// SQLite files, logs.
const FD_RESERVE: u64 = 256;

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for
/// open requests to finish. Handlers see the peer as `ConnectInfo<SocketAddr>`.
pub async fn run(
    listener: TcpListener,
    router: Router,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let max_total = connection_budget(config.max_connections);
    let admission = Admission::new(
        max_total,
        config.max_connections_per_ip,
        config.trusted_proxies.clone(),
    );
    let rules = Rules {
        header_read: to_std(config.header_read_timeout.0),
        keep_alive: to_std(config.keep_alive_timeout.0),
        body_limit: config.body_limit,
    };
    let graceful = GracefulShutdown::new();
    let mut backoff = AcceptBackoff::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff.reset();
                accepted
            }
            Err(err) if is_per_connection(&err) => continue,
            Err(err) => {
                // Typically EMFILE: retrying at once would spin; the cap should make it rare.
                let pause = backoff.next(&err);
                tokio::select! {
                    () = tokio::time::sleep(pause) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        let permit = match admission.admit(peer.ip()) {
            Ok(permit) => permit,
            Err(refused) => {
                // Closed at once: answering would hold the descriptor while the client reads.
                metrics::counter!("tessera_connections_refused_total", "reason" => refused.as_str())
                    .increment(1);
                drop(stream);
                continue;
            }
        };
        let activity = Activity::new(rules.header_read, rules.keep_alive);
        let connection = serve_connection(
            stream,
            peer,
            router.clone(),
            (activity.clone(), rules),
            graceful.watcher(),
        );
        tokio::spawn(async move {
            tokio::select! {
                result = connection => {
                    if let Err(err) = result {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
                }
                // Dropping the connection closes the socket.
                () = activity.expired() => tracing::debug!("connection timed out"),
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// What every connection is held to.
#[derive(Debug, Clone, Copy)]
struct Rules {
    header_read: Duration,
    keep_alive: Duration,
    /// Also how much of a body left unread by its handler is drained to keep the connection.
    body_limit: usize,
}

/// One HTTP/1.1 connection, closed gracefully (after its request in flight) on shutdown.
fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    (activity, rules): (Arc<Activity>, Rules),
    shutdown: Watcher,
) -> impl Future<Output = hyper::Result<()>> + Send {
    let io = TokioIo::new(TrackedIo::new(stream, activity.clone()));
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let request = activity.request();
        let leftover = Leftover::default();
        let req = req.map(|body| leftover.track(body));
        let response = router.clone().oneshot(req);
        async move {
            let response = response.await.unwrap_or_else(|never| match never {});
            // A client gets as long to send its announced body as to send a head.
            let response = leftover
                .settle(response, rules.body_limit, rules.header_read)
                .await;
            drop(request);
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = http1::Builder::new();
    // Our own deadlines in `timeouts` replace hyper's single head timer.
    builder.header_read_timeout(None);
    shutdown.watch(builder.serve_connection(io, service))
}

/// Raises the soft open-file limit to the hard one, and returns how many connections fit under
/// it next to the reserve, at most `configured`.
fn connection_budget(configured: usize) -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read or raise the open-file limit");
            return configured;
        }
    };
    let room = limit.saturating_sub(FD_RESERVE).max(limit / 2);
    if (configured as u64) <= room {
        return configured;
    }
    let room = room as usize;
    tracing::warn!(
        open_files = limit,
        "server.max_connections = {configured} does not fit under the open-file limit; \
         using {room}"
    );
    room
}

fn to_std(d: time::Duration) -> Duration {
    d.try_into().unwrap_or(Duration::ZERO)
}

/// Errors that concern one would-be connection only; the next accept is unaffected.
fn is_per_connection(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// Doubling pauses after failed accepts, 10 ms to 1 s; logged once per run of failures.
#[derive(Debug, Default)]
struct AcceptBackoff {
    pause: Option<Duration>,
}

impl AcceptBackoff {
    fn next(&mut self, err: &std::io::Error) -> Duration {
        let pause = match self.pause {
            None => {
                tracing::warn!(error = %err, "accept failed; pausing accepts");
                Duration::from_millis(10)
            }
            Some(pause) => (pause * 2).min(Duration::from_secs(1)),
        };
        self.pause = Some(pause);
        pause
    }

    fn reset(&mut self) {
        self.pause = None;
    }
}
