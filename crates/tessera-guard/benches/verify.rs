//! The guard's verification of an access token against a raw `jsonwebtoken::decode` of the same
//! token, in the same run. The guard trusts a real Tessera started in process (memory store,
//! EdDSA); each "fresh" iteration verifies a token never seen before (no cache can help), the
//! "repeat" one the same token again (tessera-token's verified-token cache).
//!
//! `cargo bench -p tessera-guard --bench verify -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use jsonwebtoken::{DecodingKey, Validation};
use tessera_core::password::PasswordHasher;
use tessera_core::{SessionId, SystemClock, UserId};
use tessera_guard::{CutoffPolicy, Guard, GuardConfig};
use tessera_server::config::Config;
use tessera_server::{Application, Options};
use tessera_token::{AccessClaims, AccessTokenRequest};

const ISSUER: &str = "http://tessera.bench";

fn verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (guard, state) = runtime.block_on(async {
        let config = Config::from_toml_str(&format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[store]\nurl = \"memory://\"\n\
             [token]\nissuer = \"{ISSUER}\"\n"
        ))
        .unwrap();
        let app = Application::build(
            config,
            Options {
                clock: Arc::new(SystemClock),
                hasher: PasswordHasher::with_params(argon2::Params::new(1024, 1, 1, None).unwrap()),
            },
        )
        .await
        .unwrap();
        let base = format!("http://{}", app.local_addr());
        let state = app.state();
        tokio::spawn(app.run_until(std::future::pending()));
        // No stream in a benchmark: accept while "cut off" so only verification is measured.
        let cfg = GuardConfig::new(ISSUER)
            .servers([base])
            .cutoff(CutoffPolicy::AcceptWithWarning, None);
        (Guard::start(cfg).await.unwrap(), state)
    });
    let issue = || {
        let request = AccessTokenRequest {
            sub: UserId::random(),
            sid: SessionId::random(),
            client_id: "first-party".into(),
            scope: Some("openid profile".into()),
            roles: vec!["admin".into()],
            claims: serde_json::Map::new(),
            amr: tessera_core::Amr::PASSWORD,
        };
        state
            .tokens
            .verifier
            .ring()
            .issue(&request, &state.tokens.cfg, state.clock.now())
            .unwrap()
            .token
    };
    let jwks = state.tokens.verifier.ring().jwks().clone();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwks["keys"][0].clone()).unwrap();
    let key = DecodingKey::from_jwk(&jwk).unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&["tessera"]);

    let mut group = c.benchmark_group("verify_fresh_token");
    group.bench_function("guard", |b| {
        b.iter_batched(
            issue,
            |token| {
                runtime
                    .block_on(guard.verify_token(black_box(&token)))
                    .unwrap()
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("raw_jsonwebtoken", |b| {
        b.iter_batched(
            issue,
            |token| {
                jsonwebtoken::decode::<AccessClaims>(black_box(&token), &key, &validation).unwrap()
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();

    let token = issue();
    c.bench_function("verify_repeat_token/guard", |b| {
        b.iter(|| {
            runtime
                .block_on(guard.verify_token(black_box(&token)))
                .unwrap()
        });
    });
}

criterion_group!(benches, verify);
criterion_main!(benches);
