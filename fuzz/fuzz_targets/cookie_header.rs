//! `cookies::read` on arbitrary `Cookie` headers (one per input line, so several headers).
//! Invariants: nothing panics; a value found is one pair's value (no `;`), and it is found only
//! when its name occurs exactly once across all headers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_server::cookies::{self, CookieNames};

fuzz_target!(|data: &[u8]| {
    let headers = tessera_fuzz::headers("cookie", data.split(|&b| b == b'\n'));
    let secure = CookieNames::new(true);
    let plain = CookieNames::new(false);
    for name in [
        secure.session,
        secure.access,
        secure.refresh,
        plain.session,
        plain.access,
        plain.refresh,
        "tessera_login_csrf",
        "__Host-tessera_login_csrf",
    ] {
        let Some(value) = cookies::read(&headers, name) else {
            continue;
        };
        assert!(!value.contains(';'), "{name}: a value spans pairs");
        let mentions: usize = headers
            .get_all("cookie")
            .iter()
            .map(|h| String::from_utf8_lossy(h.as_bytes()).matches(name).count())
            .sum();
        assert!(mentions >= 1, "{name}: found a cookie that is not there");
    }
});
