use std::fmt;
use std::str::FromStr;

use jsonwebtoken::Algorithm;

use crate::error::KeyError;

/// The signing algorithms Tessera issues with. Every key is bound to exactly one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Alg {
    /// Ed25519, the default: small keys, fast, no nonce pitfalls.
    #[default]
    EdDSA,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    RS256,
    /// HMAC-SHA256 with a 256-bit secret. Only for deployments where the issuer is the only
    /// verifier: the key is never published, so resource servers must use `/v1/check`.
    HS256,
}

impl Alg {
    pub const ALL: [Alg; 4] = [Alg::EdDSA, Alg::ES256, Alg::RS256, Alg::HS256];

    /// The JOSE `alg` name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EdDSA => "EdDSA",
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::HS256 => "HS256",
        }
    }

    /// Whether the key can be published in a JWKS.
    pub const fn is_asymmetric(self) -> bool {
        !matches!(self, Self::HS256)
    }

    pub(crate) const fn jwt(self) -> Algorithm {
        match self {
            Self::EdDSA => Algorithm::EdDSA,
            Self::ES256 => Algorithm::ES256,
            Self::RS256 => Algorithm::RS256,
            Self::HS256 => Algorithm::HS256,
        }
    }

    pub(crate) const fn index(self) -> usize {
        match self {
            Self::EdDSA => 0,
            Self::ES256 => 1,
            Self::RS256 => 2,
            Self::HS256 => 3,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Accepts the configuration strings `EdDSA`, `ES256`, `RS256` and `HS256`, in any case so that
/// an operator's `eddsa` is not a start-up failure.
impl FromStr for Alg {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| KeyError::UnsupportedAlgorithm(s.chars().take(32).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_strings_round_trip() {
        for alg in Alg::ALL {
            assert_eq!(alg.to_string().parse::<Alg>().unwrap(), alg);
            assert_eq!(Alg::ALL[alg.index()], alg);
        }
        assert_eq!("eddsa".parse::<Alg>().unwrap(), Alg::EdDSA);
        assert!("none".parse::<Alg>().is_err());
        assert!("HS512".parse::<Alg>().is_err());
        assert!("".parse::<Alg>().is_err());
    }
}
