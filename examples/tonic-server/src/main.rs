//! A tonic gRPC server (the standard health service) behind [`AuthLayer`]:
//! calls without a valid `authorization: Bearer` metadata entry get
//! `UNAUTHENTICATED`.
//!
//! Run `cargo run -p example-tonic-server`, then in another terminal the
//! client command it prints (`AUTH_TOKEN=... cargo run -p
//! example-tonic-server --bin tonic-client`). With `AUTH_JWT_SECRET` set
//! (at least 32 bytes) on both sides, the client mints its own token.

use std::time::Duration;

use auth_core::NoClaims;
use auth_tower::AuthLayer;
use example_tonic_server::{
    ADDR, Error, SECRET_ENV, TOKEN_ENV, authority_from_env, random_authority,
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let authority = match authority_from_env()? {
        Some(authority) => authority,
        None => {
            let authority = random_authority()?;
            let pair = authority.issue("tonic-client", &NoClaims {}).await?;
            println!(
                "{SECRET_ENV} not set: signing with a random secret (tokens die with this process)."
            );
            println!(
                "Call the server with a token valid for {} s:\n  {TOKEN_ENV}={} cargo run -p example-tonic-server --bin tonic-client",
                pair.expires_in, pair.access_token
            );
            authority
        }
    };
    let (_reporter, health) = tonic_health::server::health_reporter();
    println!("gRPC health service on {ADDR}, bearer token required");
    tonic::transport::Server::builder()
        // A call gets 30 s; a connection that stops answering HTTP/2 pings
        // within 10 s is closed; at most 64 calls at once per connection.
        .timeout(Duration::from_secs(30))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .concurrency_limit_per_connection(64)
        .layer(AuthLayer::<NoClaims>::new(authority.validator().clone()))
        .add_service(health)
        .serve(ADDR.parse()?)
        .await?;
    Ok(())
}
