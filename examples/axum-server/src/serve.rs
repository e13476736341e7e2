//! Serving: HTTP/1.1 and HTTP/2 (over TLS, chosen by ALPN) on hyper-util's
//! auto builder, with limits on connections and requests, HSTS over TLS,
//! and a graceful shutdown.
//!
//! `axum::serve` has no such limits. Here hyper bounds each connection
//! (header size and time, HTTP/2 streams), tower-http each request (time,
//! body size, security headers, tracing), and [`stall`] what hyper does
//! not: connections idle before their first request or stalled mid-answer.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::IntoResponse;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use super::{Error, stall};

/// The limits [`serve`] puts on connections and requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long an HTTP/1 client may take to send a request's headers, and
    /// how long any connection stays open without a request in flight (an
    /// HTTP/2 one is sent `GOAWAY`, and reset if still open
    /// `request_timeout` later): a slowloris client trickling bytes, or
    /// sending none, is cut off after this. Also the TLS handshake's limit.
    /// Default 10 s.
    pub header_read_timeout: Duration,
    /// How long one request may take, body and handler included (408
    /// after). Default 30 s.
    pub request_timeout: Duration,
    /// The most bytes of a request's headers (HTTP/1: with the request
    /// line; HTTP/2: the decoded list) before answering 431: room for an
    /// 8 KiB token several times over. Default 64 KiB (8 KiB at least).
    pub max_header_bytes: usize,
    /// The most header fields of a request before answering 431. HTTP/2
    /// has no cap of its own but the list's size, and there a field costs
    /// the server about a hundred bytes beside its text however short it
    /// is on the wire (one byte, with HPACK's table): the 1 800 empty
    /// fields that fit in 64 KiB held 150 KiB while their request waited
    /// for its body. Default 256: browsers keep up to about 180 cookies
    /// per site and send each as a field of its own over HTTP/2, besides
    /// their other headers.
    pub max_header_fields: usize,
    /// The most bytes of a request body (413 past it). The auth routes
    /// keep their own, lower cap (16 KiB, answered in JSON). Default 64 KiB.
    pub max_body_bytes: usize,
    /// The most connections served at once. Past it, new connections wait
    /// in the kernel's accept backlog, taking no memory nor descriptor of
    /// this process. Default 1024.
    pub max_connections: usize,
    /// The most requests one HTTP/2 connection runs at once (browsers queue
    /// the rest). Each may hold up to about twice `max_header_bytes` (hyper
    /// keeps the header block it received beside the fields it decoded),
    /// so this multiplies what one connection may hold: at the defaults
    /// about 1 MiB, against 64 KiB for an HTTP/1 connection. Default 8: the
    /// demo page loads three files and calls the API a few at a time.
    pub max_streams: u32,
    /// How long a connection may go without a byte read or written before
    /// it is closed: a client that stops reading its responses (blocking
    /// the server's writes) holds its slot no longer. Default 30 s, the
    /// request time limit.
    pub stall_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_header_fields: 256,
            max_body_bytes: 64 * 1024,
            max_connections: 1024,
            max_streams: 8,
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// How long shutdown waits for in-flight requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The TLS settings of `--tls-cert` and `--tls-key` (rustls on aws-lc-rs,
/// TLS 1.2 and 1.3), offering HTTP/2 then HTTP/1.1 by ALPN.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("--tls-cert {}: no certificate in it", cert.display()).into());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("--tls-key {}: {e}", key.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(
        rustls::crypto::aws_lc_rs::default_provider().into(),
    )
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| format!("--tls-cert and --tls-key do not fit together: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The `Strict-Transport-Security` sent over HTTPS: one year, so browsers
/// never try this host over plain HTTP again.
pub const HSTS: &str = "max-age=31536000";

/// The `Content-Security-Policy` of every answer that sets none (all but
/// the demo page's, which has its own): nothing may load or frame it.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Adds [`HSTS`] to every response of `app`, its fallbacks (404, 405)
/// included. [`serve_tls`] applies it with TLS, outside every other layer
/// (the 408 of the request time limit included).
pub fn with_hsts(app: Router) -> Router {
    app.layer(SetResponseHeaderLayer::overriding(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    ))
}

/// Serves `app` on `listener` with the default [`Limits`]; see
/// [`serve_with`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve_with(listener, app, shutdown, Limits::default()).await
}

/// Serves `app` on `listener` (HTTP/1.1, and HTTP/2 with prior knowledge)
/// until `shutdown` completes, then drains in-flight requests for at most
/// [`SHUTDOWN_GRACE`]. Connections and requests have [`Limits`].
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> Result<(), Error> {
    serve_tls(listener, app, shutdown, limits, None).await
}

