//! Shaping refusals: the hook an application gives to
//! [`AuthLayer::on_rejection`](crate::AuthLayer::on_rejection) and
//! [`RequireLayer::on_rejection`](crate::RequireLayer::on_rejection), and
//! what it is told of the refused request.
//!
//! Without a hook, a refusal is [`Rejection::to_response`]: the RFC 6750
//! challenge and a JSON body for HTTP, a trailers-only answer for gRPC. A
//! hook answers every refusal of its layer, gRPC included; it can hand back
//! [`RejectedRequest::default_response`] for the ones it leaves alone.

use std::fmt;
use std::sync::Arc;

use auth_core::dpop::DpopNonces;
use bytes::Bytes;
use http::header::{HeaderValue, WWW_AUTHENTICATE};
use http::{Extensions, HeaderMap, Method, Request, Response, Uri};

use crate::dpop::DPOP_NONCE;
use crate::refusal::log;
use crate::rejection::{Rejection, is_grpc};

/// A request a layer refused, as an `on_rejection` hook sees it: why, and
/// the request's head (its body is not read).
///
/// Without a hook, a refusal is [`Rejection::to_response`]: the RFC 6750
/// challenge and a JSON body for HTTP, a trailers-only answer for gRPC. A
/// hook answers every refusal of its layer, gRPC included; it hands back
/// [`default_response`](Self::default_response) for the ones it leaves alone.
///
/// ```
/// use auth_core::{Algorithm, Key, KeySet, NoClaims, TokenAuthority};
/// use auth_tower::AuthLayer;
/// use bytes::Bytes;
/// use http::{HeaderValue, Response, StatusCode, header};
///
/// let keys = KeySet::new(Key::generate(Algorithm::HS256).unwrap()).unwrap();
/// let authority = TokenAuthority::builder(keys).build().unwrap();
/// // Browsers asking for a page without a token go to the login page; API
/// // clients and gRPC keep the default answer.
/// let layer = AuthLayer::<NoClaims>::new(authority.validator().clone()).on_rejection(|req| {
///     let wants_html = req
///         .headers()
///         .get(header::ACCEPT)
///         .and_then(|v| v.to_str().ok())
///         .is_some_and(|v| v.contains("text/html"));
///     if wants_html && !req.is_grpc() && req.rejection().status() == StatusCode::UNAUTHORIZED {
///         let mut res = Response::new(Bytes::new());
///         *res.status_mut() = StatusCode::SEE_OTHER;
///         res.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/login"));
///         return res;
///     }
///     req.default_response()
/// });
/// ```
pub struct RejectedRequest<'a> {
    rejection: &'a Rejection,
    realm: &'a str,
    resource_metadata: Option<&'a str>,
    dpop_algs: Option<&'a str>,
    dpop_nonces: Option<&'a DpopNonces>,
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> RejectedRequest<'a> {
    /// Why the request was refused.
    pub fn rejection(&self) -> &'a Rejection {
        self.rejection
    }

    /// The `realm` the layer is configured with, for a challenge.
    pub fn realm(&self) -> &'a str {
        self.realm
    }

    /// Whether the request is gRPC (`content-type: application/grpc*`): its
    /// client reads `grpc-status`, not the HTTP status.
    pub fn is_grpc(&self) -> bool {
        is_grpc(self.headers)
    }

    /// The request's method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request's URI. With a [query source](crate::TokenSource::Query)
    /// it may hold the token: never log it as is.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The request's headers. They may hold the token (`Authorization`,
    /// `Cookie`): never log them as they are.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The request's extensions (a request id, the peer address...).
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }

    /// The answer the layer sends without a hook:
    /// [`Rejection::to_response`] with this realm, gRPC or HTTP as the
    /// request is.
    pub fn default_response(&self) -> Response<Bytes> {
        let mut res = self.rejection.to_response(self.realm, self.is_grpc());
        if let Some(url) = self.resource_metadata {
            with_resource_metadata(&mut res, url);
        }
        if let Some(algs) = self.dpop_algs.filter(|_| !self.is_grpc()) {
            with_dpop_algs(&mut res, self.rejection, algs);
        }
        if let Some(nonce) = self.dpop_nonce() {
            res.headers_mut().insert(DPOP_NONCE, nonce);
        }
        res
    }

    /// The `DPoP-Nonce` header value a `use_dpop_nonce` refusal carries (a
    /// fresh server nonce, RFC 9449 §9); `None` for any other refusal.
    pub fn dpop_nonce(&self) -> Option<HeaderValue> {
        if self.rejection.class() != Some(auth_core::ErrorClass::UseDpopNonce) {
            return None;
        }
        HeaderValue::from_str(&self.dpop_nonces?.current()).ok()
    }

    /// The DPoP proof algorithms the layer accepts, space-separated, when
    /// it takes DPoP-bound tokens (its challenges name them as `algs`).
    pub fn dpop_algs(&self) -> Option<&'a str> {
        self.dpop_algs
    }

    /// The URL of the protected resource's metadata (RFC 9728) that the
    /// layer names in its challenges, if it was given one.
    pub fn resource_metadata(&self) -> Option<&'a str> {
        self.resource_metadata
    }
}

