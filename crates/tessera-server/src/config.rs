//! Configuration: a TOML file plus `TESSERA_<SECTION>__<KEY>` environment overrides.
//!
//! Every key, its default and its meaning are listed in `docs/configuration.md`. Unknown keys and
//! bad values stop the start with a message that names the key: a typo in an auth server's
//! configuration must never silently fall back to a default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use axum::http::Uri;
use ipnet::IpNet;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Deserializer};
use tessera_core::throttle::parse_duration;
use tessera_engine::{EmailSettings, Limits, VerificationMode};
use tessera_token::Alg;
use time::Duration;

mod authz;
mod mfa;
mod webauthn;

pub use authz::{RolesConfig, ScopesConfig};
pub use mfa::MfaConfig;
pub use webauthn::WebauthnConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("configuration file {path} is not valid TOML: {message}")]
    Syntax { path: String, message: String },
    #[error("unknown configuration key `{0}`")]
    UnknownKey(String),
    #[error("unknown configuration key `{key}` (from environment variable {var})")]
    UnknownEnvKey { key: String, var: String },
    #[error("invalid value for `{key}`: {message}")]
    Invalid { key: String, message: String },
}

/// A duration written like `"90s"`, `"15m"`, `"12h"` or `"30d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s)
            .filter(|d| *d >= Duration::ZERO)
            .map(Dur)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{s:?} is not a duration like \"15m\" (at most 36500d)"
                ))
            })
    }
}

