//! Registered clients: resource servers allowed to call token introspection.

use serde_json::json;
use tessera_core::throttle::ThrottleKey;
use tessera_core::{Client, ClientId, SecretToken, TokenKind};

use crate::error::{EngineError, EngineResult};
use crate::{AuditKind, Caller, Engine};

const NAME_MAX_CHARS: usize = 100;

/// Creates a client and returns it with its secret, which is shown this once and stored only as
/// a hash.
pub async fn create(
    engine: &Engine,
    name: &str,
    caller: Option<&Caller>,
) -> Result<(Client, SecretToken), EngineError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > NAME_MAX_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(EngineError::Invalid(format!(
            "name must be 1 to {NAME_MAX_CHARS} printable characters"
        )));
    }
    let secret = SecretToken::generate(TokenKind::ClientSecret);
    let client = Client {
        id: ClientId(uuid::Uuid::new_v4().to_string()),
        name: name.to_owned(),
        secret_hash: secret.hash(),
        created_at: engine.clock.now(),
    };
    engine.store.insert_client(&client).await?;
    engine
        .audit(
            AuditKind::ClientCreated,
            None,
            None,
            caller,
            json!({ "client_id": client.id.to_string() }),
        )
        .await;
    Ok((client, secret))
}

/// Checks HTTP Basic client credentials. Unknown client and wrong secret are indistinguishable,
/// and both count against the caller's address, before the look-up: concurrent guesses cannot
/// all pass a check that is counted afterwards.
pub async fn authenticate(
    engine: &Engine,
    client_id: &str,
    secret: &str,
    caller: &Caller,
) -> Result<Option<Client>, EngineError> {
    let ticket = engine
        .throttles
        .client_secret_per_ip
        .reserve(&ThrottleKey::ip(caller.ip), engine.clock.as_ref())
        .await
        .map_err(EngineError::rate_limited)?;
    let client = match SecretToken::parse(TokenKind::ClientSecret, secret) {
        Some(secret) => engine
            .store
            .client_by_id(&ClientId(client_id.to_owned()))
            .await?
            .filter(|c| c.secret_hash == secret.hash()),
        None => None,
    };
    if client.is_some() {
        engine.throttles.client_secret_per_ip.refund(ticket).await;
    }
    Ok(client)
}

/// Every registered client.
pub async fn list(engine: &Engine) -> EngineResult<Vec<Client>> {
    Ok(engine.store.list_clients().await?)
}

/// Removes a client; its secret stops working at once. [`EngineError::NotFound`] when there is
/// no such client.
pub async fn delete(engine: &Engine, client_id: &str, caller: Option<&Caller>) -> EngineResult<()> {
    if !engine
        .store
        .delete_client(&ClientId(client_id.to_owned()))
        .await?
    {
        return Err(EngineError::NotFound);
    }
    engine
        .audit(
            AuditKind::ClientDeleted,
            None,
            None,
            caller,
            json!({ "client_id": client_id }),
        )
        .await;
    Ok(())
}
