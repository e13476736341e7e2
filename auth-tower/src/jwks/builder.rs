//! [`JwksBuilder`]: where the keys come from (an issuer's discovery
//! document or a JWKS URL), how often they are refetched, the algorithms
//! accepted and the trust roots.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use auth_core::Algorithm;
use http::Uri;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::fetch::{PLAIN_HTTP_REFUSED, plain_http_allowed};
use super::{
    DEFAULT_FETCH_TIMEOUT, DEFAULT_REFETCH_INTERVAL, FetchState, Inner, Jwks, JwksError,
    refresh_loop,
};

/// Where the keys are found.
#[derive(Debug, Clone)]
pub(super) enum Origin {
    /// A JWKS URL.
    Jwks(Uri),
    /// An OpenID Connect issuer: its discovery document names the JWKS URL.
    Issuer { issuer: String, discovery: Uri },
}

/// Builds a [`Jwks`]; see the [module docs](crate::jwks) for the behaviour and the
/// defaults.
///
/// ```
/// use std::time::Duration;
/// use auth_core::Algorithm;
/// use auth_tower::jwks::{Jwks, JwksError};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), JwksError> {
/// // An OpenID Connect issuer: its discovery document names the JWKS URL.
/// let jwks = Jwks::discover("http://127.0.0.1:8080")
///     .algorithms([Algorithm::ES256, Algorithm::EdDSA])
///     .refetch_interval(Duration::from_secs(30))
///     .timeout(Duration::from_secs(2))
///     .build()?;
/// // Built at once: the keys arrive in the background.
/// assert!(!jwks.ready());
///
/// // A URL that is not HTTP is refused when building, never fetched.
/// let err = Jwks::builder("ftp://127.0.0.1/jwks.json").build().unwrap_err();
/// assert!(matches!(err, JwksError::InvalidUrl { .. }));
/// # Ok(()) }
/// ```
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
    /// [module docs](crate::jwks) for what is accepted without it).
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
        let connector = super::tls::connector(http, self.roots.as_deref())?;
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

impl JwksBuilder {
    pub(super) fn new(origin: Result<Origin, JwksError>) -> Self {
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
