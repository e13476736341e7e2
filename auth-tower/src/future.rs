//! The response future of [`AuthService`](crate::AuthService): named, with no
//! boxing on the common paths (a rejection, or a store that answered at once).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use std::time::Duration;

use auth_core::StoreError;
use auth_core::cache::TokenCache;
use auth_core::store::{BoxFuture, Check};
use auth_core::{AccessClaims, AuthError, Validator};
use bytes::Bytes;
use http::header::HeaderValue;
use http::{Request, Response};
use pin_project_lite::pin_project;
use serde::de::DeserializeOwned;
use tower_service::Service;

use crate::body::AuthBody;
use crate::claims::ClaimsType;
use crate::config::Config;
use crate::dpop::DPOP_NONCE;
use crate::refusal::refusal;
use crate::rejection::Rejection;

pin_project! {
    /// The future [`AuthService`](crate::AuthService) returns.
    pub struct ResponseFuture<S, Req, E>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req, E>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req, E>
    where
        S: Service<Req>,
    {
        Inner { #[pin] fut: S::Future, dpop_nonce: Option<HeaderValue> },
        Rejected { res: Option<Response<Bytes>> },
        Checking {
            check: Check,
            deadline: Option<Pin<Box<tokio::time::Sleep>>>,
            pending: Option<Pending<S, Req, E>>,
        },
        Refetching {
            validated: Revalidation<E>,
            pending: Option<(S, Req, Arc<Config>)>,
        },
    }
}

/// A token whose `kid` was unknown, validated again (store check included)
/// once the key source has looked for new keys. Boxed: this path is rare.
pub(crate) type Revalidation<E> =
    Pin<Box<dyn Future<Output = Result<Arc<AccessClaims<E>>, AuthError>> + Send>>;

/// Waits for `refetch`, then decodes `token` again (through the cache when
/// there is one) and asks the store, within `timeout`.
pub(crate) fn revalidate<E>(
    refetch: BoxFuture<'static, ()>,
    token: String,
    validator: Validator,
    cache: Option<Arc<TokenCache<E>>>,
    timeout: Option<Duration>,
) -> Revalidation<E>
where
    E: DeserializeOwned + Send + Sync + 'static,
{
    Box::pin(async move {
        refetch.await;
        let claims = match &cache {
            Some(cache) => cache.decode_access(&token)?,
            None => Arc::new(validator.decode_access(&token)?),
        };
        let check = validator.check_token(&claims.token_ref(), &token);
        let verdict = match timeout.filter(|_| tokio::runtime::Handle::try_current().is_ok()) {
            Some(t) => tokio::time::timeout(t, check)
                .await
                .unwrap_or_else(|_| Err(timed_out())),
            None => check.await,
        };
        match refusal(verdict) {
            None => Ok(claims),
            Some(e) => Err(e),
        }
    })
}

fn timed_out() -> StoreError {
    StoreError::Unavailable("the revocation check timed out".into())
}

struct Pending<S, Req, E> {
    service: S,
    req: Req,
    claims: Arc<AccessClaims<E>>,
    config: Arc<Config>,
    /// When the check started waiting (feature `metrics`).
    #[cfg(feature = "metrics")]
    started: std::time::Instant,
}

impl<S: Service<Req>, Req, E> ResponseFuture<S, Req, E> {
    pub(crate) fn inner(fut: S::Future) -> Self {
        ResponseFuture {
            state: State::Inner {
                fut,
                dpop_nonce: None,
            },
        }
    }

    pub(crate) fn rejected(res: Response<Bytes>) -> Self {
        ResponseFuture {
            state: State::Rejected { res: Some(res) },
        }
    }

    pub(crate) fn refetching(
        validated: Revalidation<E>,
        service: S,
        req: Req,
        config: Arc<Config>,
    ) -> Self {
        ResponseFuture {
            state: State::Refetching {
                validated,
                pending: Some((service, req, config)),
            },
        }
    }

    pub(crate) fn checking(
        check: Check,
        service: S,
        req: Req,
        claims: Arc<AccessClaims<E>>,
        config: Arc<Config>,
    ) -> Self {
        // A timer needs a tokio runtime; outside one the check is awaited as is.
        let deadline = tokio::runtime::Handle::try_current()
            .ok()
            .and(config.check_timeout)
            .map(|t| Box::pin(tokio::time::sleep(t)));
        ResponseFuture {
            state: State::Checking {
                check,
                deadline,
                pending: Some(Pending {
                    service,
                    req,
                    claims,
                    config,
                    #[cfg(feature = "metrics")]
                    started: std::time::Instant::now(),
                }),
            },
        }
    }
}

/// Calls the inner service with the claims in the request's extensions.
fn admit<S, ReqBody, E>(
    mut service: S,
    mut req: Request<ReqBody>,
    claims: Arc<AccessClaims<E>>,
    config: &Arc<Config>,
) -> State<S, Request<ReqBody>, E>
where
    S: Service<Request<ReqBody>>,
    E: Send + Sync + 'static,
{
    // A bound token's answer carries the current server nonce (RFC 9449
    // §9), so the client's next proof has a fresh one.
    let dpop_nonce = config
        .dpop
        .as_ref()
        .and_then(|verifier| verifier.server_nonces())
        .filter(|_| claims.cnf.is_some())
        .and_then(|nonces| HeaderValue::from_str(&nonces.current()).ok());
    req.extensions_mut().insert(claims);
    req.extensions_mut()
        .insert(ClaimsType::of_layer::<E>(config));
    State::Inner {
        fut: service.call(req),
        dpop_nonce,
    }
}

impl<S, ReqBody, ResBody, E> Future for ResponseFuture<S, Request<ReqBody>, E>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    E: Clone + Send + Sync + 'static,
{
    type Output = Result<Response<AuthBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                StateProj::Inner { fut, dpop_nonce } => {
                    let res = ready!(fut.poll(cx));
                    let nonce = dpop_nonce.take();
                    return Poll::Ready(res.map(|mut res| {
                        if let Some(nonce) = nonce {
                            res.headers_mut().entry(DPOP_NONCE).or_insert(nonce);
                        }
                        res.map(AuthBody::new)
                    }));
                }
                StateProj::Rejected { res } => {
                    // Polled again after completion: an empty 500 rather than a panic.
                    let res = res.take().unwrap_or_else(|| {
                        let mut r = Response::new(Bytes::new());
                        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                        r
                    });
                    return Poll::Ready(Ok(res.map(AuthBody::refusal)));
                }
                StateProj::Checking {
                    check,
                    deadline,
                    pending,
                } => {
                    let verdict = match Pin::new(check).poll(cx) {
                        Poll::Ready(verdict) => verdict,
                        Poll::Pending => {
                            let Some(deadline) = deadline else {
                                return Poll::Pending;
                            };
                            ready!(deadline.as_mut().poll(cx));
                            Err(timed_out())
                        }
                    };
                    let Some(p) = pending.take() else {
                        state.set(State::Rejected { res: None });
                        continue;
                    };
                    // Only checks that waited are timed: the built-in stores
                    // answer from memory, which is not worth two clock reads.
                    #[cfg(feature = "metrics")]
                    metrics::histogram!(auth_core::metrics::STORE_DURATION, "op" => "check")
                        .record(p.started.elapsed().as_secs_f64());
                    match refusal(verdict) {
                        None => {
                            let Pending {
                                service,
                                req,
                                claims,
                                config,
                                ..
                            } = p;
                            state.set(admit(service, req, claims, &config));
                        }
                        Some(e) => {
                            let res = p.config.responder.respond_to(Rejection::Token(e), &p.req);
                            state.set(State::Rejected { res: Some(res) });
                        }
                    }
                }
                StateProj::Refetching { validated, pending } => {
                    let validated = ready!(validated.as_mut().poll(cx));
                    let Some((service, req, config)) = pending.take() else {
                        state.set(State::Rejected { res: None });
                        continue;
                    };
                    match validated {
                        Ok(claims) => state.set(admit(service, req, claims, &config)),
                        Err(e) => {
                            let res = config.responder.respond_to(Rejection::Token(e), &req);
                            state.set(State::Rejected { res: Some(res) });
                        }
                    }
                }
            }
        }
    }
}
