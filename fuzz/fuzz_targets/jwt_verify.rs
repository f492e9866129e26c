//! The access-token verifier against raw strings, mutations of tokens a real key ring issued,
//! and hostile headers and claims signed with the ring's own keys.
//!
//! Invariants: nothing panics; a token the verifier accepts carries the signed bytes and claims
//! of a token the ring issued (and that was live and unrevoked), or, when the harness signed
//! hostile content with a ring key, passes every rule of the policy (header `alg` bound to the
//! key, `typ`, no `crit`, issuer, audience, time window); the cached and uncached checks agree.
#![no_main]

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::EncodingKey;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use serde_json::{json, Map, Value};
use tessera_core::{KeyState, SessionId, UserId};
use tessera_token::{
    generate_key, AccessClaims, AccessTokenRequest, Alg, IssuedToken, KeyRing, TokenConfig,
    Verifier,
};
use time::{Duration, OffsetDateTime};

const ISSUER: &str = "https://auth.example.com";
const AUDIENCE: &str = "tessera";

struct Pooled {
    issued: IssuedToken,
    /// Issued live and for a session that is not revoked: the verifier must accept it.
    live: bool,
}

struct Fixture {
    verifier: Verifier,
    cfg: TokenConfig,
    now: OffsetDateTime,
    /// Every key of the ring: kid, algorithm and the private half for the harness's own
    /// signatures.
    keys: Vec<(String, Alg, EncodingKey)>,
    pool: Vec<Pooled>,
}

fn encoding_key(alg: Alg, private: &[u8]) -> EncodingKey {
    match alg {
        Alg::EdDSA => EncodingKey::from_ed_der(private),
        Alg::ES256 => EncodingKey::from_ec_der(private),
        Alg::RS256 => {
            let key = rsa::RsaPrivateKey::from_pkcs8_der(private).expect("generated RSA key");
            EncodingKey::from_rsa_der(key.to_pkcs1_der().expect("PKCS#1").as_bytes())
        }
        Alg::HS256 => EncodingKey::from_secret(private),
    }
}

fn jwt_alg(alg: Alg) -> jsonwebtoken::Algorithm {
    match alg {
        Alg::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        Alg::ES256 => jsonwebtoken::Algorithm::ES256,
        Alg::RS256 => jsonwebtoken::Algorithm::RS256,
        Alg::HS256 => jsonwebtoken::Algorithm::HS256,
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let cfg = TokenConfig::new(ISSUER, AUDIENCE);
        let records: Vec<_> = Alg::ALL
            .iter()
            .map(|&alg| generate_key(alg, now - Duration::days(1), KeyState::Next, None))
            .collect();
        // One ring per algorithm, each signing with that key; all hold every key, so any of
        // them verifies every token.
        let rings: Vec<KeyRing> = (0..records.len())
            .map(|current| {
                let mut recs = records.clone();
                recs[current].state = KeyState::Current;
                recs[current].activated_at = Some(now - Duration::days(1));
                KeyRing::from_records(&recs, None).expect("ring")
            })
            .collect();
        let keys = records
            .iter()
            .map(|r| {
                let alg: Alg = r.algorithm.parse().unwrap();
                (r.kid.clone(), alg, encoding_key(alg, &r.private_key))
            })
            .collect();
        let revoked_sid = SessionId::random();
        let mut pool = Vec::new();
        for ring in &rings {
            let request = |sid, roles: Vec<String>, scope: Option<&str>| AccessTokenRequest {
                sub: UserId::random(),
                sid,
                client_id: "tessera".into(),
                scope: scope.map(str::to_owned),
                roles,
                claims: serde_json::Map::new(),
            };
            let mut issue = |req: &AccessTokenRequest, at: OffsetDateTime, live: bool| {
                let issued = ring.issue(req, &cfg, at).expect("issue");
                pool.push(Pooled { issued, live });
            };
            let plain = request(SessionId::random(), vec![], None);
            issue(&plain, now - Duration::seconds(10), true);
            let rich = request(SessionId::random(), vec!["admin".into()], Some("read"));
            issue(&rich, now - Duration::seconds(100), true);
            issue(&plain, now - Duration::hours(1), false);
            issue(&plain, now + Duration::hours(1), false);
            issue(&request(revoked_sid, vec![], None), now, false);
        }
        let mut rings = rings.into_iter();
        let verifier = Verifier::new(rings.next().unwrap(), &cfg);
        verifier.revoked().insert(revoked_sid, now);
        for p in &pool {
            assert_eq!(
                verifier.check(&p.issued.token, now).is_ok(),
                p.live,
                "the fixture's own tokens"
            );
        }
        Fixture {
            verifier,
            cfg,
            now,
            keys,
            pool,
        }
    })
}

