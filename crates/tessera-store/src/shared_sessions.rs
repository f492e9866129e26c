//! The session cache shared by every instance through Redis (`cache.url`): what a session check
//! needs, so that an instance whose in-process cache misses can still skip the store.
//!
//! Keys, under a prefix (`tessera:` unless a test picks its own):
//! - `session:<hex>` — the record: JSON `{"v":2,…,"mac":…}` of the [`Session`] plus the user's
//!   email and locked flag. `<hex>` is the SHA-256 of the session secret, which is all the store
//!   keeps too: nothing in Redis lets anyone present the session. `mac` is an HMAC-SHA256 of the
//!   rest under a key that lives in the store, not in Redis: whoever can write to Redis but not
//!   read the store cannot forge a record that maps a secret of their choosing to any user.
//! - `session-id:<uuid>` — the `<hex>` of session `<uuid>`, with the record's expiry, so that a
//!   revocation, which knows the session id and not the secret, can find the record.
//! - `session-revoked:<uuid>` — a mark left by [`RedisSessionCache::revoke`] for
//!   [`REVOKED_MARK_TTL`]. [`RedisSessionCache::put`] checks for it and writes in one script, so
//!   a fill that read the store just before the revocation cannot put the session back after
//!   it.
//!
//! Every record expires with the TTL its writer asks for and never after the session's own idle
//! or absolute expiry. Every failure — Redis down or slow, a record that does not decode, a
//! record of another format version — is an error, which callers treat as a miss and answer
//! from the store. Needs a single Redis server (the put script touches three keys that would not
//! share a Redis Cluster hash slot).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use tessera_core::clock::to_unix_millis;
use tessera_core::secret::{constant_time_eq, keyed_tag};
use tessera_core::session::SessionRecord;
use tessera_core::{Session, SessionId, SessionKind, StoreError, TokenHash, UserId};
use time::{Duration, OffsetDateTime};

use crate::decode;
use crate::redis_link::RedisLink;

/// How long a revocation keeps [`RedisSessionCache::put`] from storing the session again: far
/// longer than a fill takes between reading the store and writing here.
pub const REVOKED_MARK_TTL: Duration = Duration::minutes(2);

/// The record format this build writes and reads. A record with another `v` is a miss, so
/// instances of two versions can share a Redis during a rolling upgrade. Version 2 added `mac`;
/// version 3 the session's `scope` and the user's `roles` and `claims`; version 4 the session's
/// `amr` and `factor_at`.
const FORMAT_VERSION: u32 = 4;

/// Stores the record and its id index unless the session has been revoked; 1 if stored.
const PUT_SCRIPT: &str = r"
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
return 1
";

pub struct RedisSessionCache {
    link: RedisLink,
    prefix: String,
    /// Authenticates records; see the module comment.
    mac_key: [u8; 32],
}

impl std::fmt::Debug for RedisSessionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisSessionCache {
    pub const DEFAULT_PREFIX: &'static str = "tessera:";

    /// The cache at `redis://…`, under [`DEFAULT_PREFIX`](Self::DEFAULT_PREFIX), its records
    /// authenticated under `mac_key` (every instance must use the same one). Does not connect
    /// yet.
    pub fn new(url: &str, mac_key: [u8; 32]) -> Result<Self, StoreError> {
        Self::with_prefix(url, Self::DEFAULT_PREFIX, mac_key)
    }

    /// As [`new`](Self::new) under another prefix, e.g. to keep two tests (or deployments)
    /// that share a Redis apart.
    pub fn with_prefix(url: &str, prefix: &str, mac_key: [u8; 32]) -> Result<Self, StoreError> {
        Ok(Self {
            link: RedisLink::new(url)?,
            prefix: prefix.to_owned(),
            mac_key,
        })
    }

    /// The record for the secret that hashes to `hash`. `Ok(None)` when there is none; an error
    /// when Redis fails or the record is corrupt or of another version — a miss either way.
    pub async fn get(&self, hash: &TokenHash) -> Result<Option<SessionRecord>, StoreError> {
        let raw: Option<Vec<u8>> = self
            .link
            .cmd(redis::cmd("GET").arg(self.record_key(hash)))
            .await?;
        raw.map(|bytes| decode_record(&bytes, hash, &self.mac_key))
            .transpose()
    }

