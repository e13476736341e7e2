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

use auth_core::store::BoxFuture;
use auth_core::{Algorithm, KeyLookup, KeySet, KeySource};
use bytes::Bytes;
use http::Uri;
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

mod builder;
mod fetch;
#[cfg(feature = "jwks-tls")]
mod tls;

pub use builder::JwksBuilder;
use builder::Origin;
pub(crate) use fetch::http_uri;
#[cfg(feature = "introspection")]
pub(crate) use fetch::{PLAIN_HTTP_REFUSED, plain_http_allowed};
#[cfg(feature = "jwks-tls")]
pub(crate) use tls::connector as tls_connector;

#[cfg(feature = "jwks-tls")]
pub(crate) type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "jwks-tls"))]
pub(crate) type Connector = HttpConnector;

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

/// The keys of a JWKS URL, refreshed in the background: a [`KeySource`].
/// Cheap to clone (one `Arc`).
///
/// A service that verifies the tokens of an issuer publishing its keys at
/// `/.well-known/jwks.json` (served here on a loopback port):
///
/// ```
/// use std::time::Duration;
/// use auth_core::{Algorithm, Key, KeySet, NoClaims, TokenAuthority, Validator};
/// use auth_tower::jwks::Jwks;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let issuer = TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::ES256)?)?).build()?;
/// # let keys = issuer.keys().jwks();
/// # let app = axum::Router::new().route(
/// #     "/.well-known/jwks.json",
/// #     axum::routing::get(move || async move { axum::Json(keys) }),
/// # );
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let url = format!("http://{}/.well-known/jwks.json", listener.local_addr()?);
/// # tokio::spawn(async move { axum::serve(listener, app).await });
/// // The resource server: its keys come from the issuer's JWKS.
/// let jwks = Jwks::builder(url).build()?;
/// let validator = Validator::builder(jwks.clone())
///     .without_revocation_checks()
///     .build()?;
/// // Until the first fetch, tokens are refused (503); a service may wait.
/// assert!(jwks.wait_ready(Duration::from_secs(10)).await);
///
/// let pair = issuer.issue("alice", &NoClaims {}).await?;
/// let claims = validator.validate_access::<NoClaims>(&pair.access_token).await?;
/// assert_eq!(claims.sub, "alice");
/// assert_eq!(jwks.keys().unwrap().jwks(), issuer.keys().jwks());
/// # Ok(()) }
/// ```
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
