//! A JWKS client (feature `jwks`): the verification keys of another service,
//! fetched from its JWKS URL (or found through its OpenID Connect discovery
//! document) and kept fresh in the background, for a service that only
//! verifies tokens.
//!
//! [`Jwks`] is a [`KeySource`]: give it to
//! [`Validator::builder`](auth_core::Validator::builder) and the validator to
//! an [`AuthLayer`](crate::AuthLayer).
//!
//! - **Fail closed until the first fetch.** Until a key set has been loaded,
//!   every token is refused with
//!   [`AuthError::KeysUnavailable`](auth_core::AuthError::KeysUnavailable)
//!   (503). The client retries with backoff (0.5 s doubling to 8 s), so a
//!   service started before its issuer recovers by itself.
//! - **Last good set.** A failed refresh keeps the keys already loaded.
//! - **A key the issuer withdraws** (or replaces under the same `kid`, or
//!   pins to another algorithm) stops verifying at the next fetch, also for
//!   tokens the layer's cache had already verified with it.
//! - **Refresh.** Every `Cache-Control: max-age` of the JWKS response, held
//!   within 30 s to 24 h; 5 min when the response has none.
//! - **Unknown `kid`.** A token naming a key the set lacks (the issuer just
//!   rotated) waits for one refetch, then is checked again. Such refetches
//!   happen at most once per [`refetch_interval`](JwksBuilder::refetch_interval)
//!   (10 s): tokens with made-up `kid`s cannot make it hammer the issuer; in
//!   between, they are refused at once.
//! - **Only signature keys that fit.** Keys are skipped, with a log line,
//!   when `use` is not `sig`, `key_ops` lacks `verify`, the `alg` is
//!   missing (and cannot be told from an EC or OKP curve), unsupported, not
//!   [allowed](JwksBuilder::algorithms) or does not fit the key; symmetric
//!   (`oct`) keys never come from a JWKS, so HS256 tokens are never accepted
//!   through one.
//! - **Bounded.** Each fetch must finish within 5 s; bodies over 512 KiB
//!   and keys past the 100th are refused.
//! - **HTTPS** with feature `jwks-tls` (rustls, TLS 1.2 and 1.3): the
//!   server is checked against the system's trust store, or only against the
//!   roots given to `root_certificates_pem`.
//!   Without the feature, `https://` URLs are refused when building (never
//!   fetched in the clear).
//! - **Never in the clear when TLS was asked for.** The `jwks_uri` of an
//!   `https://` issuer's discovery document must be `https://` (OpenID
//!   Connect Discovery requires it): a plain-`http://` one is refused, and
//!   the keys are not fetched. With feature `jwks-tls`, a plain-`http://`
//!   URL (given, or discovered from a plain issuer) is accepted only on the
//!   loopback interface (`127.0.0.0/8`, `::1`, `localhost`: the bytes never
//!   leave the machine). [`allow_plain_http`](JwksBuilder::allow_plain_http)
//!   lifts both rules, for local development or a private network you
//!   trust. Without `jwks-tls`, the client speaks only plain HTTP, for an
//!   issuer on the same host or a private network.
//!
//! ```no_run
//! use auth_core::{RoleClaims, Validator};
//! use auth_tower::AuthLayer;
//! use auth_tower::jwks::Jwks;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let jwks = Jwks::builder("http://127.0.0.1:3000/.well-known/jwks.json").build()?;
//! let validator = Validator::builder(jwks)
//!     .issuer("example-axum-server")
//!     .audience("example-api")
//!     .without_revocation_checks() // or .store(a read-only RedisStore)
//!     .build()?;
//! let layer = AuthLayer::<RoleClaims>::new(validator);
//! # let _ = layer; Ok(()) }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use auth_core::jwk::Jwk;
use auth_core::store::BoxFuture;
use auth_core::{Algorithm, Key, KeyLookup, KeySet, KeySource};
use bytes::Bytes;
use http::{HeaderValue, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::Value;

#[cfg(feature = "jwks-tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "jwks-tls"))]
type Connector = HttpConnector;

/// Default for [`JwksBuilder::refetch_interval`]: 10 s.
pub const DEFAULT_REFETCH_INTERVAL: Duration = Duration::from_secs(10);
/// Default refresh period when the JWKS response has no `max-age`: 5 min.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(5 * 60);
/// The shortest refresh period a `max-age` may ask for: 30 s.
pub const MIN_REFRESH: Duration = Duration::from_secs(30);
/// The longest refresh period a `max-age` may ask for: 24 h.
pub const MAX_REFRESH: Duration = Duration::from_secs(24 * 3600);
/// Default time limit of one fetch, connection included: 5 s.
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JWKS or discovery document read: 512 KiB.
pub const MAX_DOCUMENT_BYTES: usize = 512 * 1024;
/// The most keys taken from one JWKS: 100.
pub const MAX_KEYS: usize = 100;
const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(8);

/// Building a [`Jwks`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The URL does not parse, or its scheme is not allowed (see the
    /// [module docs](self)).
    #[error("invalid JWKS or issuer URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// [`JwksBuilder::build`] ran outside a Tokio runtime, which keeps the
    /// refresh task.
    #[error("the JWKS client must be built inside a Tokio runtime")]
    NoRuntime,
    /// The TLS settings are not usable (no trust roots, a bad PEM).
    #[error("JWKS client TLS: {0}")]
    Tls(String),
}