impl fmt::Debug for RejectedRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Neither URI nor headers: they may hold the token.
        f.debug_struct("RejectedRequest")
            .field("rejection", self.rejection)
            .field("realm", &self.realm)
            .field("method", self.method)
            .finish_non_exhaustive()
    }
}

type Hook = dyn Fn(&RejectedRequest<'_>) -> Response<Bytes> + Send + Sync;

/// How a layer answers refusals: its realm and the application's hook.
#[derive(Clone)]
pub(crate) struct Responder {
    pub(crate) realm: Arc<str>,
    pub(crate) resource_metadata: Option<Arc<str>>,
    pub(crate) dpop_algs: Option<Arc<str>>,
    pub(crate) dpop_nonces: Option<DpopNonces>,
    hook: Option<Arc<Hook>>,
}

impl Responder {
    pub(crate) fn new(realm: &str) -> Self {
        Responder {
            realm: realm.into(),
            resource_metadata: None,
            dpop_algs: None,
            dpop_nonces: None,
            hook: None,
        }
    }

    pub(crate) fn set_hook<F>(&mut self, hook: F)
    where
        F: Fn(&RejectedRequest<'_>) -> Response<Bytes> + Send + Sync + 'static,
    {
        self.hook = Some(Arc::new(hook));
    }

    /// Logs the refusal (never token contents) and writes its answer.
    pub(crate) fn respond(
        &self,
        rejection: Rejection,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        extensions: &Extensions,
    ) -> Response<Bytes> {
        let rejection = log(rejection);
        let req = RejectedRequest {
            rejection: &rejection,
            realm: &self.realm,
            resource_metadata: self.resource_metadata.as_deref(),
            dpop_algs: self.dpop_algs.as_deref(),
            dpop_nonces: self.dpop_nonces.as_ref(),
            method,
            uri,
            headers,
            extensions,
        };
        match &self.hook {
            Some(hook) => hook(&req),
            None => req.default_response(),
        }
    }

    /// [`respond`](Self::respond) for a whole request.
    pub(crate) fn respond_to<B>(&self, rejection: Rejection, req: &Request<B>) -> Response<Bytes> {
        self.respond(
            rejection,
            req.method(),
            req.uri(),
            req.headers(),
            req.extensions(),
        )
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("realm", &self.realm)
            .field("resource_metadata", &self.resource_metadata)
            .field("on_rejection", &self.hook.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// Adds `resource_metadata="url"` (RFC 9728 §5.1) to the challenge of
/// `res`, if it has one.
/// RFC 9449 §7.1: a DPoP refusal's challenge lists the accepted `algs`;
/// any other 401 offers the DPoP scheme beside the Bearer one.
fn with_dpop_algs(res: &mut Response<Bytes>, rejection: &Rejection, algs: &str) {
    use auth_core::ErrorClass;
    if matches!(
        rejection.class(),
        Some(ErrorClass::InvalidDpopProof | ErrorClass::UseDpopNonce)
    ) {
        let Some(challenge) = res
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
        else {
            return;
        };
        if let Ok(v) = HeaderValue::from_str(&format!("{challenge}, algs=\"{algs}\"")) {
            res.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
    } else if res.status() == http::StatusCode::UNAUTHORIZED
        && let Ok(v) = HeaderValue::from_str(&format!("DPoP algs=\"{algs}\""))
    {
        res.headers_mut().append(WWW_AUTHENTICATE, v);
    }
}

fn with_resource_metadata(res: &mut Response<Bytes>, url: &str) {
    let Some(challenge) = res
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
    else {
        return;
    };
    let url: String = url
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("{challenge}, resource_metadata=\"{url}\"")) {
        res.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
}
