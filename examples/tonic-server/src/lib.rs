//! Shared by the server and the client: the token authority, built on a
//! secret both sides know, and the server itself: the standard health
//! service, open, beside the [`orders`] service behind the `AuthLayer`.

pub mod orders;

use std::time::Duration;

use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority, Validator};
use auth_tower::AuthLayer;
use orders::{Orders, OrdersServer};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Server;
use tower::ServiceBuilder;

/// Where the server listens and the client connects unless given `--addr`.
pub const ADDR: &str = "127.0.0.1:50051";

/// The environment variable holding the shared HMAC secret (at least 32
/// bytes).
pub const SECRET_ENV: &str = "AUTH_JWT_SECRET";

/// The environment variable from which the client takes a ready token (the
/// server prints one when it generated its secret).
pub const TOKEN_ENV: &str = "AUTH_TOKEN";

/// The subject of the tokens this example hands out, and the owner of the
/// demo orders.
pub const CLIENT_SUBJECT: &str = "tonic-client";

/// An error meant for the person running the example.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The authority on the secret in [`SECRET_ENV`], or `None` when it is not
/// set. A secret that is set but unusable (shorter than 32 bytes) is an
/// error: there is no built-in fallback anyone could read in this file.
pub fn authority_from_env() -> Result<Option<TokenAuthority>, Error> {
    authority_from_secret(std::env::var(SECRET_ENV).ok())
}

/// [`authority_from_env`] with the secret given: `None` without one.
pub fn authority_from_secret(secret: Option<String>) -> Result<Option<TokenAuthority>, Error> {
    let Some(secret) = secret else {
        return Ok(None);
    };
    let key = Key::hmac(Algorithm::HS256, secret.as_bytes()).map_err(|e| {
        format!(
            "{SECRET_ENV} is not usable: {e} (use at least 32 random bytes, e.g. `openssl rand -base64 48`)"
        )
    })?;
    Ok(Some(authority(key)?))
}

/// The authority on a fresh random secret, for a server started without
/// [`SECRET_ENV`]: its tokens die with the process.
pub fn random_authority() -> Result<TokenAuthority, Error> {
    authority(Key::generate(Algorithm::HS256)?)
}

fn authority(key: Key) -> Result<TokenAuthority, Error> {
    Ok(TokenAuthority::builder(KeySet::new(key)?)
        .issuer("example-tonic-server")
        .audience(orders::SERVICE_NAME)
        .build()?)
}

/// Serves on `listener` until the process ends: `grpc.health.v1.Health`
/// open to all (load balancers probe it without a token), and
/// `example.orders.v1.Orders` only to calls with a token `validator`
/// accepts, each method checking its own role.
pub async fn serve(listener: TcpListener, validator: Validator) -> Result<(), Error> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(orders::SERVICE_NAME, tonic_health::ServingStatus::Serving)
        .await;
    Server::builder()
        // A call gets 30 s; a connection that stops answering HTTP/2 pings
        // within 10 s is closed; at most 64 calls at once per connection.
        .timeout(Duration::from_secs(30))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .concurrency_limit_per_connection(64)
        // A connection lives at most 10 min (then 30 s to finish its calls):
        // one that greets and answers pings cannot hold a descriptor
        // forever. Clients reconnect transparently.
        .max_connection_age(Duration::from_secs(600))
        .max_connection_age_grace(Duration::from_secs(30))
        // Open: no layer on this service.
        .add_service(health)
        // Guarded: the layer wraps this one service, which keeps its name
        // (`NamedService`), so tonic routes to it as before.
        .add_service(
            ServiceBuilder::new()
                .layer(AuthLayer::<RoleClaims>::new(validator))
                .service(OrdersServer::new(Orders::demo(CLIENT_SUBJECT))),
        )
        .serve_with_incoming(greeted(listener))
        .await?;
    Ok(())
}

/// How long a new connection has to send the HTTP/2 preface (the first 24
/// bytes every gRPC client sends at once): a connection that stays silent,
/// or sends anything else, is closed after it instead of holding a file
/// descriptor until it hangs up. Once the preface is in, HTTP/2 keep-alive
/// pings watch the connection.
pub const PREFACE_TIMEOUT: Duration = Duration::from_secs(10);

/// The connections of `listener` that sent the HTTP/2 preface within
/// [`PREFACE_TIMEOUT`], unread (tonic reads it again). Accepting goes on
/// when the process runs out of file descriptors: it pauses 50 ms and tries
/// again.
fn greeted(listener: TcpListener) -> ReceiverStream<Result<TcpStream, std::io::Error>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let tx = tx.clone();
            tokio::spawn(async move {
                if preface_within(&stream, PREFACE_TIMEOUT).await {
                    let _ = tx.send(Ok(stream)).await;
                }
            });
        }
    });
    ReceiverStream::new(rx)
}

/// Whether `stream` starts with the HTTP/2 preface within `limit`; reads
/// nothing (peeks).
async fn preface_within(stream: &TcpStream, limit: Duration) -> bool {
    const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let greeted = async {
        let mut seen = [0u8; 24];
        loop {
            // Waits for data when there is none; returns what has come.
            let n = stream.peek(&mut seen).await.ok()?;
            if n == 0 || seen[..n] != PREFACE[..n] {
                return Some(false);
            }
            if n == PREFACE.len() {
                return Some(true);
            }
            // Part of it: wait a little for the rest.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    matches!(tokio::time::timeout(limit, greeted).await, Ok(Some(true)))
}
