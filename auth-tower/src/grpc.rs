//! tonic: the layer on one service, and the claims inside its handlers.
//!
//! With the `tonic` feature, [`AuthService`] and [`Require`] are tonic `NamedService`s (under the name of
//! the service they wrap), so the layer can guard one service of a server
//! and leave the others (such as `grpc.health.v1.Health`) open:
//! `add_service(ServiceBuilder::new().layer(AuthLayer…).service(…))`.
//!
//! Inside a handler, [`claims`] reads the validated claims as a
//! `Result<_, Status>` ready for `?`, and [`require_role`] /
//! [`require_scope`] check a privilege per method. Their statuses match the
//! layer's: UNAUTHENTICATED without claims (a layer in
//! [`optional`](crate::AuthLayer::optional) mode let a call without a token
//! through), PERMISSION_DENIED without the privilege, and INTERNAL (logged as
//! an error naming both types) when no `AuthLayer` of that claims type ran.
//!
//! ```
//! use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority};
//! use auth_tower::{AuthLayer, grpc};
//! use tonic::{Request, Response, Status};
//! use tonic_health::pb::health_server::{Health, HealthServer};
//! use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
//! use tonic_health::server::{HealthReporter, HealthService};
//! use tower::ServiceBuilder;
//!
//! /// The health service, with `Check` for the `monitoring` role only.
//! struct Monitored(HealthService);
//!
//! #[tonic::async_trait]
//! impl Health for Monitored {
//!     async fn check(
//!         &self,
//!         request: Request<HealthCheckRequest>,
//!     ) -> Result<Response<HealthCheckResponse>, Status> {
//!         let claims = grpc::require_role::<RoleClaims, _>(&request, "monitoring")?;
//!         println!("{} checks the health", claims.sub);
//!         self.0.check(request).await
//!     }
//!
//!     type WatchStream = <HealthService as Health>::WatchStream;
//!
//!     async fn watch(
//!         &self,
//!         request: Request<HealthCheckRequest>,
//!     ) -> Result<Response<Self::WatchStream>, Status> {
//!         grpc::claims::<RoleClaims, _>(&request)?;
//!         self.0.watch(request).await
//!     }
//! }
//!
//! # async fn serve() -> Result<(), tonic::transport::Error> {
//! let keys = KeySet::new(Key::generate(Algorithm::ES256).unwrap()).unwrap();
//! let authority = TokenAuthority::builder(keys).build().unwrap();
//! let health = HealthService::from_health_reporter(HealthReporter::new());
//! tonic::transport::Server::builder()
//!     // This service needs a valid token; services added without the
//!     // layer stay open.
//!     .add_service(
//!         ServiceBuilder::new()
//!             .layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()))
//!             .service(HealthServer::new(Monitored(health))),
//!     )
//!     .serve("127.0.0.1:50051".parse().unwrap())
//!     .await
//! # }
//! ```

use auth_core::{AccessClaims, AuthError, Privileges};
use tonic::server::NamedService;
use tonic::{Code, Status};

use crate::refusal::log;
use crate::rejection::Rejection;
use crate::require::Require;
use crate::service::AuthService;

impl<S: NamedService, E> NamedService for AuthService<S, E> {
    const NAME: &'static str = S::NAME;
}

impl<S: NamedService, P, E> NamedService for Require<S, P, E> {
    const NAME: &'static str = S::NAME;
}

impl From<Rejection> for Status {
    /// The status the layer answers a gRPC call with for this refusal: code
    /// and message as in its `grpc-status` and `grpc-message`. Not logged.
    fn from(rejection: Rejection) -> Self {
        let code = Code::from_i32(rejection.grpc_code());
        Status::new(code, rejection.description())
    }
}

