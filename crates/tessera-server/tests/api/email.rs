//! The e-mail flows against a real SMTP server process (aiosmtpd, see `tests/smtp_sink.py`):
//! password reset, verification, change of address, enumeration-safe sign-up, delivery while
//! SMTP is down, and the mail directory used when no SMTP server is configured.

use reqwest::StatusCode;
use serde_json::Value;
use time::Duration;

use crate::helpers::{
    admin_toml, spawn_app_with, Auth, Backend, SmtpSink, TestApp, ADMIN, PASSWORD,
};
use crate::on_every_backend;

const NEW_PASSWORD: &str = "a brand new passphrase";

async fn app_with_sink(backend: Backend, extra: &str) -> Option<(TestApp, SmtpSink)> {
    let sink = SmtpSink::start()?;
    // No verification mail unless the test asks: each test counts the mails it expects.
    let toml = format!(
        "{}{}verification = \"off\"\n{extra}",
        admin_toml(),
        sink.toml()
    );
    let app = spawn_app_with(backend, &toml).await;
    Some((app, sink))
}

async fn json(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

on_every_backend!(
    reset_link_works_once_and_ends_every_credential,
    expired_superseded_and_outdated_reset_links_fail,
    reset_answers_do_not_reveal_accounts_and_links_ignore_the_host_header,
    mail_waits_for_an_smtp_server_that_is_down,
    verification_can_be_required_before_login,
    changing_the_address_needs_the_password_and_the_new_inbox,
    enumeration_safe_sign_up_answers_alike_and_tells_the_owner,
    reset_requests_are_throttled_per_address,
    without_smtp_mail_goes_to_private_files,
);

async fn reset_link_works_once_and_ends_every_credential(backend: Backend) {
    let Some((app, sink)) = app_with_sink(backend, "").await else {
        return;
    };
    let email = "reset@example.com";
    app.create_user(email).await;
    let (cookie, _, _) = app.login_cookie(email).await;
    let (tss, _) = app.login_body(email).await;
    let tokens = app.token_pair(email).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let r = app.request_password_reset(email).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mail = sink.latest(email, 1).await;
    assert!(
        mail.subject.contains("Reset your Tessera password"),
        "{}",
        mail.subject
    );
    assert!(mail
        .link()
        .starts_with("http://localhost:8080/reset?token=tse_"));
    assert!(mail.html.contains("Choose a new password"));

    let r = app
        .confirm_password_reset(&mail.token(), NEW_PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // Every credential of the account is dead: cookie, tss_, the JWT and the refresh token.
    assert_eq!(
        app.get_session(Auth::Cookie(&cookie)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get_session(Auth::Bearer(&tss)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.check(Auth::Bearer(access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.grant_refresh(refresh).await.status(),
        StatusCode::BAD_REQUEST
    );

    // The link works once; the new password works and the old one does not.
    let r = app
        .confirm_password_reset(&mail.token(), "yet another passphrase")
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(r).await["error"], "invalid_request");
    assert_eq!(
        app.login(email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(email, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );

    let events = json(app.admin_events(ADMIN, &[("type", "password_reset")]).await).await;
    assert_eq!(events["events"].as_array().unwrap().len(), 1, "{events}");
    assert_eq!(events["events"][0]["detail"]["sessions_revoked"], 3);
}

async fn expired_superseded_and_outdated_reset_links_fail(backend: Backend) {
    let Some((app, sink)) = app_with_sink(backend, "").await else {
        return;
    };
    let email = "expiry@example.com";
    app.create_user(email).await;

    // Expired: the reset lifetime (30 min by default) has passed.
    assert_eq!(
        app.request_password_reset(email).await.status(),
        StatusCode::ACCEPTED
    );
    let old = sink.latest(email, 1).await.token();
    app.clock.advance(Duration::minutes(31));
    let r = app.confirm_password_reset(&old, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Superseded: a newer request kills the older link.
    assert_eq!(
        app.request_password_reset(email).await.status(),
        StatusCode::ACCEPTED
    );
    let first = sink.latest(email, 2).await.token();
    assert_eq!(
        app.request_password_reset(email).await.status(),
        StatusCode::ACCEPTED
    );
    let second = sink.latest(email, 3).await.token();
    assert_ne!(first, second);
    let r = app.confirm_password_reset(&first, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // A password change kills the outstanding link too.
    let (token, _) = app.login_body(email).await;
    let r = app
        .change_password(Auth::Bearer(&token), PASSWORD, "changed the usual way")
        .await;
    assert!(r.status().is_success(), "{}", r.status());
    let r = app.confirm_password_reset(&second, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // A password that breaks the policy leaves a fresh link usable.
    assert_eq!(
        app.request_password_reset(email).await.status(),
        StatusCode::ACCEPTED
    );
    let fresh = sink.latest(email, 4).await.token();
    let r = app.confirm_password_reset(&fresh, "short").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app.confirm_password_reset(&fresh, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    // Malformed tokens are the same answer, never a 500.
    for junk in ["", "tse_", "tss_AAAA", "x' OR 1=1 --"] {
        let r = app.confirm_password_reset(junk, NEW_PASSWORD).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{junk:?}");
    }
}

async fn reset_answers_do_not_reveal_accounts_and_links_ignore_the_host_header(backend: Backend) {
    let Some((app, sink)) = app_with_sink(backend, "").await else {
        return;
    };
    let email = "known@example.com";
    app.create_user(email).await;
    let known = app
        .request_password_reset(email)
        .header("Host", "evil.example")
        .header("X-Forwarded-Host", "evil.example")
        .await;
    let unknown = app.request_password_reset("nobody@example.com").await;
    assert_eq!(known.status(), StatusCode::ACCEPTED);
    assert_eq!(unknown.status(), known.status());
    let names = |r: &reqwest::Response| {
        let mut v: Vec<String> = r
            .headers()
            .keys()
            .filter(|k| k.as_str() != "date")
            .map(|k| format!("{k}: {:?}", r.headers()[k]))
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&known), names(&unknown));
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());

    let mail = sink.latest(email, 1).await;
    assert!(
        mail.link()
            .starts_with("http://localhost:8080/reset?token="),
        "the link comes from server.public_url: {}",
        mail.link()
    );
    assert!(!mail.text.contains("evil.example") && !mail.html.contains("evil.example"));
    // Both requests are done with (polled), and nothing went to the unknown address.
    let start = std::time::Instant::now();
    while app.state.store.pending_mail().await.unwrap() > 0 {
        assert!(
            start.elapsed() < crate::helpers::email::MAIL_PATIENCE,
            "outbox not drained"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(sink.mails_to("nobody@example.com").is_empty());
    assert_eq!(sink.mails().len(), 1);
}

async fn mail_waits_for_an_smtp_server_that_is_down(backend: Backend) {
    let Some((app, mut sink)) = app_with_sink(backend, "").await else {
        return;
    };
    let email = "patient@example.com";
    app.create_user(email).await;
    sink.stop();

    let r = app.request_password_reset(email).await;
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "the request answers while SMTP is down"
    );
    // Wait for the failed attempt to be recorded (polled, not timed).
    let start = std::time::Instant::now();
    loop {
        let rows = app.state.store.list_mail(10).await.unwrap();
        let reset: Vec<_> = rows
            .iter()
            .filter(|m| m.kind == tessera_core::MailKind::PasswordReset)
            .collect();
        if reset.len() == 1 && reset[0].attempts >= 1 && reset[0].lease_until.is_none() {
            assert!(reset[0].last_error.is_some());
            break;
        }
        assert!(
            start.elapsed() < crate::helpers::email::MAIL_PATIENCE,
            "no failed attempt: {rows:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    sink.resume().expect("the sink restarts");
    // The retry is due after the backoff, on the server's clock.
    app.clock.advance(Duration::minutes(1));
    let mail = sink.latest(email, 1).await;
    let r = app
        .confirm_password_reset(&mail.token(), NEW_PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}

async fn verification_can_be_required_before_login(backend: Backend) {
    let extra =
        "[email]\nverification = \"required_before_login\"\n[signup]\nenumeration_safe = false\n";
    let Some((app, sink)) = app_with_sink(backend, extra).await else {
        return;
    };
    let email = "verify@example.com";
    let created = json(app.sign_up(email, PASSWORD).await).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let first = sink.latest(email, 1).await;
    assert!(first
        .link()
        .starts_with("http://localhost:8080/verify?token=tse_"));

    let r = app.login(email, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "unverified");
    let r = app.grant_password(email, PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "the grant's one failure answer"
    );
    assert_eq!(
        app.login(email, "wrong password!").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // A resend supersedes the first link.
    let r = app.resend_verification(email).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let unknown = app.resend_verification("ghost@example.com").await;
    assert_eq!(unknown.status(), StatusCode::ACCEPTED);
    let second = sink.latest(email, 2).await;
    assert_eq!(
        app.confirm_email(&first.token()).await.status(),
        StatusCode::BAD_REQUEST
    );
    let r = app.confirm_email(&second.token()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    assert_eq!(body["result"], "verified");
    assert_eq!(
        app.confirm_email(&second.token()).await.status(),
        StatusCode::BAD_REQUEST
    );

    assert_eq!(app.login(email, PASSWORD).await.status(), StatusCode::OK);
    let user = json(app.admin_user(ADMIN, &id).await).await;
    assert_eq!(user["email_verified"], true, "{user}");
    assert!(user["email_verified_at"].is_string());
    // A verified account is not mailed again.
    assert_eq!(
        app.resend_verification(email).await.status(),
        StatusCode::ACCEPTED
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.mails_to(email).len(), 2);
}

async fn changing_the_address_needs_the_password_and_the_new_inbox(backend: Backend) {
    let Some((app, sink)) = app_with_sink(backend, "[email]\nverification = \"off\"\n").await
    else {
        return;
    };
    let (old, new) = ("before@example.com", "after@example.com");
    app.create_user(old).await;
    let (token, _) = app.login_body(old).await;
    let r = app
        .change_email(Auth::Bearer(&token), new, "not my password")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.change_email(Auth::None, new, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = app.change_email(Auth::Bearer(&token), new, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let confirm = sink.latest(new, 1).await;
    assert!(sink.mails_to(old).is_empty(), "nothing changed yet");
    // Nothing changes until the link is used.
    assert_eq!(app.login(old, PASSWORD).await.status(), StatusCode::OK);

    let r = app.confirm_email(&confirm.token()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = json(r).await;
    assert_eq!(body["result"], "email_changed");
    assert_eq!(body["email"], new);
    let notice = sink.latest(old, 1).await;
    assert!(notice.text.contains(new), "{}", notice.text);
    assert_eq!(
        app.login(old, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.login(new, PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(
        app.confirm_email(&confirm.token()).await.status(),
        StatusCode::BAD_REQUEST
    );

    // A reset link sent to the old address died with it.
    app.create_user("third@example.com").await;
    let (t3, _) = app.login_body("third@example.com").await;
    let r = app.change_email(Auth::Bearer(&t3), new, PASSWORD).await;
    assert_eq!(
        r.status(),
        StatusCode::ACCEPTED,
        "a taken address is not revealed here"
    );
    let taken = sink.latest(new, 2).await;
    let r = app.confirm_email(&taken.token()).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
}

async fn enumeration_safe_sign_up_answers_alike_and_tells_the_owner(backend: Backend) {
    let extra = "[email]\nverification = \"required_before_login\"\n";
    let Some((app, sink)) = app_with_sink(backend, extra).await else {
        return;
    };
    let email = "owner@example.com";
    let first = app.sign_up(email, PASSWORD).await;
    let again = app.sign_up(email, "another password 1").await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(first.text().await.unwrap(), again.text().await.unwrap());
    let mails = sink.wait_for(email, 2).await;
    let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
    assert!(
        subjects.iter().any(|s| s.contains("Confirm your address")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("tried to sign up")),
        "{subjects:?}"
    );
    // The second sign-up did not change the password.
    let verify = mails
        .iter()
        .find(|m| m.subject.contains("Confirm"))
        .unwrap();
    assert_eq!(
        app.confirm_email(&verify.token()).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.login(email, PASSWORD).await.status(), StatusCode::OK);
}

async fn reset_requests_are_throttled_per_address(backend: Backend) {
    let extra = "[limits]\npassword_reset_per_account = \"2/hour\"\n";
    let Some((app, _sink)) = app_with_sink(backend, extra).await else {
        return;
    };
    for _ in 0..2 {
        let r = app.request_password_reset("victim@example.com").await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let r = app.request_password_reset("Victim@Example.com ").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    let other = app.request_password_reset("someone-else@example.com").await;
    assert_eq!(other.status(), StatusCode::ACCEPTED);
}

async fn without_smtp_mail_goes_to_private_files(backend: Backend) {
    let app = spawn_app_with(backend, "").await;
    let email = "files@example.com";
    app.create_user(email).await;
    assert_eq!(
        app.request_password_reset(email).await.status(),
        StatusCode::ACCEPTED
    );
    let start = std::time::Instant::now();
    let files = loop {
        let files = app.mail_files();
        // The verification mail of the sign-up and the reset mail.
        if files.len() >= 2 {
            break files;
        }
        assert!(
            start.elapsed() < crate::helpers::email::MAIL_PATIENCE,
            "no mail files"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    };
    let reset = files
        .iter()
        .find(|f| f.to_string_lossy().contains("password_reset"))
        .expect("a reset mail file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(reset).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "only the owner can read a mail with a link");
        let dir = std::fs::metadata(&app.mail_dir)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir, 0o700);
    }
    let raw = std::fs::read_to_string(reset).unwrap();
    let decoded = raw.replace("=\r\n", "").replace("=3D", "=");
    let start = decoded.find("token=tse_").expect("the link is in the file");
    let token: String = decoded[start + 6..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    let r = app.confirm_password_reset(&token, NEW_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
}
