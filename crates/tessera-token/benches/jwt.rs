//! Access-token costs per algorithm: signing, the full `Verifier::check` (header rules, key
//! lookup, signature, claims, and a revoked-session set holding 1,000 ids), and beside it a raw
//! `jsonwebtoken::decode` of the same token with a prebuilt key — the baseline that shows what
//! Tessera's own checks add.
//!
//! `cargo bench -p tessera-token -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use jsonwebtoken::{DecodingKey, Validation};
use tessera_core::{KeyState, SessionId, UserId};
use tessera_token::rotation::{apply, ensure_initial};
use tessera_token::{AccessClaims, AccessTokenRequest, Alg, KeyRing, TokenConfig, Verifier};
use time::{Duration, OffsetDateTime};

fn config(alg: Alg) -> TokenConfig {
    TokenConfig {
        algorithm: alg,
        // jsonwebtoken's baseline reads the system clock; keep tokens alive for the whole run.
        access_ttl: Duration::hours(1),
        ..TokenConfig::new("https://auth.example.test", "tessera")
    }
}

fn request() -> AccessTokenRequest {
    AccessTokenRequest {
        sub: UserId::random(),
        sid: SessionId::random(),
        client_id: "first-party".into(),
        scope: Some("openid profile".into()),
        roles: vec!["admin".into()],
        claims: serde_json::Map::new(),
        amr: tessera_core::Amr::PASSWORD,
    }
}

/// The key the raw baseline verifies with, built the way an independent verifier would.
fn baseline_key(records: &[tessera_core::SigningKeyRecord], alg: Alg) -> DecodingKey {
    let current = records
        .iter()
        .find(|r| r.state == KeyState::Current)
        .unwrap();
    if alg == Alg::HS256 {
        return DecodingKey::from_secret(&current.private_key);
    }
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(&current.public_jwk).unwrap();
    DecodingKey::from_jwk(&jwk).unwrap()
}

fn tokens(c: &mut Criterion) {
    for alg in Alg::ALL {
        let cfg = config(alg);
        let now = OffsetDateTime::now_utc();
        let mut records = Vec::new();
        let changes = ensure_initial(&records, &cfg, now, None);
        apply(&mut records, &changes);
        let verifier = Verifier::new(KeyRing::from_records(&records, None).unwrap(), &cfg);
        verifier
            .revoked()
            .extend((0..1_000).map(|_| (SessionId::random(), now)));
        let ring = verifier.ring();
        let req = request();
        let token = ring.issue(&req, &cfg, now).unwrap().token;

        let mut group = c.benchmark_group(format!("jwt/{alg}"));
        group.bench_function("sign", |b| {
            b.iter(|| ring.issue(black_box(&req), &cfg, now).unwrap());
        });
        // The full check of a token not seen before: header rules, key, signature, claims,
        // revoked set.
        group.bench_function("check", |b| {
            b.iter(|| verifier.check_uncached(black_box(&token), now).unwrap());
        });
        // What a server does for the second and later requests with the same token.
        group.bench_function("check_cached", |b| {
            b.iter(|| verifier.check(black_box(&token), now).unwrap());
        });
        let key = baseline_key(&records, alg);
        let mut validation = Validation::new(alg.to_string().parse().unwrap());
        validation.set_issuer(&[&cfg.issuer]);
        validation.set_audience(&[&cfg.audience]);
        group.bench_function("raw_decode", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<AccessClaims>(black_box(&token), &key, &validation).unwrap()
            });
        });
        group.finish();
    }
}

fn revoked_set(c: &mut Criterion) {
    let cfg = config(Alg::EdDSA);
    let now = OffsetDateTime::now_utc();
    let verifier = {
        let mut records = Vec::new();
        let changes = ensure_initial(&records, &cfg, now, None);
        apply(&mut records, &changes);
        Verifier::new(KeyRing::from_records(&records, None).unwrap(), &cfg)
    };
    let sids: Vec<SessionId> = (0..1_000).map(|_| SessionId::random()).collect();
    verifier
        .revoked()
        .extend(sids.iter().map(|sid| (*sid, now)));
    let absent = SessionId::random();
    let mut group = c.benchmark_group("revoked_set_1000");
    group.bench_function("contains_hit", |b| {
        b.iter(|| verifier.revoked().contains(black_box(&sids[500])));
    });
    group.bench_function("contains_miss", |b| {
        b.iter(|| verifier.revoked().contains(black_box(&absent)));
    });
    group.finish();

    // Rejections should be cheap too: a hostile token must cost less than a valid one.
    let mut group = c.benchmark_group("reject");
    let garbage = "x".repeat(9_000);
    group.bench_function("oversized", |b| {
        b.iter(|| verifier.check(black_box(&garbage), now).unwrap_err());
    });
    let unknown = {
        let mut records = Vec::new();
        let changes = ensure_initial(&records, &cfg, now, None);
        apply(&mut records, &changes);
        let stranger = KeyRing::from_records(&records, None).unwrap();
        stranger.issue(&request(), &cfg, now).unwrap().token
    };
    group.bench_function("unknown_kid", |b| {
        b.iter(|| verifier.check(black_box(&unknown), now).unwrap_err());
    });
    group.finish();
}

criterion_group!(benches, tokens, revoked_set);
criterion_main!(benches);
