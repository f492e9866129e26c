//! The engine's typed [`Settings`], built from the configuration file's sections.

use std::path::PathBuf;

use tessera_core::session::SessionLifetimes;
use tessera_core::types::PasswordPolicy;
use tessera_core::Scope;
use tessera_engine::{AuthzSettings, EmailSettings, KeySettings, Settings};
use tessera_token::refresh::RefreshPolicy;
use tessera_token::TokenConfig;

use crate::config::Config;

impl Config {
    fn email_settings(&self) -> EmailSettings {
        let e = &self.email;
        EmailSettings {
            public_url: self.server.public_url.trim_end_matches('/').to_owned(),
            product_name: e.product_name.clone(),
            from: e.from.clone(),
            smtp_url: e.smtp_url.clone(),
            timeout: e.timeout.0,
            dir: PathBuf::from(&e.dir),
            templates_dir: e.templates_dir.as_ref().map(PathBuf::from),
            verification: e.verification,
            enumeration_safe: self.signup_enumeration_safe(),
            verify_ttl: e.verify_ttl.0,
            reset_ttl: e.reset_ttl.0,
            change_ttl: e.change_ttl.0,
            retry_base: e.retry_base.0,
            retry_max: e.retry_max.0,
            max_attempts: e.max_attempts,
            poll_interval: e.poll_interval.0,
        }
    }

    /// What the engine is told of this configuration.
    pub fn engine_settings(&self) -> Settings {
        Settings {
            tokens: TokenConfig {
                issuer: self.issuer().to_owned(),
                audience: self.token.audience.clone(),
                access_ttl: self.token.access_ttl.0,
                leeway: self.token.leeway.0,
                algorithm: self.token.algorithm,
            },
            refresh: RefreshPolicy {
                ttl: self.token.refresh_ttl.0,
                grace: self.token.refresh_reuse_grace.0,
            },
            password_policy: PasswordPolicy::new(
                self.password.min_length,
                self.password.deny_list.clone(),
            ),
            session_lifetimes: SessionLifetimes {
                idle: self.session.idle_timeout.0,
                absolute: self.session.absolute_timeout.0,
            },
            max_sessions_per_user: self.session.max_per_user,
            sweep_interval: self.session.sweep_interval.0,
            limits: self.limits.clone(),
            cache_url: self.cache.url.clone(),
            hashing_slots: self.password.hashing_slots,
            max_revocation_subscribers: self.revocations.max_subscribers,
            store_url: self.store.url.clone(),
            keys: KeySettings {
                encryption_key: self.keys.encryption_key.clone(),
                encryption_key_file: self.keys.encryption_key_file.as_ref().map(PathBuf::from),
            },
            admin_api_key: self.admin.api_key.clone(),
            email: self.email_settings(),
            authz: AuthzSettings {
                known_scopes: self.scopes.known.iter().cloned().collect(),
                client_scopes: self
                    .scopes
                    .clients
                    .iter()
                    .filter_map(|(client, scopes)| {
                        // Validated at load; a client with an empty list may ask for nothing.
                        let scope = Scope::from_tokens(scopes).ok().flatten()?;
                        Some((client.clone(), scope))
                    })
                    .collect(),
                end_sessions_on_role_removal: self.roles.end_sessions_on_removal,
            },
            mfa: self.mfa_settings(),
        }
    }
}
