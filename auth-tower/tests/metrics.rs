//! Feature `metrics`: every refusal of the layers is counted by class, and a
//! store that could not answer a check is counted as a store error.
#![cfg(feature = "metrics")]

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use auth_core::RoleClaims;
use auth_core::metrics::{REFUSALS, STORE_DURATION, STORE_ERRORS};
use auth_core::store::MemoryStore;
use auth_tower::{AuthLayer, RequireLayer};
use common::*;
use http::{Request, Response};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use tower::{ServiceBuilder, ServiceExt};

/// A recorder that keeps counters by name and labels.
#[derive(Default)]
struct Counts(Mutex<Vec<(String, Arc<AtomicU64>)>>);

impl Counts {
    fn get(&self, name: &str, labels: &str) -> u64 {
        let key = format!("{name}{{{labels}}}");
        let counters = self.0.lock().expect("lock");
        counters
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, c)| c.load(Ordering::Relaxed))
            .sum()
    }
}

impl Recorder for Counts {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}=\"{}\"", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        let counter = Arc::new(AtomicU64::new(0));
        self.0.lock().expect("lock").push((name, counter.clone()));
        Counter::from_arc(counter)
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        // Counts samples, under the same naming as counters.
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}=\"{}\"", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        let count = Arc::new(AtomicU64::new(0));
        self.0.lock().expect("lock").push((name, count.clone()));
        Histogram::from_arc(Arc::new(Samples(count)))
    }
}

/// A histogram that counts its samples.
struct Samples(Arc<AtomicU64>);

impl metrics::HistogramFn for Samples {
    fn record(&self, _: f64) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// Sends `req` through `layer` (and a role guard) on this thread, with
/// `counts` as the recorder.
fn send(counts: &Counts, layer: AuthLayer<RoleClaims>, req: Request<()>) -> u16 {
    let service = ServiceBuilder::new()
        .layer(layer)
        .layer(RequireLayer::<_, RoleClaims>::role("admin"))
        .service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(())) });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    metrics::with_local_recorder(counts, || {
        runtime
            .block_on(service.oneshot(req))
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    })
}

fn get(token: Option<&str>) -> Request<()> {
    let mut req = Request::get("/");
    if let Some(t) = token {
        req = req.header("authorization", bearer(t));
    }
    req.body(()).expect("request")
}

#[test]
fn refusals_are_counted_by_class() {
    let app = app();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (user, admin) = runtime.block_on(async {
        (
            access(&app, &["user"]).await,
            access(&app, &["admin"]).await,
        )
    });
    let layer = || AuthLayer::new(app.authority.validator().clone());
    let counts = Counts::default();

    assert_eq!(send(&counts, layer(), get(None)), 401);
    assert_eq!(send(&counts, layer(), get(Some("x.y.z"))), 401);
    assert_eq!(send(&counts, layer(), get(Some("x.y.z"))), 401);
    assert_eq!(send(&counts, layer(), get(Some(&user))), 403);
    assert_eq!(send(&counts, layer(), get(Some(&admin))), 200);

    let class = |c: &str| counts.get(REFUSALS, &format!("class=\"{c}\""));
    assert_eq!(class("missing_token"), 1);
    assert_eq!(class("invalid_token"), 2);
    assert_eq!(class("insufficient_scope"), 1);
    assert_eq!(counts.get(STORE_ERRORS, "op=\"check\""), 0);
}

#[test]
fn a_store_that_cannot_answer_a_check_is_a_store_error() {
    let down = app_with(Some(Arc::new(AsyncCheck(
        MemoryStore::new(),
        Backend::Down,
    ))));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let token = runtime.block_on(access(&down, &["admin"]));
    let counts = Counts::default();
    let layer = AuthLayer::new(down.authority.validator().clone());
    assert_eq!(send(&counts, layer, get(Some(&token))), 503);
    assert_eq!(counts.get(STORE_ERRORS, "op=\"check\""), 1);
    assert_eq!(counts.get(REFUSALS, "class=\"temporarily_unavailable\""), 1);
}

#[test]
fn checks_that_wait_on_the_store_are_timed_and_memory_answers_are_not() {
    let waiting = app_with(Some(Arc::new(AsyncCheck(MemoryStore::new(), Backend::Up))));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let token = runtime.block_on(access(&waiting, &["admin"]));
    let counts = Counts::default();
    let layer = AuthLayer::new(waiting.authority.validator().clone());
    assert_eq!(send(&counts, layer, get(Some(&token))), 200);
    assert_eq!(counts.get(STORE_DURATION, "op=\"check\""), 1);

    let memory = app();
    let token = runtime.block_on(access(&memory, &["admin"]));
    let counts = Counts::default();
    let layer = AuthLayer::new(memory.authority.validator().clone());
    assert_eq!(send(&counts, layer, get(Some(&token))), 200);
    assert_eq!(counts.get(STORE_DURATION, "op=\"check\""), 0);
}
