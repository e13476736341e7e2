//! The login throttle of `AuthRoutes` against clients that hang up: an
//! attempt cancelled before its verdict (the client gone while the password
//! is being checked, or while it waits its turn) leaves no count behind,
//! and bodies that cannot be checked are never counted. Over a real socket,
//! served with the peer address (`ConnectInfo`).

use std::net::SocketAddr;
use std::time::Duration;

use std::sync::Arc;

use auth_axum_extras::{AuthRoutes, CredentialVerifier, Credentials, LoginError, Verified};
use auth_core::store::{
    BoxFuture, Check, MemoryStore, NewSession, RotateOutcome, Rotation, SessionInfo, Store,
};
use auth_core::throttle::{Attempt, AttemptStore, Decision, MemoryAttempts, ThrottlePolicy};
use auth_core::{Algorithm, Key, KeySet, NoClaims, StoreError, TokenAuthority, TokenRef, Uuid};
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

/// A memory store whose throttle counters answer `delay` after counting,
/// as a store across the network does (Redis runs the script, then the
/// answer travels back): a client can hang up between the two.
#[derive(Debug)]
struct FarStore {
    inner: MemoryStore,
    attempts: FarAttempts,
}

#[derive(Debug)]
struct FarAttempts {
    table: Arc<MemoryAttempts>,
    delay: Duration,
}

impl AttemptStore for FarAttempts {
    fn begin<'a>(
        &'a self,
        policy: &'a ThrottlePolicy,
        attempt: &'a Attempt,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        Box::pin(async move {
            let decision = self.table.begin(policy, attempt, now_ms).await;
            tokio::time::sleep(self.delay).await;
            decision
        })
    }

    fn settle<'a>(
        &'a self,
        policy: &'a ThrottlePolicy,
        attempt: &'a Attempt,
        succeeded: bool,
        now_ms: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.table.settle(policy, attempt, succeeded, now_ms)
    }
}

impl Store for FarStore {
    fn check(&self, token: &TokenRef<'_>) -> Check {
        self.inner.check(token)
    }
    fn create_session(&self, session: NewSession) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.create_session(session)
    }
    fn rotate(&self, rotation: Rotation) -> BoxFuture<'_, Result<RotateOutcome, StoreError>> {
        self.inner.rotate(rotation)
    }
    fn revoke_token(&self, jti: Uuid, until: u64) -> BoxFuture<'_, Result<(), StoreError>> {
        self.inner.revoke_token(jti, until)
    }
    fn revoke_session<'a>(
        &'a self,
        sid: Uuid,
        subject: &'a str,
        until: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        self.inner.revoke_session(sid, subject, until)
    }
    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        cutoff: u64,
        until: u64,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        self.inner.revoke_subject(subject, cutoff, until)
    }
    fn sessions<'a>(
        &'a self,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>> {
        self.inner.sessions(subject)
    }
    fn attempts(&self) -> Option<&dyn AttemptStore> {
        Some(&self.attempts)
    }
}

async fn serve(delay: Duration) -> SocketAddr {
    serve_on(delay, Duration::ZERO).await.0
}

/// The routes over a [`FarStore`] answering `store_delay` after counting,
/// checking passwords in `delay`; and the store's counters.
async fn serve_on(delay: Duration, store_delay: Duration) -> (SocketAddr, Arc<MemoryAttempts>) {
    let table = Arc::new(MemoryAttempts::new(1000));
    let keys = KeySet::new(Key::generate(Algorithm::HS256).unwrap()).unwrap();
    let store = FarStore {
        inner: MemoryStore::new(),
        attempts: FarAttempts {
            table: table.clone(),
            delay: store_delay,
        },
    };
    let authority = TokenAuthority::builder(keys)
        .store(Arc::new(store))
        .build()
        .unwrap();
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
    (addr, table)
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
    // Each cancelled attempt was taken back: the five free failures are
    // whole (each check takes 2 s, so the waits between run out).
    tokio::time::sleep(Duration::from_millis(300)).await;
    five_free_failures(addr, false).await;
}

/// Five wrong passwords checked (401): what a fresh pair gets, and nothing
/// less. Then, if the checks are quick, the pair waits (429).
async fn five_free_failures(addr: SocketAddr, then_a_wait: bool) {
    let client = Client::new(addr);
    for i in 0..5 {
        let r = client.login("alice", "a-guess").await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "failure {i}: {}",
            r.json
        );
    }
    if then_a_wait {
        let r = client.login("alice", "a-guess").await;
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.json);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_whose_client_hung_up_while_the_store_counted_does_not_count() {
    // The store counts at once and answers 600 ms later; the clients hang
    // up after 300 ms, before any answer.
    let (addr, _) = serve_on(Duration::from_millis(1), Duration::from_millis(600)).await;
    let body = json!({ "username": "alice", "password": "a-guess" }).to_string();
    for _ in 0..6 {
        hang_up_after_sending(addr, &body).await;
    }
    // Room for the last count's answer and its taking back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    five_free_failures(addr, true).await;
}

/// Clients hanging up at every moment of an attempt before its verdict
/// (while the store counts, while its answer travels back, while the
/// answer is handed to the request, while the password is checked) leave
/// no counter at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hang_ups_at_any_moment_before_the_verdict_leave_no_counter() {
    let (addr, table) = serve_on(Duration::from_secs(30), Duration::from_millis(100)).await;
    // A user each (the address may make 50 attempts in ten minutes), the
    // hang-ups spread over the whole attempt, most of them around the
    // moment the store's answer comes back.
    let clients: Vec<_> = (0..48u16)
        .map(|i| {
            let body = json!({ "username": format!("user{i}"), "password": "a-guess" }).to_string();
            let after = if i < 8 { i * 25 } else { 90 + i % 20 };
            tokio::spawn(async move {
                let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
                let req = format!(
                    "POST /auth/login HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                tcp.write_all(req.as_bytes()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(u64::from(after))).await;
                drop(tcp);
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    // Until every begin has answered and every taking back has run.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !table.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} counters left behind by attempts nobody saw a verdict of",
            table.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
