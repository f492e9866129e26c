//! A database created by an earlier schema version, with data in it, migrates to the current
//! version and every row reads back through the store and keeps working.
//!
//! For every earlier version (every proper prefix of the migration list: the database as each
//! earlier release left it) the test applies that prefix only, writes rows with plain SQL the way
//! that release wrote them, runs the store's own `migrate`, and then reads and uses the rows
//! through the store traits: the account, a live session, a refresh token that still rotates, the
//! signing key, a client, an audit event, and what the later migrations added when the prefix
//! already had them. SQLite and Postgres both run it (Postgres skips only when unreachable and CI
//! is unset).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sqlx::migrate::Migrator;
use tessera_core::model::{KeyState, RefreshToken, SpendOutcome};
use tessera_core::store::Store;
use tessera_core::{Email, SessionId, TokenHash, UserId};
use tessera_store::conformance::fixtures;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const USER: &str = "0a7b5a4e-6f3c-4d0e-9a51-3f0b8c2d1e01";
const SESSION: &str = "0a7b5a4e-6f3c-4d0e-9a51-3f0b8c2d1e02";
const REFRESH: &str = "0a7b5a4e-6f3c-4d0e-9a51-3f0b8c2d1e03";
const FAMILY: &str = "0a7b5a4e-6f3c-4d0e-9a51-3f0b8c2d1e04";
const EMAIL_TOKEN: &str = "0a7b5a4e-6f3c-4d0e-9a51-3f0b8c2d1e05";
const MAIL: &str = "0a7b5a4e-6f3c-4d0e-9a51-3f0b8c2d1e06";
const SESSION_SECRET: &str = "tss_a-session-secret-written-by-an-old-release";
const REFRESH_SECRET: &str = "tsr_a-refresh-secret-written-by-an-old-release";
const EMAIL_SECRET: &str = "tse_an-email-link-written-by-an-old-release";
const CLIENT_SECRET: &str = "a-client-secret";
const CSRF_SECRET: [u8; 32] = [7; 32];
/// 2026-03-01T12:00:00.123Z in unix milliseconds; a session created then lives 12 h.
const CREATED: i64 = 1_772_366_400_123;
const HOUR: i64 = 3_600_000;

#[derive(Clone, Copy)]
enum Flavor {
    Sqlite,
    Postgres,
}

impl Flavor {
    fn dir(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }

    /// A byte-string literal: the two databases spell them differently.
    fn bytes(self, bytes: &[u8]) -> String {
        let hex = bytes.iter().fold(String::new(), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        });
        match self {
            Self::Sqlite => format!("X'{hex}'"),
            Self::Postgres => format!("'\\x{hex}'::bytea"),
        }
    }
}

