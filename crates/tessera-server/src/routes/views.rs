//! JSON shapes of API.md. Timestamps are RFC 3339 in UTC.

use serde::Serialize;
use tessera_core::{Session, SessionId, User};
use time::OffsetDateTime;

time::serde::format_description!(
    rfc3339_millis,
    OffsetDateTime,
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
);

#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    #[serde(with = "rfc3339_millis")]
    pub created_at: OffsetDateTime,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.to_string(),
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SessionView {
    pub id: String,
    pub user_id: String,
    #[serde(with = "rfc3339_millis")]
    pub created_at: OffsetDateTime,
    #[serde(with = "rfc3339_millis")]
    pub last_seen_at: OffsetDateTime,
    #[serde(with = "rfc3339_millis")]
    pub idle_expires_at: OffsetDateTime,
    #[serde(with = "rfc3339_millis")]
    pub expires_at: OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub kind: &'static str,
    pub current: bool,
    /// What a token session was granted; `null` for other sessions.
    pub scope: Option<String>,
    /// How the session was authenticated (RFC 8176), e.g. `["pwd", "otp", "mfa"]`.
    pub amr: Vec<&'static str>,
    /// Authenticator Assurance Level: 1 password only, 2 with a second factor.
    pub aal: u8,
}

impl SessionView {
    pub fn new(s: &Session, current: Option<SessionId>) -> Self {
        Self {
            id: s.id.to_string(),
            user_id: s.user_id.to_string(),
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            idle_expires_at: s.idle_expires_at,
            expires_at: s.expires_at,
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            kind: s.kind.as_str(),
            current: Some(s.id) == current,
            scope: s.scope.as_ref().map(ToString::to_string),
            amr: s.amr.claim(),
            aal: s.amr.aal(),
        }
    }
}

pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
