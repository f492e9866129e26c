//! Several instances on one store: what one instance does, the others honour. Real Postgres
//! (a fresh database per test) and Redis on 127.0.0.1; skipped when absent unless CI is set.
//!
//! Propagation is polled, never timed: each wait prints how long it took and fails only after
//! a generous timeout. A credential refused on B is also checked to be in B's revoked set, which
//! only the revocation feed (or a resync from the store) fills — so a refusal that merely came
//! from B's session cache expiring would not pass.

mod factors;
mod faults;
mod mail;
pub mod support;
mod writes;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tessera_core::SessionId;
use tessera_engine::tokens::is_revoked;
use uuid::Uuid;

use crate::helpers::{Auth, TestApp};
use support::{
    cache_toml, check, logout, redis_available, refresh, refused_within, spawn_pair, str_of,
    unique_email, wait_status, Credential, PgDatabase, PATIENCE, RECONNECT_PATIENCE, SHARED_REDIS,
};

/// How the instances of a Postgres cluster tell each other about revocations.
#[derive(Debug, Clone, Copy)]
enum Feed {
    /// No `cache.url`: LISTEN/NOTIFY on the store.
    Listen,
    /// `cache.url` = the shared Redis on 6379 (pub/sub on `tessera:revocations`, which parallel
    /// tests share: harmless, their session ids are random).
    Redis,
}

/// Generates one test per feed from `async fn name(feed: Feed)`.
macro_rules! on_every_feed {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_listen() {
                    super::$name(super::Feed::Listen).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn redis() {
                    super::$name(super::Feed::Redis).await;
                }
            }
        )*
    };
}

on_every_feed!(
    login_on_a_works_on_b_and_logout_propagates,
    refresh_reuse_on_b_revokes_what_a_issued,
);

// After the macro, which they use.
mod authz;
mod stream;

/// Two instances on a fresh Postgres database. Fields drop in order: the instances first, then
/// the database.
struct Cluster {
    a: TestApp,
    b: TestApp,
    db: PgDatabase,
}

impl Cluster {
    /// `None` when a service is absent and CI is not set (the test is skipped).
    async fn start(feed: Feed, extra_toml: &str) -> Option<Self> {
        let mut extra = extra_toml.to_owned();
        if let Feed::Redis = feed {
            if !redis_available(SHARED_REDIS).await {
                return None;
            }
            extra.push_str(&cache_toml(SHARED_REDIS));
        }
        let db = PgDatabase::create().await?;
        let (a, b) = spawn_pair(db.url(), &extra).await;
        // Both feeds connected: from here on a revocation travels by the feed.
        wait_status(&[&a, &b], "ready", RECONNECT_PATIENCE).await;
        Some(Self { a, b, db })
    }
}

/// The session behind `credential`, as `app` sees it.
async fn session_of(app: &TestApp, credential: &Credential) -> SessionId {
    let r = app.check(credential.auth()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    SessionId(Uuid::parse_str(str_of(&body, "session_id")).unwrap())
}

/// Waits until `app` refuses `credential`, and checks the refusal came from a revocation that
/// reached `app` (its revoked set), not from a cache entry running out.
async fn propagated(app: &TestApp, credential: &Credential, session: SessionId, what: &str) {
    propagated_within(app, credential, session, what, PATIENCE).await;
}

async fn propagated_within(
    app: &TestApp,
    credential: &Credential,
    session: SessionId,
    what: &str,
    within: Duration,
) {
    let start = Instant::now();
    refused_within(app, credential, what, within).await;
    assert!(
        is_revoked(&app.state, session),
        "{what}: refused, but the revocation never reached this instance"
    );
    println!("propagation: {what} after {:?}", start.elapsed());
}

async fn login_on_a_works_on_b_and_logout_propagates(feed: Feed) {
    let Some(cluster) = Cluster::start(feed, "").await else {
        return;
    };
    let (a, b) = (&cluster.a, &cluster.b);
    let email = unique_email();
    a.create_user(&email).await;
    let (cookie, csrf, _) = a.login_cookie(&email).await;
    let (session_token, _) = a.login_body(&email).await;
    let grant = a.token_pair(&email).await;
    let credentials = [
        ("cookie", Credential::Cookie(cookie.clone()), Some(csrf)),
        ("tss_ token", Credential::Bearer(session_token), None),
        (
            "access JWT",
            Credential::Bearer(str_of(&grant, "access_token").to_owned()),
            None,
        ),
    ];
    let mut sessions = Vec::new();
    for (what, credential, _) in &credentials {
        // B first, twice: from here on B holds it in its session cache or verified-token cache,
        // so a refusal later is B learning of the logout, not a miss.
        assert_eq!(check(b, credential).await, StatusCode::OK, "{what} on B");
        assert_eq!(check(b, credential).await, StatusCode::OK, "{what} on B");
        assert_eq!(check(a, credential).await, StatusCode::OK, "{what} on A");
        sessions.push(session_of(b, credential).await);
    }
    let me: Value = b
        .get_session(Auth::Cookie(&cookie))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], email.as_str(), "B knows A's session");

    for ((what, credential, csrf), session) in credentials.iter().zip(sessions) {
        logout(a, credential, csrf.as_deref()).await;
        assert_eq!(
            check(a, credential).await,
            StatusCode::UNAUTHORIZED,
            "{what} on A after logout on A"
        );
        propagated(b, credential, session, &format!("{feed:?}: {what} on B")).await;
    }
}

