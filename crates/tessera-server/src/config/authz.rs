//! `[scopes]` and `[roles]`: what the token endpoint may grant and what a change of roles does.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::{Config, ConfigError};

/// The OAuth scopes the token endpoint grants (RFC 6749 §3.3).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScopesConfig {
    /// Every scope this server knows. Empty: any `scope` in a token request is refused.
    pub known: Vec<String>,
    /// What each client (`client_id` of the token request) may ask for: a table
    /// `{ "first-party" = ["read", "write"] }`, or (as the environment writes it) a list of
    /// `"client=scope scope"` entries. A client not listed may ask for no scope.
    #[serde(deserialize_with = "de_client_scopes")]
    pub clients: BTreeMap<String, Vec<String>>,
}

fn de_client_scopes<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Table(BTreeMap<String, Vec<String>>),
        Entries(Vec<String>),
    }
    match Written::deserialize(d)? {
        Written::Table(table) => Ok(table),
        Written::Entries(entries) => entries
            .iter()
            .map(|entry| {
                let (client, scopes) = entry.split_once('=').ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "{entry:?} is not an entry like \"client=scope scope\""
                    ))
                })?;
                let scopes = scopes.split(' ').filter(|s| !s.is_empty());
                Ok((
                    client.trim().to_owned(),
                    scopes.map(str::to_owned).collect(),
                ))
            })
            .collect(),
    }
}

/// What a change of roles does to the user's sessions.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RolesConfig {
    /// End every session of a user who loses a role, instead of letting access tokens carry
    /// it until they expire.
    pub end_sessions_on_removal: bool,
}

impl Config {
    pub(super) fn validate_scopes(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.into(),
            message,
        };
        for scope in &self.scopes.known {
            if tessera_core::Scope::from_tokens([scope]).is_err() {
                return Err(invalid(
                    "scopes.known",
                    format!(
                        "{scope:?} is not a scope token (visible ASCII other than '\"' and '\\')"
                    ),
                ));
            }
        }
        for (client, scopes) in &self.scopes.clients {
            if client.is_empty() || !client.chars().all(|c| c.is_ascii_graphic()) {
                return Err(invalid(
                    "scopes.clients",
                    format!("{client:?} is not a client_id (visible ASCII)"),
                ));
            }
            if let Some(unknown) = scopes.iter().find(|s| !self.scopes.known.contains(s)) {
                return Err(invalid(
                    "scopes.clients",
                    format!("{unknown:?} (for {client:?}) is not in scopes.known"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_scopes_come_as_a_table_or_as_entries() {
        let table = "[scopes]\nknown = [\"read\", \"write\"]\n\
                     clients = { \"first-party\" = [\"read\", \"write\"], cli = [\"read\"] }\n";
        let c = Config::from_toml_str(table).unwrap();
        assert_eq!(c.scopes.clients["cli"], ["read"]);
        let env = [
            ("TESSERA_SCOPES__KNOWN".to_owned(), "read,write".to_owned()),
            (
                "TESSERA_SCOPES__CLIENTS".to_owned(),
                "first-party=read write, cli=read".to_owned(),
            ),
            (
                "TESSERA_ROLES__END_SESSIONS_ON_REMOVAL".to_owned(),
                "true".to_owned(),
            ),
        ];
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.scopes.clients["first-party"], ["read", "write"]);
        assert_eq!(c.scopes.clients["cli"], ["read"]);
        assert!(c.roles.end_sessions_on_removal);
    }

    #[test]
    fn scopes_are_validated_and_named_in_the_error() {
        for (bad, key) in [
            ("[scopes]\nknown = [\"re\\\"ad\"]", "scopes.known"),
            (
                "[scopes]\nknown = [\"read\"]\nclients = [\"cli=write\"]",
                "scopes.clients",
            ),
            ("[scopes]\nclients = [\"no equals sign\"]", "scopes.clients"),
            (
                "[roles]\nend_sessions_on_removal = \"yes\"",
                "roles.end_sessions_on_removal",
            ),
        ] {
            let err = Config::from_toml_str(bad).unwrap_err().to_string();
            assert!(err.contains(key), "{bad}: {err}");
        }
    }
}