/// Where the keys are found.
#[derive(Debug, Clone)]
enum Origin {
    /// A JWKS URL.
    Jwks(Uri),
    /// An OpenID Connect issuer: its discovery document names the JWKS URL.
    Issuer { issuer: String, discovery: Uri },
}

/// Builds a [`Jwks`]; see the [module docs](self) for the behaviour and the
/// defaults.
#[derive(Debug)]
#[must_use]
pub struct JwksBuilder {
    origin: Result<Origin, JwksError>,
    refetch_interval: Duration,
    timeout: Duration,
    algorithms: Option<Vec<Algorithm>>,
    plain_http: bool,
    #[cfg(feature = "jwks-tls")]
    roots: Option<Vec<u8>>,
}

impl JwksBuilder {
    /// Accepts plain-`http://` URLs anywhere, a discovered `jwks_uri` of an
    /// `https://` issuer included: keys then travel in the clear, and anyone
    /// on the path can hand the service keys of their own. For local
    /// development, or a private network you trust; off by default (see the
    /// [module docs](self) for what is accepted without it).
    pub fn allow_plain_http(mut self) -> Self {
        self.plain_http = true;
        self
    }

    /// Trusts only the certificates of this PEM bundle (a private CA) for
    /// `https://` URLs, instead of the system's trust store.
    #[cfg(feature = "jwks-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks-tls")))]
    pub fn root_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.roots = Some(pem.into());
        self
    }

    /// At most one refetch for tokens naming an unknown `kid` per this
    /// interval (default 10 s, [`DEFAULT_REFETCH_INTERVAL`]).
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// The time limit of one fetch (default 5 s, [`DEFAULT_FETCH_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Only keys pinned to these algorithms are loaded (default: every
    /// asymmetric one). Symmetric algorithms are ignored.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Starts the client: its first fetch begins at once, in a task of the
    /// current Tokio runtime that ends when the last clone of the [`Jwks`]
    /// is dropped. Returns without waiting for the fetch: until it
    /// succeeds, tokens are refused with 503 (see [`Jwks::ready`]).
    pub fn build(self) -> Result<Jwks, JwksError> {
        let origin = self.origin?;
        let given = match &origin {
            Origin::Jwks(uri) => uri,
            Origin::Issuer { discovery, .. } => discovery,
        };
        if !plain_http_allowed(given, self.plain_http) {
            return Err(JwksError::InvalidUrl {
                url: given.to_string(),
                reason: PLAIN_HTTP_REFUSED,
            });
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| JwksError::NoRuntime)?;
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(self.timeout));
        #[cfg(feature = "jwks-tls")]
        let connector = tls::connector(http, self.roots.as_deref())?;
        #[cfg(not(feature = "jwks-tls"))]
        let connector = http;
        let (done, _) = tokio::sync::watch::channel(0u64);
        let inner = Arc::new(Inner {
            origin,
            refetch_interval: self.refetch_interval,
            timeout: self.timeout,
            algorithms: self.algorithms,
            plain_http: self.plain_http,
            client: Client::builder(TokioExecutor::new()).build(connector),
            keys: RwLock::new(None),
            jwks_uri: Mutex::new(None),
            fetch: Mutex::new(FetchState::default()),
            done,
            fetches: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            runtime: runtime.clone(),
        });
        runtime.spawn(refresh_loop(Arc::downgrade(&inner)));
        Ok(Jwks { inner })
    }
}

/// The keys of a JWKS URL, refreshed in the background: a [`KeySource`].
/// Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Jwks {
    inner: Arc<Inner>,
}

