//! Cookie names and `Set-Cookie` values.
//!
//! With `Secure` on, the session and access-token cookies use the `__Host-` prefix (the browser
//! then refuses them unless Secure, Path=/ and no Domain — so a sibling subdomain cannot plant
//! one), and the refresh cookie uses `__Secure-` because it is scoped to `Path=/v1/token`.

use axum::http::{header, HeaderMap, HeaderValue};
use cookie::Cookie;

#[derive(Debug, Clone)]
pub struct CookieNames {
    pub secure: bool,
    pub session: &'static str,
    pub access: &'static str,
    pub refresh: &'static str,
}

pub const REFRESH_COOKIE_PATH: &str = "/v1/token";

impl CookieNames {
    pub fn new(secure: bool) -> Self {
        if secure {
            Self {
                secure,
                session: "__Host-tessera_session",
                access: "__Host-tessera_at",
                refresh: "__Secure-tessera_rt",
            }
        } else {
            Self {
                secure,
                session: "tessera_session",
                access: "tessera_at",
                refresh: "tessera_rt",
            }
        }
    }

    /// `name=value; HttpOnly; [Secure;] SameSite=Lax; Path=…; Max-Age=…`.
    pub fn set(&self, name: &str, value: &str, path: &str, max_age_secs: i64) -> HeaderValue {
        let secure = if self.secure { " Secure;" } else { "" };
        let text = format!(
            "{name}={value}; HttpOnly;{secure} SameSite=Lax; Path={path}; Max-Age={}",
            max_age_secs.max(0)
        );
        HeaderValue::from_str(&text).expect("cookie values are base64url and names are static")
    }

    pub fn clear(&self, name: &str, path: &str) -> HeaderValue {
        self.set(name, "", path, 0)
    }
}

/// The value of cookie `name` from the request's `Cookie` headers, if present exactly once.
/// A duplicated name is treated as absent: that is how cookie-tossing attacks look.
///
/// Each `;`-separated pair is parsed on its own, so a malformed pair — a stray non-UTF-8 byte
/// that a sibling subdomain planted, a pair without `=` — spoils only itself, not the session
/// cookie beside it. A pair with an invalid byte keeps a replacement character in its place and
/// never matches a token format.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let text = String::from_utf8_lossy(value.as_bytes());
        for cookie in Cookie::split_parse(text).flatten() {
            if cookie.name() == name {
                if found.is_some() {
                    return None;
                }
                found = Some(cookie.value_trimmed().to_owned());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_cookie_and_refuses_duplicates() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tessera_session=abc; b=2"),
        );
        assert_eq!(read(&h, "tessera_session").as_deref(), Some("abc"));
        assert_eq!(read(&h, "missing"), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_static("tessera_session=evil"),
        );
        assert_eq!(read(&h, "tessera_session"), None);
    }

    #[test]
    fn a_malformed_pair_spoils_only_itself() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_bytes(b"junk=\xff\xfe; tessera_session=\"abc\"; lonely; =x; b=\xc3")
                .unwrap(),
        );
        assert_eq!(read(&h, "tessera_session").as_deref(), Some("abc"));
        assert!(read(&h, "junk").is_some_and(|v| v.contains('\u{FFFD}')));
        assert_eq!(read(&h, "lonely"), None);
    }

    #[test]
    fn secure_names_use_prefixes() {
        let names = CookieNames::new(true);
        let v = names.set(names.session, "tss_x", "/", 60);
        assert_eq!(
            v.to_str().unwrap(),
            "__Host-tessera_session=tss_x; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=60"
        );
        assert_eq!(CookieNames::new(false).refresh, "tessera_rt");
    }
}
