//! A tonic gRPC server (the standard health service) behind [`AuthLayer`]:
//! calls without a valid `authorization: Bearer` metadata entry get
//! `UNAUTHENTICATED`.
//!
//! Run `cargo run -p example-tonic-server`, then in another terminal
//! `cargo run -p example-tonic-server --bin tonic-client`.

use auth_core::NoClaims;
use auth_tower::AuthLayer;
use example_tonic_server::{ADDR, authority};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let authority = authority()?;
    let (_reporter, health) = tonic_health::server::health_reporter();
    println!("gRPC health service on {ADDR}, bearer token required");
    tonic::transport::Server::builder()
        .layer(AuthLayer::<NoClaims>::new(authority.validator().clone()))
        .add_service(health)
        .serve(ADDR.parse()?)
        .await?;
    Ok(())
}