/// The rows an old release wrote, keyed by the migration that created the columns they use.
/// A migration without an entry added nothing an old release could have written data into.
fn rows_written_at(version: i64, flavor: Flavor) -> Vec<String> {
    let session_hash = flavor.bytes(TokenHash::of(SESSION_SECRET).as_bytes());
    let refresh_hash = flavor.bytes(TokenHash::of(REFRESH_SECRET).as_bytes());
    let client_hash = flavor.bytes(TokenHash::of(CLIENT_SECRET).as_bytes());
    let private_key = flavor.bytes(&[1, 2, 3, 4]);
    let idle = CREATED + HOUR / 2;
    let absolute = CREATED + 12 * HOUR;
    let refresh_expiry = CREATED + 30 * 24 * HOUR;
    match version {
        1 => vec![
            format!(
                "INSERT INTO users (id, email, password_hash, locked, created_at, updated_at) \
                 VALUES ('{USER}', 'ada@example.com', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA', \
                 FALSE, {CREATED}, {CREATED})"
            ),
            format!(
                "INSERT INTO sessions (id, user_id, kind, secret_hash, created_at, last_seen_at, \
                 idle_expires_at, expires_at, ip, user_agent) VALUES ('{SESSION}', '{USER}', \
                 'token', {session_hash}, {CREATED}, {CREATED}, {idle}, {absolute}, \
                 '203.0.113.7', 'old-release/1.0')"
            ),
            format!(
                "INSERT INTO refresh_tokens (id, family_id, session_id, user_id, token_hash, \
                 created_at, expires_at) VALUES ('{REFRESH}', '{FAMILY}', '{SESSION}', '{USER}', \
                 {refresh_hash}, {CREATED}, {refresh_expiry})"
            ),
            format!(
                "INSERT INTO signing_keys (kid, algorithm, state, private_key, public_jwk, \
                 format_version, created_at, activated_at) VALUES ('kid-old', 'EdDSA', 'current', \
                 {private_key}, '{{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}}', 1, \
                 {CREATED}, {CREATED})"
            ),
            format!(
                "INSERT INTO clients (id, name, secret_hash, created_at) \
                 VALUES ('tsc_old_client', 'billing', {client_hash}, {CREATED})"
            ),
            format!(
                "INSERT INTO audit_events (kind, at, user_id, session_id, ip, user_agent, detail) \
                 VALUES ('login_succeeded', {CREATED}, '{USER}', '{SESSION}', '203.0.113.7', \
                 'old-release/1.0', '{{\"transport\":\"body\"}}')"
            ),
        ],
        2 => vec![format!(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ('csrf', {}, {CREATED})",
            flavor.bytes(&CSRF_SECRET)
        )],
        4 => vec![
            format!("UPDATE users SET email_verified_at = {CREATED} WHERE id = '{USER}'"),
            format!(
                "INSERT INTO email_tokens (id, user_id, purpose, token_hash, email, created_at, \
                 expires_at) VALUES ('{EMAIL_TOKEN}', '{USER}', 'reset', {}, 'ada@example.com', \
                 {CREATED}, {absolute})",
                flavor.bytes(TokenHash::of(EMAIL_SECRET).as_bytes())
            ),
            format!(
                "INSERT INTO mail_outbox (id, kind, user_id, recipient, created_at, \
                 next_attempt_at) VALUES ('{MAIL}', 'password_reset', '{USER}', \
                 'ada@example.com', {CREATED}, {CREATED})"
            ),
        ],
        5 => vec![
            format!("UPDATE users SET roles = '[\"admin\"]' WHERE id = '{USER}'"),
            format!("UPDATE sessions SET scope = 'read' WHERE id = '{SESSION}'"),
        ],
        _ => Vec::new(),
    }
}

fn migrations_dir(flavor: Flavor) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(flavor.dir())
}

/// The migration files in the order they run, with their versions.
fn migration_files(flavor: Flavor) -> Vec<(i64, PathBuf)> {
    let mut files: Vec<(i64, PathBuf)> = std::fs::read_dir(migrations_dir(flavor))
        .expect("the migrations directory")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let version = name
                .split('_')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("migration {name} has no version prefix"));
            (version, path)
        })
        .collect();
    files.sort();
    files
}

/// A migrator holding only the first `count` migrations, byte for byte (so the checksums the
/// full migrator later compares are the ones an old release recorded).
async fn earlier_release(flavor: Flavor, count: usize) -> (Migrator, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    for (_, path) in migration_files(flavor).iter().take(count) {
        std::fs::copy(path, dir.path().join(path.file_name().unwrap())).expect("copy");
    }
    let migrator = Migrator::new(dir.path()).await.expect("resolve migrations");
    (migrator, dir)
}

fn ms(millis: i64) -> OffsetDateTime {
    tessera_core::clock::from_unix_millis(millis)
}

fn id(text: &str) -> Uuid {
    text.parse().expect("a uuid")
}

