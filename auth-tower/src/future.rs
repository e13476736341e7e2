//! The response future of [`AuthService`](crate::AuthService): named, with no
//! boxing on the common paths (a rejection, or a store that answered at once).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use auth_core::AccessClaims;
use auth_core::store::{Check, StoreError};
use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::body::AuthBody;
use crate::claims::ClaimsType;
use crate::layer::Config;
use crate::rejection::Rejection;
use crate::service::refusal;

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
        Inner { #[pin] fut: S::Future },
        Rejected { res: Option<Response<Bytes>> },
        Checking {
            check: Check,
            deadline: Option<Pin<Box<tokio::time::Sleep>>>,
            pending: Option<Pending<S, Req, E>>,
        },
    }
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
            state: State::Inner { fut },
        }
    }

    pub(crate) fn rejected(res: Response<Bytes>) -> Self {
        ResponseFuture {
            state: State::Rejected { res: Some(res) },
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
                StateProj::Inner { fut } => {
                    return Poll::Ready(ready!(fut.poll(cx)).map(|res| res.map(AuthBody::new)));
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
                            Err(StoreError::Unavailable(
                                "the revocation check timed out".into(),
                            ))
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
                                mut service,
                                mut req,
                                claims,
                                config,
                                ..
                            } = p;
                            req.extensions_mut().insert(claims);
                            req.extensions_mut()
                                .insert(ClaimsType::of_layer::<E>(&config));
                            state.set(State::Inner {
                                fut: service.call(req),
                            });
                        }
                        Some(e) => {
                            let res = p.config.responder.respond_to(Rejection::Token(e), &p.req);
                            state.set(State::Rejected { res: Some(res) });
                        }
                    }
                }
            }
        }
    }
}
