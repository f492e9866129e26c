//! Which credential a presented string is, decided in one place.
//!
//! Every path that takes "a token" — the request's `Authorization` header or cookies, RFC 7009
//! revocation, RFC 7662 introspection — classifies it here and matches the result exhaustively,
//! so a new credential kind is added once and the compiler lists every place that must handle it.

use crate::secret::{SecretToken, TokenKind};

/// A presented credential, by kind. Secrets are already checked for shape; nothing here says
/// whether one is valid — that takes the store or the signing keys.
#[derive(Debug)]
pub enum Presented<'a> {
    /// `tss_…`: the secret of a cookie or header session.
    SessionSecret(SecretToken),
    /// `tsr_…`: a refresh token.
    RefreshToken(SecretToken),
    /// Anything else shaped like a compact JWS (`header.payload.signature`): an access token,
    /// if its signature and claims say so.
    AccessToken(&'a str),
    /// Empty, a known prefix with a malformed body, a client secret or admin key (never a
    /// bearer credential), or anything else.
    Unrecognised,
}

impl<'a> Presented<'a> {
    pub fn classify(presented: &'a str) -> Self {
        let secret_of = |kind: TokenKind| SecretToken::parse(kind, presented);
        if presented.starts_with(TokenKind::Session.prefix()) {
            return secret_of(TokenKind::Session).map_or(Self::Unrecognised, Self::SessionSecret);
        }
        if presented.starts_with(TokenKind::Refresh.prefix()) {
            return secret_of(TokenKind::Refresh).map_or(Self::Unrecognised, Self::RefreshToken);
        }
        if presented.bytes().filter(|&b| b == b'.').count() == 2 {
            return Self::AccessToken(presented);
        }
        Self::Unrecognised
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_told_apart() {
        let session = SecretToken::generate(TokenKind::Session);
        let refresh = SecretToken::generate(TokenKind::Refresh);
        let client = SecretToken::generate(TokenKind::ClientSecret);
        assert!(matches!(
            Presented::classify(session.expose()),
            Presented::SessionSecret(s) if s.kind() == TokenKind::Session
        ));
        assert!(matches!(
            Presented::classify(refresh.expose()),
            Presented::RefreshToken(s) if s.kind() == TokenKind::Refresh
        ));
        assert!(matches!(
            Presented::classify("eyJ.eyJ.sig"),
            Presented::AccessToken("eyJ.eyJ.sig")
        ));
        for other in [
            client.expose(),
            "",
            "tss_short",
            "tsr_",
            "a.b",
            "a.b.c.d",
            "garbage",
        ] {
            assert!(
                matches!(Presented::classify(other), Presented::Unrecognised),
                "{other}"
            );
        }
    }
}
