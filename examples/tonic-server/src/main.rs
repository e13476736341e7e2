//! A tonic gRPC server with two services: the standard health service, open
//! to all, and an orders service behind [`AuthLayer`](auth_tower::AuthLayer),
//! whose calls need a valid `authorization: Bearer` metadata entry
//! (`UNAUTHENTICATED` otherwise) and, per method, a role
//! (`PERMISSION_DENIED` otherwise): `user` to list orders, `admin` to cancel
//! one.
//!
//! Run `cargo run -p example-tonic-server` (`-- --help` for the options),
//! then in another terminal one of the client commands it prints
//! (`AUTH_TOKEN=... cargo run -p example-tonic-server --bin tonic-client`,
//! with `-- --addr <ADDR>` when the server was given one). With
//! `AUTH_JWT_SECRET` set (at least 32 bytes) on both sides, the client
//! mints its own token.

use std::net::SocketAddr;

use auth_core::RoleClaims;
use clap::Parser;
use example_tonic_server::{
    ADDR, CLIENT_SUBJECT, Error, SECRET_ENV, TOKEN_ENV, authority_from_env, random_authority, serve,
};

/// The example tonic gRPC server: grpc.health.v1.Health open to all, and an
/// orders service that needs a bearer token (the role user to list orders,
/// admin to cancel one).
///
/// Tokens are signed with the secret in AUTH_JWT_SECRET (at least 32
/// bytes). Without it the server signs with a random secret and prints a
/// token per role set, with the client commands that use them.
#[derive(Debug, Parser)]
#[command(name = "example-tonic-server", version)]
struct Args {
    /// Address to listen on (a port of 0 picks a free one; the address
    /// printed at start is the one bound).
    #[arg(long, default_value = ADDR)]
    addr: SocketAddr,
}

/// The command that runs the client against a server on `addr`.
fn client_command(addr: SocketAddr) -> String {
    let command = "cargo run -p example-tonic-server --bin tonic-client";
    if ADDR.parse::<SocketAddr>().ok() == Some(addr) {
        command.to_owned()
    } else {
        format!("{command} -- --addr {addr}")
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    let addr = listener.local_addr()?;
    let client = client_command(addr);
    let authority = match authority_from_env()? {
        Some(authority) => {
            println!("Call the server with {SECRET_ENV} set to the same secret:\n  {client}");
            authority
        }
        None => {
            let authority = random_authority()?;
            println!(
                "{SECRET_ENV} not set: signing with a random secret (tokens die with this process)."
            );
            for roles in [&["user"][..], &["user", "admin"]] {
                let claims = RoleClaims::with_roles(roles.iter().copied());
                let pair = authority.issue(CLIENT_SUBJECT, &claims).await?;
                println!(
                    "Call the server as {} (roles {roles:?}) with a token valid for {} s:\n  {TOKEN_ENV}={} {client}",
                    CLIENT_SUBJECT, pair.expires_in, pair.access_token
                );
            }
            authority
        }
    };
    println!(
        "gRPC on {addr}: grpc.health.v1.Health open, {} with a bearer token",
        example_tonic_server::orders::SERVICE_NAME
    );
    serve(listener, authority.validator().clone()).await
}
