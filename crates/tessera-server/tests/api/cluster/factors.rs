//! Second factors across two instances on one Postgres database sharing Redis: the pending
//! step made on one instance completes on the other, a code used on one is refused on the other,
//! and the new session's assurance level is what both report.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::support::{cache_toml, redis_available, spawn_pair, PgDatabase, SHARED_REDIS};
use crate::helpers::{Auth, PASSWORD};

#[tokio::test]
async fn a_second_step_started_on_a_completes_on_b_once() {
    let Some(db) = PgDatabase::create().await else {
        return;
    };
    if !redis_available(SHARED_REDIS).await {
        return;
    }
    let (a, b) = spawn_pair(db.url(), &cache_toml(SHARED_REDIS)).await;
    let email = format!("pair-{}@example.com", uuid::Uuid::new_v4().simple());
    let (authenticator, _, _) = a.user_with_totp(&email).await;

    let first = |app: &crate::helpers::TestApp| app.login_via("body", &email, PASSWORD);
    let on_a: Value = first(&a).json().await;
    let on_b: Value = first(&b).json().await;
    assert_eq!(on_a["error"], "mfa_required");
    let code = a.totp_code(&authenticator, 0);
    let body = |pending: &Value| json!({ "mfa_token": pending["mfa_token"], "code": code, "transport": "body" });
    let r = b.complete_mfa(&body(&on_a)).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "A's pending step is in the shared store"
    );
    let login: Value = r.json().await.unwrap();
    // The code's step is spent for both instances.
    assert_eq!(
        a.complete_mfa(&body(&on_b)).status().await,
        StatusCode::UNAUTHORIZED
    );
    let session = login["session_token"].as_str().unwrap();
    for app in [&a, &b] {
        let r = app
            .check_requiring(Auth::Bearer(session), &[("aal", "2")])
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["x-auth-aal"], "2");
    }
}