    /// Stores `entry` for `ttl`, cut to the session's own expiry as of `now`. Returns whether it
    /// was stored: not when the session is revoked (here or by [`revoke`](Self::revoke) within
    /// [`REVOKED_MARK_TTL`]), its user is locked, or no time is left.
    pub async fn put(
        &self,
        entry: &SessionRecord,
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let session = &entry.session;
        let ttl = ttl
            .min(session.idle_expires_at - now)
            .min(session.expires_at - now);
        let ttl_ms = ttl.whole_milliseconds();
        if ttl_ms < 1 || entry.locked || session.revoked_at.is_some() {
            return Ok(false);
        }
        let hex = hex(session.secret_hash.as_bytes());
        let record = Record::of(entry, &hex)
            .sealed(&self.mac_key)
            .map_err(StoreError::unavailable)?;
        let stored: i64 = self
            .link
            .cmd(
                redis::cmd("EVAL")
                    .arg(PUT_SCRIPT)
                    .arg(3)
                    .arg(self.record_key_hex(&hex))
                    .arg(self.index_key(session.id))
                    .arg(self.revoked_key(session.id))
                    .arg(record)
                    .arg(i64::try_from(ttl_ms).unwrap_or(i64::MAX))
                    .arg(&hex),
            )
            .await?;
        Ok(stored == 1)
    }

    /// Drops the record for `hash` (one a check found unusable). The session may be stored
    /// again; to keep it out, use [`revoke`](Self::revoke).
    pub async fn delete(&self, hash: &TokenHash) -> Result<(), StoreError> {
        self.link
            .cmd::<i64>(redis::cmd("DEL").arg(self.record_key(hash)))
            .await
            .map(drop)
    }

    /// Drops session `id`'s record and keeps it from being stored again for
    /// [`REVOKED_MARK_TTL`]. The mark is set before the record is looked up, so a concurrent
    /// [`put`](Self::put) either lands first and is deleted here, or finds the mark.
    pub async fn revoke(&self, id: SessionId) -> Result<(), StoreError> {
        let index = self.index_key(id);
        let mark_ms = REVOKED_MARK_TTL.whole_milliseconds();
        let ((), hex): ((), Option<String>) = self
            .link
            .pipe(
                redis::pipe()
                    .cmd("SET")
                    .arg(self.revoked_key(id))
                    .arg(1)
                    .arg("PX")
                    .arg(i64::try_from(mark_ms).unwrap_or(i64::MAX))
                    .cmd("GET")
                    .arg(&index),
            )
            .await?;
        let Some(hex) = hex else {
            return Ok(());
        };
        let mut del = redis::cmd("DEL");
        del.arg(&index);
        // An index that is not a hash was not written by `put`; the record key it would name
        // could belong to anything.
        if unhex(&hex).is_some() {
            del.arg(self.record_key_hex(&hex));
        }
        self.link.cmd::<i64>(&del).await.map(drop)
    }

    /// One round trip, to learn whether Redis answers again after a failure. While the
    /// connection is known down this fails at once, without one, until the background
    /// reconnect gets through.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.link.cmd::<String>(&redis::cmd("PING")).await.map(drop)
    }

    /// The Redis key of the record for `hash`.
    pub fn record_key(&self, hash: &TokenHash) -> String {
        self.record_key_hex(&hex(hash.as_bytes()))
    }

    /// The Redis key of the id index of session `id`.
    pub fn index_key(&self, id: SessionId) -> String {
        format!("{}session-id:{}", self.prefix, id.0)
    }

    /// The Redis key of the revocation mark of session `id`.
    pub fn revoked_key(&self, id: SessionId) -> String {
        format!("{}session-revoked:{}", self.prefix, id.0)
    }

    fn record_key_hex(&self, hex: &str) -> String {
        format!("{}session:{hex}", self.prefix)
    }
}

