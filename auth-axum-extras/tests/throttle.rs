//! The login throttle of `AuthRoutes` against clients that hang up: an
//! attempt cancelled before its verdict (the client gone while the password
//! is being checked, or while it waits its turn) leaves no count behind,
//! and bodies that cannot be checked are never counted. Over a real socket,
//! served with the peer address (`ConnectInfo`).

use std::net::SocketAddr;
use std::time::Duration;

use auth_axum_extras::{AuthRoutes, CredentialVerifier, Credentials, LoginError, Verified};
use auth_core::{Algorithm, Key, KeySet, NoClaims, TokenAuthority};
use contract_tests::Client;
use http::StatusCode;
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// A directory that takes `delay` to refuse every password: long enough
/// for a client to hang up while its password is being checked.
struct Slow {
    delay: Duration,
}

impl CredentialVerifier for Slow {
    type Claims = NoClaims;

    async fn verify(&self, _: Credentials) -> Result<Verified<NoClaims>, LoginError> {
        tokio::time::sleep(self.delay).await;
        Err(LoginError::InvalidCredentials)
    }
}

async fn serve(delay: Duration) -> SocketAddr {
    let keys = KeySet::new(Key::generate(Algorithm::HS256).unwrap()).unwrap();
    let authority = TokenAuthority::builder(keys).build().unwrap();
    let app = AuthRoutes::new(authority, Slow { delay })
        .into_router::<()>()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

/// Sends a login for `body` and hangs up before any answer can come.
async fn hang_up_after_sending(addr: SocketAddr, body: &str) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /auth/login HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(req.as_bytes()).await.unwrap();
    // The server has read the body and begun checking the password.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(tcp);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_whose_client_hung_up_before_the_verdict_does_not_count() {
    let addr = serve(Duration::from_secs(2)).await;
    let body = json!({ "username": "alice", "password": "a-guess" }).to_string();
    for _ in 0..6 {
        hang_up_after_sending(addr, &body).await;
    }
    // Each cancelled attempt was taken back: the five free failures are whole.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = Client::new(addr);
    let first = client.login("alice", "a-guess").await;
    assert_eq!(first.status, StatusCode::UNAUTHORIZED, "{}", first.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_bodies_that_can_be_checked_are_counted() {
    let addr = serve(Duration::from_millis(1)).await;
    let client = Client::new(addr);
    for body in [
        json!({ "username": "alice" }),
        json!({ "username": "alice", "password": 7 }),
        json!({ "username": "alice", "password": "x".repeat(2000) }),
    ] {
        for _ in 0..6 {
            let r = client
                .post("/auth/login", &[], Some(&body.to_string()))
                .await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.json);
        }
    }
    for _ in 0..5 {
        let r = client.login("alice", "a-guess").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.json);
    }
    let r = client.login("alice", "a-guess").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.json);
}
