//! The JWKS client (feature `jwks`) against a real HTTP server on loopback
//! whose answers the test controls: fail closed until the first fetch and
//! recover without a restart, unknown `kid`s refetched once per interval,
//! unfit keys skipped, the last good set kept, discovery, size limits.
#![cfg(feature = "jwks")]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_core::{Algorithm, Clock, Key, KeySet, NoClaims, TokenAuthority, Validator};
use auth_tower::AuthLayer;
use auth_tower::jwks::{DEFAULT_REFETCH_INTERVAL, Jwks};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::ServiceExt;

mod fetching;
mod trust;

/// What the JWKS server answers, and how often it was asked.
#[derive(Default)]
struct Served {
    status: Mutex<Option<StatusCode>>,
    body: Mutex<Vec<u8>>,
    cache_control: Mutex<Option<&'static str>>,
    discovery: Mutex<Option<Value>>,
    jwks_hits: AtomicUsize,
}

type Shared = Arc<Served>;

impl Served {
    fn set_jwks(&self, doc: &Value) {
        *self.body.lock().unwrap() = serde_json::to_vec(doc).unwrap();
    }
}

async fn jwks(State(s): State<Shared>) -> Response {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let status = s.status.lock().unwrap().unwrap_or(StatusCode::OK);
    let mut res = (status, s.body.lock().unwrap().clone()).into_response();
    if let Some(cc) = *s.cache_control.lock().unwrap() {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
    }
    res
}

async fn discovery(State(s): State<Shared>) -> Response {
    match s.discovery.lock().unwrap().clone() {
        Some(doc) => axum::Json(doc).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn router(served: Shared) -> Router {
    Router::new()
        .route("/jwks", get(jwks))
        .route("/.well-known/openid-configuration", get(discovery))
        .with_state(served)
}

async fn serve_on(listener: TcpListener, served: Shared) {
    tokio::spawn(async move { axum::serve(listener, router(served)).await });
}

async fn serve(served: Shared) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    serve_on(listener, served).await;
    addr
}

/// An issuer whose rotated keys sign at once (no publication delay): these
/// tests are about what the client does with a key it does not have yet.
fn issuer(alg: Algorithm) -> TokenAuthority {
    TokenAuthority::builder(KeySet::new(Key::generate(alg).unwrap()).unwrap())
        .issuer("https://issuer.example")
        .key_publication_delay(Duration::ZERO)
        .build()
        .unwrap()
}

fn jwks_of(authority: &TokenAuthority) -> Value {
    serde_json::to_value(authority.keys().jwks()).unwrap()
}

/// An issuer whose JWKS the test server publishes, a client of it (ready,
/// refetching at most once per `refetch`), and the app it protects.
struct Running {
    authority: TokenAuthority,
    served: Shared,
    jwks: Jwks,
    app: Router,
}

async fn running(alg: Algorithm, refetch: Duration) -> Running {
    let authority = issuer(alg);
    let served = Shared::default();
    served.set_jwks(&jwks_of(&authority));
    let addr = serve(served.clone()).await;
    let jwks = Jwks::builder(format!("http://{addr}/jwks"))
        .refetch_interval(refetch)
        .build()
        .unwrap();
    assert!(jwks.wait_ready(Duration::from_secs(5)).await);
    let app = app_of(jwks.clone());
    Running {
        authority,
        served,
        jwks,
        app,
    }
}

/// The protected app: the layer on a validator of `jwks`.
fn app_of(jwks: Jwks) -> Router {
    let validator = Validator::builder(jwks)
        .issuer("https://issuer.example")
        .without_revocation_checks()
        .build()
        .unwrap();
    Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(AuthLayer::<NoClaims>::new(validator))
}

/// Status and `error` code of `GET /` with `token`.
async fn call(app: &Router, token: &str) -> (u16, String) {
    let req = Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code)
}

async fn token(authority: &TokenAuthority) -> String {
    authority
        .issue("alice", &NoClaims {})
        .await
        .unwrap()
        .access_token
}

/// A well-formed token header naming `kid`, with garbage after it.
fn forged(kid: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(
        json!({ "alg": "ES256", "typ": "at+jwt", "kid": kid })
            .to_string()
            .as_bytes(),
    );
    let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"mallory"}"#);
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode([7u8; 64]))
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// Serves `served` over TLS on localhost with a fresh self-signed
/// certificate; returns the port and the certificate (PEM).
#[cfg(feature = "jwks-tls")]
async fn serve_tls(served: Shared) -> (u16, String) {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer};

    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(
        rustls::crypto::aws_lc_rs::default_provider().into(),
    )
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(signing_key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = router(served);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                        .await;
                }
            });
        }
    });
    (port, cert.pem())
}
