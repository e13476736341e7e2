//! The login throttle's rules, checked on a store's counters
//! ([`Store::attempts`], or the throttle's own memory when `None`). Run by
//! [`store_suite::run_all`](super::store_suite::run_all) for every store.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::{Clock, ManualClock};
use crate::store::Store;
use crate::throttle::{Attempt, Counter, Decision, LoginThrottle, ThrottlePolicy};

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

/// A new account name per case: stores on one Redis share it.
fn account(name: &str) -> String {
    format!("{name}-{}", Uuid::new_v4())
}

fn waits(d: Decision, counter: Counter) -> Duration {
    match d {
        Decision::Wait {
            counter: c,
            retry_after,
        } if c == counter => retry_after,
        other => panic!("expected a {counter:?} wait, got {other:?}"),
    }
}

async fn fail(t: &LoginThrottle, a: &Attempt) {
    assert_eq!(t.begin(a).await.unwrap(), Decision::Go, "{a:?} may try");
    t.failed(a).await.unwrap();
}

/// Runs every case on a fresh store made by `make` around a fresh
/// [`ManualClock`] set to `start` (Unix seconds), like the store suite.
pub async fn run_all<F, Fut>(start: u64, make: &mut F)
where
    F: FnMut(Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    macro_rules! case {
        ($name:ident) => {{
            let clock = Arc::new(ManualClock::new(start));
            let store = make(clock.clone()).await;
            tracing::info!(case = stringify!($name), "throttle suite");
            let throttle = LoginThrottle::new(store).clock(clock.clone());
            $name(throttle, &clock).await;
        }};
    }
    case!(a_pair_waits_from_its_fifth_failure_doubling_and_a_success_resets);
    case!(a_pairs_wait_holds_no_other_pair);
    case!(an_address_past_its_limit_waits_for_every_account);
    case!(an_account_past_its_limit_waits_for_unknown_devices_only);
    case!(concurrent_attempts_cannot_slip_past_a_wait);
    case!(an_abandoned_attempt_does_not_count);
    case!(concurrent_attempts_cannot_slip_past_an_address_or_account_limit);
    case!(successes_and_abandoned_attempts_are_taken_back_everywhere);
}

/// `n` concurrent begins made by `make(i)`; how many went.
async fn concurrent_gos(t: &LoginThrottle, n: usize, make: impl Fn(usize) -> Attempt) -> usize {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (t, a) = (t.clone(), make(i));
            tokio::spawn(async move { t.begin(&a).await.unwrap() })
        })
        .collect();
    let mut gone = 0;
    for task in tasks {
        if task.await.unwrap() == Decision::Go {
            gone += 1;
        }
    }
    gone
}

async fn concurrent_attempts_cannot_slip_past_an_address_or_account_limit(
    t: LoginThrottle,
    _: &ManualClock,
) {
    let policy = ThrottlePolicy::default()
        .address_failures(3, Duration::from_secs(60))
        .account_failures(3, Duration::from_secs(60));
    let t = t.policy(policy);
    let spray = IpAddr::from(std::net::Ipv6Addr::from(Uuid::new_v4().as_u128()));
    let gone = concurrent_gos(&t, 20, |i| Attempt::new(&account(&format!("u{i}")), spray)).await;
    assert_eq!(gone, 4, "the fourth starts the address's wait");
    let alice = account("alice");
    let gone = concurrent_gos(&t, 20, |i| Attempt::new(&alice, ip(100 + i as u8))).await;
    assert_eq!(gone, 3, "three per account per window");
}

async fn successes_and_abandoned_attempts_are_taken_back_everywhere(
    t: LoginThrottle,
    _: &ManualClock,
) {
    let policy = ThrottlePolicy::default()
        .address_failures(3, Duration::from_secs(60))
        .account_failures(3, Duration::from_secs(60));
    let t = t.policy(policy);
    let address = IpAddr::from(std::net::Ipv6Addr::from(Uuid::new_v4().as_u128()));
    let alice = account("alice");
    for i in 0..10 {
        let a = Attempt::new(&alice, address);
        assert_eq!(t.begin(&a).await.unwrap(), Decision::Go, "attempt {i}");
        if i % 2 == 0 {
            t.succeeded(&a).await.unwrap();
        } else {
            t.abandoned(&a).await.unwrap();
        }
    }
    // None of them counted: the address's and the account's limits are
    // whole, and so is the pair's.
    for _ in 0..3 {
        fail(&t, &Attempt::new(&alice, address)).await;
    }
    waits(
        t.begin(&Attempt::new(&alice, ip(3))).await.unwrap(),
        Counter::Account,
    );
}

async fn an_abandoned_attempt_does_not_count(t: LoginThrottle, _: &ManualClock) {
    let a = Attempt::new(&account("alice"), ip(2));
    for _ in 0..4 {
        fail(&t, &a).await;
    }
    // The fifth begins (and would start the wait), then the backend fails.
    assert_eq!(t.begin(&a).await.unwrap(), Decision::Go);
    t.abandoned(&a).await.unwrap();
    assert_eq!(t.begin(&a).await.unwrap(), Decision::Go, "not counted");
    t.failed(&a).await.unwrap();
    waits(t.begin(&a).await.unwrap(), Counter::Pair);
}

