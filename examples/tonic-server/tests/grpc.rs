//! The example server on a loopback port, called by real tonic clients:
//! health checks need no token, the orders service needs one, and each of
//! its methods its own role.

use std::time::Duration;

use auth_core::{RoleClaims, TokenAuthority};
use example_tonic_server::orders::{CancelOrderRequest, ListOrdersRequest, OrdersClient};
use example_tonic_server::{CLIENT_SUBJECT, random_authority, serve};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// The example server on a fresh port, and a channel to it.
async fn start() -> (TokenAuthority, Channel) {
    let authority = random_authority().expect("authority");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(serve(listener, authority.validator().clone()));
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect");
    (authority, channel)
}

async fn token(authority: &TokenAuthority, roles: &[&str]) -> String {
    authority
        .issue(
            CLIENT_SUBJECT,
            &RoleClaims::with_roles(roles.iter().copied()),
        )
        .await
        .expect("issue")
        .access_token
}

fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
    let mut request = Request::new(message);
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().expect("metadata");
        request.metadata_mut().insert("authorization", value);
    }
    request
}

async fn list(channel: &Channel, token: Option<&str>) -> Result<Vec<String>, Status> {
    let reply = OrdersClient::new(channel.clone())
        .list_orders(with_token(ListOrdersRequest {}, token))
        .await?;
    Ok(reply
        .into_inner()
        .orders
        .into_iter()
        .map(|o| o.id)
        .collect())
}

async fn cancel(channel: &Channel, token: Option<&str>, id: &str) -> Result<bool, Status> {
    let request = CancelOrderRequest { id: id.into() };
    let reply = OrdersClient::new(channel.clone())
        .cancel_order(with_token(request, token))
        .await?;
    Ok(reply.into_inner().order.is_some_and(|o| o.cancelled))
}

#[tokio::test]
async fn health_checks_answer_without_a_token() {
    let (_authority, channel) = start().await;
    let mut health = HealthClient::new(channel);
    for service in ["", example_tonic_server::orders::SERVICE_NAME] {
        let reply = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("the health service is open");
        assert_eq!(reply.into_inner().status(), ServingStatus::Serving);
    }
}

#[tokio::test]
async fn the_orders_service_refuses_calls_without_a_valid_token() {
    let (_authority, channel) = start().await;
    let err = list(&channel, None).await.expect_err("no token");
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unauthenticated, "no access token")
    );
    let err = cancel(&channel, None, "order-1")
        .await
        .expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);

    let err = list(&channel, Some("not.a.token"))
        .await
        .expect_err("garbage");
    assert_eq!(err.code(), Code::Unauthenticated);
    // A token of another server (another secret).
    let other = random_authority().expect("authority");
    let foreign = token(&other, &["user", "admin"]).await;
    let err = list(&channel, Some(&foreign)).await.expect_err("foreign");
    assert_eq!(err.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn each_method_refuses_a_token_without_its_role() {
    let (authority, channel) = start().await;
    let guest = token(&authority, &["guest"]).await;
    let err = list(&channel, Some(&guest)).await.expect_err("guest lists");
    assert_eq!(
        (err.code(), err.message()),
        (
            Code::PermissionDenied,
            "the token lacks the required privileges"
        )
    );
    let user = token(&authority, &["user"]).await;
    let err = cancel(&channel, Some(&user), "order-1")
        .await
        .expect_err("user cancels");
    assert_eq!(err.code(), Code::PermissionDenied);
    let admin = token(&authority, &["user", "admin"]).await;
    assert!(
        cancel(&channel, Some(&admin), "order-1")
            .await
            .expect("admin")
    );
}

#[tokio::test]
async fn the_orders_service_serves_a_token_with_the_role() {
    let (authority, channel) = start().await;
    let user = token(&authority, &["user"]).await;
    assert_eq!(
        list(&channel, Some(&user)).await.expect("user lists"),
        ["order-1", "order-2"]
    );
    let admin = token(&authority, &["admin"]).await;
    assert!(
        cancel(&channel, Some(&admin), "order-2")
            .await
            .expect("admin cancels")
    );
    let err = cancel(&channel, Some(&admin), "order-9")
        .await
        .expect_err("unknown order");
    assert_eq!(err.code(), Code::NotFound);
}
