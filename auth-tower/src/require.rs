//! [`RequireLayer`]: authorization on top of authentication, a role, a
//! scope, a recent login (step-up) or a predicate checked on the claims the
//! `AuthLayer` validated.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use auth_core::{AccessClaims, AuthError, Clock, Privileges, SystemClock};
use bytes::Bytes;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::body::AuthBody;
use crate::config::DEFAULT_REALM;
use crate::future::ResponseFuture;
use crate::on_rejection::{RejectedRequest, Responder};
use crate::rejection::Rejection;

/// A [`Layer`] that requires the [`AccessClaims<E>`] an
/// [`AuthLayer<E>`](crate::AuthLayer) validated to pass a predicate (a role,
/// a scope, a function), or refuses with 403 `insufficient_scope`.
///
/// It goes *inside* the `AuthLayer` (for axum: on the route, with the
/// `AuthLayer` on the router). A request that reaches it without claims
/// (optional mode without a token) gets 401; one that no `AuthLayer` of the
/// same claims type ran on gets 500 (the stack is wired wrongly; see
/// [`ClaimsError`](crate::ClaimsError)). Its refusals have the shape of the
/// `AuthLayer`'s; give it the same [`realm`](Self::realm) and
/// [`on_rejection`](Self::on_rejection) hook as the `AuthLayer` when you
/// change those.
///
/// ```
/// use auth_core::{AccessClaims, RoleClaims};
/// use auth_tower::RequireLayer;
/// use axum::{Router, routing::get};
///
/// let admin = RequireLayer::<_, RoleClaims>::role("admin");
/// let reader = RequireLayer::<_, RoleClaims>::scope("orders:read");
/// // Any check on the claims; the name goes into the challenge and the logs.
/// let staff = RequireLayer::new("staff", |c: &AccessClaims<RoleClaims>| {
///     c.sub.ends_with("@example.com")
/// });
/// let routes: Router = Router::new()
///     .route("/admin", get(|| async { "admin" }).layer(admin))
///     .route("/orders", get(|| async { "orders" }).layer(reader))
///     .route("/staff", get(|| async { "staff" }).layer(staff));
/// // ... then `.layer(AuthLayer::<RoleClaims>::new(validator))` around them.
/// ```
pub struct RequireLayer<P, E> {
    predicate: P,
    required: Arc<str>,
    responder: Responder,
    _claims: PhantomData<fn() -> E>,
}

/// The predicate of [`RequireLayer::role`].
#[derive(Debug, Clone)]
pub struct HasRole(Arc<str>);

/// The predicate of [`RequireLayer::scope`].
#[derive(Debug, Clone)]
pub struct HasScope(Arc<str>);

/// A check on validated claims.
pub trait Authorize<E> {
    /// Whether `claims` may pass.
    fn authorize(&self, claims: &AccessClaims<E>) -> bool;

    /// Why claims that did not pass are refused; `required` is the name
    /// the layer was given. By default 403 `insufficient_scope`.
    fn refusal(&self, required: &str) -> AuthError {
        AuthError::InsufficientScope {
            required: required.to_owned(),
        }
    }
}

/// The predicate of [`RequireLayer::login_within`]: RFC 9470 step-up.
#[derive(Debug, Clone)]
pub struct LoginWithin {
    max_age: u64,
    acr_values: Option<Arc<str>>,
    clock: Arc<dyn Clock>,
}

impl<E> Authorize<E> for LoginWithin {
    fn authorize(&self, claims: &AccessClaims<E>) -> bool {
        claims.logged_in_within(self.max_age, self.clock.now())
    }

    fn refusal(&self, _: &str) -> AuthError {
        AuthError::LoginTooOld {
            max_age: self.max_age,
            acr_values: self.acr_values.as_deref().map(str::to_owned),
        }
    }
}

impl<E: Privileges> Authorize<E> for HasRole {
    fn authorize(&self, claims: &AccessClaims<E>) -> bool {
        claims.has_role(&self.0)
    }
}

impl<E: Privileges> Authorize<E> for HasScope {
    fn authorize(&self, claims: &AccessClaims<E>) -> bool {
        claims.has_scope(&self.0)
    }
}

impl<E, F: Fn(&AccessClaims<E>) -> bool> Authorize<E> for F {
    fn authorize(&self, claims: &AccessClaims<E>) -> bool {
        self(claims)
    }
}

impl<E: Privileges> RequireLayer<HasRole, E> {
    /// Requires the role `role` (see [`Privileges::has_role`]).
    pub fn role(role: &str) -> Self {
        let role: Arc<str> = role.into();
        Self::with(role.clone(), HasRole(role))
    }
}

impl<E: Privileges> RequireLayer<HasScope, E> {
    /// Requires the OAuth scope `scope` (see [`Privileges::has_scope`]).
    pub fn scope(scope: &str) -> Self {
        let scope: Arc<str> = scope.into();
        Self::with(scope.clone(), HasScope(scope))
    }
}

