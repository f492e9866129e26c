//! Where a successful sign-in may send the browser: never an open redirect.
//!
//! A `return_to` value is accepted when it is
//! - a path on this origin: it starts with exactly one `/` (not `//`, not `/\`), or
//! - an absolute `http://` or `https://` URL without user info whose origin is this server's
//!   public origin or one of `server.allowed_return_origins`;
//!
//! and, in both cases, it is at most 2048 bytes of visible ASCII without a backslash. That last
//! rule removes everything browsers silently rewrite (tabs and newlines are stripped, `\` counts
//! as `/`), so what is checked here is what the browser will follow. Anything else — a scheme
//! like `javascript:`, a scheme-relative `//host`, `https:/host`, percent-encoded slashes (which
//! are not a path at all) — is refused, and the caller falls back to `/account`.

use crate::config::public_origin;

pub const DEFAULT: &str = "/account";
const MAX_LEN: usize = 2048;

/// `raw` if it is a safe place to send the browser, else `None`.
pub fn safe<'a>(raw: &'a str, own_origin: &str, allowed: &[String]) -> Option<&'a str> {
    if raw.is_empty()
        || raw.len() > MAX_LEN
        || !raw.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
    {
        return None;
    }
    if let Some(rest) = raw.strip_prefix('/') {
        return (!rest.starts_with('/')).then_some(raw);
    }
    let lower = raw.to_ascii_lowercase();
    let after_scheme = if lower.starts_with("https://") {
        "https://".len()
    } else if lower.starts_with("http://") {
        "http://".len()
    } else {
        return None;
    };
    let rest = &raw[after_scheme..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let origin = public_origin(&raw[..after_scheme + authority_end])?;
    let permitted = origin == own_origin
        || allowed
            .iter()
            .any(|a| public_origin(a).as_deref() == Some(origin.as_str()));
    permitted.then_some(raw)
}

/// The place to go after signing in: `raw` when [`safe`], else `/account`.
pub fn target<'a>(raw: Option<&'a str>, own_origin: &str, allowed: &[String]) -> &'a str {
    raw.and_then(|r| safe(r, own_origin, allowed))
        .unwrap_or(DEFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "https://auth.example.com";

    fn allowed() -> Vec<String> {
        vec![
            "https://app.example.com".into(),
            "http://localhost:3000".into(),
        ]
    }

    #[test]
    fn same_origin_paths_are_kept() {
        for ok in ["/", "/account", "/a/b?c=d#e", "/%2F%2Fevil.com", "/..//x"] {
            assert_eq!(safe(ok, ME, &allowed()), Some(ok), "{ok}");
        }
    }

    #[test]
    fn allow_listed_and_own_origins_are_kept() {
        for ok in [
            "https://app.example.com",
            "https://app.example.com/",
            "https://APP.example.com:443/x?y#z",
            "http://localhost:3000/cb",
            "https://auth.example.com/account",
        ] {
            assert_eq!(safe(ok, ME, &allowed()), Some(ok), "{ok}");
        }
    }

    #[test]
    fn everything_else_is_refused() {
        for bad in [
            "",
            "//evil.com",
            "///evil.com",
            "/\\evil.com",
            "\\\\evil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            "/ /evil.com",
            "%2F%2Fevil.com",
            "https://evil.com",
            "https:/evil.com",
            "https:evil.com",
            "https:///evil.com",
            "http://app.example.com",
            "https://app.example.com:8443/",
            // Found by the `return_to` fuzz target: an invalid port used to be dropped.
            "https://APP.example.com:4p4/x",
            "https://app.example.com:/x:",
            "https://app.example.com.evil.com/",
            "https://app.example.com@evil.com/",
            "https://evil.com@app.example.com/",
            "https://evil.com\\@app.example.com/",
            "https://evil.com?@app.example.com",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "evil.com",
            "/caf\u{e9}",
        ] {
            assert_eq!(safe(bad, ME, &allowed()), None, "{bad:?}");
        }
        let long = format!("/{}", "a".repeat(MAX_LEN));
        assert_eq!(safe(&long, ME, &allowed()), None);
    }

    #[test]
    fn the_fallback_is_the_account_page() {
        assert_eq!(target(Some("//evil.com"), ME, &[]), "/account");
        assert_eq!(target(None, ME, &[]), "/account");
        assert_eq!(target(Some("/x"), ME, &[]), "/x");
    }
}