fn de_alg<'de, D: Deserializer<'de>>(d: D) -> Result<Alg, D::Error> {
    let s = String::deserialize(d)?;
    s.parse()
        .map_err(|_| serde::de::Error::custom("must be one of EdDSA, ES256, RS256, HS256"))
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub cache: CacheConfig,
    pub session: SessionConfig,
    pub cookie: CookieConfig,
    pub token: TokenConfig,
    pub signup: SignupConfig,
    pub admin: AdminConfig,
    pub password: PasswordConfig,
    pub limits: Limits,
    pub keys: KeysConfig,
    pub revocations: RevocationsConfig,
    pub email: EmailConfig,
    pub scopes: ScopesConfig,
    pub roles: RolesConfig,
    pub mfa: MfaConfig,
    pub webauthn: WebauthnConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub public_url: String,
    pub trusted_proxies: Vec<IpNet>,
    pub allowed_return_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a client has to send a complete request head, counted from the connection's
    /// opening or from the first byte of a later request on it.
    pub header_read_timeout: Dur,
    /// How long a connection may sit idle between requests before it is closed.
    pub keep_alive_timeout: Dur,
    /// Open connections at most; more are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Open connections per client address at most (IPv6: per /64); `trusted_proxies` are
    /// bounded by `max_connections` only.
    pub max_connections_per_ip: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub url: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    pub url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    pub idle_timeout: Dur,
    pub absolute_timeout: Dur,
    /// How often expired and long-revoked sessions are deleted.
    pub sweep_interval: Dur,
    /// Most live sessions one user may hold (all kinds); a login beyond it ends the oldest.
    /// 0 means no cap.
    pub max_per_user: u32,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CookieConfig {
    /// `None` means: secure unless `public_url` is plain `http://`.
    pub secure: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    pub access_ttl: Dur,
    pub refresh_ttl: Dur,
    pub refresh_reuse_grace: Dur,
    #[serde(deserialize_with = "de_alg")]
    pub algorithm: Alg,
    pub issuer: Option<String>,
    pub audience: String,
    pub leeway: Dur,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignupConfig {
    pub enabled: bool,
    /// A taken address gets the same answer as a new one (202), and its owner a mail.
    /// `None`: on exactly when `email.verification = "required_before_login"`.
    pub enumeration_safe: Option<bool>,
}

/// Mail delivery and the e-mail flows (`[email]`); see `docs/email.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailConfig {
    /// `smtp://[user:pass@]host[:port]` (plain, or `?tls=required` for STARTTLS) or
    /// `smtps://…` (implicit TLS). None: mails are written to `dir`.
    pub smtp_url: Option<SecretString>,
    pub from: String,
    pub product_name: String,
    pub timeout: Dur,
    pub dir: String,
    pub templates_dir: Option<String>,
    #[serde(deserialize_with = "de_verification")]
    pub verification: VerificationMode,
    pub verify_ttl: Dur,
    pub reset_ttl: Dur,
    pub change_ttl: Dur,
    pub retry_base: Dur,
    pub retry_max: Dur,
    pub max_attempts: u32,
    pub poll_interval: Dur,
}

impl Default for EmailConfig {
    fn default() -> Self {
        let d = EmailSettings::new("http://localhost");
        Self {
            smtp_url: None,
            from: d.from,
            product_name: d.product_name,
            timeout: Dur(d.timeout),
            dir: d.dir.display().to_string(),
            templates_dir: None,
            verification: d.verification,
            verify_ttl: Dur(d.verify_ttl),
            reset_ttl: Dur(d.reset_ttl),
            change_ttl: Dur(d.change_ttl),
            retry_base: Dur(d.retry_base),
            retry_max: Dur(d.retry_max),
            max_attempts: d.max_attempts,
            poll_interval: Dur(d.poll_interval),
        }
    }
}

fn de_verification<'de, D: Deserializer<'de>>(d: D) -> Result<VerificationMode, D::Error> {
    match String::deserialize(d)?.as_str() {
        "off" => Ok(VerificationMode::Off),
        "optional" => Ok(VerificationMode::Optional),
        "required_before_login" | "required" => Ok(VerificationMode::RequiredBeforeLogin),
        _ => Err(serde::de::Error::custom(
            "must be one of off, optional, required_before_login",
        )),
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub api_key: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    pub min_length: usize,
    /// Extra passwords refused at sign-up and password change, on top of the built-in list.
    pub deny_list: Vec<String>,
    /// Passwords hashed at once, each on its own thread with its own `m_cost` of memory.
    /// `None`: one per CPU.
    pub hashing_slots: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// 32 bytes, base64: encrypts signing keys at rest.
    pub encryption_key: Option<SecretString>,
    /// Where the key is kept when `encryption_key` is not set; generated when missing.
    /// Default: `<database>.key` beside a SQLite database.
    pub encryption_key_file: Option<String>,
}

/// The revocation stream for resource servers (`GET /v1/revocations`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationsConfig {
    /// Most stream subscribers one instance serves at once; the next one gets 503.
    pub max_subscribers: usize,
}

impl Default for RevocationsConfig {
    fn default() -> Self {
        Self {
            max_subscribers: 1000,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://localhost:8080".into(),
            trusted_proxies: Vec::new(),
            allowed_return_origins: Vec::new(),
            body_limit: 64 * 1024,
            header_read_timeout: Dur(Duration::seconds(10)),
            keep_alive_timeout: Dur(Duration::seconds(75)),
            max_connections: 4096,
            max_connections_per_ip: 256,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://tessera.db".into(),
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Dur(Duration::minutes(30)),
            absolute_timeout: Dur(Duration::hours(12)),
            sweep_interval: Dur(Duration::minutes(5)),
            max_per_user: 100,
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            access_ttl: Dur(Duration::minutes(5)),
            refresh_ttl: Dur(Duration::days(30)),
            refresh_reuse_grace: Dur(Duration::ZERO),
            algorithm: Alg::EdDSA,
            issuer: None,
            audience: "tessera".into(),
            leeway: Dur(Duration::seconds(30)),
        }
    }
}

impl Default for SignupConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            enumeration_safe: None,
        }
    }
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            min_length: 8,
            deny_list: Vec::new(),
            hashing_slots: None,
        }
    }
}

/// Keys whose environment value is a comma-separated list.
const LIST_KEYS: &[&str] = &[
    "server.trusted_proxies",
    "server.allowed_return_origins",
    "password.deny_list",
    "scopes.known",
    "scopes.clients",
];

