//! A change of a user's roles on one instance reaches cookie and `tss_` checks on the other at
//! once: by the feed (each instance drops the user's cached sessions) and, with Redis, by the
//! shared tier's invalidation. The instances share a test clock that never moves, so no cache
//! entry can expire on its own: only the invalidation can make B answer differently.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::support::{eventually, str_of, unique_email, PATIENCE};
use super::{Cluster, Feed};
use crate::helpers::{admin_toml, Auth, TestApp, ADMIN};

on_every_feed!(a_role_change_on_a_reaches_a_cookie_check_on_b);

async fn required_status(app: &TestApp, auth: Auth<'_>, role: &str) -> StatusCode {
    app.check_requiring(auth, &[("role", role)]).status().await
}

async fn until_status(app: &TestApp, auth: Auth<'_>, role: &str, want: StatusCode, what: &str) {
    let took: Duration = eventually(what, PATIENCE, || async {
        let got = required_status(app, auth, role).await;
        assert!(
            got == want || got == StatusCode::FORBIDDEN || got == StatusCode::OK,
            "{what}: unexpected {got}"
        );
        got == want
    })
    .await;
    println!("propagation: {what} after {took:?}");
}

async fn a_role_change_on_a_reaches_a_cookie_check_on_b(feed: Feed) {
    let Some(cluster) = Cluster::start(feed, &admin_toml()).await else {
        return;
    };
    let (a, b) = (&cluster.a, &cluster.b);
    let email = unique_email();
    let user: Value = a.create_user(&email).await;
    let id = str_of(&user, "id");
    let (cookie, _, _) = a.login_cookie(&email).await;
    let (token, _) = a.login_body(&email).await;
    for auth in [Auth::Cookie(&cookie), Auth::Bearer(&token)] {
        // Twice on B: from here on B answers from its session cache.
        for _ in 0..2 {
            assert_eq!(
                required_status(b, auth, "admin").await,
                StatusCode::FORBIDDEN
            );
        }
    }
    let r = a.admin_add_roles(ADMIN, id, &["admin"]).await;
    assert_eq!(r.status(), StatusCode::OK);
    until_status(
        b,
        Auth::Cookie(&cookie),
        "admin",
        StatusCode::OK,
        &format!("{feed:?}: role added, cookie on B"),
    )
    .await;
    until_status(
        b,
        Auth::Bearer(&token),
        "admin",
        StatusCode::OK,
        &format!("{feed:?}: role added, tss_ on B"),
    )
    .await;

    // Cached again on B with the role, then taken away on A.
    assert_eq!(
        required_status(b, Auth::Cookie(&cookie), "admin").await,
        StatusCode::OK
    );
    let r = a.admin_remove_role(ADMIN, id, "admin").await;
    assert_eq!(r.status(), StatusCode::OK);
    until_status(
        b,
        Auth::Cookie(&cookie),
        "admin",
        StatusCode::FORBIDDEN,
        &format!("{feed:?}: role removed, cookie on B"),
    )
    .await;
    let me: Value = b.get_session(Auth::Cookie(&cookie)).json().await;
    assert_eq!(me["user"]["roles"], serde_json::json!([]));
}
