//! What the engine is told at start, typed. The server builds it from its configuration file;
//! the engine never reads configuration itself, so it can be driven by any front end.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use tessera_core::session::SessionLifetimes;
use tessera_core::throttle::Rate;
use tessera_core::types::PasswordPolicy;
use tessera_core::Scope;
use tessera_token::refresh::RefreshPolicy;
use tessera_token::TokenConfig;
use time::Duration;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Issuer, audience, lifetime, leeway and algorithm of access tokens.
    pub tokens: TokenConfig,
    /// Refresh-token lifetime and the reuse grace.
    pub refresh: RefreshPolicy,
    pub password_policy: PasswordPolicy,
    /// Idle and absolute lifetimes of cookie and `tss_` sessions.
    pub session_lifetimes: SessionLifetimes,
    /// Most live sessions one user may hold; a login beyond it ends the oldest. 0: no cap.
    pub max_sessions_per_user: u32,
    /// How often expired and long-revoked sessions are deleted.
    pub sweep_interval: Duration,
    pub limits: Limits,
    /// Redis, for the shared session cache and shared throttles; `None`: this instance only.
    pub cache_url: Option<String>,
    /// Passwords hashed at once; `None`: one per CPU.
    pub hashing_slots: Option<usize>,
    /// Most revocation-stream subscribers this instance serves at once.
    pub max_revocation_subscribers: usize,
    /// The store's URL: picks the revocation feed's transport, and a SQLite database gets its
    /// signing-key encryption key file beside it by default.
    pub store_url: String,
    pub keys: KeySettings,
    /// The admin API's bearer key; `None`: the admin API is off.
    pub admin_api_key: Option<SecretString>,
    /// Mail delivery and the flows that send mail.
    pub email: EmailSettings,
    pub authz: AuthzSettings,
    pub mfa: MfaSettings,
}

/// Second factors (`[mfa]` in the configuration file).
#[derive(Debug, Clone)]
pub struct MfaSettings {
    /// How long a sensitive action (removing a factor, changing the password, ending all other
    /// sessions) accepts a second factor proven on the session.
    pub step_up_window: Duration,
    /// How long the pending second step of a login may be completed.
    pub challenge_ttl: Duration,
    /// The issuer an authenticator app shows beside the account.
    pub issuer: String,
    /// The WebAuthn relying party; `None`: passkeys are off.
    pub webauthn: Option<WebauthnSettings>,
}

/// The WebAuthn relying party (`[webauthn]` in the configuration file).
#[derive(Debug, Clone)]
pub struct WebauthnSettings {
    /// A registrable suffix of every origin's host (`example.com` for `https://auth.example.com`).
    pub rp_id: String,
    /// What authenticators show as the site's name.
    pub rp_name: String,
    /// The origins (`scheme://host[:port]`) a ceremony may come from.
    pub origins: Vec<String>,
    /// How long a started ceremony may be finished.
    pub ceremony_ttl: Duration,
}

impl Default for MfaSettings {
    fn default() -> Self {
        Self {
            step_up_window: Duration::minutes(10),
            challenge_ttl: Duration::minutes(5),
            issuer: "Tessera".into(),
            webauthn: None,
        }
    }
}

/// Whether an account must prove its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationMode {
    /// No verification mail at sign-up.
    Off,
    /// A verification mail at sign-up; signing in does not wait for it.
    Optional,
    /// A verification mail at sign-up; signing in is refused until the address is proven.
    RequiredBeforeLogin,
}

/// Mail delivery (`[email]` in the configuration file) and the e-mail flows' rules.
#[derive(Debug, Clone)]
pub struct EmailSettings {
    /// Where links point: `server.public_url`, never a request header.
    pub public_url: String,
    /// Named in every mail.
    pub product_name: String,
    /// The `From` mailbox, `Name <addr>` or `addr`.
    pub from: String,
    /// `smtp://`, `smtps://` (implicit TLS) or `smtp://…?tls=required` (STARTTLS), with
    /// optional credentials; `None`: mails are written to `dir` and noted in the log.
    pub smtp_url: Option<SecretString>,
    /// Connect and command timeout of one SMTP conversation.
    pub timeout: Duration,
    /// Where mails go when no SMTP server is configured (files readable by the owner only).
    pub dir: PathBuf,
    /// Templates found here replace the built-in ones of the same name.
    pub templates_dir: Option<PathBuf>,
    pub verification: VerificationMode,
    /// Sign-up answers an existing address exactly like a new one (and mails its owner).
    pub enumeration_safe: bool,
    pub verify_ttl: Duration,
    pub reset_ttl: Duration,
    pub change_ttl: Duration,
    /// First retry delay after a failed attempt, doubled per attempt up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Attempts before a mail is given up on.
    pub max_attempts: u32,
    /// How often the sender looks for due mail (a mail queued on this instance wakes it at
    /// once).
    pub poll_interval: Duration,
}

