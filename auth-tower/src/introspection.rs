//! Revocation checks by RFC 7662 introspection (feature `introspection`),
//! for a resource server that verifies tokens itself (from a JWKS) but
//! cannot read the issuer's revocation store: it asks the issuer's
//! `POST /auth/introspect` whether each token is still active.
//!
//! [`Introspection`] is a [`Store`] that answers checks only: give it to
//! the validator instead of a store, and the layer asks it about every
//! token it has verified. An answer is kept for
//! [`cache_for`](IntrospectionBuilder::cache_for) (5 s by default), counted
//! from when the question was sent: **that is the revocation delay**, how
//! long after a logout at the issuer its token may still be accepted here
//! (a request whose question was already on its way when the logout
//! happened is answered as the issuer answered it). An inactive answer is
//! kept for good: no later answer replaces it. Set `cache_for` to zero to
//! ask on every request. While
//! the issuer cannot be reached, tokens it has not answered for are
//! refused with 503 (fail closed).
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//! use auth_core::{RoleClaims, Validator};
//! use auth_tower::AuthLayer;
//! use auth_tower::introspection::Introspection;
//! use auth_tower::jwks::Jwks;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let jwks = Jwks::discover("https://auth.example.com").build()?;
//! let introspection = Introspection::builder(
//!     "https://auth.example.com/auth/introspect",
//!     "orders-service",
//!     "the-orders-service-secret",
//! )
//! .cache_for(Duration::from_secs(2)) // a logout is seen here within 2 s
//! .build()?;
//! let validator = Validator::builder(jwks)
//!     .issuer("https://auth.example.com")
//!     .store(Arc::new(introspection))
//!     .build()?;
//! let layer = AuthLayer::<RoleClaims>::new(validator);
//! # let _ = layer; Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use auth_core::store::{
    BoxFuture, Check, NewSession, RotateOutcome, Rotation, SessionInfo, Store, Verdict,
};
use auth_core::{RevokedBy, StoreError, TokenRef, Uuid};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::jwks::{Connector, JwksError, PLAIN_HTTP_REFUSED, http_uri, plain_http_allowed};

/// Default for [`IntrospectionBuilder::cache_for`]: 5 s, the revocation
/// delay.
pub const DEFAULT_INTROSPECTION_CACHE: Duration = Duration::from_secs(5);
/// Default for [`IntrospectionBuilder::max_cached`]: 10 000 answers.
pub const DEFAULT_MAX_CACHED: usize = 10_000;
/// Default for [`IntrospectionBuilder::timeout`]: 2 s.
pub const DEFAULT_INTROSPECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest introspection answer read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Builds an [`Introspection`].
#[derive(Debug, Clone)]
pub struct IntrospectionBuilder {
    endpoint: String,
    authorization: String,
    cache_for: Duration,
    max_cached: usize,
    timeout: Duration,
    plain_http: bool,
    #[cfg(feature = "jwks-tls")]
    roots: Option<Vec<u8>>,
}

impl IntrospectionBuilder {
    /// How long an answer is kept (default
    /// [`DEFAULT_INTROSPECTION_CACHE`]): the longest a token revoked at
    /// the issuer is still accepted here. Zero asks on every request.
    pub fn cache_for(mut self, ttl: Duration) -> Self {
        self.cache_for = ttl;
        self
    }

    /// How many answers are kept at most (default [`DEFAULT_MAX_CACHED`]);
    /// when full, expired ones go first, then all.
    pub fn max_cached(mut self, n: usize) -> Self {
        self.max_cached = n;
        self
    }

    /// How long one introspection may take, connecting included (default
    /// [`DEFAULT_INTROSPECTION_TIMEOUT`]); past it the request is refused
    /// with 503. The layer's own check limit applies too.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the client secret over plain http to hosts other than this
    /// machine: for local development only.
    pub fn allow_plain_http(mut self) -> Self {
        self.plain_http = true;
        self
    }