impl<E> RequireLayer<LoginWithin, E> {
    /// Requires a login at most `max_age` ago (whole seconds), by the
    /// token's `auth_time`: RFC 9470 step-up, for operations such as
    /// changing a password or rotating keys. Otherwise 401 with
    /// `WWW-Authenticate: Bearer error="insufficient_user_authentication",
    /// max_age=N`: the client signs the user in again and retries. A token
    /// without `auth_time` never passes. A refresh keeps the session's
    /// login time, so only a new login satisfies it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use auth_core::RoleClaims;
    /// use auth_tower::RequireLayer;
    /// use axum::{Router, routing::post};
    ///
    /// let recent = RequireLayer::<_, RoleClaims>::login_within(Duration::from_secs(300));
    /// let routes: Router = Router::new()
    ///     .route("/account/password", post(|| async { "changed" }).layer(recent));
    /// // ... then `.layer(AuthLayer::<RoleClaims>::new(validator))` around them.
    /// ```
    pub fn login_within(max_age: Duration) -> Self {
        let max_age = max_age.as_secs();
        Self::with(
            format!("a login within {max_age} s").into(),
            LoginWithin {
                max_age,
                acr_values: None,
                clock: Arc::new(SystemClock),
            },
        )
    }

    /// The `acr_values` the challenge names (RFC 9470 §3), for an
    /// application that puts `acr` in its tokens: the authentication
    /// context the client should ask for when it signs in again.
    pub fn acr_values(mut self, acr_values: &str) -> Self {
        self.predicate.acr_values = Some(acr_values.into());
        self
    }

    /// The clock that tells the login's age (the system clock by default);
    /// for tests.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.predicate.clock = clock;
        self
    }
}

impl<P: Authorize<E>, E> RequireLayer<P, E> {
    /// Requires `predicate`; `required` names what it requires, for the
    /// `scope` attribute of the challenge and the logs.
    pub fn new(required: &str, predicate: P) -> Self {
        Self::with(required.into(), predicate)
    }

    fn with(required: Arc<str>, predicate: P) -> Self {
        RequireLayer {
            predicate,
            required,
            responder: Responder::new(DEFAULT_REALM),
            _claims: PhantomData,
        }
    }

    /// The `realm` of the challenge (default [`DEFAULT_REALM`]).
    pub fn realm(mut self, realm: &str) -> Self {
        self.responder.realm = realm.into();
        self
    }

    /// Names the protected resource's metadata document (RFC 9728) in the
    /// challenges, as [`AuthLayer::resource_metadata`](crate::AuthLayer::resource_metadata)
    /// does; give both the same URL.
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.responder.resource_metadata = Some(url.into().into());
        self
    }

    /// Answers refusals with `hook` instead of the default; the same
    /// contract as [`AuthLayer::on_rejection`](crate::AuthLayer::on_rejection).
    pub fn on_rejection<F>(mut self, hook: F) -> Self
    where
        F: Fn(&RejectedRequest<'_>) -> Response<Bytes> + Send + Sync + 'static,
    {
        self.responder.set_hook(hook);
        self
    }
}

impl<P: Clone, E> Clone for RequireLayer<P, E> {
    fn clone(&self) -> Self {
        RequireLayer {
            predicate: self.predicate.clone(),
            required: self.required.clone(),
            responder: self.responder.clone(),
            _claims: PhantomData,
        }
    }
}

impl<P, E> fmt::Debug for RequireLayer<P, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireLayer")
            .field("required", &self.required)
            .field("responder", &self.responder)
            .finish_non_exhaustive()
    }
}

impl<S, P: Clone, E> Layer<S> for RequireLayer<P, E> {
    type Service = Require<S, P, E>;

    fn layer(&self, inner: S) -> Self::Service {
        Require {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`RequireLayer`] builds.
pub struct Require<S, P, E> {
    inner: S,
    layer: RequireLayer<P, E>,
}

impl<S: Clone, P: Clone, E> Clone for Require<S, P, E> {
    fn clone(&self) -> Self {
        Require {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, P, E> fmt::Debug for Require<S, P, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Require")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, P, E, ReqBody, ResBody> Service<Request<ReqBody>> for Require<S, P, E>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    E: Clone + Send + Sync + 'static,
    P: Authorize<E>,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<ReqBody>, E>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let rejection = match crate::claims::claims::<E>(req.extensions()) {
            Err(e) => Rejection::Misconfigured(e),
            Ok(None) => Rejection::Missing,
            Ok(Some(claims)) if self.layer.predicate.authorize(claims) => {
                return ResponseFuture::inner(self.inner.call(req));
            }
            Ok(Some(_)) => Rejection::Token(self.layer.predicate.refusal(&self.layer.required)),
        };
        ResponseFuture::rejected(self.layer.responder.respond_to(rejection, &req))
    }
}