/// The [`AccessClaims<E>`] the `AuthLayer<E>` validated for this call, or
/// the status to return: UNAUTHENTICATED when the layer let the call through
/// without a token ([`optional`](crate::AuthLayer::optional) mode), INTERNAL
/// (and an error in the log) when no `AuthLayer<E>` ran on the call.
///
/// ```
/// use auth_core::RoleClaims;
/// use auth_tower::{ClaimsType, grpc};
///
/// let mut request = tonic::Request::new(());
/// assert_eq!(grpc::claims::<RoleClaims, _>(&request).unwrap_err().code(), tonic::Code::Internal);
/// // What an optional AuthLayer<RoleClaims> leaves on a call without a token:
/// request.extensions_mut().insert(ClaimsType::of::<RoleClaims>());
/// let status = grpc::claims::<RoleClaims, _>(&request).unwrap_err();
/// assert_eq!(status.code(), tonic::Code::Unauthenticated);
/// ```
pub fn claims<E, T>(request: &tonic::Request<T>) -> Result<&AccessClaims<E>, Status>
where
    E: Send + Sync + 'static,
{
    match crate::claims::claims::<E>(request.extensions()) {
        Ok(Some(claims)) => Ok(claims.as_ref()),
        Ok(None) => Err(log(Rejection::Missing).into()),
        Err(e) => Err(log(Rejection::Misconfigured(e)).into()),
    }
}

/// [`claims`], and PERMISSION_DENIED unless they grant the role `role`
/// (see [`Privileges::has_role`]).
///
/// ```
/// use auth_core::RoleClaims;
/// use auth_tower::grpc;
///
/// async fn cancel_order(request: tonic::Request<()>) -> Result<tonic::Response<()>, tonic::Status> {
///     let admin = grpc::require_role::<RoleClaims, _>(&request, "admin")?;
///     println!("{} cancels an order", admin.sub);
///     Ok(tonic::Response::new(()))
/// }
/// ```
pub fn require_role<'r, E, T>(
    request: &'r tonic::Request<T>,
    role: &str,
) -> Result<&'r AccessClaims<E>, Status>
where
    E: Privileges + Send + Sync + 'static,
{
    require(request, role, |c| c.has_role(role))
}

/// [`claims`], and PERMISSION_DENIED unless they grant the OAuth scope
/// `scope` (see [`Privileges::has_scope`]).
pub fn require_scope<'r, E, T>(
    request: &'r tonic::Request<T>,
    scope: &str,
) -> Result<&'r AccessClaims<E>, Status>
where
    E: Privileges + Send + Sync + 'static,
{
    require(request, scope, |c| c.has_scope(scope))
}

fn require<'r, E, T>(
    request: &'r tonic::Request<T>,
    required: &str,
    granted: impl FnOnce(&AccessClaims<E>) -> bool,
) -> Result<&'r AccessClaims<E>, Status>
where
    E: Send + Sync + 'static,
{
    let claims = claims::<E, T>(request)?;
    if granted(claims) {
        return Ok(claims);
    }
    let refused = Rejection::Token(AuthError::InsufficientScope {
        required: required.to_owned(),
    });
    Err(log(refused).into())
}

/// The helpers of this module as methods of [`tonic::Request`], so a
/// handler names only the claims type:
///
/// ```
/// use auth_core::RoleClaims;
/// use auth_tower::grpc::RequestClaims;
///
/// async fn cancel_order(request: tonic::Request<()>) -> Result<tonic::Response<()>, tonic::Status> {
///     let admin = request.require_role::<RoleClaims>("admin")?;
///     println!("{} cancels an order", admin.sub);
///     Ok(tonic::Response::new(()))
/// }
/// ```
pub trait RequestClaims {
    /// See [`claims`].
    fn claims<E: Send + Sync + 'static>(&self) -> Result<&AccessClaims<E>, Status>;
    /// See [`require_role`].
    fn require_role<E: Privileges + Send + Sync + 'static>(
        &self,
        role: &str,
    ) -> Result<&AccessClaims<E>, Status>;
    /// See [`require_scope`].
    fn require_scope<E: Privileges + Send + Sync + 'static>(
        &self,
        scope: &str,
    ) -> Result<&AccessClaims<E>, Status>;
}

impl<T> RequestClaims for tonic::Request<T> {
    fn claims<E: Send + Sync + 'static>(&self) -> Result<&AccessClaims<E>, Status> {
        claims::<E, T>(self)
    }

    fn require_role<E: Privileges + Send + Sync + 'static>(
        &self,
        role: &str,
    ) -> Result<&AccessClaims<E>, Status> {
        require_role::<E, T>(self, role)
    }

    fn require_scope<E: Privileges + Send + Sync + 'static>(
        &self,
        scope: &str,
    ) -> Result<&AccessClaims<E>, Status> {
        require_scope::<E, T>(self, scope)
    }
}
