//! [`AuthLayer`] around a plain hyper 1 `service_fn`, no framework.
//!
//! Run `cargo run -p example-hyper-server` (`-- --help` for the options); it
//! prints a token and the `curl` commands to try with and without it.
//!
//! Without a framework, the accept loop at the end of `main` is the server:
//! hyper-util's auto builder speaks HTTP/1.1 and HTTP/2 (prior knowledge,
//! `curl --http2-prior-knowledge`), and the loop keeps what one client can
//! hold bounded (see [`Args`] and the constants below) and keeps serving
//! when the process runs out of file descriptors.

use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority};
use auth_tower::AuthLayer;
use clap::Parser;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::{BoxError, ServiceBuilder};
use tower_http::timeout::TimeoutLayer;

// The axum example's: connections that stall or idle are closed.
#[path = "../../axum-server/src/stall.rs"]
mod stall;
use stall::{Progress, Requests, Watched, close_when_idle, stalled};

/// A plain hyper 1 server with an AuthLayer: it issues a token for a demo
/// user at start and prints the curl commands to call it with and without.
#[derive(Debug, Parser)]
#[command(name = "example-hyper-server", version)]
struct Args {
    /// Address to listen on (a port of 0 picks a free one; the address
    /// printed at start is the one bound).
    #[arg(default_value = "127.0.0.1:3001")]
    addr: String,
    /// The most connections served at once. Past it, new connections wait
    /// in the kernel's accept backlog, taking no file descriptor of this
    /// process, until one ends.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    max_connections: NonZeroUsize,
    /// Seconds a connection may go without a byte read or written before it
    /// is closed: a client that stops reading its responses holds its slot
    /// no longer than this.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_STALL_SECS)]
    stall_timeout: u64,
}

/// The default `--stall-timeout`: 30 s, the request time limit. Nothing
/// legitimate is silent that long: an idle connection is closed after
/// [`HEADER_READ_TIMEOUT`], and a request answered within
/// [`REQUEST_TIMEOUT`].
const DEFAULT_STALL_SECS: u64 = 30;

/// The default `--max-connections`: 1024. Each connection costs a file
/// descriptor, a task and its buffers (the read buffer capped near
/// [`MAX_HEADER_BYTES`]); 1024 of them is little memory, and more than a
/// demo service sees. An idle connection is closed after
/// [`HEADER_READ_TIMEOUT`], a stalled one after `--stall-timeout`; a client
/// that sends a request on each of many connections now and then still
/// holds them: limit connections per client address in front of the
/// server (a firewall, a proxy) where that matters. Where `ulimit -n` is
/// below the cap (plus the few descriptors the process holds otherwise),
/// `accept` fails first with "too many open files"; the loop then pauses
/// [`ACCEPT_BACKOFF`] and tries again, so raise both together.
const DEFAULT_MAX_CONNECTIONS: NonZeroUsize = NonZeroUsize::new(1024).unwrap();

/// How long an HTTP/1 client may take to send a request's headers, and how
/// long any connection stays open without a request in flight (an HTTP/2
/// one is sent `GOAWAY`): a slowloris client trickling bytes, or sending
/// none, is cut off after this.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The most bytes of a request's headers (HTTP/1: with the request line;
/// HTTP/2: the decoded list) before answering 431: room for an 8 KiB token
/// several times over.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The most requests one HTTP/2 connection runs at once; each may hold
/// [`MAX_HEADER_BYTES`] of headers.
const MAX_STREAMS: u32 = 8;

/// How long one request may take, token check and handler included (408
/// after).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The pause after a failed `accept` (out of file descriptors, most often)
/// before trying again, so the loop does not spin while connections end.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The protected service: it only runs for requests the layer accepted.
/// `auth_tower::claims` tells a wiring bug (no layer, or a layer of another
/// claims type: `Err`) from a request without a token.
async fn hello(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match auth_tower::claims::<RoleClaims>(req.extensions()) {
        Ok(Some(claims)) => Response::new(Full::from(format!("hello {}\n", claims.sub))),
        Ok(None) => Response::new(Full::from("hello stranger\n")),
        Err(e) => {
            eprintln!("error: {e}");
            let mut res = Response::new(Full::from("server misconfigured\n"));
            *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            res
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    let keys = KeySet::new(Key::generate(Algorithm::EdDSA)?)?;
    let authority = TokenAuthority::builder(keys).build()?;

    // Stand-in for a login: issue a pair for a demo user.
    let pair = authority
        .issue("demo", &RoleClaims::with_roles(["user"]))
        .await?;

    // Outermost first: a time limit on the whole request (408 past it),
    // then the token check, then the handler.
    let service = ServiceBuilder::new()
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()))
        .service_fn(hello);

    let listener = TcpListener::bind(&args.addr).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr} (EdDSA, in-memory store)");
    println!("without a token (401, a JSON error body):\n  curl -i http://{addr}/");
    println!(
        "with the demo token (200):\n  curl -i -H 'Authorization: Bearer {}' http://{addr}/",
        pair.access_token
    );
    println!("over HTTP/2 (prior knowledge):\n  curl -i --http2-prior-knowledge http://{addr}/");
    // HTTP/1.1 or HTTP/2, told apart by the client's first bytes.
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // Headers past the read buffer are answered 431. Its default, ~400
        // KiB, would also let a client that pipelines requests it never
        // reads the answers to make every connection hold that much.
        .max_buf_size(MAX_HEADER_BYTES);
    http.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEADER_BYTES as u32)
        .max_concurrent_streams(MAX_STREAMS)
        // Streams opened and at once cancelled ("rapid reset"): past 20, GOAWAY.
        .max_pending_accept_reset_streams(20)
        // Body bytes received ahead of the handler: 64 KiB per connection.
        .initial_stream_window_size(64 * 1024)
        .initial_connection_window_size(64 * 1024);
    let slots = Arc::new(Semaphore::new(args.max_connections.get()));
    let stall_limit = Duration::from_secs(args.stall_timeout.max(1));
    loop {
        // A slot first, then a connection: at the cap, new connections stay
        // in the kernel's backlog instead of taking descriptors here.
        let slot = slots.clone().acquire_owned().await?;
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors (EMFILE), or a connection reset
                // before it was accepted: the open connections go on, and
                // the next accept may succeed once one of them ends.
                eprintln!("accept failed: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let progress = Progress::new();
        let stream = Watched::new(stream, progress.clone());
        // The requests in flight, so an idle connection can be closed.
        let requests = Requests::default();
        let counted = requests.clone();
        let service = ServiceBuilder::new()
            .map_future(move |answer| counted.count(answer))
            .service(service.clone());
        let http = http.clone();
        tokio::spawn(async move {
            let conn =
                http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            // This server never stops: no shutdown signal to end connections on.
            let stop = std::future::pending();
            tokio::select! {
                // Told to close, it has the time of a request to finish, then is reset.
                served = close_when_idle(conn, &progress, &requests, HEADER_READ_TIMEOUT, REQUEST_TIMEOUT, stop) => {
                    if let Err(e) = served {
                        eprintln!("connection from {peer}: {e}");
                    }
                }
                () = stalled(&progress, stall_limit) => {
                    eprintln!("connection from {peer}: nothing moved for {stall_limit:?}; closed");
                }
            }
            drop(slot);
        });
    }
}
