//! `GET /v1/revocations`: the revocation stream (SSE) and its polling form.
//!
//! Waits on the stream fail after a generous timeout instead of hanging; nothing asserts how
//! fast an event came. The test clock moves revocations apart by more than the resume overlap,
//! so "only later ones" can be checked exactly.

use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use tessera_core::{Clock as _, SessionId};
use tessera_engine::revocation;
use tessera_engine::stream::RESUME_OVERLAP;

use crate::helpers::{spawn_app, spawn_app_with, Auth, Backend, TestApp};
use crate::on_every_backend;

on_every_backend!(
    revocations_need_a_registered_client,
    polling_lists_live_revocations_and_after_filters,
    stream_sends_the_backlog_then_ready_then_new_revocations,
    resuming_with_last_event_id_skips_nothing_before_it_and_repeats_nothing_older,
    stream_announces_signing_key_changes,
    revocations_the_feed_never_delivered_reach_the_stream,
    subscribers_beyond_the_cap_get_503,
);

/// How long a wait for an event may take before the test fails rather than hangs.
pub const STREAM_PATIENCE: Duration = Duration::from_secs(20);

/// A registered client's id and secret.
pub async fn registered_client(app: &TestApp) -> (String, String) {
    let (client, secret) = tessera_engine::clients::create(&app.state, "api", None)
        .await
        .unwrap();
    (client.id.to_string(), secret.expose().to_owned())
}

/// Opens the stream on `app` as `client`, resuming after `last_event_id` when given.
pub async fn open_stream(
    app: &TestApp,
    client: &(String, String),
    last_event_id: Option<&str>,
) -> Response {
    app.revocation_stream(basic(client), last_event_id).await
}

/// One SSE event as a client sees it.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{self:?}: {e}"))
    }

    pub fn sid(&self) -> String {
        self.json()["sid"].as_str().unwrap().to_owned()
    }
}

/// Reads an SSE body incrementally (comment-only blocks, the keep-alives, are skipped).
pub struct SseReader {
    response: Response,
    buffer: String,
}

impl SseReader {
    pub fn new(response: Response) -> Self {
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()[CONTENT_TYPE].to_str().unwrap();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event; panics after [`STREAM_PATIENCE`] or when the stream ends.
    pub async fn next(&mut self) -> SseEvent {
        tokio::time::timeout(STREAM_PATIENCE, self.next_or_end())
            .await
            .expect("an event within the patience")
            .expect("the stream is still open")
    }

    /// The next event, or `None` when the server ended the stream.
    pub async fn next_or_end(&mut self) -> Option<SseEvent> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse_block(&block) {
                    return Some(event);
                }
            }
            let chunk = self.response.chunk().await.ok()??;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Events up to and including `ready`.
    pub async fn until_ready(&mut self) -> (Vec<SseEvent>, SseEvent) {
        let mut before = Vec::new();
        loop {
            let event = self.next().await;
            if event.event == "ready" {
                return (before, event);
            }
            before.push(event);
        }
    }

    /// The next `revoked` event, skipping any other kind.
    pub async fn next_revoked(&mut self) -> SseEvent {
        loop {
            let event = self.next().await;
            if event.event == "revoked" {
                return event;
            }
        }
    }
}

fn parse_block(block: &str) -> Option<SseEvent> {
    let mut event = SseEvent {
        event: "message".into(),
        ..SseEvent::default()
    };
    let mut data = Vec::new();
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "" => {}
            "event" => value.clone_into(&mut event.event),
            "id" => event.id = Some(value.to_owned()),
            "data" => data.push(value),
            other => panic!("unexpected SSE field {other:?} in {block:?}"),
        }
    }
    if data.is_empty() {
        return None;
    }
    event.data = data.join("\n");
    Some(event)
}

/// Logs a fresh session in for `email` and returns (its `tss_` token, its id).
async fn session(app: &TestApp, email: &str) -> (String, String) {
    let (token, body) = app.login_body(email).await;
    (token, body["session"]["id"].as_str().unwrap().to_owned())
}

/// The client as the credential it presents.
fn basic(client: &(String, String)) -> Auth<'_> {
    Auth::Basic(&client.0, &client.1)
}