#[derive(Arbitrary, Debug)]
enum Edit {
    Flip {
        at: u16,
        bit: u8,
    },
    Insert {
        at: u16,
        text: String,
    },
    Delete {
        at: u16,
        len: u8,
    },
    /// Replaces segment `seg` (header, payload, signature) with `text`.
    Segment {
        seg: u8,
        text: String,
    },
    /// Replaces segment `seg` with the base64url of `text`.
    EncodedSegment {
        seg: u8,
        text: String,
    },
    /// Takes segment `seg` from another pooled token.
    Transplant {
        seg: u8,
        from: u8,
    },
}

#[derive(Arbitrary, Debug)]
enum Choice {
    Right,
    Other,
    Missing,
    Text(String),
}

#[derive(Arbitrary, Debug)]
struct Header {
    alg: Choice,
    typ: Choice,
    kid: Choice,
    crit: Option<bool>,
    extra: Option<(String, String)>,
}

#[derive(Arbitrary, Debug)]
struct Claims {
    iss: Choice,
    aud: Choice,
    sub: Choice,
    sid: Choice,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
    client_id: Option<String>,
    roles: Option<Vec<String>>,
    extra: Option<(String, i64)>,
}

/// The first input byte picks the case: `m` mutations of a pooled token, `t` header and
/// payload text (split at the first newline, after a key byte) signed with a ring key, `s`
/// near-valid header and claims signed with a ring key; anything else is a raw token. So the
/// seeds can be readable tokens, and an all-zero `m`/`s` input is a valid token.
#[derive(Debug)]
enum Case {
    Raw(String),
    Mutate {
        pick: u8,
        edits: Vec<Edit>,
    },
    SignedText {
        key: u8,
        header: Vec<u8>,
        payload: Vec<u8>,
    },
    Signed {
        key: u8,
        header: Header,
        claims: Claims,
    },
}

impl Case {
    fn read(data: &[u8]) -> Option<Self> {
        let (&mode, rest) = data.split_first()?;
        let mut u = arbitrary::Unstructured::new(rest);
        Some(match mode {
            b'm' => Self::Mutate {
                pick: u.arbitrary().ok()?,
                edits: Vec::<Edit>::arbitrary_take_rest(u).ok()?,
            },
            b't' => {
                let (&key, text) = rest.split_first()?;
                let split = text.iter().position(|&b| b == b'\n').unwrap_or(text.len());
                Self::SignedText {
                    key,
                    header: text[..split].to_vec(),
                    payload: text.get(split + 1..).unwrap_or_default().to_vec(),
                }
            }
            b's' => Self::Signed {
                key: u.arbitrary().ok()?,
                header: u.arbitrary().ok()?,
                claims: u.arbitrary().ok()?,
            },
            _ => Self::Raw(String::from_utf8_lossy(data).into_owned()),
        })
    }
}

fn segment_bounds(token: &[u8], seg: u8) -> (usize, usize) {
    let dots: Vec<usize> = token
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'.')
        .map(|(i, _)| i)
        .collect();
    let mut starts = vec![0];
    starts.extend(dots.iter().map(|d| d + 1));
    let mut ends = dots.clone();
    ends.push(token.len());
    let i = usize::from(seg) % starts.len();
    (starts[i], ends[i])
}