    /// [`allow_plain_http`](Self::allow_plain_http) when `allow` is true.
    pub fn allow_plain_http_if(mut self, allow: bool) -> Self {
        self.plain_http |= allow;
        self
    }

    /// Trusts these PEM roots for the issuer's certificate instead of the
    /// system's (feature `jwks-tls`).
    #[cfg(feature = "jwks-tls")]
    pub fn root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.roots = Some(pem.into());
        self
    }

    /// The client; needs a Tokio runtime.
    pub fn build(self) -> Result<Introspection, JwksError> {
        let uri = http_uri(&self.endpoint)?;
        if !plain_http_allowed(&uri, self.plain_http) {
            return Err(JwksError::InvalidUrl {
                url: self.endpoint,
                reason: PLAIN_HTTP_REFUSED,
            });
        }
        tokio::runtime::Handle::try_current().map_err(|_| JwksError::NoRuntime)?;
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(self.timeout));
        #[cfg(feature = "jwks-tls")]
        let connector = crate::jwks::tls_connector(http, self.roots.as_deref())?;
        #[cfg(not(feature = "jwks-tls"))]
        let connector = http;
        Ok(Introspection {
            inner: Arc::new(Inner {
                endpoint: uri,
                authorization: self.authorization,
                cache_for: self.cache_for,
                max_cached: self.max_cached.max(1),
                timeout: self.timeout,
                client: Client::builder(TokioExecutor::new()).build(connector),
                cache: Mutex::new(HashMap::new()),
            }),
        })
    }
}

/// Revocation checks by introspection at the issuer (RFC 7662); see the
/// [module docs](self). A [`Store`] that answers checks only: every write
/// is refused with [`StoreError::ReadOnly`].
#[derive(Clone)]
pub struct Introspection {
    inner: Arc<Inner>,
}

struct Inner {
    endpoint: Uri,
    /// `Basic base64(id:secret)`, both form-urlencoded (RFC 6749 §2.3.1).
    authorization: String,
    cache_for: Duration,
    max_cached: usize,
    timeout: Duration,
    client: Client<Connector, Full<Bytes>>,
    /// Token -> (active, until).
    cache: Mutex<HashMap<Box<str>, (bool, Instant)>>,
}

impl Introspection {
    /// A client of the introspection `endpoint`, authenticating as
    /// `client_id` with `client_secret` (HTTP Basic).
    pub fn builder(endpoint: &str, client_id: &str, client_secret: &str) -> IntrospectionBuilder {
        let credentials = format!("{}:{}", form_encode(client_id), form_encode(client_secret));
        IntrospectionBuilder {
            endpoint: endpoint.to_owned(),
            authorization: format!("Basic {}", STANDARD.encode(credentials)),
            cache_for: DEFAULT_INTROSPECTION_CACHE,
            max_cached: DEFAULT_MAX_CACHED,
            timeout: DEFAULT_INTROSPECTION_TIMEOUT,
            plain_http: false,
            #[cfg(feature = "jwks-tls")]
            roots: None,
        }
    }