/// The keys of `section`, as serde knows them from the section's struct: the one source of
/// truth for what a configuration file and `TESSERA_*` variables may set. `None`: no such
/// section.
fn section_keys(section: &str) -> Option<&'static [&'static str]> {
    use serde_aux::serde_introspection::serde_introspect as keys_of;
    Some(match section {
        "server" => keys_of::<ServerConfig>(),
        "store" => keys_of::<StoreConfig>(),
        "cache" => keys_of::<CacheConfig>(),
        "session" => keys_of::<SessionConfig>(),
        "cookie" => keys_of::<CookieConfig>(),
        "token" => keys_of::<TokenConfig>(),
        "signup" => keys_of::<SignupConfig>(),
        "admin" => keys_of::<AdminConfig>(),
        "password" => keys_of::<PasswordConfig>(),
        "limits" => keys_of::<Limits>(),
        "keys" => keys_of::<KeysConfig>(),
        "revocations" => keys_of::<RevocationsConfig>(),
        "email" => keys_of::<EmailConfig>(),
        "scopes" => keys_of::<ScopesConfig>(),
        "roles" => keys_of::<RolesConfig>(),
        "mfa" => keys_of::<MfaConfig>(),
        "webauthn" => keys_of::<WebauthnConfig>(),
        _ => return None,
    })
}

fn is_known_key(section: &str, key: &str) -> bool {
    section_keys(section).is_some_and(|keys| keys.contains(&key))
}

