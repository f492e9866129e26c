//! Talking to Tessera: discovery (RFC 8414), the JWKS, and `GET /v1/check`, over one or more
//! instances tried in order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http::{header, HeaderMap, Method, StatusCode};
use reqwest::{Client, Url};
use serde::Deserialize;
use serde_json::Value;
use tessera_core::{SessionId, UserId};
use time::OffsetDateTime;

use crate::config::GuardConfig;
use crate::credential::{is_unsafe, Credential, CSRF_HEADERS};
use crate::error::{GuardError, StartError};
use crate::principal::{AuthMethod, Principal};

const METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// The instances of one Tessera deployment and where each serves what.
#[derive(Debug)]
pub struct Server {
    pub http: Client,
    bases: Vec<String>,
    /// The JWKS path, from `jwks_uri` in the metadata.
    jwks_path: String,
    /// `jwks_uri` as published, used when the guard talks to the issuer URL itself.
    jwks_uri: Option<String>,
    /// The instance that answered last: tried first next time.
    preferred: AtomicUsize,
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
}

/// A JWKS document and how long it may be kept.
#[derive(Debug)]
pub struct Jwks {
    pub document: Value,
    pub max_age: Option<Duration>,
}

impl Server {
    /// Fetches the metadata from the first instance that answers and checks it names `issuer`.
    pub async fn discover(cfg: &GuardConfig) -> Result<Self, StartError> {
        let http = Client::builder()
            .timeout(cfg.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StartError::Metadata(e.to_string()))?;
        let bases = cfg.bases();
        let mut last = StartError::Unreachable(bases.join(", "), "no server configured".into());
        for (index, base) in bases.iter().enumerate() {
            let url = format!("{base}{METADATA_PATH}");
            let metadata = match fetch_json::<Metadata>(&http, &url).await {
                Ok(metadata) => metadata,
                Err(reason) => {
                    last = StartError::Unreachable(url, reason);
                    continue;
                }
            };
            // RFC 8414 §3.3: the issuer in the document must be the one we asked about, or an
            // impostor's keys would be trusted.
            if metadata.issuer != cfg.issuer {
                return Err(StartError::WrongIssuer {
                    expected: cfg.issuer.clone(),
                    found: metadata.issuer,
                });
            }
            let jwks_path = Url::parse(&metadata.jwks_uri)
                .map_err(|e| StartError::Metadata(format!("jwks_uri: {e}")))?
                .path()
                .to_owned();
            return Ok(Self {
                http,
                bases,
                jwks_path,
                jwks_uri: cfg.servers.is_empty().then_some(metadata.jwks_uri),
                preferred: AtomicUsize::new(index),
            });
        }
        Err(last)
    }

    pub fn bases(&self) -> &[String] {
        &self.bases
    }

