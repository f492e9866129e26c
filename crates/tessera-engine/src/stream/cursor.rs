//! The position a revocation-stream client resumes from.
//!
//! A cursor names a revocation by its time (milliseconds) and session id: both are in the store,
//! which every instance shares, so a cursor one instance handed out means the same on any other
//! instance behind the load balancer. Clients must treat it as opaque: it is base64url of a
//! versioned text, so the form can change without breaking them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use tessera_core::clock::{from_unix_millis, to_unix_millis};
use tessera_core::SessionId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::EngineError;

const VERSION: &str = "v1";
/// Far more than any cursor this server makes; bounds the work spent on a hostile one.
const MAX_ENCODED_LEN: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// Revocation time, whole milliseconds since the epoch.
    pub at_millis: i64,
    /// The revoked session, or nil for a position that is a point in time (the `ready` event,
    /// a poll that found nothing newer).
    pub session: Uuid,
}

impl Cursor {
    pub fn of_revocation(session: SessionId, at: OffsetDateTime) -> Self {
        Self {
            at_millis: to_unix_millis(at),
            session: session.0,
        }
    }

    pub fn at_time(at: OffsetDateTime) -> Self {
        Self {
            at_millis: to_unix_millis(at),
            session: Uuid::nil(),
        }
    }

    pub fn at(&self) -> OffsetDateTime {
        from_unix_millis(self.at_millis)
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{VERSION}.{}.{}", self.at_millis, self.session))
    }

    /// `None` for anything this server did not make (or made in a form it no longer reads).
    pub fn decode(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() || text.len() > MAX_ENCODED_LEN {
            return None;
        }
        let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(text).ok()?).ok()?;
        let mut parts = raw.split('.');
        let (Some(VERSION), Some(millis), Some(session), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let at_millis: i64 = millis.parse().ok()?;
        // Out-of-range times would clamp silently; a cursor must mean what it says.
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_millis) * 1_000_000).ok()?;
        let cursor = Self {
            at_millis,
            session: Uuid::parse_str(session).ok()?,
        };
        // `+5`, `005`, upper-case or braced UUIDs parse too; only the one spelling `encode`
        // makes is a cursor this server handed out.
        (cursor.encode() == text).then_some(cursor)
    }

    /// As [`Cursor::decode`], with the 400 a client gets for a bad one.
    pub fn parse(text: &str) -> Result<Self, EngineError> {
        Self::decode(text).ok_or_else(|| EngineError::Invalid("malformed cursor".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let session = SessionId::random();
        let at = from_unix_millis(1_772_366_400_123);
        let cursor = Cursor::of_revocation(session, at);
        let text = cursor.encode();
        assert!(text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_eq!(Cursor::decode(&text), Some(cursor));
        assert_eq!(Cursor::decode(&text).unwrap().at(), at);
        let point = Cursor::at_time(at);
        assert_eq!(Cursor::decode(&point.encode()), Some(point));
    }

    #[test]
    fn rejects_what_it_did_not_make() {
        let id = Uuid::new_v4();
        let encode = |s: &str| URL_SAFE_NO_PAD.encode(s);
        for bad in [
            String::new(),
            "   ".into(),
            "not base64!".into(),
            "A".repeat(MAX_ENCODED_LEN + 1),
            encode(""),
            encode("v1"),
            encode(&format!("v1.1.{id}.x")),
            encode(&format!("v2.1.{id}")),
            encode(&format!("v1.abc.{id}")),
            encode(&format!("v1.{}.{id}", i64::MAX)),
            encode("v1.1.not-a-uuid"),
            URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0x00]),
            // Other spellings of a valid cursor (the first found by the `stream_cursor` fuzz
            // target): an upper-case, braced or simple UUID, a signed or zero-padded time.
            encode(&format!("v1.1.{}", id.to_string().to_uppercase())),
            encode(&format!("v1.1.{{{id}}}")),
            encode(&format!("v1.1.{}", id.simple())),
            encode(&format!("v1.+1.{id}")),
            encode(&format!("v1.01.{id}")),
        ] {
            assert_eq!(Cursor::decode(&bad), None, "{bad:?}");
            assert!(Cursor::parse(&bad).is_err());
        }
    }
}