async fn logout(app: &TestApp, token: &str) {
    let r = app.logout(Auth::Bearer(token)).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

async fn poll(app: &TestApp, client: &(String, String), after: Option<&str>) -> Response {
    let call = app.revocations(basic(client));
    match after {
        Some(after) => call.query(&[("after", after)]).await,
        None => call.await,
    }
}

async fn polled(app: &TestApp, client: &(String, String), after: Option<&str>) -> Value {
    let r = poll(app, client, after).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn sids(body: &Value) -> Vec<String> {
    body["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sid"].as_str().unwrap().to_owned())
        .collect()
}

/// Moves the test clock past the resume overlap, so that what happened before is no longer
/// re-read by a resume from a cursor taken now.
fn beyond_overlap(app: &TestApp) {
    app.clock
        .advance(RESUME_OVERLAP + time::Duration::seconds(1));
}

async fn revocations_need_a_registered_client(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = registered_client(&app).await;
    for accept in ["application/json", "text/event-stream"] {
        let r = app
            .revocations(Auth::None)
            .header(ACCEPT.as_str(), accept)
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{accept}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
        let r = app
            .revocations(Auth::Basic(&client.0, "tsc_wrong"))
            .header(ACCEPT.as_str(), accept)
            .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{accept}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    }
    // A user's credential is not a client's.
    app.create_user("ada@example.com").await;
    let (token, _) = session(&app, "ada@example.com").await;
    let r = app.revocations(Auth::Bearer(&token)).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

async fn polling_lists_live_revocations_and_after_filters(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = registered_client(&app).await;
    app.create_user("ada@example.com").await;
    let (first, first_sid) = session(&app, "ada@example.com").await;
    let (second, second_sid) = session(&app, "ada@example.com").await;

    let empty = polled(&app, &client, None).await;
    assert_eq!(sids(&empty), Vec::<String>::new());

    let revoked_at = app.clock.now();
    logout(&app, &first).await;
    let body = polled(&app, &client, None).await;
    assert_eq!(sids(&body), vec![first_sid.clone()]);
    let entry = &body["revoked"][0];
    let at = |v: &Value| {
        time::OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert_eq!(at(&entry["revoked_at"]), revoked_at);
    // `until`: when the last access token of the session has expired (access_ttl + leeway).
    let horizon = app.state.tokens.cfg.access_ttl + app.state.tokens.cfg.leeway;
    assert_eq!(at(&entry["until"]), revoked_at + horizon);
    // A cursor handed out right after a revocation re-reads it (a revocation stamped by
    // another instance's clock just before may still be on its way to the store)...
    let cursor = body["cursor"].as_str().unwrap().to_owned();
    let again = polled(&app, &client, Some(&cursor)).await;
    assert_eq!(sids(&again), vec![first_sid.clone()]);
    // ...one handed out later does not.
    beyond_overlap(&app);
    let cursor = polled(&app, &client, None).await["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = polled(&app, &client, Some(&cursor)).await;
    assert_eq!(
        sids(&body),
        Vec::<String>::new(),
        "nothing after the cursor"
    );
    logout(&app, &second).await;
    let body = polled(&app, &client, Some(&cursor)).await;
    assert_eq!(sids(&body), vec![second_sid.clone()], "only the later one");
    let all = polled(&app, &client, None).await;
    assert_eq!(sids(&all), vec![first_sid, second_sid.clone()]);

    // Once every token of a session has expired, it is no longer listed.
    app.clock.advance(horizon - RESUME_OVERLAP);
    assert_eq!(sids(&polled(&app, &client, None).await), vec![second_sid]);

    for bad in ["", "nonsense", "djEuMS5ub3QtYS11dWlk"] {
        let r = poll(&app, &client, Some(bad)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    }
}

async fn stream_sends_the_backlog_then_ready_then_new_revocations(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = registered_client(&app).await;
    app.create_user("ada@example.com").await;
    let (old, old_sid) = session(&app, "ada@example.com").await;
    let (new, new_sid) = session(&app, "ada@example.com").await;
    logout(&app, &old).await;

    let mut stream = SseReader::new(open_stream(&app, &client, None).await);
    let (backlog, ready) = stream.until_ready().await;
    assert_eq!(backlog.len(), 1, "{backlog:?}");
    assert_eq!(backlog[0].event, "revoked");
    assert_eq!(backlog[0].sid(), old_sid);
    assert!(backlog[0].id.is_some(), "each revocation carries a cursor");
    for field in ["revoked_at", "until"] {
        assert!(backlog[0].json()[field].is_string(), "{field}");
    }
    assert!(ready.id.is_some(), "ready carries a cursor");

    logout(&app, &new).await;
    let live = stream.next_revoked().await;
    assert_eq!(live.sid(), new_sid);
    assert!(live.id.is_some());

    // Stopping the server ends the stream (graceful shutdown would otherwise wait for it).
    drop(app);
    let end = tokio::time::timeout(STREAM_PATIENCE, async {
        while stream.next_or_end().await.is_some() {}
    })
    .await;
    assert!(end.is_ok(), "the stream outlived the server");
}

async fn resuming_with_last_event_id_skips_nothing_before_it_and_repeats_nothing_older(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let client = registered_client(&app).await;
    app.create_user("ada@example.com").await;
    let (early, early_sid) = session(&app, "ada@example.com").await;
    let (seen, seen_sid) = session(&app, "ada@example.com").await;
    let (missed, missed_sid) = session(&app, "ada@example.com").await;
    logout(&app, &early).await;
    beyond_overlap(&app);

    let mut stream = SseReader::new(open_stream(&app, &client, None).await);
    let (backlog, _ready) = stream.until_ready().await;
    assert_eq!(
        backlog.iter().map(SseEvent::sid).collect::<Vec<_>>(),
        std::slice::from_ref(&early_sid)
    );
    logout(&app, &seen).await;
    let last = stream.next_revoked().await;
    assert_eq!(last.sid(), seen_sid);
    drop(stream);

    // Revoked while the client was away.
    beyond_overlap(&app);
    logout(&app, &missed).await;

    let mut resumed = SseReader::new(open_stream(&app, &client, last.id.as_deref()).await);
    let (replayed, _ready) = resumed.until_ready().await;
    let replayed: Vec<String> = replayed.iter().map(SseEvent::sid).collect();
    assert!(replayed.contains(&missed_sid), "{replayed:?}");
    assert!(
        !replayed.contains(&early_sid),
        "revoked long before the cursor: {replayed:?}"
    );

    // An empty Last-Event-ID is no cursor: a fresh start.
    let mut fresh = SseReader::new(open_stream(&app, &client, Some("")).await);
    let (backlog, _ready) = fresh.until_ready().await;
    assert_eq!(backlog.len(), 3, "{backlog:?}");

    let r = open_stream(&app, &client, Some("not-a-cursor")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
}

async fn stream_announces_signing_key_changes(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = registered_client(&app).await;
    let mut stream = SseReader::new(open_stream(&app, &client, None).await);
    stream.until_ready().await;

    tessera_engine::keys::rotate(&app.state, true)
        .await
        .unwrap();
    // What the maintenance loop runs every 30 s; called here so the test does not wait.
    tessera_engine::keys::maintain(&app.state).await;
    let event = stream.next().await;
    assert_eq!(event.event, "keys");
    let kids: Vec<String> = event.json()["kids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kids, app.jwks_kids().await);
}

async fn subscribers_beyond_the_cap_get_503(backend: Backend) {
    let app = spawn_app_with(backend, "[revocations]\nmax_subscribers = 1").await;
    let client = registered_client(&app).await;
    let mut first = SseReader::new(open_stream(&app, &client, None).await);
    first.until_ready().await;

    let r = open_stream(&app, &client, None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unavailable");
    // Polling takes no slot.
    assert_eq!(poll(&app, &client, None).await.status(), StatusCode::OK);

    // The slot comes back once the subscriber has gone.
    drop(first);
    let deadline = tokio::time::Instant::now() + STREAM_PATIENCE;
    loop {
        let r = open_stream(&app, &client, None).await;
        if r.status() == StatusCode::OK {
            break;
        }
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Revokes `sid` in the store only, the way a revocation looks to this instance when its feed
/// message was lost.
async fn revoke_in_store_only(app: &TestApp, sid: &str) {
    let id = SessionId(uuid::Uuid::parse_str(sid).unwrap());
    assert!(app
        .state
        .store
        .revoke_session(id, app.clock.now())
        .await
        .unwrap());
}

async fn revocations_the_feed_never_delivered_reach_the_stream(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = registered_client(&app).await;
    app.create_user("ada@example.com").await;
    let (_, lost_sid) = session(&app, "ada@example.com").await;
    let (_, lagged_sid) = session(&app, "ada@example.com").await;
    let mut stream = SseReader::new(open_stream(&app, &client, None).await);
    stream.until_ready().await;

    // Pub/sub lost the message: the periodic resync from the store finds it.
    revoke_in_store_only(&app, &lost_sid).await;
    revocation::resync(&app.state).await;
    assert_eq!(stream.next_revoked().await.sid(), lost_sid);

    // The instance's feed lagged: subscribers re-read the store (repeats allowed).
    revoke_in_store_only(&app, &lagged_sid).await;
    app.state.revocation_stream.resync();
    while stream.next_revoked().await.sid() != lagged_sid {}
}
