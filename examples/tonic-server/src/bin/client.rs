//! Calls the example tonic server twice: without a token (refused), then with
//! a token sent as `authorization` metadata: the one in `AUTH_TOKEN` (the
//! server prints it), or one minted from the shared `AUTH_JWT_SECRET`.

use auth_core::NoClaims;
use example_tonic_server::{ADDR, SECRET_ENV, TOKEN_ENV, authority_from_env};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let token = match std::env::var(TOKEN_ENV) {
        Ok(token) => token,
        Err(_) => match authority_from_env()? {
            Some(authority) => {
                authority
                    .issue("tonic-client", &NoClaims {})
                    .await?
                    .access_token
            }
            None => {
                return Err(format!(
                    "set {TOKEN_ENV} (the server prints one) or {SECRET_ENV} (the server's secret)"
                )
                .into());
            }
        },
    };
    let channel = tonic::transport::Channel::from_shared(format!("http://{ADDR}"))?
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {ADDR} (is example-tonic-server running?): {e}"))?;
    let mut client = HealthClient::new(channel);

    println!("1. Check without a token");
    match client.check(HealthCheckRequest::default()).await {
        Ok(r) => println!("   unexpectedly served: {:?}", r.into_inner()),
        Err(status) => println!("   refused: {:?} {}", status.code(), status.message()),
    }

    println!("2. Check with `authorization: Bearer <token for tonic-client>`");
    let mut request = tonic::Request::new(HealthCheckRequest::default());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    match client.check(request).await {
        Ok(r) => println!("   served: {:?}", r.into_inner().status()),
        Err(status) => println!("   refused: {:?} {}", status.code(), status.message()),
    }
    Ok(())
}
