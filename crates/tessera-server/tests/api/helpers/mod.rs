//! `spawn_app()`: a real server on a free port with a fresh store and a test clock, and one
//! method per endpoint to call it (`api.rs`, `admin.rs`, `pages.rs`), each returning a [`Call`].
//! Tests talk HTTP to it like any client would.

mod admin;
mod api;
mod call;
pub mod email;
mod factors;
mod pages;

use std::path::PathBuf;
use std::sync::Arc;

use reqwest::header::{HeaderMap, SET_COOKIE};
use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use tessera_core::password::PasswordHasher;
use tessera_core::TestClock;
use tessera_server::config::Config;
use tessera_server::state::AppState;
use tessera_server::{Application, Options};
use tokio::sync::oneshot;

pub use admin::{admin_toml, ADMIN, ADMIN_KEY};
pub use call::{Auth, Call};
pub use email::SmtpSink;
pub use factors::authenticator;
pub use pages::input_value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Sqlite,
}

/// Generates one test per backend from `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn memory() {
                    super::$name($crate::helpers::Backend::Memory).await;
                }
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            }
        )*
    };
}

pub const PASSWORD: &str = "correct horse battery staple";

pub struct TestApp {
    pub base: String,
    client: Client,
    pub clock: TestClock,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    db_file: Option<PathBuf>,
    /// Where mail goes when the test configured no SMTP server.
    pub mail_dir: PathBuf,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if self.mail_dir.starts_with(std::env::temp_dir()) {
            let _ = std::fs::remove_dir_all(&self.mail_dir);
        }
        if let Some(path) = &self.db_file {
            for suffix in ["", "-wal", "-shm", ".key"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, "").await
}

/// Starts a server whose configuration is the defaults, then `extra_toml`, on port 0.
pub async fn spawn_app_with(backend: Backend, extra_toml: &str) -> TestApp {
    let db_file = match backend {
        Backend::Memory => None,
        Backend::Sqlite => {
            Some(std::env::temp_dir().join(format!("tessera-test-{}.db", uuid::Uuid::new_v4())))
        }
    };
    let store_url = match &db_file {
        None => "memory://".to_owned(),
        Some(path) => format!("sqlite://{}", path.display()),
    };
    let mut app = spawn_instance(&store_url, extra_toml, TestClock::starting_now()).await;
    app.db_file = db_file;
    app
}

/// Starts one server instance on `store_url`, which other instances may share (a cluster), with
/// `clock` as its time. The caller owns the store: nothing is deleted when the app is dropped.
pub async fn spawn_instance(store_url: &str, extra_toml: &str, clock: TestClock) -> TestApp {
    // Mail goes to a directory of the test's own unless the test names an SMTP server or one.
    let mail_dir = std::env::temp_dir().join(format!("tessera-test-mail-{}", uuid::Uuid::new_v4()));
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"{store_url}\"\n\
         [email]\ndir = \"{}\"\npoll_interval = \"100ms\"\n{extra_toml}",
        mail_dir.display()
    );
    let config =
        Config::from_toml_str(&merge_sections(&text)).expect("test configuration is valid");
    // Cheap argon2 parameters keep the suite fast; the production parameters are unit-tested
    // in tessera-core.
    let hasher = PasswordHasher::with_params(argon2_cheap());
    let app = Application::build(
        config,
        Options {
            clock: Arc::new(clock.clone()),
            hasher,
        },
    )
    .await
    .expect("test app starts");
    let base = format!("http://{}", app.local_addr());
    let state = app.state();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        base,
        client,
        clock,
        state,
        stop: Some(stop),
        db_file: None,
        mail_dir,
    }
}

fn argon2_cheap() -> argon2::Params {
    argon2::Params::new(1024, 1, 1, None).unwrap()
}

/// TOML forbids defining a table twice; tests append sections freely, so merge them.
fn merge_sections(text: &str) -> String {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with('[') {
            line.clone_into(&mut current);
            if !sections.iter().any(|(name, _)| *name == current) {
                sections.push((current.clone(), Vec::new()));
            }
        } else if let Some((_, lines)) = sections.iter_mut().find(|(name, _)| *name == current) {
            let key = line.split('=').next().unwrap_or("").trim().to_owned();
            lines.retain(|l| l.split('=').next().unwrap_or("").trim() != key);
            lines.push(line.to_owned());
        }
    }
    let mut out = String::new();
    for (name, lines) in sections {
        out.push_str(&name);
        out.push('\n');
        out.push_str(&lines.join("\n"));
        out.push('\n');
    }
    out
}

/// The cookie value set under `name`, from the raw `Set-Cookie` headers.
pub fn set_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

pub fn cookie_value(set_cookie_line: &str) -> String {
    set_cookie_line
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

/// `name=value` of the cookie set under `name`, ready for a `Cookie` header.
pub fn cookie_pair(headers: &HeaderMap, name: &str) -> Option<String> {
    set_cookie(headers, name).map(|line| format!("{name}={}", cookie_value(line)))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `method path` with nothing else: the escape hatch for requests no endpoint method makes
    /// (malformed bodies, wrong methods, unknown paths, a redirect's target).
    pub fn raw(&self, method: Method, path: &str) -> Call {
        Call::new(self.client.request(method, self.url(path)))
    }

    pub async fn create_user(&self, email: &str) -> Value {
        let r = self.sign_up(email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::CREATED, "sign-up of {email}");
        r.json().await.unwrap()
    }

    /// Logs in with cookie transport; returns (cookie header value, csrf token, body).
    pub async fn login_cookie(&self, email: &str) -> (String, String, Value) {
        let r = self.login(email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK);
        let cookie = cookie_pair(r.headers(), "tessera_session").expect("session cookie set");
        let body: Value = r.json().await.unwrap();
        (
            cookie,
            body["csrf_token"].as_str().unwrap().to_owned(),
            body,
        )
    }

    /// Logs in with body transport; returns (tss_ token, body).
    pub async fn login_body(&self, email: &str) -> (String, Value) {
        let r = self.login_via("body", email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        (body["session_token"].as_str().unwrap().to_owned(), body)
    }

    /// A password grant for `email`; returns the token response.
    pub async fn token_pair(&self, email: &str) -> Value {
        let r = self.grant_password(email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }
}
