//! [`AuthLayer`]: the configuration, cheap to clone, that wraps services.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use auth_core::Validator;
use auth_core::cache::TokenCache;
use auth_core::dpop::DpopVerifier;
use bytes::Bytes;
use http::Response;
use tower_layer::Layer;

use crate::config::{Config, DEFAULT_CHECK_TIMEOUT, DEFAULT_REALM};
use crate::on_rejection::{RejectedRequest, Responder};
use crate::service::AuthService;
use crate::source::TokenSource;

/// A [`Layer`] that requires a valid access token on every request and puts
/// its [`AccessClaims<E>`](auth_core::AccessClaims) into the request
/// extensions.
///
/// Defaults: the token is read from `Authorization: Bearer` only; it is
/// required; the realm is [`DEFAULT_REALM`]; a store check that has to wait
/// gets [`DEFAULT_CHECK_TIMEOUT`], then the request is refused with 503
/// (fail closed); refusals are [`Rejection::to_response`](crate::Rejection::to_response)
/// (a JSON body for HTTP, trailers-only for gRPC).
pub struct AuthLayer<E> {
    pub(crate) config: Arc<Config>,
    pub(crate) cache: Option<Arc<TokenCache<E>>>,
}

impl<E> AuthLayer<E> {
    /// Requires access tokens that `validator` accepts.
    pub fn new(validator: Validator) -> Self {
        AuthLayer {
            config: Arc::new(Config {
                validator: validator.clone(),
                sources: vec![TokenSource::Bearer],
                optional: false,
                responder: Responder::new(DEFAULT_REALM),
                check_timeout: Some(DEFAULT_CHECK_TIMEOUT),
                dpop: None,
                dpop_origin: None,
            }),
            cache: Some(Arc::new(TokenCache::new(validator))),
        }
    }

    /// Accepts DPoP-bound tokens (RFC 9449): `Authorization: DPoP <token>`
    /// with a `DPoP` proof header that `verifier` accepts for this request
    /// (method, URL, `ath` of the token), signed by the key the token's
    /// `cnf.jkt` names. Refusals are 401 `invalid_dpop_proof` with a
    /// `WWW-Authenticate: DPoP` challenge listing the accepted `algs`:
    /// a bound token presented as `Bearer` or without a proof, a proof of
    /// another key, or an unbound token presented as `DPoP`. Other 401s
    /// carry the `DPoP algs` challenge beside the `Bearer` one.
    ///
    /// With [server nonces](DpopVerifier::nonces), a proof without the
    /// current nonce is 401 `use_dpop_nonce` with the nonce in a
    /// [`DPoP-Nonce`](crate::DPOP_NONCE) header, and every answer to a
    /// request with a bound token carries the current nonce too, so a
    /// client keeps signing with a fresh one.
    ///
    /// Without this, a bound token is always refused (401
    /// `invalid_dpop_proof`): a layer that cannot check the key never lets
    /// one through as a bearer token.
    ///
    /// The proof's `htu` is compared with the request's URL: the
    /// [origin](Self::dpop_origin) when set, else the request's host
    /// (`Host`, or the URI's authority over HTTP/2) with either scheme,
    /// and the request's path as the layer sees it (put the layer around
    /// the whole router, not inside a nested one).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use auth_core::dpop::{DpopVerifier, MemoryReplayCache};
    /// use auth_core::{Algorithm, Key, RoleClaims, TokenAuthority};
    /// use auth_tower::AuthLayer;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let authority = TokenAuthority::new(Key::generate(Algorithm::EdDSA)?)?;
    /// let proofs = DpopVerifier::new(Arc::new(MemoryReplayCache::default()));
    /// let layer = AuthLayer::<RoleClaims>::new(authority.validator().clone())
    ///     .dpop(proofs)
    ///     .dpop_origin("https://api.example");
    /// # let _ = layer; Ok(()) }
    /// ```
    pub fn dpop(mut self, verifier: DpopVerifier) -> Self {
        let algs: Vec<String> = verifier
            .accepted_algorithms()
            .iter()
            .map(ToString::to_string)
            .collect();
        let config = self.config_mut();
        config.responder.dpop_algs = Some(algs.join(" ").into());
        config.responder.dpop_nonces = verifier.server_nonces().cloned();
        config.dpop = Some(verifier);
        self
    }

    /// The public origin (`https://api.example`, no path) that DPoP
    /// proofs' `htu` must name, for a service behind a proxy or load
    /// balancer; see [`dpop`](Self::dpop).
    pub fn dpop_origin(mut self, origin: impl Into<String>) -> Self {
        let origin: String = origin.into();
        self.config_mut().dpop_origin = Some(origin.trim_end_matches('/').into());
        self
    }

    fn config_mut(&mut self) -> &mut Config {
        // Configured before it is cloned into services, so this rarely copies.
        Arc::make_mut(&mut self.config)
    }

