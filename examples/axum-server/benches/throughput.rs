//! Request throughput of a protected route: bare axum (no auth), the
//! `AuthLayer` on the in-memory store, and on the Redis store, loaded in
//! the same run by the same client; plus the cross-instance revocation delay
//! of the Redis store.
//!
//! `cargo bench -p example-axum-server --bench throughput` (needs
//! `redis-server`; `BENCH_SECS` sets the seconds per round, default 3).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use auth_core::store::{RedisStore, Store, Verdict};
use auth_core::testing::redis_server::RedisServer;
use auth_core::testing::store_suite::{session, token};
use auth_core::{Algorithm, Clock, Key, KeySet, RoleClaims, SystemClock, TokenAuthority};
use auth_tower::AuthLayer;
use axum::Router;
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use uuid::Uuid;

const CONNECTIONS: usize = 32;

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn protected(store: Option<Arc<dyn Store>>) -> (SocketAddr, String) {
    let keys = KeySet::new(Key::hmac(Algorithm::HS256, [7u8; 32]).unwrap()).unwrap();
    let mut builder = TokenAuthority::builder(keys);
    if let Some(store) = store {
        builder = builder.store(store);
    }
    let authority = builder.build().unwrap();
    let pair = authority
        .issue("alice", &RoleClaims::with_roles(["user"]))
        .await
        .unwrap();
    let app = Router::new()
        .route("/profile", get(|| async { "ok" }))
        .layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()));
    (serve(app).await, pair.access_token)
}

/// Requests per second over `secs`, `CONNECTIONS` clients in parallel.
async fn load(addr: SocketAddr, token: Option<&str>, secs: f64) -> f64 {
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(CONNECTIONS)
        .build_http::<Empty<Bytes>>();
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let auth = token.map(|t| format!("Bearer {t}"));
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, done, auth) = (client.clone(), done.clone(), auth.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let mut req = http::Request::get(format!("http://{addr}/profile"));
                    if let Some(a) = &auth {
                        req = req.header("authorization", a);
                    }
                    let res = client
                        .request(req.body(Empty::new()).unwrap())
                        .await
                        .unwrap();
                    assert_eq!(res.status(), 200);
                    res.into_body().collect().await.unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / secs
}

async fn revocation_delays(redis: &RedisServer, rounds: usize) -> Vec<Duration> {
    let prefix = format!("bench{}:", Uuid::new_v4().simple());
    let a = RedisStore::builder(redis.url())
        .prefix(&prefix)
        .build()
        .await
        .unwrap();
    let b = RedisStore::builder(redis.url())
        .prefix(&prefix)
        .build()
        .await
        .unwrap();
    let now = SystemClock.now();
    let mut delays = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let session = session("alice", now);
        let t = token(&session, now);
        let start = Instant::now();
        a.revoke_token(t.jti, now + 600).await.unwrap();
        while b.check(&t).await.unwrap() == Verdict::Allowed {
            tokio::task::yield_now().await;
        }
        delays.push(start.elapsed());
    }
    delays.sort();
    delays
}

#[tokio::main]
async fn main() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);

    let bare = serve(Router::new().route("/profile", get(|| async { "ok" }))).await;
    let (memory, memory_token) = protected(None).await;
    let redis_store = RedisStore::builder(redis.url()).build().await.unwrap();
    let (on_redis, redis_token) = protected(Some(Arc::new(redis_store))).await;

    // Warm up, then interleave rounds so drift hits all three alike.
    load(bare, None, 0.5).await;
    load(memory, Some(&memory_token), 0.5).await;
    load(on_redis, Some(&redis_token), 0.5).await;
    let (mut b, mut m, mut r) = (0.0, 0.0, 0.0);
    for _ in 0..3 {
        b += load(bare, None, secs).await;
        m += load(memory, Some(&memory_token), secs).await;
        r += load(on_redis, Some(&redis_token), secs).await;
    }
    let (b, m, r) = (b / 3.0, m / 3.0, r / 3.0);
    println!("GET /profile, {CONNECTIONS} keep-alive connections, 3 rounds of {secs} s each:");
    println!("  bare axum (no auth)      {b:>10.0} req/s");
    println!(
        "  AuthLayer, memory store  {m:>10.0} req/s  ({:.2}x bare)",
        m / b
    );
    println!(
        "  AuthLayer, Redis store   {r:>10.0} req/s  ({:.2}x memory)",
        r / m
    );

    let delays = revocation_delays(&redis, 200).await;
    let pct = |p: f64| delays[((delays.len() - 1) as f64 * p) as usize];
    println!(
        "cross-instance revocation delay (revoke on A until B refuses, {} rounds): median {:?}, p99 {:?}, max {:?}",
        delays.len(),
        pct(0.5),
        pct(0.99),
        delays[delays.len() - 1]
    );
}
