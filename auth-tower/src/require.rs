//! Authorization on top of authentication: [`RequireLayer`] refuses requests
//! whose claims lack a role or scope, with 403 `insufficient_scope`.
//!
//! It reads the [`AccessClaims<E>`] that [`AuthLayer`](crate::AuthLayer) put
//! into the request extensions, so it goes *inside* the `AuthLayer` (for
//! axum: on the route, with the `AuthLayer` on the router). A request that
//! reaches it without claims (optional mode without a token) gets 401.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use auth_core::{AccessClaims, AuthError, Privileges};
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::layer::DEFAULT_REALM;
use crate::rejection::{Rejection, is_grpc};
use crate::service::log;

/// Requires the claims to pass a predicate; see the [module docs](self).
pub struct RequireLayer<E, P> {
    predicate: P,
    required: Arc<str>,
    realm: Arc<str>,
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

impl<E: Privileges> RequireLayer<E, HasRole> {
    /// Requires the role `role` (see [`Privileges::has_role`]).
    pub fn role(role: &str) -> Self {
        let role: Arc<str> = role.into();
        Self::with(role.clone(), HasRole(role))
    }
}

impl<E: Privileges> RequireLayer<E, HasScope> {
    /// Requires the OAuth scope `scope` (see [`Privileges::has_scope`]).
    pub fn scope(scope: &str) -> Self {
        let scope: Arc<str> = scope.into();
        Self::with(scope.clone(), HasScope(scope))
    }
}

impl<E, P: Authorize<E>> RequireLayer<E, P> {
    /// Requires `predicate`; `required` names what it requires, for the
    /// `scope` attribute of the challenge and the logs.
    pub fn new(required: &str, predicate: P) -> Self {
        Self::with(required.into(), predicate)
    }

    fn with(required: Arc<str>, predicate: P) -> Self {
        RequireLayer {
            predicate,
            required,
            realm: DEFAULT_REALM.into(),
            _claims: PhantomData,
        }
    }

    /// The `realm` of the challenge (default [`DEFAULT_REALM`]).
    pub fn realm(mut self, realm: &str) -> Self {
        self.realm = realm.into();
        self
    }
}

impl<E, P: Clone> Clone for RequireLayer<E, P> {
    fn clone(&self) -> Self {
        RequireLayer {
            predicate: self.predicate.clone(),
            required: self.required.clone(),
            realm: self.realm.clone(),
            _claims: PhantomData,
        }
    }
}

impl<E, P> fmt::Debug for RequireLayer<E, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireLayer")
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl<S, E, P: Clone> Layer<S> for RequireLayer<E, P> {
    type Service = Require<S, E, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Require {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`RequireLayer`] builds.
pub struct Require<S, E, P> {
    inner: S,
    layer: RequireLayer<E, P>,
}

impl<S: Clone, E, P: Clone> Clone for Require<S, E, P> {
    fn clone(&self) -> Self {
        Require {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: fmt::Debug, E, P> fmt::Debug for Require<S, E, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Require")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, E, P, ReqBody, ResBody> Service<Request<ReqBody>> for Require<S, E, P>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Default,
    E: Clone + Send + Sync + 'static,
    P: Authorize<E>,
{
    type Response = Response<ResBody>;
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
            Ok(Some(_)) => Rejection::Token(AuthError::InsufficientScope {
                required: self.layer.required.to_string(),
            }),
        };
        let grpc = is_grpc(req.headers());
        ResponseFuture::rejected(log(rejection).into_response(&self.layer.realm, grpc))
    }
}