    /// How many answers are cached now.
    pub fn cached(&self) -> usize {
        self.inner.lock().len()
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, (bool, Instant)>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cached(&self, token: &str) -> Option<bool> {
        let now = Instant::now();
        let mut cache = self.lock();
        match cache.get(token) {
            // Inactive is for good: kept until the cache makes room.
            Some(&(false, _)) => Some(false),
            Some(&(true, until)) if now < until => Some(true),
            Some(_) => {
                cache.remove(token);
                None
            }
            None => None,
        }
    }

    /// Keeps the answer to a question sent at `asked`. Its lifetime runs
    /// from the question, not the answer: an answer that left the issuer
    /// before a logout is not kept past `asked + cache_for`. An inactive
    /// answer is never replaced by an active one (a token does not come
    /// back), nor an answer by an older one.
    fn remember(&self, token: &str, active: bool, asked: Instant) {
        if self.cache_for.is_zero() {
            return;
        }
        let now = Instant::now();
        let until = asked + self.cache_for;
        let mut cache = self.lock();
        if let Some(&(known, known_until)) = cache.get(token)
            && (!known || known_until >= until)
        {
            return;
        }
        if until <= now {
            return;
        }
        if cache.len() >= self.max_cached {
            cache.retain(|_, (_, until)| now < *until);
            if cache.len() >= self.max_cached {
                cache.clear();
            }
        }
        cache.insert(token.into(), (active, until));
    }

    /// Asks the issuer: whether `token` is active.
    async fn ask(&self, token: &str) -> Result<bool, StoreError> {
        let unavailable = |why: String| StoreError::Unavailable(format!("introspection: {why}"));
        let body = form_urlencoded_body(token);
        let req = Request::post(self.endpoint.clone())
            .header(header::AUTHORIZATION, &self.authorization)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| unavailable(e.to_string()))?;
        let exchange = async {
            let res = self
                .client
                .request(req)
                .await
                .map_err(|e| unavailable(e.to_string()))?;
            let status = res.status();
            let body = Limited::new(res.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| unavailable(e.to_string()))?
                .to_bytes();
            Ok::<_, StoreError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| unavailable(format!("no answer within {:?}", self.timeout)))??;
        if status != StatusCode::OK {
            // 401: this service's credentials are wrong; a deployment
            // fault, refused (503) and logged rather than taken as "inactive".
            return Err(unavailable(format!("the issuer answered {status}")));
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| unavailable(format!("not JSON: {e}")))?;
        match answer.get("active") {
            Some(serde_json::Value::Bool(active)) => Ok(*active),
            _ => Err(unavailable("the answer has no boolean `active`".into())),
        }
    }
}

impl Store for Introspection {
    /// Refused (fail closed): introspection needs the token itself, which
    /// [`check_token`](Store::check_token) has.
    fn check(&self, _: &TokenRef<'_>) -> Check {
        Check::ready(Err(StoreError::Unavailable(
            "introspection needs the token itself (check_token)".into(),
        )))
    }

    fn check_token(&self, _: &TokenRef<'_>, raw: &str) -> Check {
        let verdict = |active| {
            if active {
                Verdict::Allowed
            } else {
                Verdict::Revoked(RevokedBy::Token)
            }
        };
        if let Some(active) = self.inner.cached(raw) {
            return Check::ready(Ok(verdict(active)));
        }
        let inner = self.inner.clone();
        let token = raw.to_owned();
        let asked = Instant::now();
        Check::pending(async move {
            let active = inner.ask(&token).await?;
            inner.remember(&token, active, asked);
            Ok(verdict(active))
        })
    }

    fn create_session(&self, _: NewSession) -> BoxFuture<'_, Result<(), StoreError>> {
        refused()
    }

    fn rotate(&self, _: Rotation) -> BoxFuture<'_, Result<RotateOutcome, StoreError>> {
        refused()
    }

    fn revoke_token(&self, _: Uuid, _: u64) -> BoxFuture<'_, Result<(), StoreError>> {
        refused()
    }

    fn revoke_session<'a>(
        &'a self,
        _: Uuid,
        _: &'a str,
        _: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        refused()
    }

    fn revoke_subject<'a>(
        &'a self,
        _: &'a str,
        _: u64,
        _: u64,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        refused()
    }

    fn sessions<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>> {
        refused()
    }
}

/// The answer to every write: this store answers checks only.
fn refused<'a, T: Send + 'a>() -> BoxFuture<'a, Result<T, StoreError>> {
    Box::pin(std::future::ready(Err(StoreError::ReadOnly(
        "introspection answers revocation checks only",
    ))))
}

impl fmt::Debug for Introspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the credentials.
        f.debug_struct("Introspection")
            .field("endpoint", &self.inner.endpoint)
            .field("cache_for", &self.inner.cache_for)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// `token=<token>`, form-urlencoded.
fn form_urlencoded_body(token: &str) -> String {
    format!("token={}", form_encode(token))
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
