//! Recovery codes: ten single-use codes of 80 random bits each, shown once and stored as their
//! SHA-256. 80 bits are out of reach of a brute-force search even with the hashes in hand, so
//! a fast hash is enough (as for the 256-bit bearer secrets) and a code is looked up directly.

use tessera_core::secret::random_bytes;
use tessera_core::TokenHash;

pub const CODE_COUNT: usize = 10;
/// Crockford's base32 alphabet: no I, L, O or U to misread.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const CODE_CHARS: usize = 16;
/// Longest input looked at; anything longer is not a code.
const MAX_INPUT: usize = 64;

/// A new code, shown as four groups of four (`7k2m-…`).
pub fn generate() -> String {
    let bytes = random_bytes::<10>();
    let mut bits: u128 = 0;
    for byte in bytes {
        bits = (bits << 8) | u128::from(byte);
    }
    let mut code = String::with_capacity(CODE_CHARS + 3);
    for i in 0..CODE_CHARS {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        let shift = 5 * (CODE_CHARS - 1 - i);
        code.push(char::from(ALPHABET[((bits >> shift) & 31) as usize]));
    }
    code
}

/// The canonical form of a code as typed: case, dashes and spaces do not matter, and the
/// letters people confuse with digits are read as those digits. `None` for anything that
/// cannot be a code.
pub fn normalize(typed: &str) -> Option<String> {
    if typed.len() > MAX_INPUT {
        return None;
    }
    let mut code = String::with_capacity(CODE_CHARS);
    for c in typed.chars() {
        let c = match c.to_ascii_lowercase() {
            '-' | ' ' => continue,
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        };
        if !ALPHABET.contains(&u8::try_from(c).ok()?) {
            return None;
        }
        code.push(c);
    }
    (code.len() == CODE_CHARS).then_some(code)
}

/// What the store keeps of a code.
pub fn hash(normalized: &str) -> TokenHash {
    TokenHash::of(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_read_back_in_any_form() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert_eq!(a.len(), 19);
        let canonical = normalize(&a).unwrap();
        assert_eq!(normalize(&a.to_uppercase()).unwrap(), canonical);
        assert_eq!(normalize(&a.replace('-', " ")).unwrap(), canonical);
        assert_eq!(hash(&canonical), hash(&normalize(&a).unwrap()));
    }

    #[test]
    fn confusable_letters_and_garbage() {
        assert_eq!(
            normalize("OIL0-aaaa-bbbb-cccc").as_deref(),
            Some("0110aaaabbbbcccc")
        );
        assert_eq!(normalize("short"), None);
        assert_eq!(
            normalize("uuuu-aaaa-bbbb-cccc"),
            None,
            "u is not in the alphabet"
        );
        assert_eq!(normalize(&"a".repeat(200)), None);
        assert_eq!(normalize("ääää-aaaa-bbbb-cccc"), None);
    }
}