fn mutate(fx: &Fixture, pick: u8, edits: &[Edit]) -> String {
    let mut token = fx.pool[usize::from(pick) % fx.pool.len()]
        .issued
        .token
        .clone()
        .into_bytes();
    for edit in edits {
        let at = |at: u16, len: usize| usize::from(at) % (len + 1);
        match edit {
            Edit::Flip { at: i, bit } => {
                if !token.is_empty() {
                    let i = usize::from(*i) % token.len();
                    token[i] ^= 1 << (bit % 8);
                }
            }
            Edit::Insert { at: i, text } => {
                let i = at(*i, token.len());
                token.splice(i..i, text.bytes());
            }
            Edit::Delete { at: i, len } => {
                let i = at(*i, token.len());
                let end = (i + usize::from(*len)).min(token.len());
                token.drain(i..end);
            }
            Edit::Segment { seg, text } => {
                let (s, e) = segment_bounds(&token, *seg);
                token.splice(s..e, text.bytes());
            }
            Edit::EncodedSegment { seg, text } => {
                let (s, e) = segment_bounds(&token, *seg);
                token.splice(s..e, URL_SAFE_NO_PAD.encode(text).into_bytes());
            }
            Edit::Transplant { seg, from } => {
                let other = fx.pool[usize::from(*from) % fx.pool.len()]
                    .issued
                    .token
                    .as_bytes();
                let (os, oe) = segment_bounds(other, *seg);
                let (s, e) = segment_bounds(&token, *seg);
                token.splice(s..e, other[os..oe].iter().copied());
            }
        }
    }
    String::from_utf8_lossy(&token).into_owned()
}

fn pick<'a>(choice: &'a Choice, right: &'a str, other: &'a str) -> Option<Value> {
    match choice {
        Choice::Right => Some(right.into()),
        Choice::Other => Some(other.into()),
        Choice::Missing => None,
        Choice::Text(t) => Some(t.as_str().into()),
    }
}

/// Digests of the signing inputs the harness signed itself. libFuzzer's comparison tracing can
/// carry such a token into a `Raw` input later, where its acceptance is legitimate.
fn harness_signed() -> &'static Mutex<HashSet<u64>> {
    static SIGNED: OnceLock<Mutex<HashSet<u64>>> = OnceLock::new();
    SIGNED.get_or_init(Mutex::default)
}

fn digest(signing_input: &str) -> u64 {
    let mut h = DefaultHasher::new();
    signing_input.hash(&mut h);
    h.finish()
}

fn signed(fx: &Fixture, key: u8, header: &[u8], payload: &[u8]) -> Option<String> {
    let (_, alg, encoding) = &fx.keys[usize::from(key) % fx.keys.len()];
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(payload));
    let signature = jsonwebtoken::crypto::sign(token.as_bytes(), encoding, jwt_alg(*alg)).ok()?;
    harness_signed().lock().unwrap().insert(digest(&token));
    token.push('.');
    token.push_str(&signature);
    Some(token)
}

