//! `GET /v1/revocations`: the revocation stream (Server-Sent Events) and its polling form, for
//! resource servers that verify access tokens themselves. See `service::stream`.

use std::time::Duration as StdDuration;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Uri};
use std::convert::Infallible;

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt as _;
use serde_json::json;
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult};
use crate::extract::Caller;
use crate::openapi::{responses, schemas};
use crate::routes::token::basic_credentials;
use crate::state::AppState;
use tessera_engine::clients;
use tessera_engine::stream::{read_store, subscriber, Cursor};

/// The contract promises a comment line at least every 15 s; a margin below it keeps proxies
/// with a 15 s idle timeout happy too.
const KEEP_ALIVE: StdDuration = StdDuration::from_secs(10);

/// Revoked sessions whose access tokens may still be alive.
///
/// With `Accept: text/event-stream`, Server-Sent Events (`revoked`, `ready`, `keys`; resume
/// with `Last-Event-ID`); otherwise one JSON answer for clients that poll.
#[utoipa::path(get, path = "/v1/revocations", operation_id = "revocations", tag = "tokens",
    params(
        ("after" = Option<String>, Query, description = "A cursor from an earlier answer"),
        ("Last-Event-ID" = Option<String>, Header, description = "The last event id seen (event stream)"),
    ),
    security(("client_basic" = [])),
    responses(
        (status = 200, description = "The revocations", content(
            (schemas::RevocationList = "application/json"),
            (String = "text/event-stream"),
        )),
        (status = 400, description = "A malformed cursor", body = schemas::Error),
        responses::InvalidClient,
        responses::RateLimited,
        (status = 503, description = "Too many streams on this instance, or the store is down", body = schemas::Error),
    ))]
pub async fn revocations(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    uri: Uri,
) -> ApiResult<Response> {
    let (id, secret) = basic_credentials(&headers).ok_or(ApiError::InvalidClient)?;
    if clients::authenticate(&state, &id, &secret, &caller)
        .await?
        .is_none()
    {
        return Err(ApiError::InvalidClient);
    }
    let after = query_cursor(&uri)?;
    if wants_event_stream(&headers) {
        // An empty one is what some clients send before they have seen any id.
        let last_event_id = headers
            .get("last-event-id")
            .filter(|v| !v.as_bytes().trim_ascii().is_empty())
            .map(|v| {
                v.to_str()
                    .map_err(|_| ApiError::InvalidRequest("malformed cursor".into()))
                    .and_then(|v| Cursor::parse(v).map_err(ApiError::from))
            })
            .transpose()?;
        stream(state, last_event_id.or(after)).await
    } else {
        poll(&state, after).await
    }
}

/// Subscribes first, then reads the store, so a revocation made in between is in one or the
/// other (or both: repeats are allowed, skips are not).
async fn stream(state: AppState, resume: Option<Cursor>) -> ApiResult<Response> {
    let subscription = state.revocation_stream.subscribe()?;
    let now = state.clock.now();
    let backlog = read_store(&state, resume, now).await?;
    let events = subscriber::start(state.engine.clone(), subscription, backlog, now)
        .map(|event| Ok::<_, Infallible>(sse_event(event)));
    let mut response = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // Reverse proxies that buffer responses (nginx) would hold events back.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

async fn poll(state: &AppState, after: Option<Cursor>) -> ApiResult<Response> {
    let now = state.clock.now();
    let revoked = read_store(state, after, now).await?;
    // Everything up to now has been read; a revocation stamped later by a clock ahead of this
    // one moves the cursor to it.
    let through = revoked.iter().map(|r| r.at).fold(now, OffsetDateTime::max);
    let body = json!({
        "revoked": revoked.iter().map(|r| r.to_json(state)).collect::<Vec<_>>(),
        "cursor": Cursor::at_time(through).encode(),
    });
    Ok(Json(body).into_response())
}

/// The engine's event in Server-Sent Events framing.
fn sse_event(event: subscriber::Event) -> Event {
    let framed = Event::default().event(event.name).data(event.data);
    match event.id {
        Some(id) => framed.id(id),
        None => framed,
    }
}

fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/event-stream"))
        })
}

/// `?after=CURSOR`; other parameters are ignored.
fn query_cursor(uri: &Uri) -> ApiResult<Option<Cursor>> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "after")
        .map(|(_, value)| Cursor::parse(&value))
        .transpose()
        .map_err(ApiError::from)
}