/// The record (see [`FORMAT_VERSION`]). Times are Unix milliseconds, as every store keeps them.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    v: u32,
    id: uuid::Uuid,
    user_id: uuid::Uuid,
    kind: SessionKind,
    secret_hash: String,
    created_at: i64,
    last_seen_at: i64,
    idle_expires_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
    ip: Option<String>,
    user_agent: Option<String>,
    email: String,
    locked: bool,
    scope: Option<String>,
    roles: Vec<String>,
    /// The custom claims as their stored JSON text, so the tag covers exactly those bytes.
    claims: String,
    /// The session's `amr`, as stored (`"pwd otp"`).
    amr: String,
    factor_at: Option<i64>,
    /// HMAC-SHA256 (base64url) of this record serialised with `mac` empty.
    #[serde(default)]
    mac: String,
}

impl Record {
    fn of(entry: &SessionRecord, hex: &str) -> Self {
        let s = &entry.session;
        Self {
            v: FORMAT_VERSION,
            id: s.id.0,
            user_id: s.user_id.0,
            kind: s.kind,
            secret_hash: hex.to_owned(),
            created_at: to_unix_millis(s.created_at),
            last_seen_at: to_unix_millis(s.last_seen_at),
            idle_expires_at: to_unix_millis(s.idle_expires_at),
            expires_at: to_unix_millis(s.expires_at),
            revoked_at: s.revoked_at.map(to_unix_millis),
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            email: entry.email.as_str().to_owned(),
            locked: entry.locked,
            scope: s.scope.as_ref().map(ToString::to_string),
            roles: entry.roles.as_slice().to_vec(),
            claims: entry.claims.to_json(),
            amr: s.amr.to_stored(),
            factor_at: s.factor_at.map(to_unix_millis),
            mac: String::new(),
        }
    }

    /// The tag of this record with `mac` left out (serde writes the fields in declaration
    /// order, so the same record always serialises to the same bytes).
    fn tag(&self, key: &[u8; 32]) -> Result<String, serde_json::Error> {
        debug_assert!(self.mac.is_empty());
        let unsigned = serde_json::to_vec(self)?;
        Ok(keyed_tag(key, &[b"tessera shared session v4", &unsigned]))
    }

    /// The bytes to store: the record with its tag.
    fn sealed(mut self, key: &[u8; 32]) -> Result<Vec<u8>, serde_json::Error> {
        self.mac = self.tag(key)?;
        serde_json::to_vec(&self)
    }
}

/// Just the version, read before the rest so that another version is reported as such.
#[derive(Deserialize)]
struct Version {
    v: u32,
}

fn decode_record(
    bytes: &[u8],
    hash: &TokenHash,
    mac_key: &[u8; 32],
) -> Result<SessionRecord, StoreError> {
    const WHAT: &str = "shared session record";
    let version: Version = serde_json::from_slice(bytes)
        .map_err(|_| decode::corrupt(WHAT, "not a versioned record"))?;
    if version.v != FORMAT_VERSION {
        return Err(StoreError::Corrupt(format!(
            "{WHAT}: version {} (this build reads {FORMAT_VERSION})",
            version.v
        )));
    }
    let mut r: Record =
        serde_json::from_slice(bytes).map_err(|e| decode::corrupt(WHAT, &e.to_string()))?;
    // Nothing in a record is believed before its tag checks out: not written by an instance.
    let presented = std::mem::take(&mut r.mac);
    let expected = r
        .tag(mac_key)
        .map_err(|e| decode::corrupt(WHAT, &e.to_string()))?;
    if !constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        return Err(decode::corrupt(WHAT, "its tag does not match"));
    }
    let secret_hash = unhex(&r.secret_hash)
        .map(TokenHash)
        .ok_or_else(|| decode::corrupt(WHAT, "secret_hash is not a hex SHA-256"))?;
    // The key named this hash; a record that names another is not the one asked for.
    if secret_hash != *hash {
        return Err(decode::corrupt(WHAT, "stored under another hash"));
    }
    Ok(SessionRecord {
        session: Session {
            id: SessionId(r.id),
            user_id: UserId(r.user_id),
            kind: r.kind,
            secret_hash,
            created_at: decode::time("created_at", r.created_at)?,
            last_seen_at: decode::time("last_seen_at", r.last_seen_at)?,
            idle_expires_at: decode::time("idle_expires_at", r.idle_expires_at)?,
            expires_at: decode::time("expires_at", r.expires_at)?,
            revoked_at: decode::opt_time("revoked_at", r.revoked_at)?,
            ip: r.ip,
            user_agent: r.user_agent,
            scope: decode::scope("scope", r.scope.as_deref())?,
            amr: tessera_core::Amr::from_stored(&r.amr),
            factor_at: decode::opt_time("factor_at", r.factor_at)?,
        },
        email: decode::email("email", &r.email)?,
        locked: r.locked,
        roles: tessera_core::Roles::new(&r.roles)
            .map_err(|_| decode::corrupt(WHAT, "roles are not valid"))?,
        claims: decode::claims("claims", &r.claims)?,
    })
}