/// [`serve_with`], over TLS when `tls` is given: the handshake must end
/// within the header read timeout, the protocol is the one ALPN agreed on
/// (HTTP/1.1 when none), and every answer of `app` carries [`HSTS`].
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<(), Error> {
    // Per request, innermost first: header field cap (431), body cap (413),
    // time limit (408), a tracing span (`RUST_LOG=tower_http=debug`), a CSP.
    let max_fields = limits.max_header_fields;
    let mut app = app
        .layer(axum::middleware::from_fn(
            move |req: Request<axum::body::Body>, next: axum::middleware::Next| async move {
                // HTTP/1 requests never get here with more (hyper's cap below);
                // refused at once, an HTTP/2 request frees its fields at once.
                if req.headers().len() > max_fields {
                    return StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.into_response();
                }
                next.run(req).await
            },
        ))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CSP),
        ));
    if tls.is_some() {
        // Outermost: the 408 above gets it too.
        app = with_hsts(app);
    }

    // Per connection: hyper's own limits for each protocol.
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(limits.max_header_fields)
        // Headers past the read buffer are answered 431. Its default, ~400
        // KiB, would also let a client that pipelines requests it never
        // reads the answers to make every connection hold that much.
        .max_buf_size(limits.max_header_bytes.max(8 * 1024));
    http.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(limits.max_streams)
        // Streams a client opens and at once cancels, before they are
        // served (the "rapid reset" flood): past 20, GOAWAY.
        .max_pending_accept_reset_streams(20)
        // Body bytes received ahead of the handler: 64 KiB per connection,
        // what an HTTP/1 connection buffers.
        .initial_stream_window_size(64 * 1024)
        .initial_connection_window_size(64 * 1024);
    // No keep-alive pings: an idle connection is closed after the header
    // read timeout, a silent one after the stall timeout, and a ping would
    // count as a byte moving.

    let slots = Arc::new(tokio::sync::Semaphore::new(
        limits
            .max_connections
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
    ));
    let (stop, stopping) = tokio::sync::watch::channel(());
    tokio::pin!(shutdown);
    loop {
        // A slot first, then a connection: at the cap, new connections stay
        // in the kernel's backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot?,
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, a reset before accept: keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (app, http, mut stopping) = (app.clone(), http.clone(), stopping.clone());
        let tls = tls.clone().map(tokio_rustls::TlsAcceptor::from);
        tokio::spawn(async move {
            let stop = async move {
                let _ = stopping.changed().await;
            };
            connection(stream, peer, app, http, tls, limits, stop).await;
            drop(slot);
        });
    }
    // Stop accepting, tell every connection to finish, and wait until they
    // all have (each holds a receiver of `stop`) or the grace runs out.
    drop((listener, stopping));
    stop.send_replace(());
    if tokio::time::timeout(SHUTDOWN_GRACE, stop.closed())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
    Ok(())
}

/// Serves one connection: TLS first if given, then HTTP until the client
/// leaves, it idles, it stalls, or the server stops.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    http: auto::Builder<TokioExecutor>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    stop: impl Future<Output = ()>,
) {
    let progress = stall::Progress::new();
    let stream = stall::Watched::new(stream, progress.clone());
    let requests = stall::Requests::default();
    let service = tower::ServiceBuilder::new()
        // The peer address, for the login throttle (what axum::serve's
        // `into_make_service_with_connect_info` would insert).
        .map_request(move |mut req: Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req
        })
        .map_future({
            let requests = requests.clone();
            move |answer| requests.count(answer)
        })
        .service(app);
    let service = TowerToHyperService::new(service);
    let idle = limits.header_read_timeout;
    // Told to close, a connection has the time of a request to finish its
    // own, then is reset.
    let grace = limits.request_timeout;
    let served = async {
        let Some(acceptor) = tls else {
            let conn = http.serve_connection(TokioIo::new(stream), service);
            return stall::close_when_idle(conn, &progress, &requests, idle, grace, stop).await;
        };
        let stream = match tokio::time::timeout(idle, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}").into()),
            Err(_) => return Err("TLS handshake timed out".into()),
        };
        let http = match stream.get_ref().1.alpn_protocol() {
            Some(b"h2") => http.http2_only(),
            _ => http.http1_only(),
        };
        let conn = http.serve_connection(TokioIo::new(stream), service);
        stall::close_when_idle(conn, &progress, &requests, idle, grace, stop).await
    };
    tokio::select! {
        served = served => if let Err(e) = served {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        },
        () = stall::stalled(&progress, limits.stall_timeout) => {
            tracing::debug!(%peer, "connection closed: nothing moved for {:?}", limits.stall_timeout);
        }
    }
}

/// Completes on Ctrl-C or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
