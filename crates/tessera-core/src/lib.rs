//! Tessera's domain: validated value types, the session lifetime rules, secret tokens, password
//! hashing, login throttling and the storage traits every backend implements.
//!
//! Nothing here performs I/O or depends on an async runtime; time always comes from a [`Clock`]
//! that the caller passes in, so every rule can be tested by moving a [`TestClock`].

pub mod authz;
pub mod clock;
mod common_passwords;
pub mod credential;
pub mod error;
pub mod factor;
pub mod mail;
pub mod model;
pub mod passkey;
pub mod password;
pub mod secret;
pub mod session;
pub mod store;
pub mod throttle;
pub mod types;

pub use authz::{CustomClaims, Roles, Scope};
pub use clock::{Clock, SystemClock, TestClock};
pub use credential::Presented;
pub use error::{StoreError, ValidationError};
pub use factor::{Amr, AuthnMethod, Factor, FactorKind, MfaChallenge};
pub use mail::{EmailToken, EmailTokenPurpose, MailKind, OutboxMail};
pub use model::{
    AuditEvent, Client, KeyState, NewAuditEvent, RefreshToken, Session, SessionKind,
    SigningKeyRecord, User,
};
pub use passkey::{Ceremony, CeremonyKind, PasskeyRecord};
pub use secret::{SecretToken, TokenHash, TokenKind};
pub use types::{ClientId, Email, Password, SessionId, UserId};
