//! Calls the example tonic server: the health service without a token
//! (open), then the orders service without a token (refused), and with a
//! token sent as `authorization` metadata: the one in `AUTH_TOKEN` (the
//! server prints one per role set), or one with the role `user` minted from
//! the shared `AUTH_JWT_SECRET`. `--addr` names the server (default
//! `127.0.0.1:50051`); `--help` lists the options.

use std::net::SocketAddr;

use auth_core::RoleClaims;
use clap::Parser;
use example_tonic_server::orders::{CancelOrderRequest, ListOrdersRequest, OrdersClient};
use example_tonic_server::{ADDR, CLIENT_SUBJECT, SECRET_ENV, TOKEN_ENV, authority_from_env};
use tonic::Request;
use tonic::metadata::{Ascii, MetadataValue};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Calls the example tonic server: the health service without a token, then
/// the orders service without a token and with one.
///
/// The token is the one in AUTH_TOKEN (the server prints one per role set),
/// or else one with the role user minted from the server's secret in
/// AUTH_JWT_SECRET.
#[derive(Debug, Parser)]
#[command(name = "tonic-client", version)]
struct Args {
    /// Address of the server.
    #[arg(long, default_value = ADDR)]
    addr: SocketAddr,
}

/// A request carrying `authorization: Bearer <token>`.
fn with_token<T>(message: T, bearer: &MetadataValue<Ascii>) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    request
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let Args { addr } = Args::parse();
    let token = match std::env::var(TOKEN_ENV) {
        Ok(token) => token,
        Err(_) => match authority_from_env()? {
            Some(authority) => {
                authority
                    .issue(CLIENT_SUBJECT, &RoleClaims::with_roles(["user"]))
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
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {addr} (is example-tonic-server running?): {e}"))?;
    let bearer: MetadataValue<Ascii> = format!("Bearer {token}").parse()?;

    println!("1. Health check, no token (the health service is open)");
    match HealthClient::new(channel.clone())
        .check(HealthCheckRequest::default())
        .await
    {
        Ok(r) => println!("   served: {:?}", r.into_inner().status()),
        Err(status) => println!("   refused: {:?} {}", status.code(), status.message()),
    }

    let mut orders = OrdersClient::new(channel);
    println!("2. ListOrders, no token");
    match orders.list_orders(ListOrdersRequest {}).await {
        Ok(r) => println!("   unexpectedly served: {:?}", r.into_inner()),
        Err(status) => println!("   refused: {:?} {}", status.code(), status.message()),
    }

    println!("3. ListOrders with `authorization: Bearer <token>` (needs the role `user`)");
    match orders
        .list_orders(with_token(ListOrdersRequest {}, &bearer))
        .await
    {
        Ok(r) => {
            for order in r.into_inner().orders {
                println!(
                    "   served: {} {} (cancelled: {})",
                    order.id, order.item, order.cancelled
                );
            }
        }
        Err(status) => println!("   refused: {:?} {}", status.code(), status.message()),
    }

    println!("4. CancelOrder order-1 with the same token (needs the role `admin`)");
    let cancel = CancelOrderRequest {
        id: "order-1".into(),
    };
    match orders.cancel_order(with_token(cancel, &bearer)).await {
        Ok(r) => println!("   served: {:?}", r.into_inner().order),
        Err(status) => println!("   refused: {:?} {}", status.code(), status.message()),
    }
    Ok(())
}
