//! Cookie names and `Set-Cookie` values.
//!
//! With `Secure` on, the session and access-token cookies use the `__Host-` prefix (the browser
//! then refuses them unless Secure, Path=/ and no Domain — so a sibling subdomain cannot plant
//! one), and the refresh cookie uses `__Secure-` because it is scoped to `Path=/v1/token`.

use axum::http::{header, HeaderMap, HeaderValue};

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
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            let Some((k, v)) = pair.trim().split_once('=') else {
                continue;
            };
            if k == name {
                if found.is_some() {
                    return None;
                }
                found = Some(v.trim_matches('"'));
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
        assert_eq!(read(&h, "tessera_session"), Some("abc"));
        assert_eq!(read(&h, "missing"), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_static("tessera_session=evil"),
        );
        assert_eq!(read(&h, "tessera_session"), None);
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