/// What the old rows must look like through the current store, `applied` being the versions
/// the old release had.
async fn assert_old_rows_work(store: &dyn Store, applied: &[i64], label: &str) {
    let has = |version: i64| applied.contains(&version);
    let email = Email::parse("ada@example.com").unwrap();
    let user = store
        .user_by_email(&email)
        .await
        .unwrap_or_else(|e| panic!("{label}: read the old user: {e:?}"))
        .unwrap_or_else(|| panic!("{label}: the old user is gone"));
    assert_eq!(user.id, UserId(id(USER)), "{label}");
    assert!(!user.locked, "{label}");
    assert_eq!(
        user.email_verified_at,
        has(4).then(|| ms(CREATED)),
        "{label}: verified address"
    );
    let roles: Vec<&str> = user.roles.iter().collect();
    assert_eq!(
        roles,
        if has(5) { vec!["admin"] } else { Vec::new() },
        "{label}: roles default to none"
    );
    assert!(user.claims.is_empty(), "{label}: claims default to none");

    let session = store
        .session_by_secret_hash(&TokenHash::of(SESSION_SECRET))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{label}: the old session is gone"));
    assert_eq!(session.id, SessionId(id(SESSION)), "{label}");
    assert_eq!(session.expires_at, ms(CREATED + 12 * HOUR), "{label}");
    assert_eq!(session.revoked_at, None, "{label}");
    assert_eq!(
        session.scope.as_ref().map(ToString::to_string),
        has(5).then(|| "read".to_owned()),
        "{label}: scope"
    );

    // The old refresh token still rotates: spent once, exactly one successor.
    let old = store
        .refresh_by_hash(&TokenHash::of(REFRESH_SECRET))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{label}: the old refresh token is gone"));
    assert_eq!(
        (old.id, old.family_id),
        (id(REFRESH), id(FAMILY)),
        "{label}"
    );
    let at = ms(CREATED + HOUR);
    let successor = RefreshToken {
        id: Uuid::new_v4(),
        token_hash: TokenHash::of("tsr_successor"),
        created_at: at,
        expires_at: at + Duration::days(30),
        used_at: None,
        successor_id: None,
        revoked_at: None,
        ..old.clone()
    };
    let outcome = store.spend_refresh(old.id, at, &successor).await.unwrap();
    assert!(
        matches!(outcome, SpendOutcome::Rotated),
        "{label}: {outcome:?}"
    );
    let again = store.spend_refresh(old.id, at, &successor).await.unwrap();
    assert!(
        matches!(again, SpendOutcome::AlreadySpent(_)),
        "{label}: spent once only"
    );

    let keys = store.list_keys().await.unwrap();
    assert_eq!(keys.len(), 1, "{label}");
    assert_eq!(
        (
            keys[0].kid.as_str(),
            keys[0].state,
            keys[0].private_key.as_slice()
        ),
        ("kid-old", KeyState::Current, &[1u8, 2, 3, 4][..]),
        "{label}"
    );
    let client = store
        .client_by_id(&tessera_core::ClientId("tsc_old_client".into()))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{label}: the old client is gone"));
    assert_eq!(client.secret_hash, TokenHash::of(CLIENT_SECRET), "{label}");
    let events = store
        .list_events(&tessera_core::model::AuditQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "{label}");
    assert_eq!(events[0].event.kind, "login_succeeded", "{label}");
    assert_eq!(events[0].event.detail["transport"], "body", "{label}");

    if has(2) {
        let csrf = store.server_secret("csrf", &[9; 32]).await.unwrap();
        assert_eq!(csrf, CSRF_SECRET, "{label}: the old CSRF key is kept");
    }
    if has(4) {
        let link = store
            .email_token_by_hash(&TokenHash::of(EMAIL_SECRET))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{label}: the old reset link is gone"));
        assert_eq!(link.used_at, None, "{label}");
        assert!(store.spend_email_token(link.id, at).await.unwrap());
        assert_eq!(
            store.pending_mail().await.unwrap(),
            1,
            "{label}: queued mail"
        );
    }
}

/// One test per backend: for every earlier release (every proper prefix of the migration
/// list), a fresh empty database gets that release's migrations and rows, then the current
/// store migrates it and must read and use every row.
macro_rules! migrates_every_earlier_release {
    ($name:ident, $flavor:expr, $unmigrated:path) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let flavor = $flavor;
            let files = migration_files(flavor);
            assert!(
                files.len() >= 2,
                "there is an earlier release to migrate from"
            );
            for count in 1..files.len() {
                let Some(fixture) = $unmigrated().await else {
                    return;
                };
                let applied: Vec<i64> = files.iter().take(count).map(|(v, _)| *v).collect();
                let label = format!("{} from version {}", flavor.dir(), applied[count - 1]);
                let (old, _dir) = earlier_release(flavor, count).await;
                let pool = fixture.store.pool();
                old.run(pool)
                    .await
                    .expect("apply the old release's migrations");
                for version in &applied {
                    for statement in rows_written_at(*version, flavor) {
                        sqlx::query(&statement)
                            .execute(pool)
                            .await
                            .unwrap_or_else(|e| panic!("{label}: {statement}: {e}"));
                    }
                }
                fixture
                    .store
                    .migrate()
                    .await
                    .unwrap_or_else(|e| panic!("{label}: migrate: {e:?}"));
                assert_old_rows_work(fixture.store.as_ref(), &applied, &label).await;
                fixture.teardown().await;
            }
        }
    };
}

migrates_every_earlier_release!(
    sqlite_migrates_every_earlier_release,
    Flavor::Sqlite,
    fixtures::sqlite_file_unmigrated
);
migrates_every_earlier_release!(
    postgres_migrates_every_earlier_release,
    Flavor::Postgres,
    fixtures::postgres_unmigrated
);
