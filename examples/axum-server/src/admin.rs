//! The admin routes (role `admin`): rotating the signing key and
//! withdrawing a key, with the JSON they answer.

use std::path::PathBuf;
use std::sync::Arc;

use auth_axum_extras::ApiError;
use auth_axum_extras::{RequireRole, Role};
use auth_core::{Key, KeyError, RoleClaims, TokenAuthority};
use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

pub(super) struct AdminRole;

impl Role for AdminRole {
    const NAME: &'static str = "admin";
}

pub(super) async fn admin(admin: RequireRole<AdminRole, RoleClaims>) -> Json<Value> {
    Json(json!({ "sub": admin.sub, "admin": true }))
}

/// A key-management failure the client cannot fix: logged, answered 500.
/// The key ring's file (`--key-file`), if any: written after every
/// change of the ring, so a restart keeps the keys.
#[derive(Debug, Clone)]
pub(super) struct KeyFile(pub(super) Option<Arc<PathBuf>>);

impl KeyFile {
    /// Writes the ring; a failure is a 500 that says the change is made
    /// but not saved.
    fn save(&self, authority: &TokenAuthority) -> Result<(), ApiError> {
        let Some(path) = &self.0 else {
            return Ok(());
        };
        authority.key_ring().save(path.as_ref()).map_err(|e| {
            tracing::error!(error = %e, "the key change is in force but the key file was not written");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the key change is in force, but the key file could not be written",
            )
        })
    }
}

pub(super) fn key_failure(e: &dyn std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "key management failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "the keys could not be changed",
    )
}

/// A fresh key of the algorithm the authority signs with, made off the
/// async workers (RSA key generation takes a while).
pub(super) async fn fresh_key(authority: &TokenAuthority) -> Result<Key, ApiError> {
    let alg = authority
        .keys()
        .signing_key()
        .map(Key::algorithm)
        .ok_or_else(|| key_failure(&"no signing key"))?;
    tokio::task::spawn_blocking(move || Key::generate(alg))
        .await
        .map_err(|e| key_failure(&e))?
        .map_err(|e| key_failure(&e))
}

/// `POST /admin/keys/rotate` (role `admin`): publishes a new key of the same
/// algorithm in the JWKS at once; it signs every token from `signsFrom`
/// (Unix seconds: after `--key-publication-delay`, at once for HS256), and
/// the previous key verifies until `previousRetiresAt`. Answers
/// `{"kid","alg","signsFrom","previousRetiresAt"}`, or 409 `too_many_keys`
/// once [`auth_core::MAX_RING_KEYS`] keys wait for their tokens to expire
/// (a rotation still waiting to sign is replaced, never added to). Each
/// instance rotates its own key ring: with several instances, roll keys as
/// the README's "Several services" shows.
pub(super) async fn rotate_key(
    admin: RequireRole<AdminRole, RoleClaims>,
    State(authority): State<TokenAuthority>,
    Extension(key_file): Extension<KeyFile>,
) -> Result<Json<Value>, ApiError> {
    let key = fresh_key(&authority).await?;
    let alg = key.algorithm();
    let rotation = authority.rotate_signing_key(key).map_err(|e| match e {
        KeyError::TooManyKeys(_) => ApiError::new(
            StatusCode::CONFLICT,
            "too_many_keys",
            "too many keys are still waiting for their tokens to expire",
        ),
        e => key_failure(&e),
    })?;
    tracing::info!(by = %admin.sub, kid = rotation.kid, alg = alg.as_str(), signs_from = rotation.signs_from, "rotated the signing key");
    key_file.save(&authority)?;
    Ok(Json(json!({
        "kid": rotation.kid,
        "alg": alg.as_str(),
        "signsFrom": rotation.signs_from,
        "previousRetiresAt": rotation.previous_retires_at,
    })))
}

/// The body of `POST /admin/keys/withdraw`: the key, named once (a
/// duplicate or unknown field is refused, never resolved).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Withdrawal {
    kid: String,
}

/// `POST /admin/keys/withdraw` (role `admin`) with `{"kid"}`: the answer to
/// a leaked key. Tokens that key signed are refused from now on, here at
/// once and at resource servers at their next JWKS refresh; sessions whose
/// refresh token it signed end (log in again). A verification key (or a
/// rotated key still waiting to sign) is withdrawn: 204. The signing key is
/// replaced by a fresh key that signs at once: 200 `{"kid","alg"}` of the
/// new key. Never refused for the number of keys. 404 `not_found` for a
/// `kid` the ring does not hold.
pub(super) async fn withdraw_key(
    admin: RequireRole<AdminRole, RoleClaims>,
    State(authority): State<TokenAuthority>,
    Extension(key_file): Extension<KeyFile>,
    body: Result<Json<Withdrawal>, axum::extract::rejection::JsonRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let Json(Withdrawal { kid }) = body.map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "the body must be JSON {\"kid\": \"...\"}, naming the key once",
        )
    })?;
    let signing = authority.keys().signing_key().map(|k| k.kid().to_owned());
    if signing.as_deref() == Some(kid.as_str()) {
        let key = fresh_key(&authority).await?;
        let (new_kid, alg) = (key.kid().to_owned(), key.algorithm());
        authority
            .replace_signing_key(key)
            .map_err(|e| key_failure(&e))?;
        tracing::warn!(by = %admin.sub, withdrawn = %kid, kid = %new_kid, "signing key withdrawn and replaced");
        key_file.save(&authority)?;
        return Ok(Json(json!({ "kid": new_kid, "alg": alg.as_str() })).into_response());
    }
    match authority.withdraw_key(&kid) {
        Ok(true) => {
            tracing::warn!(by = %admin.sub, withdrawn = %kid, "key withdrawn");
            key_file.save(&authority)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Ok(false) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no key with this kid",
        )),
        Err(e) => Err(key_failure(&e)),
    }
}
