//! One stream subscriber: a task that writes the backlog, `ready`, then what the hub announces,
//! into a small channel the HTTP response reads from.
//!
//! The task, not the response, holds the subscriber's slot, so a client that stops reading
//! loses its slot after [`SEND_TIMEOUT`] instead of keeping it while its buffers stay full; and
//! nothing is buffered beyond [`CHANNEL_CAPACITY`] events. A dropped client reconnects with its
//! cursor and loses nothing.

use std::time::Duration as StdDuration;

use futures_util::Stream;
use time::OffsetDateTime;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::{read_store, Cursor, HubEvent, Revocation, Subscription};
use crate::Engine;

/// One event of the stream, for the transport to frame (Server-Sent Events: `event:`, `id:`,
/// `data:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event type: `revoked`, `ready` or `keys`.
    pub name: &'static str,
    /// The cursor a client resumes from, for events that carry one.
    pub id: Option<String>,
    /// JSON.
    pub data: String,
}

impl Event {
    fn new(name: &'static str, id: Option<String>, data: String) -> Self {
        Self { name, id, data }
    }
}

/// Events written but not yet sent to the client.
const CHANNEL_CAPACITY: usize = 64;
/// A client that cannot take one more event for this long is dropped.
pub const SEND_TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// Why a stream ended (a label of `tessera_revocation_streams_ended_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client went away.
    Gone,
    /// The client did not read for [`SEND_TIMEOUT`].
    Slow,
    /// The client fell further behind than the hub keeps.
    Lagged,
    /// The store could not be read after a possible loss; the client resumes by cursor.
    StoreFailed,
    /// The server is stopping.
    Shutdown,
}

impl End {
    fn as_str(self) -> &'static str {
        match self {
            Self::Gone => "gone",
            Self::Slow => "slow",
            Self::Lagged => "lagged",
            Self::StoreFailed => "store_failed",
            Self::Shutdown => "shutdown",
        }
    }
}

