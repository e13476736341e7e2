//! Serving: the connection loop with its limits (header and request time,
//! header size, connections, stalls), TLS with HSTS, and shutdown.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::{Json, Router};
use serde_json::json;

use super::{Error, stall};

/// The limits [`serve`] puts on connections and requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's headers, and how long
    /// an idle keep-alive connection stays open: a slowloris client holding
    /// connections with a trickle of bytes is cut off after this. Default
    /// 10 s.
    pub header_read_timeout: Duration,
    /// How long one request may take, body and handler included (408
    /// after). Default 30 s.
    pub request_timeout: Duration,
    /// The most bytes of request line and headers read before answering
    /// 431: room for an 8 KiB token several times over. Default 64 KiB.
    pub max_header_bytes: usize,
    /// The most connections served at once. Past it, new connections wait
    /// in the kernel's accept backlog, taking no memory nor descriptor of
    /// this process. Default 1024: with a 16 KiB body cap and hyper's
    /// buffers, tens of MiB at most.
    pub max_connections: usize,
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
            max_connections: 1024,
            stall_timeout: Duration::from_secs(30),
        }
    }
}

/// How long shutdown waits for in-flight requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The TLS settings of `--tls-cert` and `--tls-key` (rustls on aws-lc-rs,
/// TLS 1.2 and 1.3, HTTP/1.1).
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
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The `Strict-Transport-Security` sent over HTTPS: one year, so browsers
/// never try this host over plain HTTP again.
pub const HSTS: &str = "max-age=31536000";

/// Adds [`HSTS`] to every response of `app`, its fallbacks (404, 405)
/// included. [`serve_tls`] applies it with TLS, outside every other layer
/// (the 408 of the request time limit included).
pub fn with_hsts(app: Router) -> Router {
    app.layer(axum::middleware::map_response(
        |mut res: axum::response::Response| async move {
            res.headers_mut().insert(
                axum::http::header::STRICT_TRANSPORT_SECURITY,
                axum::http::HeaderValue::from_static(HSTS),
            );
            res
        },
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

/// Serves `app` on `listener` (HTTP/1.1) until `shutdown` completes, then
/// drains in-flight requests for at most [`SHUTDOWN_GRACE`].
///
/// Unlike a bare `axum::serve`, connections have [`Limits`]: headers must
/// arrive within `header_read_timeout` (also the keep-alive idle limit) and
/// fit in `max_header_bytes` (else 431), a request gets `request_timeout` in
/// all (else 408), at most `max_connections` are served at once, and one on
/// which nothing moves for `stall_timeout` is closed.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
) -> Result<(), Error> {
    serve_tls(listener, app, shutdown, limits, None).await
}

/// [`serve_with`], over TLS when `tls` is given: the handshake must end
/// within the header read timeout, and every answer of `app` carries
/// [`HSTS`] (see [`with_hsts`]).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: Limits,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<(), Error> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;

    let timeout = limits.request_timeout;
    let mut app = app.layer(axum::middleware::from_fn(move |req, next| {
        request_timeout(timeout, req, next)
    }));
    if tls.is_some() {
        // Outermost: the 408 above gets it too.
        app = with_hsts(app);
    }
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        // hyper's read buffer grows to ~400 KiB by default: a client
        // pipelining requests it never reads the answers to would make every
        // connection hold that much. Headers and a little more.
        .max_buf_size(limits.max_header_bytes + 16 * 1024);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let stall_limit = limits.stall_timeout;
    tokio::pin!(shutdown);
    loop {
        // A slot first, then a connection: at the cap, new connections stay
        // in the kernel's backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.map_err(|e| e.to_string())?,
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
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
        let (stream, peer) = stream;
        // The peer address, for the login throttle (what axum::serve's
        // `into_make_service_with_connect_info` would insert).
        let service = TowerToHyperService::new(tower::util::MapRequest::new(
            app.clone(),
            move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req
            },
        ));
        let (http, watcher) = (http.clone(), graceful.watcher());
        let tls = tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let handshake_limit = limits.header_read_timeout;
        let progress = stall::Progress::new();
        let stream = stall::Watched::new(stream, progress.clone());
        let serve = async move {
            let served =
                match tls {
                    None => {
                        watcher
                            .watch(http.serve_connection(TokioIo::new(stream), service))
                            .await
                    }
                    Some(acceptor) => {
                        let stream =
                            match tokio::time::timeout(handshake_limit, acceptor.accept(stream))
                                .await
                            {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!("TLS handshake timed out");
                                    return;
                                }
                            };
                        watcher
                            .watch(http.serve_connection(TokioIo::new(stream), service))
                            .await
                    }
                };
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        };
        tokio::spawn(async move {
            tokio::select! {
                () = serve => {}
                () = stall::stalled(&progress, stall_limit) => {
                    tracing::debug!("connection closed: nothing moved for {stall_limit:?}");
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
    Ok(())
}

/// 408 for a request that takes longer than `limit`.
pub(super) async fn request_timeout(
    limit: Duration,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => (
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Json(json!({
                "error": "request_timeout",
                "error_description": "the request took too long",
            })),
        )
            .into_response(),
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
