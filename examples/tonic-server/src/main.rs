//! A tonic gRPC server with two services: the standard health service, open
//! to all, and an orders service behind [`AuthLayer`](auth_tower::AuthLayer),
//! whose calls need a valid `authorization: Bearer` metadata entry
//! (`UNAUTHENTICATED` otherwise) and, per method, a role
//! (`PERMISSION_DENIED` otherwise): `user` to list orders, `admin` to cancel
//! one.
//!
//! Run `cargo run -p example-tonic-server`, then in another terminal one of
//! the client commands it prints (`AUTH_TOKEN=... cargo run -p
//! example-tonic-server --bin tonic-client`). With `AUTH_JWT_SECRET` set
//! (at least 32 bytes) on both sides, the client mints its own token.

use auth_core::RoleClaims;
use example_tonic_server::{
    ADDR, CLIENT_SUBJECT, Error, SECRET_ENV, TOKEN_ENV, authority_from_env, random_authority, serve,
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let authority = match authority_from_env()? {
        Some(authority) => authority,
        None => {
            let authority = random_authority()?;
            println!(
                "{SECRET_ENV} not set: signing with a random secret (tokens die with this process)."
            );
            for roles in [&["user"][..], &["user", "admin"]] {
                let claims = RoleClaims::with_roles(roles.iter().copied());
                let pair = authority.issue(CLIENT_SUBJECT, &claims).await?;
                println!(
                    "Call the server as {} (roles {roles:?}) with a token valid for {} s:\n  {TOKEN_ENV}={} cargo run -p example-tonic-server --bin tonic-client",
                    CLIENT_SUBJECT, pair.expires_in, pair.access_token
                );
            }
            authority
        }
    };
    let listener = tokio::net::TcpListener::bind(ADDR).await?;
    println!(
        "gRPC on {ADDR}: grpc.health.v1.Health open, {} with a bearer token",
        example_tonic_server::orders::SERVICE_NAME
    );
    serve(listener, authority.validator().clone()).await
}