struct Inner {
    origin: Origin,
    refetch_interval: Duration,
    timeout: Duration,
    algorithms: Option<Vec<Algorithm>>,
    /// [`JwksBuilder::allow_plain_http`].
    plain_http: bool,
    client: Client<Connector, Empty<Bytes>>,
    /// `None` until the first successful fetch.
    keys: RwLock<Option<Arc<KeySet>>>,
    /// The JWKS URL, once known (from discovery).
    jwks_uri: Mutex<Option<Uri>>,
    fetch: Mutex<FetchState>,
    /// Counts finished fetches, successful or not; refetch waiters watch it.
    done: tokio::sync::watch::Sender<u64>,
    /// JWKS documents requested.
    fetches: AtomicU64,
    /// Bumped when a key leaves the set ([`KeySource::generation`]).
    generation: AtomicU64,
    /// Where refetches run (validation may be asked from any thread).
    runtime: tokio::runtime::Handle,
}

#[derive(Default)]
struct FetchState {
    in_flight: bool,
    /// When a refetch for an unknown `kid` last started.
    last_refetch: Option<Instant>,
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwks")
            .field("origin", &self.inner.origin)
            .field("ready", &self.ready())
            .field("fetches", &self.fetches())
            .finish_non_exhaustive()
    }
}

impl Jwks {
    /// A client of the JWKS at `url` (`http://host[:port]/path`, or
    /// `https://` with feature `jwks-tls`).
    pub fn builder(url: impl Into<String>) -> JwksBuilder {
        let url = url.into();
        JwksBuilder::new(http_uri(&url).map(Origin::Jwks))
    }

    /// A client of an OpenID Connect issuer: the JWKS URL is the
    /// `jwks_uri` of `{issuer}/.well-known/openid-configuration`, whose
    /// `issuer` must be `issuer` (OpenID Connect Discovery §4.3; a trailing
    /// slash aside); both are fetched with the same retries. The validator
    /// should require the same `issuer`.
    pub fn discover(issuer: impl Into<String>) -> JwksBuilder {
        let issuer = issuer.into();
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        JwksBuilder::new(
            http_uri(&issuer)
                .and_then(|_| http_uri(&discovery))
                .map(|discovery| Origin::Issuer { issuer, discovery }),
        )
    }

    /// Whether a key set has been loaded (until then tokens get 503).
    pub fn ready(&self) -> bool {
        self.inner.current().is_some()
    }

    /// The keys loaded last, if any.
    pub fn keys(&self) -> Option<Arc<KeySet>> {
        self.inner.current()
    }

    /// How many JWKS documents were requested so far (discovery documents
    /// not counted).
    pub fn fetches(&self) -> u64 {
        self.inner.fetches.load(Ordering::Relaxed)
    }

    /// Waits until a key set is loaded or `limit` has passed; returns
    /// [`ready`](Self::ready).
    pub async fn wait_ready(&self, limit: Duration) -> bool {
        let mut done = self.inner.done.subscribe();
        let inner = self.inner.clone();
        let _ = tokio::time::timeout(limit, done.wait_for(|_| inner.current().is_some())).await;
        self.ready()
    }
}

impl JwksBuilder {
    fn new(origin: Result<Origin, JwksError>) -> Self {
        JwksBuilder {
            origin,
            refetch_interval: DEFAULT_REFETCH_INTERVAL,
            timeout: DEFAULT_FETCH_TIMEOUT,
            algorithms: None,
            plain_http: false,
            #[cfg(feature = "jwks-tls")]
            roots: None,
        }
    }
}

impl KeySource for Jwks {
    fn key(&self, kid: &str) -> KeyLookup {
        match self.inner.current() {
            Some(set) => set.key(kid),
            None => KeyLookup::Unavailable,
        }
    }

    fn refetch(&self) -> Option<BoxFuture<'static, ()>> {
        let inner = &self.inner;
        let mut done = inner.done.subscribe();
        let seen = *done.borrow_and_update();
        {
            let mut state = inner.fetch.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            if state
                .last_refetch
                .is_some_and(|t| now.duration_since(t) < inner.refetch_interval)
            {
                return None;
            }
            state.last_refetch = Some(now);
            if !state.in_flight {
                state.in_flight = true;
                let task = inner.clone();
                inner.runtime.spawn(async move { task.fetch_once().await });
            }
        }
        Some(Box::pin(async move {
            let _ = done.wait_for(|n| *n > seen).await;
        }))
    }

    fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }
}

