//! What every proxy test needs: a free port, an echoing upstream, a proxy process that dies
//! with the test, and the steps of the sign-in journey.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::extract::Request;
use axum::Json;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Whether `binary` is on PATH; when it is not, a skip outside CI and a failure under CI.
pub fn have(binary: &str) -> bool {
    let found = Command::new(binary)
        .arg(if binary == "caddy" { "version" } else { "-v" })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{binary} is not installed, and CI is set: .ci/run installs it"
        );
        eprintln!("SKIPPED: {binary} is not installed (apt-get install {binary})");
    }
    found
}

/// A port for the proxy, held bound until [`PortReservation::release`] just before the proxy
/// starts: otherwise the servers the test starts meanwhile (Tessera, the upstream, on port 0)
/// could be handed the same port, and the proxy, failing to bind, would leave them answering in
/// its place.
pub struct PortReservation {
    listener: StdListener,
    pub port: u16,
}

impl PortReservation {
    pub fn new() -> Self {
        let listener = StdListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        Self { listener, port }
    }

    pub fn release(self) -> u16 {
        drop(self.listener);
        self.port
    }
}

/// What every proxy test sets up before its proxy: a port for the proxy (held until it
/// starts), Tessera with that site as its public URL and the proxy (127.0.0.1) trusted, and an
/// echoing upstream.
pub struct Stage {
    pub reservation: PortReservation,
    pub port: u16,
    pub site: String,
    pub tessera: crate::helpers::TestApp,
    pub upstream: SocketAddr,
}

impl Stage {
    pub async fn new() -> Self {
        let reservation = PortReservation::new();
        let port = reservation.port;
        let site = format!("http://127.0.0.1:{port}");
        let tessera = crate::helpers::spawn_app_with(
            crate::helpers::Backend::Memory,
            &format!("[server]\npublic_url = \"{site}\"\ntrusted_proxies = [\"127.0.0.1/32\"]\n"),
        )
        .await;
        let upstream = spawn_echo_upstream().await;
        Self {
            reservation,
            port,
            site,
            tessera,
            upstream,
        }
    }

    /// Tessera's `host:port`, for a proxy's upstream line.
    pub fn tessera_address(&self) -> &str {
        self.tessera.base.trim_start_matches("http://")
    }
}

/// An upstream application that answers every request with what it received.
pub async fn spawn_echo_upstream() -> SocketAddr {
    async fn echo(req: Request) -> Json<Value> {
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        Json(json!({
            "method": req.method().as_str(),
            "uri": req.uri().to_string(),
            "headers": headers,
        }))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().fallback(echo))
            .await
            .unwrap();
    });
    addr
}

/// Every value the upstream received under `name`.
pub fn received<'v>(echo: &'v Value, name: &str) -> Vec<&'v str> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] == name)
        .filter_map(|pair| pair[1].as_str())
        .collect()
}

