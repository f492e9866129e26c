//! The built-in list of passwords too common to allow, embedded in the binary.
//!
//! Source and licence: `data/README.md` (Django's list, BSD-3-Clause). Entries are lower-cased
//! and NFKC-normalised, so a look-up with a password normalised the same way is exact.
//! Entries shorter than the default minimum stay in: `password.min_length` may be lower.

use std::collections::HashSet;
use std::sync::LazyLock;

const LIST: &str = include_str!("../data/common-passwords.txt");

/// Built on first use; borrows from the embedded text, so it costs only the table (~0.5 MB).
static COMMON: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| LIST.lines().filter(|line| !line.is_empty()).collect());

/// Whether `normalized` (NFKC, lower-cased) is on the built-in list.
pub fn is_common(normalized: &str) -> bool {
    COMMON.contains(normalized)
}

#[cfg(test)]
mod tests {
    use unicode_normalization::UnicodeNormalization;

    use super::*;

    #[test]
    fn the_list_is_large_and_already_normalised() {
        assert!(COMMON.len() >= 10_000, "{} entries", COMMON.len());
        for entry in LIST.lines() {
            assert!(!entry.is_empty());
            assert_eq!(entry, entry.nfkc().collect::<String>().to_lowercase());
        }
    }

    #[test]
    fn well_known_passwords_are_on_it() {
        for pw in [
            "123456",
            "password",
            "qwerty12",
            "aaaaaaaa",
            "password1!",
            "trustno1",
        ] {
            assert!(is_common(pw), "{pw}");
        }
        assert!(!is_common("correct horse battery staple"));
    }
}