/// Fetches at once, then as the last answer says, until the [`Jwks`] is
/// dropped.
async fn refresh_loop(inner: Weak<Inner>) {
    let mut retry = FIRST_RETRY;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let next = match strong.fetch_if_idle().await {
            Some(Ok(fresh_for)) => {
                retry = FIRST_RETRY;
                fresh_for
            }
            Some(Err(())) => {
                let wait = retry;
                retry = (retry * 2).min(MAX_RETRY);
                wait
            }
            // A refetch was running: look again soon.
            None => FIRST_RETRY,
        };
        drop(strong);
        tokio::time::sleep(next).await;
    }
}

impl Inner {
    fn current(&self) -> Option<Arc<KeySet>> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// One fetch, unless one is running; `Ok(how long the keys are fresh)`.
    async fn fetch_if_idle(&self) -> Option<Result<Duration, ()>> {
        {
            let mut state = self.fetch.lock().unwrap_or_else(PoisonError::into_inner);
            if state.in_flight {
                return None;
            }
            state.in_flight = true;
        }
        Some(self.fetch_once().await)
    }

    /// Fetches (the caller set `in_flight`), stores a good set, wakes the
    /// waiters.
    async fn fetch_once(&self) -> Result<Duration, ()> {
        let outcome = match tokio::time::timeout(self.timeout, self.fetch()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        };
        let result = match outcome {
            Ok((set, fresh_for)) => {
                let count = set.keys().len();
                let old = self.current();
                // A key gone, or a kid now naming other key material or
                // another algorithm: what it verified is not trusted any more.
                let removed = old.as_ref().is_some_and(|old| set.withdraws_from(old));
                let changed = removed || old.as_ref().is_none_or(|old| kids(old) != kids(&set));
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(set));
                if removed {
                    // Caches drop what the removed keys verified.
                    self.generation.fetch_add(1, Ordering::Release);
                }
                if changed {
                    tracing::info!(keys = count, origin = ?self.origin, "loaded the JWKS");
                }
                #[cfg(feature = "metrics")]
                {
                    metrics::counter!(auth_core::metrics::JWKS_FETCHES, "outcome" => "ok")
                        .increment(1);
                    metrics::gauge!(auth_core::metrics::JWKS_KEYS).set(count as f64);
                }
                Ok(fresh_for)
            }
            Err(e) => {
                #[cfg(feature = "metrics")]
                metrics::counter!(auth_core::metrics::JWKS_FETCHES, "outcome" => "error")
                    .increment(1);
                if self.current().is_some() {
                    tracing::warn!(error = %e, origin = ?self.origin, "JWKS refresh failed; keeping the keys loaded before");
                } else {
                    tracing::warn!(error = %e, origin = ?self.origin, "JWKS fetch failed; refusing tokens (503) until it succeeds");
                }
                Err(())
            }
        };
        self.fetch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_flight = false;
        self.done.send_modify(|n| *n += 1);
        result
    }

    async fn fetch(&self) -> Result<(KeySet, Duration), String> {
        let url = self.jwks_uri().await?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let (body, fresh_for) = self.get(&url).await?;
        let set = self.parse_jwks(&body)?;
        Ok((set, fresh_for))
    }

    /// The JWKS URL: given, or discovered once.
    async fn jwks_uri(&self) -> Result<Uri, String> {
        let (issuer, discovery) = match &self.origin {
            Origin::Jwks(uri) => return Ok(uri.clone()),
            Origin::Issuer { issuer, discovery } => (issuer, discovery),
        };
        if let Some(uri) = self
            .jwks_uri
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(uri);
        }
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let (body, _) = self.get(discovery).await?;
        let doc: Discovery = serde_json::from_slice(&body)
            .map_err(|e| format!("the discovery document is not usable: {e}"))?;
        if doc.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(format!(
                "the discovery document names the issuer {:?}, not {issuer:?}",
                doc.issuer
            ));
        }
        let uri = http_uri(&doc.jwks_uri).map_err(|e| e.to_string())?;
        // An https issuer's keys travel over https, whatever its document
        // says; a plain issuer's as its URL allows.
        let plain = uri.scheme_str() == Some("http");
        if plain
            && (discovery.scheme_str() == Some("https") && !self.plain_http
                || !plain_http_allowed(&uri, self.plain_http))
        {
            return Err(format!(
                "the discovery document of {issuer:?} names the plain-http jwks_uri {:?}: \
                 keys are never fetched in the clear (OpenID Connect Discovery requires https; \
                 JwksBuilder::allow_plain_http is for local development)",
                doc.jwks_uri
            ));
        }
        *self.jwks_uri.lock().unwrap_or_else(PoisonError::into_inner) = Some(uri.clone());
        Ok(uri)
    }

    /// GETs a JSON document: its body (at most [`MAX_DOCUMENT_BYTES`]) and
    /// how long it may be kept.
    async fn get(&self, url: &Uri) -> Result<(Bytes, Duration), String> {
        let req = Request::get(url.clone())
            .header(header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        let res = self
            .client
            .request(req)
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if res.status() != StatusCode::OK {
            return Err(format!("GET {url}: status {}", res.status()));
        }
        let fresh_for = max_age(res.headers().get(header::CACHE_CONTROL));
        let body = Limited::new(res.into_body(), MAX_DOCUMENT_BYTES)
            .collect()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
            .to_bytes();
        Ok((body, fresh_for))
    }

    /// The usable keys of a JWKS document; an error when there is none.
    fn parse_jwks(&self, body: &[u8]) -> Result<KeySet, String> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<Value>,
        }
        let doc: Document =
            serde_json::from_slice(body).map_err(|e| format!("not a JWKS document: {e}"))?;
        let mut set = KeySet::verifying([]).map_err(|e| e.to_string())?;
        for (i, raw) in doc.keys.into_iter().enumerate() {
            if i == MAX_KEYS {
                tracing::warn!(max = MAX_KEYS, "JWKS key skipped: too many keys");
                break;
            }
            let kid = raw.get("kid").and_then(Value::as_str).map(str::to_owned);
            match self.key(raw) {
                Ok(key) => match set.clone().with_key(key) {
                    Ok(bigger) => set = bigger,
                    Err(e) => tracing::warn!(?kid, error = %e, "JWKS key skipped"),
                },
                Err(why) => tracing::warn!(?kid, reason = why, "JWKS key skipped"),
            }
        }
        if set.keys().is_empty() {
            return Err("the JWKS has no usable signature key".into());
        }
        Ok(set)
    }

    /// One JWK as a verification key, or why it is skipped.
    fn key(&self, raw: Value) -> Result<Key, String> {
        let field = |name: &str| raw.get(name).and_then(Value::as_str);
        if field("kty") == Some("oct") {
            return Err("symmetric keys are never taken from a JWKS".into());
        }
        if field("use").is_some_and(|u| u != "sig") {
            return Err("`use` is not `sig`".into());
        }
        if let Some(ops) = raw.get("key_ops")
            && !ops
                .as_array()
                .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")))
        {
            return Err("`key_ops` does not allow `verify`".into());
        }
        let alg = match field("alg") {
            Some(name) => Algorithm::ALL
                .into_iter()
                .find(|a| a.as_str() == name)
                .ok_or_else(|| format!("unsupported `alg` {name:?}"))?,
            None => match (field("kty"), field("crv")) {
                (Some("EC"), Some("P-256")) => Algorithm::ES256,
                (Some("EC"), Some("P-384")) => Algorithm::ES384,
                (Some("OKP"), Some("Ed25519")) => Algorithm::EdDSA,
                _ => return Err("no `alg`, and the key type does not tell it".into()),
            },
        };
        if alg.is_symmetric() {
            return Err("symmetric algorithms are never taken from a JWKS".into());
        }
        if self.algorithms.as_ref().is_some_and(|a| !a.contains(&alg)) {
            return Err(format!("{alg} is not an allowed algorithm"));
        }
        let mut raw = raw;
        if let Some(obj) = raw.as_object_mut() {
            obj.insert("alg".into(), Value::String(alg.as_str().into()));
        }
        let jwk: Jwk = serde_json::from_value(raw).map_err(|e| format!("not a JWK: {e}"))?;
        Key::from_jwk(&jwk).map_err(|e| e.to_string())
    }
}

