//! Authorization data that every credential carries: a user's roles and custom claims, and the
//! scope a token session was granted. Each type validates on construction and has one canonical
//! form (sorted, deduplicated), so two spellings of one set compare equal, stored text can be
//! compared byte for byte, and a token never carries what the rules refuse.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::ValidationError;

/// Most roles one user may hold: every credential carries them, and an access token grows with
/// each one.
pub const ROLES_MAX: usize = 32;
pub const ROLE_MAX_CHARS: usize = 64;
/// Largest custom-claims object, as compact JSON.
pub const CLAIMS_MAX_BYTES: usize = 1024;
pub const CLAIM_NAME_MAX_CHARS: usize = 128;
/// Longest `scope` value a client may send.
pub const SCOPE_MAX_BYTES: usize = 1024;

/// Names a custom claim may not take: it would shadow a claim with a registered meaning that a
/// resource server may act on, or a member of an introspection answer, where custom claims
/// appear beside the standard members (RFC 7662 §2.2).
pub const RESERVED_CLAIMS: &[&str] = &[
    // RFC 7519 §4.1
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    // Tessera's own and RFC 9068 §2.2
    "sid",
    "client_id",
    "scope",
    "roles",
    "groups",
    "entitlements",
    "auth_time",
    "acr",
    "amr",
    // OpenID Connect Core, RFC 7800 (`cnf`), RFC 8693 (`act`, `may_act`)
    "azp",
    "nonce",
    "at_hash",
    "c_hash",
    "cnf",
    "act",
    "may_act",
    // RFC 7662 §2.2
    "active",
    "token_type",
    "username",
];

/// The roles of a user: role names of 1–64 characters from `A–Z a–z 0–9 _ . : -`, at most
/// [`ROLES_MAX`], sorted and without repeats. Cheap to clone: every check hands them on.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Roles(Arc<[String]>);

impl Roles {
    pub fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Result<Self, ValidationError> {
        let mut set = BTreeSet::new();
        for name in names {
            let name = name.as_ref();
            check_role(name)?;
            set.insert(name.to_owned());
        }
        if set.len() > ROLES_MAX {
            return Err(ValidationError::new(
                "roles",
                format!("a user may hold at most {ROLES_MAX} roles"),
            ));
        }
        Ok(Self(set.into_iter().collect()))
    }