impl EmailSettings {
    /// The defaults of the configuration file, with links to `public_url`.
    pub fn new(public_url: &str) -> Self {
        Self {
            public_url: public_url.trim_end_matches('/').to_owned(),
            product_name: "Tessera".into(),
            from: "Tessera <noreply@localhost>".into(),
            smtp_url: None,
            timeout: Duration::seconds(10),
            dir: PathBuf::from("tessera-mail"),
            templates_dir: None,
            verification: VerificationMode::Optional,
            enumeration_safe: false,
            verify_ttl: Duration::hours(24),
            reset_ttl: Duration::minutes(30),
            change_ttl: Duration::hours(1),
            retry_base: Duration::seconds(5),
            retry_max: Duration::minutes(10),
            max_attempts: 12,
            poll_interval: Duration::seconds(5),
        }
    }
}

/// Scopes and roles policy (`[scopes]` and `[roles]` in the configuration file).
#[derive(Debug, Clone, Default)]
pub struct AuthzSettings {
    /// The scopes this server knows. Empty: no scope is ever granted, and any `scope` in a
    /// token request is refused.
    pub known_scopes: BTreeSet<String>,
    /// The scopes each client (by its `client_id`) may ask for; a client not listed may ask
    /// for none.
    pub client_scopes: HashMap<String, Scope>,
    /// End every session of a user who loses a role, instead of letting access tokens carry
    /// the role until they expire (cookie and `tss_` sessions see the change at once anyway).
    pub end_sessions_on_role_removal: bool,
}

/// Where the key that encrypts signing keys at rest comes from; see [`crate::key_file`].
#[derive(Debug, Clone, Default)]
pub struct KeySettings {
    /// 32 bytes, base64. Wins over the file.
    pub encryption_key: Option<SecretString>,
    /// Where the key is kept when `encryption_key` is not set; generated when missing.
    pub encryption_key_file: Option<PathBuf>,
}

impl Settings {
    /// Token sessions live as long as their refresh tokens may: idle and absolute both the
    /// refresh lifetime, so a mobile app that refreshes now and then stays signed in for the
    /// refresh lifetime and no longer.
    pub fn token_session_lifetimes(&self) -> SessionLifetimes {
        SessionLifetimes {
            idle: self.refresh.ttl,
            absolute: self.refresh.ttl,
        }
    }
}

/// The throttles' rates (`[limits]` in the configuration file: the names and defaults here are
/// the configuration's).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Failed logins per client address (a success is given back).
    #[serde(deserialize_with = "de_rate")]
    pub login_per_ip: Rate,
    /// Failed logins per account (a success resets the account).
    #[serde(deserialize_with = "de_rate")]
    pub login_per_account: Rate,
    /// Every login attempt per client address, successful or not: each costs a hash.
    #[serde(deserialize_with = "de_rate")]
    pub login_attempts_per_ip: Rate,
    /// Wrong current passwords per user on a password change.
    #[serde(deserialize_with = "de_rate")]
    pub password_change_per_user: Rate,
    /// Sign-up attempts per client address.
    #[serde(deserialize_with = "de_rate")]
    pub signup_per_ip: Rate,
    /// Sign-up attempts from everyone together.
    #[serde(deserialize_with = "de_rate")]
    pub signup_global: Rate,
    /// Wrong admin API keys per client address.
    #[serde(deserialize_with = "de_rate")]
    pub admin_key_per_ip: Rate,
    /// Wrong client credentials per client address.
    #[serde(deserialize_with = "de_rate")]
    pub client_secret_per_ip: Rate,
    /// Password-reset requests per client address.
    #[serde(deserialize_with = "de_rate")]
    pub password_reset_per_ip: Rate,
    /// Password-reset requests per address asked about (whether or not it has an account).
    #[serde(deserialize_with = "de_rate")]
    pub password_reset_per_account: Rate,
    /// Verification mails asked for again, per address.
    #[serde(deserialize_with = "de_rate")]
    pub verification_resend_per_account: Rate,
    /// Requests to change the address (each checks the password), per user.
    #[serde(deserialize_with = "de_rate")]
    pub email_change_per_user: Rate,
    /// Second-factor codes tried per user (a success resets the count).
    #[serde(deserialize_with = "de_rate")]
    pub mfa_per_user: Rate,
}

fn de_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
    let s = String::deserialize(d)?;
    s.parse()
        .map_err(|e: tessera_core::ValidationError| serde::de::Error::custom(e.reason))
}

const fn per(limit: u32, period: Duration) -> Rate {
    Rate { limit, period }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            login_per_ip: per(20, Duration::MINUTE),
            login_per_account: per(5, Duration::MINUTE),
            login_attempts_per_ip: per(120, Duration::MINUTE),
            password_change_per_user: per(5, Duration::MINUTE),
            signup_per_ip: per(20, Duration::HOUR),
            signup_global: per(300, Duration::MINUTE),
            admin_key_per_ip: per(10, Duration::MINUTE),
            client_secret_per_ip: per(20, Duration::MINUTE),
            password_reset_per_ip: per(20, Duration::HOUR),
            password_reset_per_account: per(5, Duration::HOUR),
            verification_resend_per_account: per(5, Duration::HOUR),
            email_change_per_user: per(5, Duration::HOUR),
            mfa_per_user: per(5, Duration::MINUTE),
        }
    }
}
