//! RFC 6238 codes (SHA-1, 6 digits, 30 s steps: what every authenticator app reads from an
//! `otpauth://` URI), and the sealing of TOTP keys at rest with `keys.encryption_key` — the
//! key and cipher that protect signing keys, with associated data of its own.

use subtle::ConstantTimeEq;
use tessera_core::factor::{Factor, SECRET_PLAIN, SECRET_SEALED};
use tessera_core::UserId;
use tessera_token::EncryptionKey;
use totp_rs::{Algorithm, TOTP};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::EngineError;

/// 160 bits, the key length RFC 4226 recommends for HMAC-SHA-1.
pub const SECRET_BYTES: usize = 20;
pub const STEP_SECS: i64 = 30;
pub const DIGITS: usize = 6;
/// Codes of the previous and the next step are accepted too: clocks drift, people type slowly.
pub const WINDOW_STEPS: i64 = 1;
const AAD_DOMAIN: &[u8] = b"tessera totp secret v1\0";

/// A TOTP generator for `secret`, labelled for an `otpauth://` URI.
fn generator(secret: &[u8], issuer: &str, account: &str) -> Result<TOTP, EngineError> {
    // The URI's label is `issuer:account`: a colon in either would split it wrongly.
    let clean = |s: &str| s.replace(':', " ");
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS as u64,
        secret.to_vec(),
        Some(clean(issuer)),
        clean(account),
    )
    .map_err(|e| EngineError::Internal(format!("TOTP parameters: {e:?}").into()))
}

/// The `otpauth://totp/…` URI an authenticator app scans, and the key in base32 for typing in.
pub fn provisioning(
    secret: &[u8],
    issuer: &str,
    account: &str,
) -> Result<(String, String), EngineError> {
    let totp = generator(secret, issuer, account)?;
    Ok((totp.get_url(), totp.get_secret_base32()))
}

/// The time step `unix_secs` falls in.
pub fn step_of(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(STEP_SECS)
}

/// The step among `now`'s and its neighbours whose code `code` is, if any. Every candidate is
/// computed and compared in constant time, so timing does not tell which step matched.
pub fn matching_step(secret: &[u8], code: &str, unix_secs: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS as u64,
        secret.to_vec(),
        None,
        String::new(),
    );
    let now = step_of(unix_secs);
    let mut found = None;
    for step in now - WINDOW_STEPS..=now + WINDOW_STEPS {
        let Ok(at) = u64::try_from(step * STEP_SECS) else {
            continue;
        };
        let expected = Zeroizing::new(totp.generate(at));
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step);
        }
    }
    found
}

fn aad(id: Uuid, user: UserId) -> Vec<u8> {
    let mut aad = AAD_DOMAIN.to_vec();
    aad.extend_from_slice(id.as_bytes());
    aad.extend_from_slice(user.0.as_bytes());
    aad
}

/// The stored form of a new factor's key: sealed, bound to the factor and its owner, when an
/// encryption key is available (see [`crate::key_file`]), else as is.
pub fn seal(key: Option<&EncryptionKey>, id: Uuid, user: UserId, secret: &[u8]) -> (Vec<u8>, i32) {
    match key {
        Some(key) => (key.seal_secret(&aad(id, user), secret), SECRET_SEALED),
        None => (secret.to_vec(), SECRET_PLAIN),
    }
}

/// The key of a stored factor.
pub fn open(
    key: Option<&EncryptionKey>,
    factor: &Factor,
) -> Result<Zeroizing<Vec<u8>>, EngineError> {
    match (factor.secret_format, key) {
        (SECRET_PLAIN, _) => Ok(Zeroizing::new(factor.secret.clone())),
        (SECRET_SEALED, Some(key)) => key
            .open_secret(&aad(factor.id, factor.user_id), &factor.secret)
            .ok_or_else(|| {
                EngineError::Internal(
                    "a TOTP secret cannot be decrypted: wrong keys.encryption_key or corrupted \
                     record"
                        .into(),
                )
            }),
        _ => Err(EngineError::Internal(
            "a TOTP secret is encrypted but no keys.encryption_key is available".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"12345678901234567890";

    /// RFC 6238 Appendix B, SHA-1 rows (the last 6 of the 8 digits).
    #[test]
    fn rfc_6238_vectors() {
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(matching_step(SECRET, code, time), Some(step_of(time)));
        }
    }

    #[test]
    fn window_is_one_step_each_way() {
        let code = "081804"; // step of 1_111_111_109
        let step = step_of(1_111_111_109);
        assert_eq!(matching_step(SECRET, code, 1_111_111_109 + 30), Some(step));
        assert_eq!(matching_step(SECRET, code, 1_111_111_109 - 30), Some(step));
        assert_eq!(matching_step(SECRET, code, 1_111_111_109 + 61), None);
        assert_eq!(matching_step(SECRET, "81804", 1_111_111_109), None);
        assert_eq!(matching_step(SECRET, "08180x", 1_111_111_109), None);
        assert_eq!(matching_step(SECRET, " 081804 ", 1_111_111_109), Some(step));
    }

    #[test]
    fn sealed_secrets_are_bound_to_factor_and_owner() {
        let key = EncryptionKey::generate();
        let (id, user) = (Uuid::new_v4(), UserId::random());
        let (sealed, format) = seal(Some(&key), id, user, SECRET);
        assert_eq!(format, SECRET_SEALED);
        assert_ne!(sealed, SECRET);
        let mut factor = Factor {
            id,
            user_id: user,
            kind: tessera_core::FactorKind::Totp,
            secret: sealed,
            secret_format: format,
            confirmed_at: None,
            last_step: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        assert_eq!(open(Some(&key), &factor).unwrap().as_slice(), SECRET);
        assert!(open(None, &factor).is_err());
        factor.user_id = UserId::random();
        assert!(open(Some(&key), &factor).is_err(), "moved to another user");
    }

    #[test]
    fn provisioning_uri_names_issuer_and_account() {
        let (uri, base32) = provisioning(SECRET, "Tess:era", "a@example.test").unwrap();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains(&format!("secret={base32}")), "{uri}");
        assert!(uri.contains("issuer=Tess%20era"), "{uri}");
    }
}
