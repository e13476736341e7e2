//! `cargo run -p example-axum-server -- --help`
//!
//! The binary is this file; the app (`app_with`) and how it is served
//! (`serve_tls`: HTTP/1.1 and HTTP/2, limits, TLS, shutdown) are in the
//! library, for the tests to call as they are.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Logs to stdout, filtered by RUST_LOG (default `info`;
    // `RUST_LOG=info,tower_http=debug` adds a line per request).
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = example_axum_server::Args::parse();
    // Builds the authority, the users and the app from the flags, binds,
    // and serves until Ctrl-C or SIGTERM.
    match example_axum_server::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
