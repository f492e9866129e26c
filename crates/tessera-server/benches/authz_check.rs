//! What roles and custom claims cost (issue 18): the size of the access token, and the check of
//! each credential, for a user with no roles (the baseline, measured in the same run), with 5
//! roles, and with 5 roles and a typical custom-claims object.
//!
//! Checks are `credential::authenticate`, the whole in-process path behind `/v1/check` and every
//! authenticated route: an access token seen before (verified-token cache), an access token
//! never seen (signature, EdDSA), and a `tss_` session token (session cache hit).
//!
//! `cargo bench -p tessera-server --bench authz_check`

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use tessera_core::password::PasswordHasher;
use tessera_core::{SessionKind, SystemClock};
use tessera_engine::authz::{self, RoleChange};
use tessera_engine::credential::{authenticate, Channel};
use tessera_engine::{accounts, grants, sessions, Caller};
use tessera_server::app::{build_state, Options};
use tessera_server::config::Config;
use tessera_server::state::AppState;

const PASSWORD: &str = "correct horse battery";

struct Variant {
    name: &'static str,
    access_token: String,
    session_token: String,
}

fn caller() -> Caller {
    Caller {
        ip: "127.0.0.1".parse().unwrap(),
        user_agent: Some("bench".into()),
    }
}

async fn variant(
    state: &AppState,
    name: &'static str,
    roles: &[&str],
    claims: serde_json::Value,
) -> Variant {
    let email = format!("{name}@example.com");
    let user = accounts::create_user(state, &email, PASSWORD, None)
        .await
        .unwrap();
    let roles = roles.iter().map(|r| (*r).to_owned()).collect();
    authz::change_roles(state, user.id, &RoleChange::Set(roles), None)
        .await
        .unwrap();
    authz::set_claims(state, user.id, claims, None)
        .await
        .unwrap();
    let grant = grants::password::grant(state, &email, PASSWORD, "first-party", None, &caller())
        .await
        .unwrap();
    let login = sessions::login(
        state,
        &email,
        PASSWORD,
        SessionKind::Header,
        None,
        &caller(),
    )
    .await
    .unwrap();
    Variant {
        name,
        access_token: grant.access.token,
        session_token: login.secret.expose().to_owned(),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let five = ["admin", "editor", "billing", "support", "reports:read"];
    let typical = json!({
        "tenant": "acme-corp",
        "plan": "enterprise",
        "permissions": ["invoices:read", "invoices:write", "reports:read"],
        "locale": "en-GB",
    });
    let (state, variants) = rt.block_on(async {
        let store = tessera_store::open("memory://", true).await.unwrap();
        let mut config = Config::default();
        config.store.url = "memory://".into();
        let hasher = PasswordHasher::with_params(argon2::Params::new(1024, 1, 1, None).unwrap());
        let options = Options {
            clock: Arc::new(SystemClock),
            hasher,
        };
        let state = build_state(config, store, options).await.unwrap();
        let variants = vec![
            variant(&state, "no_roles", &[], json!({})).await,
            variant(&state, "five_roles", &five, json!({})).await,
            variant(&state, "five_roles_claims", &five, typical.clone()).await,
        ];
        (state, variants)
    });
    for v in &variants {
        let payload = v.access_token.split('.').nth(1).unwrap_or("").len();
        println!(
            "access token {}: {} bytes (payload {} bytes base64url); session token {} bytes",
            v.name,
            v.access_token.len(),
            payload,
            v.session_token.len()
        );
    }
    let mut group = c.benchmark_group("authz_check");
    for v in &variants {
        group.bench_function(format!("access_token_seen/{}", v.name), |b| {
            b.iter(|| {
                rt.block_on(authenticate(&state, &v.access_token, Channel::Header))
                    .unwrap()
                    .unwrap()
            });
        });
        group.bench_function(format!("access_token_new/{}", v.name), |b| {
            let now = time::OffsetDateTime::now_utc();
            b.iter(|| {
                state
                    .tokens
                    .verifier
                    .check_uncached(&v.access_token, now)
                    .unwrap()
            });
        });
        group.bench_function(format!("session_token/{}", v.name), |b| {
            b.iter(|| {
                rt.block_on(authenticate(&state, &v.session_token, Channel::Header))
                    .unwrap()
                    .unwrap()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
