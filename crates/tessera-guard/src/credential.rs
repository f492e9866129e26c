//! Finding the Tessera credential in a request, by the rules of the server (API.md,
//! "Credentials the server understands"): the `Authorization` header wins over cookies.

use http::{header, HeaderMap, Method};

/// Cookie names, with and without the `__Host-` prefix (`cookie.secure = false` drops it).
const SESSION_COOKIES: [&str; 2] = ["__Host-tessera_session", "tessera_session"];
const ACCESS_TOKEN_COOKIES: [&str; 2] = ["__Host-tessera_at", "tessera_at"];
const SESSION_TOKEN_PREFIX: &str = "tss_";

/// A credential as found; `Debug` never shows its value.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A JWT in `Authorization: Bearer`.
    BearerJwt(String),
    /// A `tss_` token in `Authorization: Bearer`.
    SessionToken(String),
    /// A Tessera cookie: `name=value`, forwarded as is when the server must be asked.
    /// `access_token` tells whether it is the access-token cookie (a JWT).
    Cookie {
        pair: String,
        value: String,
        access_token: bool,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::BearerJwt(_) => "BearerJwt(<redacted>)",
            Self::SessionToken(_) => "SessionToken(<redacted>)",
            Self::Cookie { .. } => "Cookie(<redacted>)",
        })
    }
}

impl Credential {
    /// `None` when the request carries none.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let value = value.to_str().ok()?;
            let (scheme, token) = value.split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return None;
            }
            let token = token.trim();
            return Some(if token.starts_with(SESSION_TOKEN_PREFIX) {
                Self::SessionToken(token.to_owned())
            } else {
                Self::BearerJwt(token.to_owned())
            });
        }
        let mut session = None;
        for value in headers.get_all(header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for pair in value.split(';').map(str::trim) {
                let Some((name, cookie)) = pair.split_once('=') else {
                    continue;
                };
                let access_token = ACCESS_TOKEN_COOKIES.contains(&name);
                if access_token || SESSION_COOKIES.contains(&name) {
                    let found = Self::Cookie {
                        pair: pair.to_owned(),
                        value: cookie.to_owned(),
                        access_token,
                    };
                    // The access-token cookie can be verified here; prefer it.
                    if access_token {
                        return Some(found);
                    }
                    session.get_or_insert(found);
                }
            }
        }
        session
    }
}

/// Methods the server checks CSRF on when a cookie authenticates.
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The headers the server's CSRF check reads, forwarded to `/v1/check` for cookie requests with
/// an unsafe method.
pub const CSRF_HEADERS: [&str; 4] = ["x-csrf-token", "origin", "sec-fetch-site", "referer"];

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn finds_each_kind() {
        assert_eq!(Credential::from_headers(&headers(&[])), None);
        assert_eq!(
            Credential::from_headers(&headers(&[("authorization", "Bearer eyJ.a.b")])),
            Some(Credential::BearerJwt("eyJ.a.b".into()))
        );
        assert_eq!(
            Credential::from_headers(&headers(&[("authorization", "bearer tss_x")])),
            Some(Credential::SessionToken("tss_x".into()))
        );
        assert_eq!(
            Credential::from_headers(&headers(&[("authorization", "Basic abc")])),
            None
        );
        let found = Credential::from_headers(&headers(&[(
            "cookie",
            "other=1; tessera_session=s; __Host-tessera_at=eyJ",
        )]));
        assert_eq!(
            found,
            Some(Credential::Cookie {
                pair: "__Host-tessera_at=eyJ".into(),
                value: "eyJ".into(),
                access_token: true
            })
        );
        assert!(!format!("{found:?}").contains("eyJ"));
    }
}