fn kids(set: &KeySet) -> Vec<&str> {
    set.keys().iter().map(Key::kid).collect()
}

/// The `max-age` of a `Cache-Control` header, held within
/// [`MIN_REFRESH`]..=[`MAX_REFRESH`]; [`DEFAULT_REFRESH`] without one.
fn max_age(value: Option<&HeaderValue>) -> Duration {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return DEFAULT_REFRESH;
    };
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return MIN_REFRESH;
        }
        if let Some(secs) = lower.strip_prefix("max-age=") {
            age = secs.trim_matches('"').parse::<u64>().ok();
        }
    }
    age.map_or(DEFAULT_REFRESH, |s| {
        Duration::from_secs(s).clamp(MIN_REFRESH, MAX_REFRESH)
    })
}

/// Why a plain-http URL is refused.
const PLAIN_HTTP_REFUSED: &str = "plain http is accepted only on the loopback interface when \
     https is available (feature jwks-tls): use https, or allow_plain_http() for local development";

/// Whether `uri` may be fetched: https always; plain http without TLS
/// support (nothing else can be fetched), on the loopback interface, or when
/// allowed everywhere.
fn plain_http_allowed(uri: &Uri, allowed: bool) -> bool {
    if uri.scheme_str() != Some("http") || allowed || !cfg!(feature = "jwks-tls") {
        return true;
    }
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn http_uri(url: &str) -> Result<Uri, JwksError> {
    let invalid = |reason| JwksError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") if cfg!(feature = "jwks-tls") => {}
        Some("https") => {
            return Err(invalid(
                "https needs auth-tower's `jwks-tls` feature (never fetched in the clear)",
            ));
        }
        _ => return Err(invalid("the scheme must be http or https")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("no host"));
    }
    Ok(uri)
}

