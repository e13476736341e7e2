//! [`AuthService`]: validates the token, then calls the inner service.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use auth_core::cache::TokenCache;
use auth_core::{AccessClaims, AuthError};
use http::request::Parts;
use http::{Request, Response};
use serde::de::DeserializeOwned;
use tower_service::Service;

use crate::body::AuthBody;
use crate::claims::ClaimsType;
use crate::config::Config;
use crate::dpop;
use crate::future::{ResponseFuture, Revalidation, revalidate};
use crate::refusal::refusal;
use crate::rejection::Rejection;
use crate::source::find_token;

/// The service [`AuthLayer`](crate::AuthLayer) builds around `S`.
pub struct AuthService<S, E> {
    inner: S,
    config: Arc<Config>,
    cache: Option<Arc<TokenCache<E>>>,
}

impl<S, E> AuthService<S, E> {
    pub(crate) fn new(inner: S, config: Arc<Config>, cache: Option<Arc<TokenCache<E>>>) -> Self {
        AuthService {
            inner,
            config,
            cache,
        }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: Clone, E> Clone for AuthService<S, E> {
    fn clone(&self) -> Self {
        AuthService::new(self.inner.clone(), self.config.clone(), self.cache.clone())
    }
}

impl<S: fmt::Debug, E> fmt::Debug for AuthService<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish()
    }
}

impl<S, E, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S, E>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    E: DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Response = Response<AuthBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<ReqBody>, E>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let c = &self.config;
        // The sources read the request's head; the body stays aside.
        let (mut parts, body) = req.into_parts();
        let reject = |r: Rejection, parts: &Parts| {
            ResponseFuture::rejected(c.responder.respond(
                r,
                &parts.method,
                &parts.uri,
                &parts.headers,
                &parts.extensions,
            ))
        };

        // `Authorization: DPoP <token>` where the layer takes DPoP (RFC 9449).
        let dpop_token = match &c.dpop {
            Some(_) => match dpop::scheme_token(&parts.headers) {
                Ok(token) => token,
                Err(malformed) => return reject(Rejection::InvalidRequest(malformed.0), &parts),
            },
            None => None,
        };
        let scheme = dpop_token.is_some();
        let found = match dpop_token {
            Some(token) => Ok(Some(token)),
            None => find_token(&c.sources, &parts),
        };
        let token = match found {
            Ok(Some(token)) => token,
            Ok(None) if c.optional => {
                parts.extensions.insert(ClaimsType::of_layer::<E>(c));
                return ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)));
            }
            Ok(None) => return reject(Rejection::Missing, &parts),
            Err(malformed) => return reject(Rejection::InvalidRequest(malformed.0), &parts),
        };
        let decoded = match &self.cache {
            Some(cache) => cache.decode_access(token),
            None => c.validator.decode_access(token).map(Arc::new),
        };
        let claims: Arc<AccessClaims<E>> = match decoded {
            Ok(claims) => claims,
            Err(AuthError::UnknownKey) => match c.validator.refetch_keys() {
                // A key source that fetches (a JWKS client) may know the
                // kid once it has looked again: wait for that, then validate
                // anew. It rate-limits the looking itself.
                Some(refetch) => {
                    let validated = revalidate(
                        refetch,
                        token.to_owned(),
                        c.validator.clone(),
                        self.cache.clone(),
                        c.check_timeout,
                    );
                    // The binding is judged once the token is known.
                    let presented =
                        dpop::Presented::of(&parts, token, scheme, c.dpop_origin.as_deref());
                    let verifier = c.dpop.clone();
                    let validated: Revalidation<E> = Box::pin(async move {
                        let claims = validated.await?;
                        if dpop::needs_proof(&claims, presented.scheme, verifier.as_ref())
                            .map_err(dpop::refused)?
                            && let Some(verifier) = &verifier
                        {
                            dpop::verify(&claims, &presented, verifier)
                                .await
                                .map_err(dpop::refused)?;
                        }
                        Ok(claims)
                    });
                    let clone = self.inner.clone();
                    let ready = std::mem::replace(&mut self.inner, clone);
                    let req = Request::from_parts(parts, body);
                    return ResponseFuture::refetching(validated, ready, req, self.config.clone());
                }
                None => return reject(Rejection::Token(AuthError::UnknownKey), &parts),
            },
            Err(e) => return reject(Rejection::Token(e), &parts),
        };
        if scheme || claims.cnf.is_some() {
            // A DPoP-bound token, or the DPoP scheme: the store's verdict,
            // then the proof (a revoked token spends no proof).
            let verifier = match dpop::needs_proof(&claims, scheme, c.dpop.as_ref()) {
                Ok(true) => c.dpop.clone(),
                Ok(false) => None,
                Err(e) => return reject(Rejection::Token(dpop::refused(e)), &parts),
            };
            let presented = dpop::Presented::of(&parts, token, scheme, c.dpop_origin.as_deref());
            let check = c.validator.check_token(&claims.token_ref(), token);
            let timeout = c.check_timeout;
            let checked: Revalidation<E> = Box::pin(async move {
                let verdict =
                    match timeout.filter(|_| tokio::runtime::Handle::try_current().is_ok()) {
                        Some(t) => tokio::time::timeout(t, check).await.unwrap_or_else(|_| {
                            Err(auth_core::StoreError::Unavailable(
                                "the revocation check timed out".into(),
                            ))
                        }),
                        None => check.await,
                    };
                if let Some(e) = refusal(verdict) {
                    return Err(e);
                }
                if let Some(verifier) = &verifier {
                    dpop::verify(&claims, &presented, verifier)
                        .await
                        .map_err(dpop::refused)?;
                }
                Ok(claims)
            });
            let clone = self.inner.clone();
            let ready = std::mem::replace(&mut self.inner, clone);
            let req = Request::from_parts(parts, body);
            return ResponseFuture::refetching(checked, ready, req, self.config.clone());
        }
        match c.validator.check_token(&claims.token_ref(), token).now() {
            Ok(verdict) => match refusal(verdict) {
                None => {
                    parts.extensions.insert(claims);
                    parts.extensions.insert(ClaimsType::of_layer::<E>(c));
                    ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)))
                }
                Some(e) => reject(Rejection::Token(e), &parts),
            },
            Err(pending) => {
                // The store must do I/O. Take the service that was driven to
                // readiness and leave a fresh clone in its place (tower's
                // clone-and-swap), so the future owns a ready service.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                let req = Request::from_parts(parts, body);
                ResponseFuture::checking(pending, ready, req, claims, self.config.clone())
            }
        }
    }
}
