//! [`AuthLayer`] around a plain hyper 1 `service_fn`, no framework.
//!
//! Run `cargo run -p example-hyper-server`; it prints a token and the `curl`
//! commands to try with and without it.

use std::convert::Infallible;
use std::time::Duration;

use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority};
use auth_tower::AuthLayer;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;

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
            *res.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            res
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3001".to_owned());
    let keys = KeySet::new(Key::generate(Algorithm::EdDSA)?)?;
    let authority = TokenAuthority::builder(keys).build()?;

    // Stand-in for a login: issue a pair for a demo user.
    let pair = authority
        .issue("demo", &RoleClaims::with_roles(["user"]))
        .await?;

    let service = ServiceBuilder::new()
        .layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()))
        .service_fn(hello);

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{addr} (EdDSA, in-memory store)");
    println!("without a token (401, a JSON error body):\n  curl -i http://{addr}/");
    println!(
        "with the demo token (200):\n  curl -i -H 'Authorization: Bearer {}' http://{addr}/",
        pair.access_token
    );
    // Slowloris: headers (and the next request on a kept-alive connection)
    // must arrive within 10 s, and fit in 64 KiB (431 otherwise).
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .max_header_size(64 * 1024);
    loop {
        let (stream, peer) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        let conn = http.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                eprintln!("connection from {peer}: {e}");
            }
        });
    }
}
