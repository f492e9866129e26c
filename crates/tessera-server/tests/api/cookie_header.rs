//! The `Cookie` header as browsers really send it: pairs planted by sibling subdomains, stray
//! bytes, duplicates.

use reqwest::header::{HeaderValue, COOKIE};
use reqwest::StatusCode;

use crate::helpers::{spawn_app, Auth, Backend};
use crate::on_every_backend;

on_every_backend!(a_junk_pair_with_a_non_ascii_byte_does_not_log_the_user_out);

async fn a_junk_pair_with_a_non_ascii_byte_does_not_log_the_user_out(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user("ada@example.com").await;
    let (session_cookie, _, _) = app.login_cookie("ada@example.com").await;
    // Latin-1 bytes (obs-text) before and after the session cookie, as a sibling subdomain
    // can set with `Domain=`; the header is not valid UTF-8 as a whole.
    let mut raw = b"prefs=caf\xe9; ".to_vec();
    raw.extend_from_slice(session_cookie.as_bytes());
    raw.extend_from_slice(b"; theme=\xff\xfe");
    let header = HeaderValue::from_bytes(&raw).unwrap();
    assert!(
        header.to_str().is_err(),
        "the test needs a non-ASCII header"
    );

    for (path, call) in [
        ("/v1/session", app.get_session(Auth::None)),
        ("/v1/check", app.check(Auth::None)),
    ] {
        let r = call.header_value(COOKIE.as_str(), header.clone()).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
}