async fn a_pair_waits_from_its_fifth_failure_doubling_and_a_success_resets(
    t: LoginThrottle,
    clock: &ManualClock,
) {
    let a = Attempt::new(&account("alice"), ip(2));
    for _ in 0..5 {
        fail(&t, &a).await;
    }
    assert_eq!(
        waits(t.begin(&a).await.unwrap(), Counter::Pair).as_millis(),
        1000
    );
    clock.advance(Duration::from_millis(400));
    let left = waits(t.begin(&a).await.unwrap(), Counter::Pair);
    assert_eq!(left.as_millis(), 600, "refused attempts are not counted");
    clock.advance(Duration::from_millis(600));
    fail(&t, &a).await;
    assert_eq!(
        waits(t.begin(&a).await.unwrap(), Counter::Pair).as_millis(),
        2000
    );
    clock.advance(Duration::from_secs(2));
    assert_eq!(t.begin(&a).await.unwrap(), Decision::Go);
    t.succeeded(&a).await.unwrap();
    for _ in 0..4 {
        fail(&t, &a).await;
    }
    assert_eq!(
        t.begin(&a).await.unwrap(),
        Decision::Go,
        "the success reset"
    );
}

async fn a_pairs_wait_holds_no_other_pair(t: LoginThrottle, _: &ManualClock) {
    let alice = account("alice");
    let a = Attempt::new(&alice, ip(2));
    for _ in 0..5 {
        fail(&t, &a).await;
    }
    waits(t.begin(&a).await.unwrap(), Counter::Pair);
    let other_address = Attempt::new(&alice, ip(3));
    assert_eq!(t.begin(&other_address).await.unwrap(), Decision::Go);
    let other_account = Attempt::new(&account("bob"), ip(2));
    assert_eq!(t.begin(&other_account).await.unwrap(), Decision::Go);
}

async fn an_address_past_its_limit_waits_for_every_account(t: LoginThrottle, clock: &ManualClock) {
    let policy = ThrottlePolicy::default()
        .free_failures(100)
        .address_failures(3, Duration::from_secs(60));
    let t = t.policy(policy);
    // A fresh address per run: stores on one Redis share address counters.
    let spray = IpAddr::from(std::net::Ipv6Addr::from(Uuid::new_v4().as_u128()));
    for i in 0..4 {
        fail(&t, &Attempt::new(&account(&format!("user{i}")), spray)).await;
    }
    let next = Attempt::new(&account("carol"), spray);
    let left = waits(t.begin(&next).await.unwrap(), Counter::Address);
    assert_eq!(left.as_millis(), 1000);
    let elsewhere = Attempt::new(&account("carol"), ip(9));
    assert_eq!(t.begin(&elsewhere).await.unwrap(), Decision::Go);
    clock.advance(Duration::from_secs(1));
    fail(&t, &next).await;
    let left = waits(t.begin(&next).await.unwrap(), Counter::Address);
    assert_eq!(left.as_millis(), 2000, "the wait doubles");
}

async fn an_account_past_its_limit_waits_for_unknown_devices_only(
    t: LoginThrottle,
    clock: &ManualClock,
) {
    let policy = ThrottlePolicy::default().account_failures(3, Duration::from_secs(60));
    let t = t.policy(policy);
    let alice = account("alice");
    for i in 0..3 {
        fail(&t, &Attempt::new(&alice, ip(10 + i))).await;
    }
    clock.advance(Duration::from_secs(10));
    let stranger = Attempt::new(&alice, ip(20));
    let left = waits(t.begin(&stranger).await.unwrap(), Counter::Account);
    assert_eq!(left.as_secs(), 50, "until the window ends");
    let device = Some(Uuid::new_v4());
    let known = Attempt::new(&alice, ip(20)).from_device(device);
    assert_eq!(t.begin(&known).await.unwrap(), Decision::Go);
    t.failed(&known).await.unwrap();
    for _ in 0..4 {
        fail(&t, &known).await;
    }
    waits(t.begin(&known).await.unwrap(), Counter::Device);
    let other_device = Attempt::new(&alice, ip(20)).from_device(Some(Uuid::new_v4()));
    assert_eq!(t.begin(&other_device).await.unwrap(), Decision::Go);
    clock.advance(Duration::from_secs(50));
    assert_eq!(
        t.begin(&stranger).await.unwrap(),
        Decision::Go,
        "the window ended"
    );
}

async fn concurrent_attempts_cannot_slip_past_a_wait(t: LoginThrottle, _: &ManualClock) {
    let a = Attempt::new(&account("alice"), ip(2));
    let gone = concurrent_gos(&t, 20, |_| a.clone()).await;
    assert_eq!(gone, 5, "the fifth begin starts the wait for all");
}