fn hex(bytes: &[u8; 32]) -> String {
    let mut out = String::with_capacity(64);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::support::{at, session, user};

    fn entry() -> SessionRecord {
        let owner = user();
        SessionRecord {
            session: session(&owner, at(Duration::ZERO)),
            email: owner.email,
            locked: false,
            roles: tessera_core::Roles::new(["admin", "editor"]).unwrap(),
            claims: tessera_core::CustomClaims::new(serde_json::json!({"tenant": "acme"})).unwrap(),
        }
    }

    const KEY: [u8; 32] = [7; 32];

    fn sealed(entry: &SessionRecord) -> Vec<u8> {
        Record::of(entry, &hex(entry.session.secret_hash.as_bytes()))
            .sealed(&KEY)
            .unwrap()
    }

    #[test]
    fn records_round_trip() {
        let entry = entry();
        let bytes = sealed(&entry);
        assert!(bytes.starts_with(br#"{"v":4,"#));
        assert_eq!(
            decode_record(&bytes, &entry.session.secret_hash, &KEY).unwrap(),
            entry
        );
    }

    #[test]
    fn a_record_under_the_wrong_key_is_refused() {
        let entry = entry();
        let other = TokenHash::of("another secret");
        assert!(matches!(
            decode_record(&sealed(&entry), &other, &KEY),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn a_record_not_sealed_under_our_key_is_refused() {
        // What someone who can write to Redis, but not read the store, can produce: a
        // well-formed record naming any user, with no tag, or a tag under another key, or a
        // sealed record with one field changed.
        let entry = entry();
        let hash = entry.session.secret_hash;
        let unsealed = serde_json::to_vec(&Record::of(&entry, &hex(hash.as_bytes()))).unwrap();
        let other_key = Record::of(&entry, &hex(hash.as_bytes()))
            .sealed(&[8; 32])
            .unwrap();
        let good = String::from_utf8(sealed(&entry)).unwrap();
        let unlocked = SessionRecord {
            locked: true,
            ..entry.clone()
        };
        let flipped = String::from_utf8(sealed(&unlocked))
            .unwrap()
            .replace(r#""locked":true"#, r#""locked":false"#);
        let other_user = good.replace(
            &entry.session.user_id.0.to_string(),
            &uuid::Uuid::new_v4().to_string(),
        );
        for (what, bytes) in [
            ("no tag", unsealed),
            ("another key's tag", other_key),
            ("the lock flag flipped", flipped.into_bytes()),
            ("another user", other_user.into_bytes()),
        ] {
            assert!(
                matches!(
                    decode_record(&bytes, &hash, &KEY),
                    Err(StoreError::Corrupt(_))
                ),
                "{what}"
            );
        }
    }

    #[test]
    fn hex_round_trips_and_rejects_what_is_not_a_hash() {
        let hash = TokenHash::of("secret");
        let text = hex(hash.as_bytes());
        assert_eq!(text.len(), 64);
        assert_eq!(unhex(&text), Some(*hash.as_bytes()));
        assert_eq!(unhex(&text[1..]), None);
        assert_eq!(unhex(&format!("{}zz", &text[2..])), None);
        assert_eq!(unhex(&"é".repeat(32)), None);
    }

    #[test]
    fn keys_are_namespaced() {
        let cache = RedisSessionCache::new("redis://127.0.0.1:1/", KEY).unwrap();
        let entry = entry();
        let key = cache.record_key(&entry.session.secret_hash);
        assert_eq!(key.len(), "tessera:session:".len() + 64);
        assert!(key.starts_with("tessera:session:"));
        assert_eq!(
            cache.index_key(entry.session.id),
            format!("tessera:session-id:{}", entry.session.id)
        );
        assert!(cache
            .revoked_key(entry.session.id)
            .starts_with("tessera:session-revoked:"));
    }
}
