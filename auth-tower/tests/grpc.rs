//! The `tonic` feature: the layer on one service of a tonic server
//! (`add_service`), and claims, roles and scopes read inside the handlers,
//! with a real tonic client over loopback.
#![cfg(feature = "tonic")]

mod common;

use auth_core::{NoClaims, RoleClaims};
use auth_tower::{AuthLayer, Rejection, RequireLayer, grpc};
use common::*;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::{Router, TcpIncoming};
use tonic::{Code, Request, Response, Status};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::{HealthReporter, HealthService};
use tower::ServiceBuilder;

/// The health service, its `Check` for the `monitoring` role, its `Watch`
/// for any caller with claims of type `E`.
struct Monitored<E>(HealthService, std::marker::PhantomData<fn() -> E>);

fn monitored<E>() -> HealthServer<Monitored<E>> {
    let health = HealthService::from_health_reporter(HealthReporter::new());
    HealthServer::new(Monitored(health, std::marker::PhantomData))
}

#[tonic::async_trait]
impl Health for Monitored<RoleClaims> {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        grpc::require_role::<RoleClaims, _>(&request, "monitoring")?;
        self.0.check(request).await
    }

    type WatchStream = <HealthService as Health>::WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        grpc::require_scope::<RoleClaims, _>(&request, "health:watch")?;
        self.0.watch(request).await
    }
}

async fn serve(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(router.serve_with_incoming(TcpIncoming::from(listener)));
    format!("http://{addr}")
}

/// The `Monitored` health service (role `monitoring` for `Check`) behind
/// `layer`, alone on a server.
async fn serve_monitored<E>(layer: AuthLayer<E>) -> String
where
    E: serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
{
    serve(
        Server::builder().add_service(
            ServiceBuilder::new()
                .layer(layer)
                .service(monitored::<RoleClaims>()),
        ),
    )
    .await
}

async fn client(url: String) -> HealthClient<tonic::transport::Channel> {
    let channel = tonic::transport::Channel::from_shared(url)
        .expect("url")
        .connect()
        .await
        .expect("connect");
    HealthClient::new(channel)
}

fn with_token(token: Option<&str>) -> Request<HealthCheckRequest> {
    let mut req = Request::new(HealthCheckRequest::default());
    if let Some(t) = token {
        req.metadata_mut()
            .insert("authorization", bearer(t).parse().expect("metadata"));
    }
    req
}

async fn check(url: &str, token: Option<&str>) -> Result<(), Status> {
    client(url.to_owned())
        .await
        .check(with_token(token))
        .await
        .map(drop)
}

async fn watch(url: &str, token: Option<&str>) -> Result<(), Status> {
    client(url.to_owned())
        .await
        .watch(with_token(token))
        .await
        .map(drop)
}

#[tokio::test]
async fn one_service_behind_the_layer_with_a_role_per_method() {
    let app = app();
    let auth = AuthLayer::<RoleClaims>::new(app.authority.validator().clone());
    let url = serve_monitored(auth).await;

    let err = check(&url, None).await.expect_err("no token");
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unauthenticated, "no access token")
    );
    let user = access(&app, &["user"]).await;
    let err = check(&url, Some(&user)).await.expect_err("user");
    assert_eq!(
        (err.code(), err.message()),
        (
            Code::PermissionDenied,
            "the token lacks the required privileges"
        )
    );
    let monitoring = access(&app, &["monitoring"]).await;
    check(&url, Some(&monitoring))
        .await
        .expect("the role passes");
    // Another method, another privilege: a scope.
    let err = watch(&url, Some(&monitoring)).await.expect_err("no scope");
    assert_eq!(err.code(), Code::PermissionDenied);
    let scoped = app
        .authority
        .issue(
            "alice",
            &RoleClaims {
                scope: Some("health:watch".into()),
                ..RoleClaims::default()
            },
        )
        .await
        .expect("issue")
        .access_token;
    watch(&url, Some(&scoped)).await.expect("the scope passes");
}

#[tokio::test]
async fn a_handler_behind_an_optional_layer_says_unauthenticated_without_a_token() {
    let app = app();
    let auth = AuthLayer::<RoleClaims>::new(app.authority.validator().clone()).optional();
    let url = serve_monitored(auth).await;
    let err = check(&url, None).await.expect_err("no token");
    assert_eq!(
        (err.code(), err.message()),
        (Code::Unauthenticated, "no access token")
    );
}

#[tokio::test]
async fn a_handler_reading_another_claims_type_is_internal() {
    let app = app();
    let auth = AuthLayer::<NoClaims>::new(app.authority.validator().clone());
    let url = serve_monitored(auth).await;
    let token = access(&app, &["monitoring"]).await;
    let err = check(&url, Some(&token)).await.expect_err("mismatch");
    assert_eq!(
        (err.code(), err.message()),
        (Code::Internal, "the server is misconfigured")
    );
}

#[tokio::test]
async fn require_layer_guards_one_service_too() {
    let app = app();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let url = serve(
        Server::builder().add_service(
            ServiceBuilder::new()
                .layer(AuthLayer::<RoleClaims>::new(
                    app.authority.validator().clone(),
                ))
                .layer(RequireLayer::<_, RoleClaims>::role("admin"))
                .service(health),
        ),
    )
    .await;
    let user = access(&app, &["user"]).await;
    let err = check(&url, Some(&user)).await.expect_err("user");
    assert_eq!(err.code(), Code::PermissionDenied);
    let admin = access(&app, &["admin"]).await;
    check(&url, Some(&admin)).await.expect("admin");
}

#[tokio::test]
async fn a_hook_that_keeps_the_default_for_grpc_keeps_trailers_only_answers() {
    let app = app();
    let auth =
        AuthLayer::<RoleClaims>::new(app.authority.validator().clone()).on_rejection(|req| {
            let mut res = req.default_response();
            res.headers_mut()
                .insert("x-refused", http::HeaderValue::from_static("1"));
            res
        });
    let (_reporter, health) = tonic_health::server::health_reporter();
    let url =
        serve(Server::builder().add_service(ServiceBuilder::new().layer(auth).service(health)))
            .await;
    let err = check(&url, None).await.expect_err("no token");
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(
        err.metadata().get("x-refused").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
}

#[test]
fn a_rejection_becomes_the_status_the_layer_would_send() {
    let status = Status::from(Rejection::Missing);
    assert_eq!(
        (status.code(), status.message()),
        (Code::Unauthenticated, "no access token")
    );
    let status = Status::from(Rejection::InvalidRequest("two tokens"));
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = Status::from(Rejection::Token(auth_core::AuthError::Store(
        auth_core::StoreError::Unavailable("down".into()),
    )));
    assert_eq!(status.code(), Code::Unavailable);
}