    /// The instance order for one attempt: the preferred one first.
    fn order(&self) -> impl Iterator<Item = usize> + '_ {
        let first = self.preferred.load(Ordering::Relaxed);
        (0..self.bases.len()).map(move |i| (first + i) % self.bases.len())
    }

    fn jwks_url(&self, base: &str) -> String {
        match &self.jwks_uri {
            Some(uri) => uri.clone(),
            None => format!("{}{}", origin(base), self.jwks_path),
        }
    }

    pub async fn fetch_jwks(&self) -> Result<Jwks, String> {
        let mut last = String::new();
        for index in self.order() {
            let url = self.jwks_url(&self.bases[index]);
            match self.http.get(&url).send().await {
                Ok(response) if response.status().is_success() => {
                    let max_age = max_age(response.headers());
                    match response.json::<Value>().await {
                        Ok(document) => {
                            self.preferred.store(index, Ordering::Relaxed);
                            return Ok(Jwks { document, max_age });
                        }
                        Err(e) => last = format!("{url}: {e}"),
                    }
                }
                Ok(response) => last = format!("{url}: {}", response.status()),
                Err(e) => last = format!("{url}: {e}"),
            }
        }
        Err(last)
    }

    /// Asks `GET /v1/check` about `credential` for a request made with `method` and `headers`.
    pub async fn check(
        &self,
        credential: &Credential,
        method: &Method,
        headers: &HeaderMap,
    ) -> Result<Principal, GuardError> {
        for index in self.order() {
            let url = format!("{}/v1/check", self.bases[index]);
            let mut request = self.http.get(&url);
            request = match credential {
                Credential::BearerJwt(token) | Credential::SessionToken(token) => {
                    request.bearer_auth(token)
                }
                Credential::Cookie { pair, .. } => {
                    request = request.header(header::COOKIE, pair.as_str());
                    if is_unsafe(method) {
                        request = request.header("x-forwarded-method", method.as_str());
                        for name in CSRF_HEADERS {
                            if let Some(value) = headers.get(name) {
                                request = request.header(name, value);
                            }
                        }
                    }
                    request
                }
            };
            let response = match request.send().await {
                Ok(response) => response,
                Err(e) => {
                    tracing::warn!(url, error = %e, "tessera check failed; trying the next instance");
                    continue;
                }
            };
            match response.status() {
                StatusCode::OK => {
                    self.preferred.store(index, Ordering::Relaxed);
                    let body: CheckBody = response
                        .json()
                        .await
                        .map_err(|_| GuardError::Unavailable("unreadable check answer"))?;
                    return Ok(body.into_principal());
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Err(GuardError::Invalid("refused by the server"));
                }
                status => {
                    tracing::warn!(url, %status, "tessera check failed; trying the next instance");
                }
            }
        }
        Err(GuardError::Unavailable(
            "no Tessera instance answered the check",
        ))
    }
}

#[derive(Deserialize)]
struct CheckBody {
    user_id: UserId,
    session_id: SessionId,
    method: String,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    // Absent from servers older than roles and scopes.
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    claims: serde_json::Map<String, serde_json::Value>,
}

impl CheckBody {
    fn into_principal(self) -> Principal {
        Principal {
            user: self.user_id,
            session: self.session_id,
            client_id: None,
            scope: self.scope,
            roles: self.roles,
            claims: self.claims,
            expires_at: self.expires_at,
            method: match self.method.as_str() {
                "cookie" => AuthMethod::Cookie,
                "access_token" => AuthMethod::AccessToken,
                _ => AuthMethod::SessionToken,
            },
        }
    }
}

async fn fetch_json<T: serde::de::DeserializeOwned>(http: &Client, url: &str) -> Result<T, String> {
    let response = http.get(url).send().await.map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(response.status().to_string());
    }
    response.json().await.map_err(|e| e.to_string())
}

/// `scheme://host[:port]` of a base URL (which may carry a path prefix).
fn origin(base: &str) -> &str {
    let authority = base.find("://").map_or(0, |i| i + 3);
    base[authority..]
        .find('/')
        .map_or(base, |i| &base[..authority + i])
}

/// `max-age` of `Cache-Control`, unless `no-store`/`no-cache` forbid keeping it at all.
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" {
                return Some(Duration::ZERO);
            }
            if let Some(seconds) = lower.strip_prefix("max-age=") {
                max_age = seconds
                    .trim_matches('"')
                    .parse()
                    .ok()
                    .map(Duration::from_secs);
            }
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_max_age() {
        let mut headers = HeaderMap::new();
        assert_eq!(max_age(&headers), None);
        headers.insert(
            header::CACHE_CONTROL,
            "public, max-age=299".parse().unwrap(),
        );
        assert_eq!(max_age(&headers), Some(Duration::from_secs(299)));
        headers.insert(header::CACHE_CONTROL, "no-store".parse().unwrap());
        assert_eq!(max_age(&headers), Some(Duration::ZERO));
    }

    #[test]
    fn origin_drops_the_path() {
        assert_eq!(
            origin("https://auth.example/tessera"),
            "https://auth.example"
        );
        assert_eq!(origin("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