impl Config {
    /// Loads `path` (or `./tessera.toml` when present and no path is given), then applies the
    /// `TESSERA_<SECTION>__<KEY>` variables from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let default_path = Path::new("tessera.toml");
        let path = path.or_else(|| default_path.exists().then_some(default_path));
        let mut table = match path {
            Some(p) => read_file(p)?,
            None => toml::Table::new(),
        };
        apply_env(&mut table, env)?;
        Self::from_table(table)
    }

    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    path: "<string>".into(),
                    message: e.message().to_owned(),
                })?;
        Self::from_table(table)
    }

    fn from_table(table: toml::Table) -> Result<Self, ConfigError> {
        check_known_keys(&table)?;
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                ConfigError::Invalid {
                    key: e.path().to_string(),
                    message: e.inner().message().to_owned(),
                }
            })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        };
        public_origin(&self.server.public_url).ok_or_else(|| {
            invalid(
                "server.public_url",
                "must be an http:// or https:// origin like https://auth.example.com",
            )
        })?;
        for origin in &self.server.allowed_return_origins {
            public_origin(origin).ok_or_else(|| {
                invalid(
                    "server.allowed_return_origins",
                    "each entry must be an http(s) origin",
                )
            })?;
        }
        if self.session.idle_timeout.0 <= Duration::ZERO {
            return Err(invalid("session.idle_timeout", "must be longer than 0s"));
        }
        if self.session.absolute_timeout.0 < self.session.idle_timeout.0 {
            return Err(invalid(
                "session.absolute_timeout",
                "must be at least session.idle_timeout",
            ));
        }
        if self.session.sweep_interval.0 < Duration::SECOND {
            return Err(invalid("session.sweep_interval", "must be at least 1s"));
        }
        if self.token.access_ttl.0 < Duration::SECOND {
            return Err(invalid("token.access_ttl", "must be at least 1s"));
        }
        if self.token.refresh_ttl.0 < self.token.access_ttl.0 {
            return Err(invalid(
                "token.refresh_ttl",
                "must be at least token.access_ttl",
            ));
        }
        if self.token.audience.is_empty() {
            return Err(invalid("token.audience", "must not be empty"));
        }
        if let Some(key) = &self.admin.api_key {
            if key.expose_secret().chars().count() < 32 {
                return Err(invalid(
                    "admin.api_key",
                    "must be at least 32 characters (`tessera admin-key create` makes one)",
                ));
            }
        }
        if !(1..=128).contains(&self.password.min_length) {
            return Err(invalid("password.min_length", "must be between 1 and 128"));
        }
        if self
            .password
            .hashing_slots
            .is_some_and(|n| !(1..=256).contains(&n))
        {
            return Err(invalid(
                "password.hashing_slots",
                "must be between 1 and 256",
            ));
        }
        if self.revocations.max_subscribers == 0 {
            return Err(invalid("revocations.max_subscribers", "must be at least 1"));
        }
        if self.server.body_limit < 1024 {
            return Err(invalid("server.body_limit", "must be at least 1024 bytes"));
        }
        if self.server.header_read_timeout.0 <= Duration::ZERO {
            return Err(invalid(
                "server.header_read_timeout",
                "must be longer than 0s",
            ));
        }
        if self.server.keep_alive_timeout.0 <= Duration::ZERO {
            return Err(invalid(
                "server.keep_alive_timeout",
                "must be longer than 0s",
            ));
        }
        if self.server.max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        if self.server.max_connections_per_ip == 0 {
            return Err(invalid(
                "server.max_connections_per_ip",
                "must be at least 1",
            ));
        }
        if let Some(key) = &self.keys.encryption_key {
            tessera_token::EncryptionKey::from_base64(key.expose_secret())
                .map_err(|_| invalid("keys.encryption_key", "must be 32 bytes, base64 encoded"))?;
        }
        self.validate_email()?;
        self.validate_scopes()?;
        self.validate_mfa()?;
        self.validate_webauthn()?;
        if let Some(url) = &self.cache.url {
            if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                return Err(invalid("cache.url", "must be a redis:// or rediss:// URL"));
            }
        }
        Ok(())
    }

    fn validate_email(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        };
        let e = &self.email;
        if let Some(url) = &e.smtp_url {
            let url = url.expose_secret();
            if !url.starts_with("smtp://") && !url.starts_with("smtps://") {
                return Err(invalid(
                    "email.smtp_url",
                    "must be an smtp:// or smtps:// URL",
                ));
            }
        }
        if !tessera_engine::mail::valid_mailbox(&e.from) {
            return Err(invalid(
                "email.from",
                "must be a mailbox like `Name <noreply@example.com>`",
            ));
        }
        for (key, d) in [
            ("email.timeout", e.timeout),
            ("email.verify_ttl", e.verify_ttl),
            ("email.reset_ttl", e.reset_ttl),
            ("email.change_ttl", e.change_ttl),
            ("email.retry_base", e.retry_base),
            ("email.poll_interval", e.poll_interval),
        ] {
            if d.0 <= Duration::ZERO {
                return Err(invalid(key, "must be longer than 0s"));
            }
        }
        if e.retry_max.0 < e.retry_base.0 {
            return Err(invalid(
                "email.retry_max",
                "must be at least email.retry_base",
            ));
        }
        if e.max_attempts == 0 {
            return Err(invalid("email.max_attempts", "must be at least 1"));
        }
        if e.product_name.trim().is_empty() {
            return Err(invalid("email.product_name", "must not be empty"));
        }
        Ok(())
    }

    /// Whether sign-up answers a taken address like a new one.
    pub fn signup_enumeration_safe(&self) -> bool {
        self.signup
            .enumeration_safe
            .unwrap_or(self.email.verification == VerificationMode::RequiredBeforeLogin)
    }

    /// `Secure` cookies with `__Host-`/`__Secure-` prefixes, unless turned off or serving plain
    /// http in development.
    pub fn cookie_secure(&self) -> bool {
        self.cookie
            .secure
            .unwrap_or(!self.server.public_url.starts_with("http://"))
    }

    /// True when browsers reach the server over https but its cookies were told to go over
    /// plain http too: a network attacker who gets one http request out of the browser reads
    /// the session cookie.
    pub fn cookies_insecure_over_https(&self) -> bool {
        self.public_origin().starts_with("https://") && !self.cookie_secure()
    }

    pub fn issuer(&self) -> &str {
        self.token
            .issuer
            .as_deref()
            .unwrap_or(&self.server.public_url)
    }

    /// The `scheme://host[:port]` of `server.public_url`, lower-cased.
    pub fn public_origin(&self) -> String {
        public_origin(&self.server.public_url).expect("validated at load")
    }
}

