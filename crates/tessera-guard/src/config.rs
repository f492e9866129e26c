//! What a guard needs to know about the Tessera it trusts, with the server's defaults.

use std::fmt;
use std::time::Duration;

/// What a guard does with a credential while it has been cut off from the revocation stream
/// for longer than [`GuardConfig::cutoff_bound`] (or has never been in sync since it started).
/// Until then, the revoked-session set it holds is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CutoffPolicy {
    /// Ask the server (`GET /v1/check`) and cache the answer for [`GuardConfig::check_cache_ttl`].
    /// If the server cannot be reached either, refuse. The default.
    #[default]
    AskServer,
    /// Refuse every access token until the stream is back.
    Refuse,
    /// Accept tokens the local set does not know as revoked, logging a warning each time. A
    /// token revoked while cut off is accepted until it expires: choose this knowingly.
    AcceptWithWarning,
}

/// The guard's settings. [`GuardConfig::new`] gives Tessera's defaults; set the client
/// credentials (a client registered with `POST /v1/admin/clients`) to follow revocations.
#[derive(Clone)]
pub struct GuardConfig {
    /// The server's issuer, exactly as in its tokens' `iss` (`token.issuer`, by default its
    /// `server.public_url`). Metadata is discovered at `{issuer}/.well-known/oauth-authorization-server`.
    pub issuer: String,
    /// Where to reach the server when that is not the issuer URL (instances behind a private
    /// network, or several instances to fail over between). Tried in order; the stream moves to
    /// the next one when its connection fails. Empty: the issuer URL itself.
    pub servers: Vec<String>,
    /// `aud` the tokens must carry (`token.audience`).
    pub audience: String,
    /// The server's `token.access_ttl`: how long a revoked session's tokens can live.
    pub access_ttl: Duration,
    /// The server's `token.leeway`.
    pub leeway: Duration,
    /// Client id and secret for `GET /v1/revocations` (HTTP Basic). Without them the guard
    /// cannot follow revocations and treats itself as always cut off.
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// How long the guard may be cut off from the stream before [`Self::cutoff_policy`]
    /// applies. `None`: the access-token lifetime.
    pub cutoff_bound: Option<Duration>,
    pub cutoff_policy: CutoffPolicy,
    /// How long an answer of `/v1/check` is reused (opaque credentials, and tokens under
    /// [`CutoffPolicy::AskServer`]). A revocation the stream announces ends it earlier.
    pub check_cache_ttl: Duration,
    /// A token naming a key id the guard does not hold refetches the JWKS at most this often.
    pub unknown_kid_refetch_interval: Duration,
    /// The JWKS is refetched when its `Cache-Control: max-age` runs out, but at least this often.
    pub max_jwks_age: Duration,
    /// Reconnect backoff of the stream: first delay and cap.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Timeout of each HTTP request to the server (not of the stream, which never ends).
    pub request_timeout: Duration,
}

impl GuardConfig {
    /// Tessera's defaults: audience `tessera`, 5 minute tokens, 30 s leeway, ask the server
    /// when cut off for longer than the token lifetime.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            servers: Vec::new(),
            audience: "tessera".to_owned(),
            // The server's own defaults, from the crate that defines them.
            access_ttl: tessera_token::TokenConfig::DEFAULT_ACCESS_TTL.unsigned_abs(),
            leeway: tessera_token::TokenConfig::DEFAULT_LEEWAY.unsigned_abs(),
            client_id: None,
            client_secret: None,
            cutoff_bound: None,
            cutoff_policy: CutoffPolicy::default(),
            check_cache_ttl: Duration::from_secs(5),
            unknown_kid_refetch_interval: Duration::from_secs(10),
            max_jwks_age: time::Duration::HOUR.unsigned_abs(),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
        }
    }

    #[must_use]
    pub fn client(mut self, id: impl Into<String>, secret: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self.client_secret = Some(secret.into());
        self
    }

    #[must_use]
    pub fn servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.servers = servers.into_iter().map(Into::into).collect();
        self
    }

    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    #[must_use]
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.access_ttl = ttl;
        self
    }

    #[must_use]
    pub fn cutoff(mut self, policy: CutoffPolicy, bound: Option<Duration>) -> Self {
        self.cutoff_policy = policy;
        self.cutoff_bound = bound;
        self
    }

    /// The effective bound: [`Self::cutoff_bound`], else the access-token lifetime.
    pub fn effective_cutoff_bound(&self) -> Duration {
        self.cutoff_bound.unwrap_or(self.access_ttl)
    }

    /// The base URLs to talk to, in order.
    pub(crate) fn bases(&self) -> Vec<String> {
        let list = if self.servers.is_empty() {
            vec![self.issuer.clone()]
        } else {
            self.servers.clone()
        };
        list.into_iter()
            .map(|s| s.trim_end_matches('/').to_owned())
            .collect()
    }
}

impl fmt::Debug for GuardConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardConfig")
            .field("issuer", &self.issuer)
            .field("servers", &self.servers)
            .field("audience", &self.audience)
            .field("access_ttl", &self.access_ttl)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("cutoff_bound", &self.effective_cutoff_bound())
            .field("cutoff_policy", &self.cutoff_policy)
            .finish_non_exhaustive()
    }
}
