//! The audit log's event kinds. An enum, not strings: the kind is also a metric label, so the
//! set must be closed and come from the code, never from a request.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditKind {
    UserCreated,
    UserLocked,
    UserUnlocked,
    LoginSucceeded,
    LoginFailed,
    PasswordChanged,
    PasswordChangeFailed,
    /// The user signed out of the session they were using.
    Logout,
    /// One session (or all of a user's sessions) ended by the user or an admin.
    SessionRevoked,
    /// Ended because the user went over `session.max_per_user`.
    SessionEvicted,
    /// Replaced by a new session after re-authentication (password change).
    SessionRotated,
    /// Ended because a cookie login replaced it in the same browser.
    SessionReplaced,
    /// Ended because a spent refresh token was presented again (theft).
    RefreshReused,
    /// Ended by RFC 7009 revocation of one of its tokens.
    TokenRevoked,
    ClientCreated,
    ClientDeleted,
    /// A password-reset mail was asked for (whether or not the address has an account).
    PasswordResetRequested,
    /// A password was set through a reset link.
    PasswordReset,
    /// An address was proven through a verification link.
    EmailVerified,
    /// A change of address was asked for (the current password was checked).
    EmailChangeRequested,
    /// The account moved to a new address through a confirmation link.
    EmailChanged,
    /// A mail was given up on after permanent refusal or too many attempts.
    MailFailed,
    /// The user's roles were set, added to or removed from (detail: `added`, `removed`).
    RolesChanged,
    /// The user's custom claims were replaced (detail: the claim names, never the values).
    ClaimsChanged,
    /// The password of an account with a second factor was right; the second step is pending.
    SecondFactorRequired,
    /// A wrong, replayed or unknown second-factor code (detail: `kind`).
    SecondFactorFailed,
    /// A TOTP enrolment was started (not yet confirmed).
    FactorEnrolmentStarted,
    /// A second factor was confirmed and is now asked for at sign-in.
    FactorEnabled,
    /// The user removed a second factor.
    FactorRemoved,
    /// A recovery code was used (detail: how many remain).
    RecoveryCodeUsed,
    RecoveryCodesRegenerated,
    /// A second factor was proven again on a session, for sensitive actions.
    SteppedUp,
    /// An admin removed every factor of the user; their sessions ended.
    FactorsReset,
}

impl AuditKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user_created",
            Self::UserLocked => "user_locked",
            Self::UserUnlocked => "user_unlocked",
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::PasswordChanged => "password_changed",
            Self::PasswordChangeFailed => "password_change_failed",
            Self::Logout => "logout",
            Self::SessionRevoked => "session_revoked",
            Self::SessionEvicted => "session_evicted",
            Self::SessionRotated => "session_rotated",
            Self::SessionReplaced => "session_replaced",
            Self::RefreshReused => "refresh_reused",
            Self::TokenRevoked => "token_revoked",
            Self::ClientCreated => "client_created",
            Self::ClientDeleted => "client_deleted",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordReset => "password_reset",
            Self::EmailVerified => "email_verified",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::MailFailed => "mail_failed",
            Self::RolesChanged => "roles_changed",
            Self::ClaimsChanged => "claims_changed",
            Self::SecondFactorRequired => "second_factor_required",
            Self::SecondFactorFailed => "second_factor_failed",
            Self::FactorEnrolmentStarted => "factor_enrolment_started",
            Self::FactorEnabled => "factor_enabled",
            Self::FactorRemoved => "factor_removed",
            Self::RecoveryCodeUsed => "recovery_code_used",
            Self::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Self::SteppedUp => "stepped_up",
            Self::FactorsReset => "factors_reset",
        }
    }
}

/// A page of the audit log, newest first (the admin API's event list).
pub async fn list(
    engine: &crate::Engine,
    query: &tessera_core::model::AuditQuery,
) -> crate::EngineResult<Vec<tessera_core::AuditEvent>> {
    Ok(engine.store.list_events(query).await?)
}
