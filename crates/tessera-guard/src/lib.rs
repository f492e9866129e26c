//! tessera-guard: a tower/axum layer and extractor for resource servers that verifies Tessera
//! access tokens locally (JWKS cache + revocation feed) and falls back to `GET /v1/check`.
//!
//! Not built yet: this crate holds only its purpose. Until it exists, resource servers verify
//! access tokens against `/.well-known/jwks.json` or call `GET /v1/check`.
