//! `[webauthn]`: the relying party of passkeys (see `docs/security.md`).

use serde::Deserialize;
use tessera_engine::WebauthnSettings;

use super::{public_origin, Config, ConfigError, Dur};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebauthnConfig {
    /// The relying-party id: a registrable suffix of every origin's host. Default: the host of
    /// `server.public_url` (passkeys are off when that is an IP address and this is unset).
    pub rp_id: Option<String>,
    /// What authenticators show as the site's name.
    pub rp_name: String,
    /// The origins a ceremony may come from. Default: `[server.public_url]`.
    pub origins: Vec<String>,
    /// How long a started ceremony may be finished.
    pub ceremony_ttl: Dur,
}

impl Default for WebauthnConfig {
    fn default() -> Self {
        Self {
            rp_id: None,
            rp_name: "Tessera".into(),
            origins: Vec::new(),
            ceremony_ttl: Dur(time::Duration::minutes(5)),
        }
    }
}

fn host_of(origin: &str) -> Option<String> {
    let rest = origin.split_once("://")?.1;
    let host = rest.rsplit_once(':').map_or(rest, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            rest
        }
    });
    Some(host.to_owned())
}

fn is_ip(host: &str) -> bool {
    host.trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_ok()
}

/// Whether `rp_id` is `host` or a suffix of it on a label boundary.
fn registrable_suffix(rp_id: &str, host: &str) -> bool {
    host == rp_id || host.ends_with(&format!(".{rp_id}"))
}

impl Config {
    /// The origins passkeys accept, normalised.
    fn webauthn_origins(&self) -> Vec<String> {
        if self.webauthn.origins.is_empty() {
            vec![self.public_origin()]
        } else {
            self.webauthn
                .origins
                .iter()
                .filter_map(|o| public_origin(o))
                .collect()
        }
    }

    /// The relying-party id, unless passkeys are off (no `rp_id`, and `public_url`'s host is
    /// an IP address, which cannot be one).
    fn webauthn_rp_id(&self) -> Option<String> {
        match &self.webauthn.rp_id {
            Some(id) => Some(id.trim().to_ascii_lowercase()),
            None => host_of(&self.public_origin()).filter(|h| !is_ip(h)),
        }
    }

    pub(super) fn validate_webauthn(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            key: key.into(),
            message,
        };
        for origin in &self.webauthn.origins {
            if public_origin(origin).is_none() {
                return Err(invalid(
                    "webauthn.origins",
                    format!("{origin:?} is not an http(s) origin like https://auth.example.com"),
                ));
            }
        }
        if self.webauthn.ceremony_ttl.0 < time::Duration::SECOND {
            return Err(invalid(
                "webauthn.ceremony_ttl",
                "must be at least 1s".into(),
            ));
        }
        let name = self.webauthn.rp_name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid(
                "webauthn.rp_name",
                "must be 1 to 100 characters".into(),
            ));
        }
        let Some(rp_id) = self.webauthn_rp_id() else {
            return Ok(());
        };
        if rp_id.is_empty() || is_ip(&rp_id) || rp_id.contains(['/', ':', ' ']) {
            return Err(invalid(
                "webauthn.rp_id",
                "must be a domain name such as example.com".into(),
            ));
        }
        for origin in self.webauthn_origins() {
            let host = host_of(&origin).unwrap_or_default();
            if !registrable_suffix(&rp_id, &host) {
                let key = if self.webauthn.rp_id.is_some() {
                    "webauthn.rp_id"
                } else {
                    "webauthn.origins"
                };
                return Err(invalid(
                    key,
                    format!(
                        "the relying-party id {rp_id:?} must be the host of every origin or a \
                         suffix of it, and {origin} is not under it"
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn webauthn_settings(&self) -> Option<WebauthnSettings> {
        Some(WebauthnSettings {
            rp_id: self.webauthn_rp_id()?,
            rp_name: self.webauthn.rp_name.trim().to_owned(),
            origins: self.webauthn_origins(),
            ceremony_ttl: self.webauthn.ceremony_ttl.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(toml)
    }

    #[test]
    fn defaults_come_from_public_url() {
        let c = load("[server]\npublic_url = \"https://auth.example.com\"").unwrap();
        let s = c.webauthn_settings().unwrap();
        assert_eq!(s.rp_id, "auth.example.com");
        assert_eq!(s.origins, ["https://auth.example.com"]);
        assert_eq!(s.rp_name, "Tessera");
    }

    #[test]
    fn an_ip_public_url_turns_passkeys_off_unless_configured() {
        let c = load("[server]\npublic_url = \"http://127.0.0.1:8080\"").unwrap();
        assert!(c.webauthn_settings().is_none());
    }

    #[test]
    fn rp_id_must_be_a_suffix_of_every_origin() {
        let ok = load(
            "[server]\npublic_url = \"https://auth.example.com\"\n[webauthn]\nrp_id = \
             \"example.com\"\norigins = [\"https://auth.example.com\", \"https://example.com\"]",
        );
        assert!(ok.is_ok());
        let err = load(
            "[server]\npublic_url = \"https://auth.example.com\"\n[webauthn]\nrp_id = \
             \"ample.com\"",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("webauthn.rp_id"), "{err}");
        let err = load(
            "[server]\npublic_url = \"https://auth.example.com\"\n[webauthn]\norigins = \
             [\"https://other.test\"]",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("webauthn.origins"), "{err}");
    }
}
