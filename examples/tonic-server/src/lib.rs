//! Shared by the server and the client: the token authority, built on a
//! secret both sides know.

use auth_core::{Algorithm, Key, KeySet, TokenAuthority};

/// Where the server listens and the client connects.
pub const ADDR: &str = "127.0.0.1:50051";

/// Used when `AUTH_JWT_SECRET` is not set. A demo only: anyone reading this
/// file can mint tokens for a server that uses it.
const DEMO_SECRET: &str = "demo-secret-for-the-tonic-example-only!";

/// The authority both binaries use: HS256 with `AUTH_JWT_SECRET` (at least
/// 32 bytes) or the demo secret.
pub fn authority() -> Result<TokenAuthority, Box<dyn std::error::Error + Send + Sync>> {
    let secret = match std::env::var("AUTH_JWT_SECRET") {
        Ok(s) => s,
        Err(_) => {
            println!("AUTH_JWT_SECRET not set: using the built-in demo secret");
            DEMO_SECRET.to_owned()
        }
    };
    let key = Key::hmac(Algorithm::HS256, secret.as_bytes())?;
    Ok(TokenAuthority::builder(KeySet::new(key)?).build()?)
}