async fn refresh_reuse_on_b_revokes_what_a_issued(feed: Feed) {
    let Some(cluster) = Cluster::start(feed, "").await else {
        return;
    };
    let (a, b) = (&cluster.a, &cluster.b);
    let email = unique_email();
    a.create_user(&email).await;
    let first = a.token_pair(&email).await;
    let spent = str_of(&first, "refresh_token");
    let (status, latest) = refresh(a, spent).await;
    assert_eq!(status, StatusCode::OK, "{latest}");
    let access = Credential::Bearer(str_of(&latest, "access_token").to_owned());
    assert_eq!(check(a, &access).await, StatusCode::OK);
    assert_eq!(check(b, &access).await, StatusCode::OK);
    let session = session_of(a, &access).await;

    // The spent token shows up on B: theft, whichever instance sees it.
    let (status, body) = refresh(b, spent).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(
        check(b, &access).await,
        StatusCode::UNAUTHORIZED,
        "B revoked the session itself"
    );
    propagated(a, &access, session, &format!("{feed:?}: reuse on B → A")).await;
    let (status, body) = refresh(a, str_of(&latest, "refresh_token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "invalid_grant");
}

/// Presents `token` `per_instance` times on each of A and B at once, interleaved.
/// 100 on each instance: the same 200 racers the single-instance tests send on memory and
/// SQLite, here on Postgres, counted at the database.
const RACERS_PER_INSTANCE: usize = 100;

async fn race(
    a: &TestApp,
    b: &TestApp,
    token: &str,
    per_instance: usize,
) -> Vec<(StatusCode, Value)> {
    let mut tasks = Vec::new();
    for _ in 0..per_instance {
        for app in [a, b] {
            let refresh = app.grant_refresh(token);
            tasks.push(tokio::spawn(async move {
                let r = refresh.await;
                (r.status(), r.json::<Value>().await.unwrap())
            }));
        }
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_on_both_instances_within_grace_share_one_successor() {
    let Some(cluster) =
        Cluster::start(Feed::Listen, "[token]\nrefresh_reuse_grace = \"30s\"\n").await
    else {
        return;
    };
    let (a, b) = (&cluster.a, &cluster.b);
    let email = unique_email();
    a.create_user(&email).await;
    let grant = a.token_pair(&email).await;
    let results = race(a, b, str_of(&grant, "refresh_token"), RACERS_PER_INSTANCE).await;
    for (status, body) in &results {
        assert_eq!(*status, StatusCode::OK, "all within grace: {body}");
    }
    let successor = str_of(&results[0].1, "refresh_token");
    assert!(
        results
            .iter()
            .all(|(_, body)| str_of(body, "refresh_token") == successor),
        "one successor, handed to every presenter on both instances"
    );
    assert_eq!(
        cluster
            .db
            .scalar("SELECT count(*) FROM refresh_tokens")
            .await,
        2,
        "exactly one successor minted"
    );
    let (status, body) = refresh(b, successor).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the shared successor is live: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_on_both_instances_without_grace_mint_one_successor() {
    let Some(cluster) = Cluster::start(Feed::Listen, "").await else {
        return;
    };
    let (a, b) = (&cluster.a, &cluster.b);
    let email = unique_email();
    a.create_user(&email).await;
    let grant = a.token_pair(&email).await;
    let session = session_of(
        a,
        &Credential::Bearer(str_of(&grant, "access_token").to_owned()),
    )
    .await;
    let results = race(a, b, str_of(&grant, "refresh_token"), RACERS_PER_INSTANCE).await;
    assert_eq!(
        cluster
            .db
            .scalar("SELECT count(*) FROM refresh_tokens")
            .await,
        2,
        "exactly one successor minted"
    );
    for (status, body) in &results {
        assert!(
            *status == StatusCode::OK
                || (*status == StatusCode::BAD_REQUEST && body["error"] == "invalid_grant"),
            "{status} {body}"
        );
    }
    let winners: Vec<_> = results
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .map(|(_, body)| body)
        .collect();
    // The first presenter spends the token and mints the successor; every later one is a
    // replay, i.e. theft, which revokes the session. Whether the first still gets its 200
    // depends on whether its own liveness check ran before the first replay's revocation
    // committed — across two instances either order happens. Its tokens are dead either way.
    assert!(winners.len() <= 1, "{} presenters got a 200", winners.len());
    println!(
        "no grace: {} of {} presenters got a 200",
        winners.len(),
        results.len()
    );
    let mut dead = vec![(
        "the first access token",
        Credential::Bearer(str_of(&grant, "access_token").to_owned()),
    )];
    if let Some(winner) = winners.first() {
        dead.push((
            "the winner's access token",
            Credential::Bearer(str_of(winner, "access_token").to_owned()),
        ));
        let (status, _) = refresh(a, str_of(winner, "refresh_token")).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "the successor died with its family"
        );
    }
    for (what, credential) in &dead {
        for (name, app) in [("A", a), ("B", b)] {
            propagated(
                app,
                credential,
                session,
                &format!("no grace: {what} on {name}"),
            )
            .await;
        }
    }
}

/// Two instances on one SQLite file and no Redis: the polling feed carries the logout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_polling_feed_carries_a_logout_to_the_other_instance() {
    let file = support::TempSqlite::new();
    let (a, b) = spawn_pair(&file.url(), "").await;
    wait_status(&[&a, &b], "ready", RECONNECT_PATIENCE).await;
    let email = unique_email();
    a.create_user(&email).await;
    let (session_token, _) = a.login_body(&email).await;
    let grant = a.token_pair(&email).await;
    let credentials = [
        ("tss_ token", Credential::Bearer(session_token)),
        (
            "access JWT",
            Credential::Bearer(str_of(&grant, "access_token").to_owned()),
        ),
    ];
    for (what, credential) in &credentials {
        assert_eq!(check(&b, credential).await, StatusCode::OK, "{what} on B");
        assert_eq!(check(&b, credential).await, StatusCode::OK, "{what} on B");
    }
    // The poller windows on the wall clock; the frozen test clock stamps revocations. Line the
    // two up as they are in a deployment, whatever time this test has taken so far.
    a.clock.set(time::OffsetDateTime::now_utc());
    for (what, credential) in &credentials {
        let session = session_of(&a, credential).await;
        logout(&a, credential, None).await;
        propagated(
            &b,
            credential,
            session,
            &format!("SQLite poll: {what} on B"),
        )
        .await;
    }
}

/// A passkey ceremony's state lives in the store: registered through A, a passwordless
/// sign-in started on A finishes on B, and the spent ceremony is refused on A afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkey_ceremony_started_on_a_finishes_on_b() {
    use crate::passkeys::{authenticator, discoverable_assertion, finish_login, register, ORIGIN};
    let Some(cluster) = Cluster::start(Feed::Listen, "").await else {
        return;
    };
    let (a, b) = (&cluster.a, &cluster.b);
    let email = unique_email();
    let user = a.create_user(&email).await;
    let (token, _) = a.login_body(&email).await;
    let mut device = authenticator();
    let created = register(a, Auth::Bearer(&token), &mut device).await;
    let listed = b
        .raw(reqwest::Method::GET, "/v1/passkeys")
        .auth(Auth::Bearer(&token))
        .json()
        .await;
    assert_eq!(listed["passkeys"][0]["id"], created["id"]);
    let cred_id = created["credential_id"].clone();
    let ceremony = a
        .raw(reqwest::Method::POST, "/v1/session/passkey/options")
        .json()
        .await;
    let assertion = discoverable_assertion(
        &mut device,
        &ceremony["options"],
        &cred_id,
        str_of(&user, "id"),
        ORIGIN,
    );
    let r = finish_login(b, &ceremony, &assertion).await;
    assert_eq!(r.status(), StatusCode::OK);
    let again = finish_login(a, &ceremony, &assertion).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
}