#[cfg(feature = "jwks-tls")]
mod tls {
    use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
    use hyper_util::client::legacy::connect::HttpConnector;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use rustls::{ClientConfig, RootCertStore};

    use super::JwksError;

    /// HTTPS or HTTP, checking servers against `roots_pem` when given, else
    /// the system's trust store. The crypto provider is named here, so no
    /// process-wide default is needed.
    pub(super) fn connector(
        mut http: HttpConnector,
        roots_pem: Option<&[u8]>,
    ) -> Result<HttpsConnector<HttpConnector>, JwksError> {
        let tls = |e: &dyn std::fmt::Display| JwksError::Tls(e.to_string());
        let mut roots = RootCertStore::empty();
        match roots_pem {
            Some(pem) => {
                for cert in CertificateDer::pem_slice_iter(pem) {
                    roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for e in &found.errors {
                    tracing::warn!(error = %e, "JWKS client: could not read some system root certificates");
                }
                roots.add_parsable_certificates(found.certs);
            }
        }
        if roots.is_empty() {
            return Err(tls(
                &"no trust roots (none in the PEM, or none found on the system)",
            ));
        }
        let config = ClientConfig::builder_with_provider(
            rustls::crypto::aws_lc_rs::default_provider().into(),
        )
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(&e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        http.enforce_http(false);
        Ok(HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_held_within_bounds() {
        let h = |s: &'static str| Some(HeaderValue::from_static(s));
        assert_eq!(max_age(None), DEFAULT_REFRESH);
        assert_eq!(
            max_age(h("public, max-age=600").as_ref()),
            Duration::from_secs(600)
        );
        assert_eq!(max_age(h("max-age=0").as_ref()), MIN_REFRESH);
        assert_eq!(max_age(h("max-age=99999999").as_ref()), MAX_REFRESH);
        assert_eq!(max_age(h("no-store").as_ref()), MIN_REFRESH);
        assert_eq!(max_age(h("max-age=abc").as_ref()), DEFAULT_REFRESH);
    }

    #[test]
    fn plain_http_stays_on_the_loopback_interface_when_tls_is_available() {
        let allowed = |url: &str, opt_in| plain_http_allowed(&url.parse().unwrap(), opt_in);
        for local in [
            "http://127.0.0.1:3000/jwks",
            "http://127.8.9.10/jwks",
            "http://[::1]:3000/jwks",
            "http://LOCALHOST/jwks",
            "https://issuer.example/jwks",
        ] {
            assert!(allowed(local, false), "{local}");
        }
        for remote in [
            "http://issuer.example/jwks",
            "http://10.0.0.1/jwks",
            "http://localhost.evil.example/jwks",
        ] {
            assert_eq!(
                allowed(remote, false),
                !cfg!(feature = "jwks-tls"),
                "{remote}"
            );
            assert!(allowed(remote, true), "{remote}");
        }
    }

    #[test]
    fn only_plain_http_urls_with_a_host_are_taken() {
        assert!(http_uri("http://127.0.0.1:3000/.well-known/jwks.json").is_ok());
        assert_eq!(
            http_uri("https://issuer.example/jwks").is_ok(),
            cfg!(feature = "jwks-tls")
        );
        for bad in ["ftp://x/", "/jwks", "not a url", "http:///x"] {
            assert!(http_uri(bad).is_err(), "{bad}");
        }
    }
}