    /// Sets the cache of verified tokens: `None` turns it off (every
    /// request verifies its token's signature), `Some` shares one cache
    /// between layers. By default each layer has its own
    /// [`TokenCache`] with the default bounds (32 768 tokens, 32 MiB); a
    /// cached token still has its `exp` and its revocation checked on every
    /// request. The cache decodes with its own validator: build it from
    /// this layer's.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use auth_core::cache::TokenCache;
    /// use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority};
    /// use auth_tower::AuthLayer;
    ///
    /// # let keys = KeySet::new(Key::generate(Algorithm::HS256).unwrap()).unwrap();
    /// # let authority = TokenAuthority::builder(keys).build().unwrap();
    /// let validator = authority.validator().clone();
    /// let small = Arc::new(TokenCache::with_capacity(validator.clone(), 1_000, 1 << 20));
    /// let api = AuthLayer::<RoleClaims>::new(validator.clone()).cache(Some(small.clone()));
    /// let admin = AuthLayer::<RoleClaims>::new(validator.clone()).cache(Some(small));
    /// let uncached = AuthLayer::<RoleClaims>::new(validator).cache(None);
    /// ```
    pub fn cache(mut self, cache: Option<Arc<TokenCache<E>>>) -> Self {
        self.cache = cache;
        self
    }

    /// Lets requests without a token through, with no claims inserted.
    /// Requests *with* a token that does not validate are still refused.
    pub fn optional(mut self) -> Self {
        self.config_mut().optional = true;
        self
    }

    /// Also reads the token from the cookie `name`, after the `Authorization` header.
    pub fn cookie(mut self, name: impl Into<String>) -> Self {
        self.config_mut()
            .sources
            .push(TokenSource::Cookie(name.into()));
        self
    }

    /// Also reads the token from the query parameter `name`, after the
    /// sources set so far: for the handshakes of browser `EventSource` and
    /// WebSocket clients, which cannot set headers. A token in a URL ends up
    /// in logs, history and `Referer` headers: read the warnings and rules
    /// of [`TokenSource::Query`] first, and give this layer only to the
    /// routes that need it.
    pub fn query(mut self, name: impl Into<String>) -> Self {
        self.config_mut()
            .sources
            .push(TokenSource::Query(name.into()));
        self
    }

    /// Sets where tokens are read from, in order; the first source that holds
    /// a token wins. An empty list refuses every request.
    pub fn sources(mut self, sources: impl IntoIterator<Item = TokenSource>) -> Self {
        self.config_mut().sources = sources.into_iter().collect();
        self
    }

    /// The `realm` of the `WWW-Authenticate` challenge.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.config_mut().responder.realm = realm.into().into();
        self
    }

    /// Names the protected resource's metadata document (RFC 9728) in every
    /// challenge: `WWW-Authenticate: Bearer realm="api", ...,
    /// resource_metadata="<url>"`, so a client refused here learns which
    /// authorization server to ask (see [`ResourceMetadata`](crate::ResourceMetadata)
    /// for the document, and its [`url`](crate::ResourceMetadata::url)).
    /// None by default.
    pub fn resource_metadata(mut self, url: impl Into<String>) -> Self {
        self.config_mut().responder.resource_metadata = Some(url.into().into());
        self
    }

    /// Answers refusals with `hook` instead of the default
    /// [`Rejection::to_response`](crate::Rejection::to_response); see the
    /// [`RejectedRequest`] it is given. It answers gRPC requests too:
    /// return [`RejectedRequest::default_response`] for those it leaves
    /// alone. Refusals are logged before the hook runs.
    ///
    /// ```
    /// use auth_core::{Algorithm, Key, KeySet, NoClaims, TokenAuthority};
    /// use auth_tower::AuthLayer;
    /// use http::HeaderValue;
    ///
    /// # let keys = KeySet::new(Key::generate(Algorithm::HS256).unwrap()).unwrap();
    /// # let authority = TokenAuthority::builder(keys).build().unwrap();
    /// // The default answer, with the API's documentation link added.
    /// let layer = AuthLayer::<NoClaims>::new(authority.validator().clone()).on_rejection(|req| {
    ///     let mut res = req.default_response();
    ///     res.headers_mut()
    ///         .insert("link", HeaderValue::from_static("</docs/auth>; rel=\"help\""));
    ///     res
    /// });
    /// ```
    pub fn on_rejection<F>(mut self, hook: F) -> Self
    where
        F: Fn(&RejectedRequest<'_>) -> Response<Bytes> + Send + Sync + 'static,
    {
        self.config_mut().responder.set_hook(hook);
        self
    }

    /// How long a revocation check that needs I/O may take before the
    /// request is refused with 503 (default [`DEFAULT_CHECK_TIMEOUT`]);
    /// `None` waits as long as the store does. The timer needs a tokio
    /// runtime: outside one, checks are awaited without a limit.
    pub fn check_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config_mut().check_timeout = timeout;
        self
    }
}

impl<E> Clone for AuthLayer<E> {
    fn clone(&self) -> Self {
        AuthLayer {
            config: self.config.clone(),
            cache: self.cache.clone(),
        }
    }
}

impl<E> fmt::Debug for AuthLayer<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthLayer")
            .field("sources", &self.config.sources)
            .field("optional", &self.config.optional)
            .field("responder", &self.config.responder)
            .field("check_timeout", &self.config.check_timeout)
            .finish_non_exhaustive()
    }
}

impl<S, E> Layer<S> for AuthLayer<E> {
    type Service = AuthService<S, E>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService::new(inner, self.config.clone(), self.cache.clone())
    }
}