/// Normalises an http(s) URL to its origin, or `None` if it is not one.
pub fn public_origin(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host();
    // `Uri` takes `https://:x` and `https://host:4p4` (an empty host, a port that is not a
    // number: neither names an origin, and a browser refuses both) and drops the bad port.
    let port_text = &authority.as_str()[host.len()..];
    if host.is_empty() || !(port_text.is_empty() || port_text[1..].parse::<u16>().is_ok()) {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let default_port = if scheme == "https" { 443 } else { 80 };
    Some(match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: display.clone(),
        source,
    })?;
    text.parse()
        .map_err(|e: toml::de::Error| ConfigError::Syntax {
            path: display,
            message: e.to_string(),
        })
}

fn check_known_keys(table: &toml::Table) -> Result<(), ConfigError> {
    for (section, value) in table {
        let Some(keys) = value.as_table() else {
            return Err(ConfigError::UnknownKey(section.clone()));
        };
        for key in keys.keys() {
            if !is_known_key(section, key) {
                return Err(ConfigError::UnknownKey(format!("{section}.{key}")));
            }
        }
    }
    Ok(())
}

/// Folds `TESSERA_SECTION__KEY=value` variables into the table. Variables without the double
/// underscore are not configuration and are ignored.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let vars: BTreeMap<String, String> = env.into_iter().collect();
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix("TESSERA_") else {
            continue;
        };
        let Some((section, key)) = rest.split_once("__") else {
            continue;
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        let full = format!("{section}.{key}");
        if !is_known_key(&section, &key) {
            return Err(ConfigError::UnknownEnvKey {
                key: full,
                var: name,
            });
        }
        let value = if LIST_KEYS.contains(&full.as_str()) {
            toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_owned()))
                    .collect(),
            )
        } else {
            scalar_from_env(&raw)
        };
        let section_table = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let Some(section_table) = section_table.as_table_mut() else {
            return Err(ConfigError::UnknownKey(section));
        };
        section_table.insert(key, value);
    }
    Ok(())
}

