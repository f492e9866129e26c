//! Following `GET /v1/revocations`: the task that keeps the revoked-session set, and the
//! bookkeeping of whether that set can be trusted (see [`SyncState`]).
//!
//! The task connects to one instance, reads the backlog and `ready`, then every revocation as it
//! happens. When the connection ends for any reason it waits (exponential backoff, reset after a
//! `ready`), moves to the next instance, and resumes with `Last-Event-ID` set to the last cursor
//! it saw, so nothing revoked meanwhile is missed: the server replays from the cursor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use http::{header, StatusCode};
use serde::Deserialize;
use tessera_core::SessionId;
use time::OffsetDateTime;

use crate::guard::Inner;
use crate::sse::{SseEvent, SseParser};

/// The server sends a comment at least every 15 s; silence for this long means the connection
/// is dead even if TCP has not noticed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(45);

/// Whether the revoked-session set is complete, and if not since when.
#[derive(Debug)]
pub struct SyncState {
    in_sync: AtomicBool,
    /// When the set stopped being complete; `None` while it never was (since start).
    lost_at: Mutex<Option<Instant>>,
}

impl SyncState {
    pub fn new() -> Self {
        Self {
            in_sync: AtomicBool::new(false),
            lost_at: Mutex::new(None),
        }
    }

    pub fn is_in_sync(&self) -> bool {
        self.in_sync.load(Ordering::Acquire)
    }

    /// Whether the set has been incomplete for longer than `bound` (always, before the first
    /// `ready`: revocations from before the start are unknown).
    pub fn cut_off_longer_than(&self, bound: Duration) -> bool {
        if self.is_in_sync() {
            return false;
        }
        self.lost_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none_or(|at| at.elapsed() > bound)
    }

    fn synced(&self) {
        self.in_sync.store(true, Ordering::Release);
    }

    fn lost(&self) {
        if self.in_sync.swap(false, Ordering::AcqRel) {
            *self.lost_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        }
    }
}

#[derive(Deserialize)]
struct Revoked {
    sid: SessionId,
    #[serde(with = "time::serde::rfc3339")]
    until: OffsetDateTime,
}

/// Runs for the guard's lifetime.
pub async fn follow(inner: Arc<Inner>) {
    let cfg = &inner.cfg;
    let (Some(id), Some(secret)) = (cfg.client_id.clone(), cfg.client_secret.clone()) else {
        tracing::warn!("no client credentials: revocations are not followed");
        return;
    };
    let bases = inner.server.bases().to_vec();
    let mut cursor: Option<String> = None;
    let mut backoff = cfg.reconnect_min;
    let mut index = 0;
    loop {
        let base = &bases[index % bases.len()];
        let result = connect(&inner, base, &id, &secret, &mut cursor).await;
        inner.sync.lost();
        match result {
            Ok(true) => backoff = cfg.reconnect_min,
            Ok(false) => {}
            Err(reason) => tracing::warn!(base, reason, "revocation stream lost"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(cfg.reconnect_max);
        index += 1;
    }
}

/// One connection. `Ok(true)` when it reached `ready` before ending.
async fn connect(
    inner: &Inner,
    base: &str,
    id: &str,
    secret: &str,
    cursor: &mut Option<String>,
) -> Result<bool, String> {
    let mut request = inner
        .server
        .http
        .get(format!("{base}/v1/revocations"))
        .basic_auth(id, Some(secret))
        .header(header::ACCEPT, "text/event-stream")
        // The client-wide timeout would cut the stream, which is meant to stay open.
        .timeout(Duration::from_secs(u64::from(u32::MAX)));
    if let Some(cursor) = cursor.as_deref() {
        request = request.header("last-event-id", cursor);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    match response.status() {
        StatusCode::OK => {}
        StatusCode::UNAUTHORIZED => {
            tracing::error!(base, "the revocation stream refused the client credentials");
            return Err("401".into());
        }
        status => return Err(status.to_string()),
    }
    let mut body = response.bytes_stream();
    let mut parser = SseParser::default();
    let mut ready = false;
    loop {
        let chunk = match tokio::time::timeout(IDLE_TIMEOUT, body.next()).await {
            Err(_) => return Err("silent for too long".into()),
            Ok(None) => return Ok(ready),
            Ok(Some(Err(e))) => return Err(e.to_string()),
            Ok(Some(Ok(chunk))) => chunk,
        };
        for event in parser.feed(&chunk).map_err(|e| e.to_string())? {
            ready |= apply(inner, event, cursor)?;
        }
    }
}

/// Applies one event; true for `ready`. A revocation that cannot be read ends the connection
/// before the cursor moves past it, so the reconnect asks for it again rather than skip it.
fn apply(inner: &Inner, event: SseEvent, cursor: &mut Option<String>) -> Result<bool, String> {
    match event.event.as_str() {
        "revoked" => {
            let revoked: Revoked = serde_json::from_str(&event.data)
                .map_err(|e| format!("unreadable revocation event: {e}"))?;
            inner
                .verifier
                .revoked()
                .insert_until(revoked.sid, revoked.until);
        }
        "ready" => inner.sync.synced(),
        "keys" => inner.keys_changed.notify_one(),
        _ => {}
    }
    if let Some(id) = event.id {
        *cursor = Some(id);
    }
    Ok(event.event == "ready")
}