/// Starts the subscriber's task and returns the response body's event stream. `backlog` is what
/// the store held at `read_at`, read after `subscription` was taken, so nothing falls between.
pub fn start(
    engine: std::sync::Arc<Engine>,
    subscription: Subscription,
    backlog: Vec<Revocation>,
    read_at: OffsetDateTime,
) -> impl Stream<Item = Event> {
    let (tx, mut rx) = mpsc::channel(CHANNEL_CAPACITY);
    tokio::spawn(async move {
        metrics::gauge!("tessera_revocation_subscribers").increment(1);
        let end = run(&engine, subscription, backlog, read_at, tx).await;
        metrics::gauge!("tessera_revocation_subscribers").decrement(1);
        metrics::counter!("tessera_revocation_streams_ended_total", "reason" => end.as_str())
            .increment(1);
        tracing::debug!(reason = end.as_str(), "revocation stream ended");
    });
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn run(
    engine: &Engine,
    subscription: Subscription,
    backlog: Vec<Revocation>,
    read_at: OffsetDateTime,
    tx: mpsc::Sender<Event>,
) -> End {
    let Subscription {
        mut events,
        closing,
        ..
    } = subscription;
    let out = Out { tx, closing };
    if let Err(end) = send_all(engine, &out, backlog).await {
        return end;
    }
    if let Err(end) = out.send(ready_event(read_at)).await {
        return end;
    }
    // The last time this subscriber's view matched the store.
    let mut synced_at = read_at;
    loop {
        let received = tokio::select! {
            biased;
            () = out.closing.cancelled() => return End::Shutdown,
            () = out.tx.closed() => return End::Gone,
            received = events.recv() => received,
        };
        let result = match next_step(received) {
            Step::Send(HubEvent::Revoked { session, at }) => {
                out.send(revoked_event(engine, Revocation { session, at }))
                    .await
            }
            Step::Send(HubEvent::Keys(kids)) => out.send(keys_event(&kids)).await,
            Step::Send(HubEvent::Resync) => {
                let now = engine.clock.now();
                match read_store(engine, Some(Cursor::at_time(synced_at)), now).await {
                    Ok(revoked) => {
                        synced_at = now;
                        send_all(engine, &out, revoked).await
                    }
                    Err(_) => Err(End::StoreFailed),
                }
            }
            Step::End(end) => Err(end),
        };
        if let Err(end) = result {
            return end;
        }
    }
}

enum Step {
    Send(HubEvent),
    End(End),
}

/// A receiver that lagged has lost events: rather than buffer more for a subscriber that is
/// already behind, end its stream; it resumes by cursor from the store.
fn next_step(received: Result<HubEvent, broadcast::error::RecvError>) -> Step {
    match received {
        Ok(event) => Step::Send(event),
        Err(broadcast::error::RecvError::Lagged(_)) => Step::End(End::Lagged),
        Err(broadcast::error::RecvError::Closed) => Step::End(End::Shutdown),
    }
}

async fn send_all(engine: &Engine, out: &Out, revoked: Vec<Revocation>) -> Result<(), End> {
    for revocation in revoked {
        out.send(revoked_event(engine, revocation)).await?;
    }
    Ok(())
}

/// The subscriber's end of the channel.
struct Out {
    tx: mpsc::Sender<Event>,
    closing: CancellationToken,
}

impl Out {
    async fn send(&self, event: Event) -> Result<(), End> {
        tokio::select! {
            biased;
            () = self.closing.cancelled() => Err(End::Shutdown),
            sent = tokio::time::timeout(SEND_TIMEOUT, self.tx.send(event)) => match sent {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(End::Gone),
                Err(_) => Err(End::Slow),
            },
        }
    }
}

fn revoked_event(engine: &Engine, revocation: Revocation) -> Event {
    Event::new(
        "revoked",
        Some(revocation.cursor().encode()),
        revocation.to_json(engine).to_string(),
    )
}

/// `ready` carries a cursor too: a client that reconnects after it resumes from the moment the
/// backlog was read instead of receiving the whole backlog again. Its data is `{}` because
/// EventSource does not dispatch an event whose data is empty.
fn ready_event(read_at: OffsetDateTime) -> Event {
    Event::new(
        "ready",
        Some(Cursor::at_time(read_at).encode()),
        "{}".to_owned(),
    )
}

fn keys_event(kids: &[String]) -> Event {
    Event::new(
        "keys",
        None,
        serde_json::json!({ "kids": kids }).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(capacity: usize) -> (Out, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(capacity);
        (
            Out {
                tx,
                closing: CancellationToken::new(),
            },
            rx,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_stops_reading_is_dropped_not_buffered() {
        let (out, _unread) = out(1);
        assert_eq!(out.send(Event::new("t", None, "1".into())).await, Ok(()));
        // Paused time jumps to the timeout as soon as nothing else can run.
        assert_eq!(
            out.send(Event::new("t", None, "2".into())).await,
            Err(End::Slow)
        );
    }

    #[tokio::test]
    async fn a_client_that_left_ends_the_stream() {
        let (out, rx) = out(1);
        drop(rx);
        assert_eq!(
            out.send(Event::new("t", None, "1".into())).await,
            Err(End::Gone)
        );
    }

    #[tokio::test]
    async fn shutdown_ends_a_stream_waiting_on_a_full_channel() {
        let (out, _unread) = out(1);
        out.send(Event::new("t", None, "1".into())).await.unwrap();
        out.closing.cancel();
        assert_eq!(
            out.send(Event::new("t", None, "2".into())).await,
            Err(End::Shutdown)
        );
    }

    #[test]
    fn a_lagging_receiver_ends_the_stream() {
        assert!(matches!(
            next_step(Err(broadcast::error::RecvError::Lagged(3))),
            Step::End(End::Lagged)
        ));
        assert!(matches!(
            next_step(Ok(HubEvent::Resync)),
            Step::Send(HubEvent::Resync)
        ));
    }
}