    /// The roles of an access token this server signed, which were validated when they were
    /// set: kept as they come (sorted, since that is how they were issued), with no checks on
    /// the hot path of every token check.
    pub fn from_signed(names: Vec<String>) -> Self {
        Self(names.into())
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn contains(&self, role: &str) -> bool {
        // Linear: at most 32 names, and no reliance on how a token's issuer ordered them.
        self.0.iter().any(|r| r == role)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// These roles and `added`.
    pub fn with<S: AsRef<str>>(
        &self,
        added: impl IntoIterator<Item = S>,
    ) -> Result<Self, ValidationError> {
        let added: Vec<String> = added.into_iter().map(|s| s.as_ref().to_owned()).collect();
        Self::new(self.iter().map(str::to_owned).chain(added))
    }

    /// These roles without `removed` (names that are not held are ignored).
    #[must_use]
    pub fn without<S: AsRef<str>>(&self, removed: impl IntoIterator<Item = S>) -> Self {
        let removed: BTreeSet<String> =
            removed.into_iter().map(|s| s.as_ref().to_owned()).collect();
        Self(
            self.0
                .iter()
                .filter(|r| !removed.contains(*r))
                .cloned()
                .collect(),
        )
    }

    /// Roles held here and not in `other`.
    pub fn missing_from(&self, other: &Self) -> Vec<String> {
        self.iter()
            .filter(|r| !other.contains(r))
            .map(str::to_owned)
            .collect()
    }

    /// The stored form: a JSON array of names, sorted.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&*self.0).unwrap_or_else(|_| "[]".to_owned())
    }

    pub fn from_json(text: &str) -> Result<Self, ValidationError> {
        let names: Vec<String> = serde_json::from_str(text)
            .map_err(|_| ValidationError::new("roles", "must be a JSON array of role names"))?;
        Self::new(names)
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Roles {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

fn check_role(name: &str) -> Result<(), ValidationError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
    if name.is_empty() || name.len() > ROLE_MAX_CHARS || !name.chars().all(ok_char) {
        return Err(ValidationError::new(
            "roles",
            format!("a role name is 1 to {ROLE_MAX_CHARS} characters from A-Z a-z 0-9 _ . : -"),
        ));
    }
    Ok(())
}

/// A user's custom claims: a JSON object put into every access token beside the standard
/// claims. Names are 1–128 visible ASCII characters and none of [`RESERVED_CLAIMS`]; the whole
/// object is at most [`CLAIMS_MAX_BYTES`] of compact JSON.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CustomClaims(Arc<Map<String, Value>>);

impl CustomClaims {
    pub fn new(value: Value) -> Result<Self, ValidationError> {
        let Value::Object(map) = value else {
            return Err(ValidationError::new("claims", "must be a JSON object"));
        };
        Self::from_map(map)
    }

    pub fn from_map(map: Map<String, Value>) -> Result<Self, ValidationError> {
        for name in map.keys() {
            if name.is_empty()
                || name.len() > CLAIM_NAME_MAX_CHARS
                || !name
                    .chars()
                    .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
            {
                return Err(ValidationError::new(
                    "claims",
                    format!(
                        "a claim name is 1 to {CLAIM_NAME_MAX_CHARS} visible ASCII characters \
                         (no quote or backslash)"
                    ),
                ));
            }
            if RESERVED_CLAIMS.contains(&name.as_str()) {
                return Err(ValidationError::new(
                    "claims",
                    "a claim name shadows a registered or Tessera claim",
                ));
            }
        }
        let claims = Self(Arc::new(map));
        if claims.to_json().len() > CLAIMS_MAX_BYTES {
            return Err(ValidationError::new(
                "claims",
                format!("must be at most {CLAIMS_MAX_BYTES} bytes as compact JSON"),
            ));
        }
        Ok(claims)
    }

    /// The custom claims of an access token this server signed (validated when they were set),
    /// with no checks on the hot path of every token check.
    pub fn from_signed(map: Map<String, Value>) -> Self {
        Self(Arc::new(map))
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The stored form: compact JSON, members sorted by name.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&*self.0).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn from_json(text: &str) -> Result<Self, ValidationError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|_| ValidationError::new("claims", "must be a JSON object"))?;
        Self::new(value)
    }
}

impl fmt::Debug for CustomClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: values are the deployment's data and may be personal.
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Serialize for CustomClaims {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// An OAuth scope (RFC 6749 §3.3): a non-empty set of scope tokens (visible ASCII but `"` and
/// `\`), kept sorted; written space-separated.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Scope(Arc<[String]>);

impl Scope {
    /// `None` for a value with no scope token at all (empty or only spaces).
    pub fn parse(raw: &str) -> Result<Option<Self>, ValidationError> {
        if raw.len() > SCOPE_MAX_BYTES {
            return Err(ValidationError::new(
                "scope",
                format!("must be at most {SCOPE_MAX_BYTES} bytes"),
            ));
        }
        Self::from_tokens(raw.split(' ').filter(|t| !t.is_empty()))
    }

    pub fn from_tokens<S: AsRef<str>>(
        tokens: impl IntoIterator<Item = S>,
    ) -> Result<Option<Self>, ValidationError> {
        let mut set = BTreeSet::new();
        for token in tokens {
            let token = token.as_ref();
            if token.is_empty() || !token.chars().all(is_scope_char) {
                return Err(ValidationError::new(
                    "scope",
                    "scope tokens are visible ASCII characters other than '\"' and '\\'",
                ));
            }
            set.insert(token.to_owned());
        }
        Ok((!set.is_empty()).then(|| Self(set.into_iter().collect())))
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.binary_search_by(|t| t.as_str().cmp(token)).is_ok()
    }

    pub fn is_subset(&self, of: &Self) -> bool {
        self.iter().all(|t| of.contains(t))
    }
}

fn is_scope_char(c: char) -> bool {
    // RFC 6749 §3.3: %x21 / %x23-5B / %x5D-7E.
    c.is_ascii_graphic() && c != '"' && c != '\\'
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Scope({self})")
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn roles_are_validated_sorted_and_deduplicated() {
        let roles = Roles::new(["editor", "admin", "editor"]).unwrap();
        assert_eq!(roles.as_slice(), ["admin", "editor"]);
        assert!(roles.contains("admin") && !roles.contains("adm"));
        assert_eq!(roles.to_json(), r#"["admin","editor"]"#);
        assert_eq!(Roles::from_json(&roles.to_json()).unwrap(), roles);
        for bad in ["", "has space", "é", "a,b", &"x".repeat(65), "quote\""] {
            assert!(Roles::new([bad]).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..=ROLES_MAX).map(|i| format!("r{i}")).collect();
        assert!(Roles::new(&many).is_err());
        assert!(Roles::new(&many[..ROLES_MAX]).is_ok());
    }

    #[test]
    fn adding_and_removing_roles() {
        let roles = Roles::new(["a"]).unwrap();
        let more = roles.with(["c", "b"]).unwrap();
        assert_eq!(more.as_slice(), ["a", "b", "c"]);
        let fewer = more.without(["a", "zz"]);
        assert_eq!(fewer.as_slice(), ["b", "c"]);
        assert_eq!(more.missing_from(&fewer), ["a"]);
        assert!(roles.with(["bad role"]).is_err());
    }

    #[test]
    fn claims_refuse_shadowing_oversize_and_non_objects() {
        let ok = CustomClaims::new(json!({"tenant": "acme", "perms": ["read"], "email": "a@b"}));
        assert!(ok.is_ok());
        for name in RESERVED_CLAIMS {
            let mut map = Map::new();
            map.insert((*name).to_owned(), json!(1));
            assert!(CustomClaims::from_map(map).is_err(), "{name}");
        }
        assert!(CustomClaims::new(json!(["not", "an", "object"])).is_err());
        assert!(CustomClaims::new(json!({"": 1})).is_err());
        assert!(CustomClaims::new(json!({"with space": 1})).is_err());
        let big = "x".repeat(CLAIMS_MAX_BYTES);
        assert!(CustomClaims::new(json!({ "blob": big })).is_err());
        let claims = ok.unwrap();
        assert_eq!(CustomClaims::from_json(&claims.to_json()).unwrap(), claims);
        assert!(
            !format!("{claims:?}").contains("acme"),
            "values stay out of Debug"
        );
    }

    #[test]
    fn scopes_parse_by_rfc6749() {
        let scope = Scope::parse("write  read write").unwrap().unwrap();
        assert_eq!(scope.to_string(), "read write");
        assert!(Scope::parse("").unwrap().is_none());
        assert!(Scope::parse("   ").unwrap().is_none());
        assert!(Scope::parse("a\"b").is_err());
        assert!(Scope::parse("a\\b").is_err());
        assert!(Scope::parse("tab\there").is_err());
        let read = Scope::parse("read").unwrap().unwrap();
        assert!(read.is_subset(&scope) && !scope.is_subset(&read));
    }
}
