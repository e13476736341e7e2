//! The example server's contract (as the README states it): flags, demo users,
//! routes and their JSON shapes, the refresh cookie, secrets and restarts,
//! checked over real HTTP on loopback.

use std::time::Duration;

use clap::{CommandFactory, Parser};
use contract_tests::Client;
use example_axum_server::{Alg, Args};
use http::Method;
use serde_json::json;

mod flags;
mod operations;
mod sessions;

/// A server started in this process, stopped when dropped. Dereferences to
/// a [`Client`] of it.
struct Instance {
    client: Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl std::ops::Deref for Instance {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

/// Parses flags as the binary would (`--addr` defaults to a free port here).
fn args(flags: &[&str]) -> Result<Args, clap::Error> {
    let mut argv = vec!["example-axum-server", "--addr", "127.0.0.1:0"];
    argv.extend_from_slice(flags);
    Args::try_parse_from(argv)
}

impl Instance {
    /// Starts the example server with these flags and `AUTH_JWT_SECRET`.
    async fn start(flags: &[&str], secret: Option<&str>) -> Result<Instance, String> {
        let args = args(flags).map_err(|e| e.to_string())?;
        let authority = example_axum_server::authority(&args, secret.map(str::to_owned))
            .await
            .map_err(|e| e.to_string())?;
        let users = example_axum_server::demo_users().map_err(|e| e.to_string())?;
        let options = example_axum_server::Options {
            key_file: args.key_file.clone(),
            ..Default::default()
        };
        let app = example_axum_server::app_with(
            authority,
            users,
            auth_axum_extras::RefreshCookie::default(),
            options,
        )
        .map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(example_axum_server::serve(listener, app, async move {
            let _ = stopped.await;
        }));
        Ok(Instance {
            client: Client::new(addr),
            stop: Some(stop),
        })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

const SECRET: &str = "a-test-secret-that-is-at-least-32-bytes-long";

/// Starts the example app with these limits and returns its address.
async fn start_with_limits(limits: example_axum_server::Limits) -> std::net::SocketAddr {
    let a = args(&[]).unwrap();
    let authority = example_axum_server::authority(&a, Some(SECRET.into()))
        .await
        .unwrap();
    let app =
        example_axum_server::app(authority, example_axum_server::demo_users().unwrap()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example_axum_server::serve_with(
        listener,
        app,
        std::future::pending(),
        limits,
    ));
    addr
}

/// Reads until the server closes the connection; what it sent.
async fn read_until_closed(conn: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    tokio::time::timeout(limit, conn.read_to_end(&mut got))
        .await
        .ok()
        .map(|_| String::from_utf8_lossy(&got).into_owned())
}
