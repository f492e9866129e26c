//! `Config::from_toml_str`, the engine settings built from it, and the origin normaliser it
//! validates URLs with. Invariants: nothing panics, neither loading nor the date arithmetic a
//! running server does with the loaded values (a session opened, a refresh token minted, the
//! token horizon, up to the year 2100); `public_origin` is idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::model::SessionKind;
use tessera_core::session::ClientInfo;
use tessera_core::{TokenHash, UserId};
use tessera_server::config::{public_origin, Config};
use time::OffsetDateTime;

fuzz_target!(|text: &str| {
    if let Some(origin) = public_origin(text) {
        assert_eq!(public_origin(&origin).as_deref(), Some(origin.as_str()));
    }
    let Ok(config) = Config::from_toml_str(text) else {
        return;
    };
    let origin = config.public_origin();
    assert_eq!(public_origin(&origin).as_deref(), Some(origin.as_str()));
    let _ = (
        config.cookie_secure(),
        config.cookies_insecure_over_https(),
        config.issuer(),
    );

    let settings = config.engine_settings();
    let _ = settings.tokens.token_horizon();
    let now = OffsetDateTime::from_unix_timestamp(4_102_444_800).unwrap(); // 2100-01-01
    let session = settings.session_lifetimes.open(
        UserId::random(),
        SessionKind::Cookie,
        TokenHash::of("x"),
        ClientInfo::new(None, None),
        now,
    );
    assert!(session.idle_expires_at <= session.expires_at);
    assert!(
        now.checked_add(settings.refresh.ttl).is_some(),
        "token.refresh_ttl overflows a date"
    );
});
