//! The `tessera` commands, each run as the real binary over a real SQLite file that a running
//! server shares: what an operator types has the effect they expect on live users.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use tessera_core::TestClock;

use crate::helpers::{spawn_instance, Auth, PASSWORD};

/// A throw-away database file, removed with its WAL, shared-memory and key files.
struct DbFile(PathBuf);

impl DbFile {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("tessera-cli-{}.db", uuid::Uuid::new_v4())))
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }
}

impl Drop for DbFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", ".key"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

/// Runs `tessera args…` on `db`, feeding `stdin`; the configuration comes from the environment
/// only (an empty working directory, so no stray `tessera.toml` is read).
fn tessera(db: &DbFile, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .env("TESSERA_STORE__URL", db.url())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tessera binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

fn exists(path: &Path) -> bool {
    std::fs::metadata(path).is_ok()
}

#[tokio::test]
async fn every_command_works_on_a_store_a_running_server_shares() {
    let db = DbFile::new();
    let migrated = succeeded(&tessera(&db, &["migrate"], ""));
    assert!(migrated.contains("migrations applied"), "{migrated}");
    assert!(exists(&db.0));

    // Accounts: created from stdin, refused twice, refused when malformed.
    let added = succeeded(&tessera(
        &db,
        &["user", "add", "ops@example.com"],
        &format!("{PASSWORD}\n"),
    ));
    assert!(added.contains("ops@example.com"), "{added}");
    let again = tessera(
        &db,
        &["user", "add", "ops@example.com"],
        &format!("{PASSWORD}\n"),
    );
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    let malformed = tessera(
        &db,
        &["user", "add", "not-an-address"],
        &format!("{PASSWORD}\n"),
    );
    assert!(!malformed.status.success());
    assert!(
        stderr(&malformed).starts_with("error: "),
        "{}",
        stderr(&malformed)
    );
    let unknown = tessera(&db, &["user", "lock", "nobody@example.com"], "");
    assert!(
        stderr(&unknown).contains("no account"),
        "{}",
        stderr(&unknown)
    );

    // A server on the same file: the account the CLI made signs in there.
    let app = spawn_instance(&db.url(), "", TestClock::starting_now()).await;
    let (token, _) = app.login_body("ops@example.com").await;
    let listed = succeeded(&tessera(&db, &["sessions", "list", "ops@example.com"], ""));
    assert_eq!(
        listed.lines().count(),
        2,
        "a header and one session: {listed}"
    );

    // Ending the sessions from the CLI reaches the running server (its feed polls the file).
    let revoked = succeeded(&tessera(
        &db,
        &["sessions", "revoke", "ops@example.com"],
        "",
    ));
    assert!(revoked.contains("ended 1 session"), "{revoked}");
    let mut refused = false;
    for _ in 0..50 {
        if app.get_session(Auth::Bearer(&token)).await.status() == StatusCode::UNAUTHORIZED {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the server refuses a session the CLI ended");

    // Keys: listed, a rotation refused while the next key is too fresh, forced.
    let keys = succeeded(&tessera(&db, &["keys", "list"], ""));
    assert!(keys.contains("current") && keys.contains("next"), "{keys}");
    let too_soon = tessera(&db, &["keys", "rotate"], "");
    assert!(!too_soon.status.success());
    assert!(
        stderr(&too_soon).contains("--force"),
        "{}",
        stderr(&too_soon)
    );
    let rotated = succeeded(&tessera(&db, &["keys", "rotate", "--force"], ""));
    assert!(rotated.contains("rotated signing keys"), "{rotated}");
    let keys = succeeded(&tessera(&db, &["keys", "list"], ""));
    assert!(keys.contains("retired"), "{keys}");

    // Clients: the secret printed once works for introspection on the server.
    let client = succeeded(&tessera(&db, &["clients", "add", "billing"], ""));
    let field = |name: &str| {
        client
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .map_or_else(|| panic!("{name} in {client}"), str::to_owned)
    };
    let (id, secret) = (field("client_id"), field("client_secret"));
    let listed = succeeded(&tessera(&db, &["clients", "list"], ""));
    assert!(
        listed.contains(&id) && listed.contains("billing"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "the secret is shown once only");
    let (live, _) = app.login_body("ops@example.com").await;
    let r = app.introspect(Auth::Basic(&id, &secret), &live).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["active"], true);

    // Locking ends the new session too, and logins fail.
    let locked = succeeded(&tessera(&db, &["user", "lock", "ops@example.com"], ""));
    assert!(locked.contains("ended 1 session"), "{locked}");
    let mut refused = false;
    for _ in 0..50 {
        if app.get_session(Auth::Bearer(&live)).await.status() == StatusCode::UNAUTHORIZED {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the server refuses the locked account's session");

    // A fresh admin key, long enough for `admin.api_key`.
    let key = succeeded(&tessera(&db, &["admin-key", "create"], ""));
    assert!(key.trim().chars().count() >= 32, "{key}");
    drop(app);
}