fn structured(fx: &Fixture, key: u8, h: &Header, c: &Claims) -> Option<String> {
    let (kid, alg, _) = &fx.keys[usize::from(key) % fx.keys.len()];
    let other_kid = &fx.keys[(usize::from(key) + 1) % fx.keys.len()].0;
    let other_alg = if *alg == Alg::HS256 { "none" } else { "HS256" };
    let mut header = Map::new();
    let put = |map: &mut Map<String, Value>, name: &str, value: Option<Value>| {
        if let Some(v) = value {
            map.insert(name.into(), v);
        }
    };
    put(&mut header, "alg", pick(&h.alg, alg.as_str(), other_alg));
    put(&mut header, "typ", pick(&h.typ, "at+jwt", "JWT"));
    put(&mut header, "kid", pick(&h.kid, kid, other_kid));
    if let Some(crit) = h.crit {
        header.insert(
            "crit".into(),
            if crit { json!(["exp"]) } else { Value::Null },
        );
    }
    if let Some((k, v)) = &h.extra {
        header.insert(k.clone(), v.as_str().into());
    }
    let now = fx.now.unix_timestamp();
    let user = UserId::random().to_string();
    let session = SessionId::random().to_string();
    let mut claims = Map::new();
    put(
        &mut claims,
        "iss",
        pick(&c.iss, ISSUER, "https://evil.example"),
    );
    put(&mut claims, "aud", pick(&c.aud, AUDIENCE, "other"));
    put(&mut claims, "sub", pick(&c.sub, &user, "not-a-uuid"));
    put(&mut claims, "sid", pick(&c.sid, &session, ""));
    let time = |offset: Option<i64>, default: i64| now.saturating_add(offset.unwrap_or(default));
    claims.insert("exp".into(), time(c.exp, 60).into());
    claims.insert("nbf".into(), time(c.nbf, -60).into());
    claims.insert("iat".into(), time(c.iat, -60).into());
    claims.insert(
        "jti".into(),
        c.jti.clone().unwrap_or_else(|| "j".into()).into(),
    );
    put(
        &mut claims,
        "client_id",
        Some(
            c.client_id
                .clone()
                .unwrap_or_else(|| "tessera".into())
                .into(),
        ),
    );
    if let Some(roles) = &c.roles {
        claims.insert("roles".into(), json!(roles));
    }
    if let Some((k, v)) = &c.extra {
        claims.insert(k.clone(), (*v).into());
    }
    signed(
        fx,
        key,
        Value::Object(header).to_string().as_bytes(),
        Value::Object(claims).to_string().as_bytes(),
    )
}

fn signing_input(token: &str) -> &str {
    token.rsplit_once('.').map_or(token, |(input, _)| input)
}

/// A token the harness signed itself was accepted: it must meet every rule.
fn assert_policy(fx: &Fixture, token: &str, claims: &AccessClaims) {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
    let kid = header["kid"].as_str().expect("accepted without a kid");
    let (_, alg, _) = fx
        .keys
        .iter()
        .find(|(k, _, _)| k == kid)
        .expect("accepted with a kid the ring does not hold");
    assert_eq!(
        header["alg"].as_str(),
        Some(alg.as_str()),
        "alg not bound to the key"
    );
    let typ = header["typ"].as_str().expect("accepted without typ");
    assert!(
        typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt"),
        "accepted typ {typ:?}"
    );
    assert!(header.get("crit").is_none(), "accepted a crit header");
    assert_eq!(claims.iss, fx.cfg.issuer);
    assert_eq!(claims.aud, fx.cfg.audience);
    let (now, leeway) = (fx.now.unix_timestamp(), fx.cfg.leeway.whole_seconds());
    assert!(
        now < claims.exp.saturating_add(leeway),
        "accepted after exp"
    );
    assert!(
        claims.nbf <= now + leeway && claims.iat <= now + leeway,
        "accepted before nbf/iat"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some(case) = Case::read(data) else { return };
    let fx = fixture();
    let (token, self_signed) = match &case {
        Case::Raw(s) => (s.clone(), false),
        Case::Mutate { pick, edits } => (mutate(fx, *pick, edits), false),
        Case::SignedText {
            key,
            header,
            payload,
        } => match signed(fx, *key, header, payload) {
            Some(t) => (t, true),
            None => return,
        },
        Case::Signed {
            key,
            header,
            claims,
        } => match structured(fx, *key, header, claims) {
            Some(t) => (t, true),
            None => return,
        },
    };
    let cached = fx.verifier.check(&token, fx.now);
    let uncached = fx.verifier.check_uncached(&token, fx.now);
    assert_eq!(cached, uncached, "cached and uncached checks disagree");
    let Ok(claims) = cached else { return };
    if self_signed
        || harness_signed()
            .lock()
            .unwrap()
            .contains(&digest(signing_input(&token)))
    {
        assert_policy(fx, &token, &claims);
        return;
    }
    let origin = fx
        .pool
        .iter()
        .find(|p| signing_input(&p.issued.token) == signing_input(&token))
        .expect("accepted a token the ring never issued");
    assert!(origin.live, "accepted an expired, future or revoked token");
    assert_eq!(claims, origin.issued.claims);
});