/// Environment values are strings; booleans and integers are recognised so that
/// `TESSERA_SIGNUP__ENABLED=false` means what it says.
fn scalar_from_env(raw: &str) -> toml::Value {
    match raw.trim() {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        t => t.parse::<i64>().map_or_else(
            |_| toml::Value::String(raw.to_owned()),
            toml::Value::Integer,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::load(None, []).unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.store.url, "sqlite://tessera.db");
        assert_eq!(c.session.idle_timeout.0, Duration::minutes(30));
        assert_eq!(c.session.absolute_timeout.0, Duration::hours(12));
        assert_eq!(c.session.max_per_user, 100);
        assert_eq!(c.revocations.max_subscribers, 1000);
        assert_eq!(c.token.access_ttl.0, Duration::minutes(5));
        assert_eq!(c.token.refresh_ttl.0, Duration::days(30));
        assert_eq!(c.token.algorithm, Alg::EdDSA);
        assert_eq!(c.issuer(), "http://localhost:8080");
        assert!(
            !c.cookie_secure(),
            "plain http public_url means no Secure cookies"
        );
        assert!(c.signup.enabled);
        assert_eq!(c.limits.login_per_account.limit, 5);
    }

    #[test]
    fn env_overrides_file_and_parses_types() {
        let c = Config::load(
            None,
            env(&[
                ("TESSERA_STORE__URL", "sqlite::memory:"),
                ("TESSERA_SIGNUP__ENABLED", "false"),
                ("TESSERA_SESSION__IDLE_TIMEOUT", "90s"),
                (
                    "TESSERA_SERVER__TRUSTED_PROXIES",
                    "10.0.0.0/8, 192.168.1.1/32",
                ),
                ("TESSERA_PASSWORD__MIN_LENGTH", "12"),
                ("TESSERA_LOG", "ignored: no double underscore"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.store.url, "sqlite::memory:");
        assert!(!c.signup.enabled);
        assert_eq!(c.session.idle_timeout.0, Duration::seconds(90));
        assert_eq!(c.server.trusted_proxies.len(), 2);
        assert_eq!(c.password.min_length, 12);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::from_toml_str("[server]\nlisten_addr = \"x\"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown configuration key `server.listen_addr`"
        );
        let err = Config::from_toml_str("[sever]\nlisten = \"x\"").unwrap_err();
        assert!(err.to_string().contains("sever.listen"), "{err}");
        let err = Config::load(None, env(&[("TESSERA_STORE__URI", "x")])).unwrap_err();
        assert!(err.to_string().contains("store.uri"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        for (text, key) in [
            ("[session]\nidle_timeout = \"soon\"", "session.idle_timeout"),
            (
                "[session]\nabsolute_timeout = \"3000000d\"",
                "session.absolute_timeout",
            ),
            ("[token]\nrefresh_ttl = \"36501d\"", "token.refresh_ttl"),
            ("[server]\nlisten = \"nowhere\"", "server.listen"),
            ("[limits]\nlogin_per_ip = \"lots\"", "limits.login_per_ip"),
            ("[token]\nalgorithm = \"none\"", "token.algorithm"),
            ("[admin]\napi_key = \"short\"", "admin.api_key"),
            ("[server]\npublic_url = \"ftp://x\"", "server.public_url"),
            ("[signup]\nenabled = \"maybe\"", "signup.enabled"),
            (
                "[server]\ntrusted_proxies = [\"not-a-cidr\"]",
                "server.trusted_proxies",
            ),
        ] {
            let err = Config::from_toml_str(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text:?} gave {err:?}");
        }
    }

    #[test]
    fn public_origin_normalises() {
        assert_eq!(
            public_origin("HTTPS://Auth.Example.com:443/").as_deref(),
            Some("https://auth.example.com")
        );
        assert_eq!(
            public_origin("http://localhost:8080").as_deref(),
            Some("http://localhost:8080")
        );
        assert_eq!(public_origin("javascript:alert(1)"), None);
        assert_eq!(public_origin("https://user@evil.com"), None);
    }

    /// Found by the `config_toml` and `return_to` fuzz targets: `https://:th` normalised to
    /// the non-origin `https://`, and `https://app.example.com:4p4/x` to the allowed origin
    /// `https://app.example.com`, so an unfollowable URL passed the `return_to` check.
    #[test]
    fn public_origin_refuses_empty_hosts_and_bad_ports() {
        for bad in [
            "https://:th?q",
            "https://",
            "https://:443",
            "https://app.example.com:4p4/x",
            "https://app.example.com:99999",
            "https://app.example.com:-1",
        ] {
            assert_eq!(public_origin(bad), None, "{bad:?}");
        }
        assert_eq!(
            public_origin("http://[::1]:8080/x").as_deref(),
            Some("http://[::1]:8080")
        );
        let bad_url = "[server]\npublic_url = \"https://:8443\"\n";
        assert!(Config::from_toml_str(bad_url).is_err());
    }

    #[test]
    fn insecure_cookies_over_https_are_noticed() {
        let https = "[server]\npublic_url = \"https://auth.example.com\"\n";
        let c = Config::from_toml_str(https).unwrap();
        assert!(!c.cookies_insecure_over_https());
        let c = Config::from_toml_str(&format!("{https}[cookie]\nsecure = false")).unwrap();
        assert!(c.cookies_insecure_over_https());
        let c = Config::from_toml_str("[cookie]\nsecure = false").unwrap();
        assert!(
            !c.cookies_insecure_over_https(),
            "plain http is development"
        );
    }
}
