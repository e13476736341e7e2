//! Shared by the server and the client: the token authority, built on a
//! secret both sides know.

use auth_core::{Algorithm, Key, KeySet, TokenAuthority};

/// Where the server listens and the client connects.
pub const ADDR: &str = "127.0.0.1:50051";

/// The environment variable holding the shared HMAC secret (at least 32
/// bytes).
pub const SECRET_ENV: &str = "AUTH_JWT_SECRET";

/// The environment variable from which the client takes a ready token (the
/// server prints one when it generated its secret).
pub const TOKEN_ENV: &str = "AUTH_TOKEN";

/// An error meant for the person running the example.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The authority on the secret in [`SECRET_ENV`], or `None` when it is not
/// set. A secret that is set but unusable (shorter than 32 bytes) is an
/// error: there is no built-in fallback anyone could read in this file.
pub fn authority_from_env() -> Result<Option<TokenAuthority>, Error> {
    authority_from_secret(std::env::var(SECRET_ENV).ok())
}

/// [`authority_from_env`] with the secret given: `None` without one.
pub fn authority_from_secret(secret: Option<String>) -> Result<Option<TokenAuthority>, Error> {
    let Some(secret) = secret else {
        return Ok(None);
    };
    let key = Key::hmac(Algorithm::HS256, secret.as_bytes()).map_err(|e| {
        format!(
            "{SECRET_ENV} is not usable: {e} (use at least 32 random bytes, e.g. `openssl rand -base64 48`)"
        )
    })?;
    Ok(Some(authority(key)?))
}

/// The authority on a fresh random secret, for a server started without
/// [`SECRET_ENV`]: its tokens die with the process.
pub fn random_authority() -> Result<TokenAuthority, Error> {
    authority(Key::generate(Algorithm::HS256)?)
}

fn authority(key: Key) -> Result<TokenAuthority, Error> {
    Ok(TokenAuthority::builder(KeySet::new(key)?)
        .issuer("example-tonic-server")
        .audience("grpc.health.v1")
        .build()?)
}
