//! `[mfa]`: second factors (see `docs/security.md`).

use serde::Deserialize;
use tessera_engine::MfaSettings;

use super::{Config, ConfigError, Dur};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaConfig {
    /// How long a second factor proven on a session keeps its sensitive actions (removing a
    /// factor, changing the password, ending the other sessions) available.
    pub step_up_window: Dur,
    /// How long the pending second step of a login may be completed.
    pub challenge_ttl: Dur,
    /// What authenticator apps show as the issuer; `email.product_name` when unset.
    pub issuer: Option<String>,
}

impl Default for MfaConfig {
    fn default() -> Self {
        let d = MfaSettings::default();
        Self {
            step_up_window: Dur(d.step_up_window),
            challenge_ttl: Dur(d.challenge_ttl),
            issuer: None,
        }
    }
}

impl Config {
    pub(super) fn validate_mfa(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        };
        if self.mfa.challenge_ttl.0 < time::Duration::SECOND {
            return Err(invalid("mfa.challenge_ttl", "must be at least 1s"));
        }
        if self
            .mfa
            .issuer
            .as_deref()
            .is_some_and(|i| i.trim().is_empty() || i.chars().count() > 100)
        {
            return Err(invalid("mfa.issuer", "must be 1 to 100 characters"));
        }
        Ok(())
    }

    pub(crate) fn mfa_settings(&self) -> MfaSettings {
        MfaSettings {
            step_up_window: self.mfa.step_up_window.0,
            challenge_ttl: self.mfa.challenge_ttl.0,
            issuer: self
                .mfa
                .issuer
                .clone()
                .unwrap_or_else(|| self.email.product_name.clone()),
            webauthn: self.webauthn_settings(),
        }
    }
}