/// A proxy process, killed when the test ends however it ends.
pub struct Proxy {
    child: Child,
    pub log: PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// Starts `command` and waits until `port` accepts connections.
    pub async fn start(mut command: Command, port: u16, log: &Path) -> Self {
        let out = std::fs::File::create(log).unwrap();
        let child = command
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("the proxy starts");
        let mut proxy = Self {
            child,
            log: log.to_owned(),
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                // Whatever answered, it is only the proxy if the proxy is still running (one that
                // could not bind exits).
                tokio::time::sleep(Duration::from_millis(100)).await;
                if let Ok(Some(status)) = proxy.child.try_wait() {
                    panic!("the proxy exited ({status}): {}", proxy.logs());
                }
                return proxy;
            }
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!("the proxy exited ({status}): {}", proxy.logs());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the proxy did not listen on {port}: {}", proxy.logs());
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The config file under docs/integrations/, as the docs show it.
pub fn doc_config(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/integrations")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A client whose connections come from 127.0.0.2, an address Tessera does not trust.
pub fn untrusted_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap()
}

pub const PASSWORD: &str = crate::helpers::PASSWORD;

/// Signs up and logs in through the proxy; returns the cookie header, CSRF token and user id.
pub async fn sign_up_and_log_in(client: &reqwest::Client, site: &str) -> (String, String, String) {
    let email = "ada@example.com";
    let r = client
        .post(format!("{site}/v1/users"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "sign-up through the proxy");
    let user: Value = r.json().await.unwrap();
    let r = client
        .post(format!("{site}/v1/session"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "login through the proxy");
    let line = crate::helpers::set_cookie(r.headers(), "tessera_session")
        .expect("session cookie")
        .to_owned();
    let body: Value = r.json().await.unwrap();
    (
        format!("tessera_session={}", crate::helpers::cookie_value(&line)),
        body["csrf_token"].as_str().unwrap().to_owned(),
        user["id"].as_str().unwrap().to_owned(),
    )
}

pub const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,*/*;q=0.8";

pub fn login_back_to(site: &str, url: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(url.as_bytes()).collect();
    format!("{site}/login?return_to={encoded}")
}

/// The journey every proxy must get right, through the proxy at `site` with Tessera at
/// `tessera` (whose `server.public_url` is `site`).
pub async fn sign_in_journey(site: &str, tessera: &crate::helpers::TestApp, proxy: &Proxy) {
    let client = client();
    let page = format!("{site}/private/report?id=7");
    let r = client
        .get(&page)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{}", proxy.logs());

    let sign_in = login_back_to(site, &page);
    let r = client
        .get(&page)
        .header("accept", BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "{}", proxy.logs());
    assert_eq!(location(&r), Some(sign_in.as_str()));

    // Forged reports of the original request, sent through the proxy, change nothing.
    let r = client
        .get(&page)
        .header("accept", BROWSER_ACCEPT)
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-uri", "/phish")
        .header("x-original-url", "https://evil.example/phish")
        .header("x-original-uri", "/phish")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(
        location(&r),
        Some(sign_in.as_str()),
        "forged headers were believed"
    );

    // A spoofed identity without a credential authenticates nobody.
    let r = client
        .get(&page)
        .header("accept", "application/json")
        .header("x-auth-user", "00000000-0000-0000-0000-000000000001")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let (cookie, csrf, user_id) = sign_up_and_log_in(&client, site).await;
    let r = client
        .get(&page)
        .header("cookie", &cookie)
        .header("x-auth-user", "00000000-0000-0000-0000-000000000001")
        .header("x-auth-email", "mallory@evil.example")
        .header("x-auth-method", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", proxy.logs());
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["uri"], "/private/report?id=7");
    assert_eq!(received(&echo, "x-auth-user"), [user_id.as_str()]);
    assert_eq!(received(&echo, "x-auth-email"), ["ada@example.com"]);
    assert_eq!(received(&echo, "x-auth-method"), ["cookie"]);
    assert_eq!(received(&echo, "x-auth-session").len(), 1);

    // A state-changing request with the cookie needs the CSRF token, judged on the real method.
    let r = client
        .post(&page)
        .header("cookie", &cookie)
        .header("origin", site)
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "{}", proxy.logs());
    let r = client
        .post(&page)
        .header("cookie", &cookie)
        .header("origin", site)
        .header("x-csrf-token", &csrf)
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", proxy.logs());
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["method"], "POST");

    let r = client
        .delete(format!("{site}/v1/session"))
        .header("cookie", &cookie)
        .header("origin", site)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NO_CONTENT,
        "logout through the proxy"
    );
    let r = client
        .get(&page)
        .header("cookie", &cookie)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "refused after logout");

    // Straight to Tessera from an address it does not trust: the same forged reports are
    // ignored, so the sign-in link carries no way back.
    let r = untrusted_client()
        .get(tessera.url("/v1/check?mode=traefik"))
        .header("accept", BROWSER_ACCEPT)
        .header("x-forwarded-proto", "http")
        .header("x-forwarded-host", site.trim_start_matches("http://"))
        .header("x-forwarded-uri", "/private")
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), Some(format!("{site}/login").as_str()));
}

fn location(r: &reqwest::Response) -> Option<&str> {
    r.headers().get("location").and_then(|v| v.to_str().ok())
}
