//! The conformance suite of the [`Store`] contract, written once and run
//! against every implementation.
//!
//! ```
//! use std::sync::Arc;
//! use auth_core::store::{MemoryStore, Store};
//! use auth_core::testing::store_suite;
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)] async fn main() {
//! store_suite::run_all(|clock| async move {
//!     Arc::new(MemoryStore::builder().clock(clock).purge_interval(None).build()) as Arc<dyn Store>
//! })
//! .await;
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::{Clock, ManualClock};
use crate::store::{NewSession, RotateOutcome, Rotation, Store, Verdict};
use crate::{DEFAULT_MAX_SESSIONS_PER_SUBJECT, RevokedBy, TokenRef};

/// The time every case starts at.
pub const START: u64 = 1_700_000_000;

/// Runs every case, each on a fresh store made by `make` around a fresh
/// [`ManualClock`] set to [`START`], then the login throttle's
/// ([`throttle_suite`](super::throttle_suite)). Panics, naming the case, on the first
/// broken rule. The concurrency case wants a multi-threaded runtime.
pub async fn run_all<F, Fut>(mut make: F)
where
    F: FnMut(Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    macro_rules! case {
        ($name:ident) => {{
            let clock = Arc::new(ManualClock::new(START));
            let store = make(clock.clone()).await;
            tracing::info!(case = stringify!($name), "store suite");
            $name(store, &clock).await;
        }};
    }
    case!(denylisted_token_is_refused_others_pass);
    case!(revoked_session_refuses_every_token_of_it);
    case!(revoking_an_unknown_session_still_refuses_it);
    case!(rotation_swaps_the_current_jti);
    case!(a_rotation_with_claims_updates_the_sessions_claims);
    case!(reuse_of_a_rotated_token_revokes_the_session);
    case!(rotation_of_an_unknown_session_is_unknown);
    case!(a_session_is_only_found_under_its_own_subject);
    case!(rotation_never_extends_past_the_absolute_expiry);
    case!(a_superseded_token_within_the_grace_leaves_the_session_alive);
    case!(concurrent_rotations_have_exactly_one_winner);
    case!(logout_all_revokes_every_session_and_sets_a_cutoff);
    case!(logout_all_racing_logins_leaves_no_half_revoked_session);
    case!(login_in_the_cutoff_second_survives_logout_all);
    case!(sessions_are_listed_per_subject_oldest_first);
    case!(sessions_keep_their_device_label);
    case!(the_reuse_grace_is_measured_in_milliseconds);
    case!(a_login_past_the_cap_revokes_the_oldest_session);
    case!(sessions_that_ended_do_not_count_toward_the_cap);
    super::throttle_suite::run_all(START, &mut make).await;
}

/// A session of `subject` created at `now`: refresh token for an hour,
/// session for two, the default session cap. Also a building block for
/// store-specific tests.
pub fn session(subject: &str, now: u64) -> NewSession {
    NewSession {
        sid: Uuid::new_v4(),
        subject: subject.to_owned(),
        refresh_jti: Uuid::new_v4(),
        created_at: now,
        refresh_expires_at: now + 3600,
        expires_at: now + 7200,
        revoke_until: now + 7205,
        claims: "{}".to_owned(),
        device: None,
        max_sessions: DEFAULT_MAX_SESSIONS_PER_SUBJECT,
    }
}

/// A fresh token (new `jti`) of session `s`, issued at `iat`.
pub fn token(s: &NewSession, iat: u64) -> TokenRef<'_> {
    TokenRef {
        jti: Uuid::new_v4(),
        sid: s.sid,
        sub: &s.subject,
        iat,
    }
}

/// A rotation of `s` presenting `presented` at `now` (seconds, on the
/// second), strict (no grace).
pub fn rotation(s: &NewSession, presented: Uuid, now: u64) -> Rotation {
    rotation_at_millis(s, presented, now.saturating_mul(1000), Duration::ZERO)
}

/// [`rotation`] with a reuse grace.
pub fn rotation_with_grace(s: &NewSession, presented: Uuid, now: u64, grace: Duration) -> Rotation {
    rotation_at_millis(s, presented, now.saturating_mul(1000), grace)
}

/// A rotation of `s` presenting `presented` at `now_ms` (milliseconds since
/// the Unix epoch, as [`Clock::now_millis`] reads), with a reuse grace.
pub fn rotation_at_millis(
    s: &NewSession,
    presented: Uuid,
    now_ms: u64,
    grace: Duration,
) -> Rotation {
    Rotation {
        sid: s.sid,
        subject: s.subject.clone(),
        presented,
        next: Uuid::new_v4(),
        now_ms,
        refresh_ttl: 3600,
        grace_ms: u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
        claims: None,
    }
}

async fn verdict(store: &dyn Store, t: &TokenRef<'_>) -> Verdict {
    match store.check(t).await {
        Ok(v) => v,
        Err(e) => panic!("check failed: {e}"),
    }
}

/// A denylisted `jti` is refused; another token of the same session passes.
pub async fn denylisted_token_is_refused_others_pass(store: Arc<dyn Store>, _clock: &ManualClock) {
    let s = session("alice", START);
    store.create_session(s.clone()).await.expect("create");
    let bad = token(&s, START);
    let good = token(&s, START);
    store
        .revoke_token(bad.jti, START + 60)
        .await
        .expect("revoke");
    assert_eq!(
        verdict(&*store, &bad).await,
        Verdict::Revoked(RevokedBy::Token)
    );
    assert_eq!(verdict(&*store, &good).await, Verdict::Allowed);
}

/// Revoking a session refuses all its tokens and removes it from listings.
pub async fn revoked_session_refuses_every_token_of_it(
    store: Arc<dyn Store>,
    _clock: &ManualClock,
) {
    let s = session("alice", START);
    let other = session("alice", START);
    store.create_session(s.clone()).await.expect("create");
    store.create_session(other.clone()).await.expect("create");
    assert!(
        store
            .revoke_session(s.sid, &s.subject, START + 60)
            .await
            .expect("revoke")
    );
    assert!(
        !store
            .revoke_session(s.sid, &s.subject, START + 60)
            .await
            .expect("revoke again")
    );
    for _ in 0..3 {
        assert_eq!(
            verdict(&*store, &token(&s, START)).await,
            Verdict::Revoked(RevokedBy::Session)
        );
    }
    assert_eq!(
        verdict(&*store, &token(&other, START)).await,
        Verdict::Allowed
    );
    let live = store.sessions("alice").await.expect("sessions");
    assert_eq!(live.iter().map(|i| i.sid).collect::<Vec<_>>(), [other.sid]);
    let next = rotation(&s, s.refresh_jti, START + 1);
    assert_eq!(
        store.rotate(next).await.expect("rotate"),
        RotateOutcome::Unknown
    );
}

/// A session the store never saw can still be revoked (its tokens may have
/// been minted by another instance or before a restart).
pub async fn revoking_an_unknown_session_still_refuses_it(
    store: Arc<dyn Store>,
    _clock: &ManualClock,
) {
    let s = session("bob", START);
    assert!(
        !store
            .revoke_session(s.sid, &s.subject, START + 60)
            .await
            .expect("revoke")
    );
    assert_eq!(
        verdict(&*store, &token(&s, START)).await,
        Verdict::Revoked(RevokedBy::Session)
    );
}

/// A rotation with the current `jti` succeeds once and moves the session on.
pub async fn rotation_swaps_the_current_jti(store: Arc<dyn Store>, clock: &ManualClock) {
    let s = session("alice", START);
    store.create_session(s.clone()).await.expect("create");
    clock.advance(Duration::from_secs(10));
    let r1 = rotation(&s, s.refresh_jti, clock.now());
    let RotateOutcome::Rotated(rec) = store.rotate(r1.clone()).await.expect("rotate") else {
        panic!("first rotation must succeed");
    };
    assert_eq!(rec.current_jti, r1.next);
    assert_eq!(rec.last_refreshed_at(), START + 10);
    assert_eq!(rec.refresh_expires_at, START + 10 + 3600);
    assert_eq!(rec.subject, "alice");
    assert_eq!(rec.claims, "{}");
    let r2 = rotation(&s, r1.next, clock.now());
    assert!(matches!(
        store.rotate(r2.clone()).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    let info = store.sessions("alice").await.expect("sessions");
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].last_refreshed_at, START + 10);
}

/// A rotation carrying claims stores them as the session's: the rotation
/// after it (keeping the claims) returns them, not the login's. A rotation
/// that loses (superseded, reused) changes none.
pub async fn a_rotation_with_claims_updates_the_sessions_claims(
    store: Arc<dyn Store>,
    clock: &ManualClock,
) {
    let mut s = session("alice", START);
    s.claims = r#"{"roles":["admin"]}"#.to_owned();
    store.create_session(s.clone()).await.expect("create");
    clock.advance(Duration::from_secs(1));
    let mut demoted = rotation(&s, s.refresh_jti, clock.now());
    demoted.claims = Some(r#"{"roles":["user"]}"#.to_owned());
    let RotateOutcome::Rotated(rec) = store.rotate(demoted.clone()).await.expect("rotate") else {
        panic!("the rotation must succeed");
    };
    assert_eq!(rec.claims, r#"{"roles":["user"]}"#);
    clock.advance(Duration::from_secs(1));
    let kept = rotation(&s, demoted.next, clock.now());
    let RotateOutcome::Rotated(rec) = store.rotate(kept.clone()).await.expect("rotate") else {
        panic!("the second rotation must succeed");
    };
    assert_eq!(
        rec.claims, r#"{"roles":["user"]}"#,
        "Keep keeps the new claims"
    );
    // A stale token carrying claims changes nothing (here: reuse).
    let mut stale = rotation(&s, demoted.next, clock.now());
    stale.claims = Some(r#"{"roles":["root"]}"#.to_owned());
    assert_eq!(
        store.rotate(stale).await.expect("rotate"),
        RotateOutcome::Reused
    );
}

/// Presenting a rotated `jti` revokes the session: the newest token fails too.
pub async fn reuse_of_a_rotated_token_revokes_the_session(
    store: Arc<dyn Store>,
    _clock: &ManualClock,
) {
    let s = session("alice", START);
    store.create_session(s.clone()).await.expect("create");
    let r1 = rotation(&s, s.refresh_jti, START + 1);
    assert!(matches!(
        store.rotate(r1.clone()).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    let replay = rotation(&s, s.refresh_jti, START + 2);
    assert_eq!(
        store.rotate(replay).await.expect("replay"),
        RotateOutcome::Reused
    );
    let newest = rotation(&s, r1.next, START + 3);
    assert_eq!(
        store.rotate(newest).await.expect("newest"),
        RotateOutcome::Unknown
    );
    assert_eq!(
        verdict(&*store, &token(&s, START + 1)).await,
        Verdict::Revoked(RevokedBy::Session)
    );
    assert!(store.sessions("alice").await.expect("sessions").is_empty());
}

/// A session the store does not know cannot be rotated.
pub async fn rotation_of_an_unknown_session_is_unknown(
    store: Arc<dyn Store>,
    _clock: &ManualClock,
) {
    let s = session("carol", START);
    let r = rotation(&s, s.refresh_jti, START);
    assert_eq!(
        store.rotate(r).await.expect("rotate"),
        RotateOutcome::Unknown
    );
}

/// A session is found by its id *and* its subject (stores may shard by
/// subject): a rotation naming another subject is unknown, and a revocation
/// naming another subject leaves the session alive (though its id is
/// denylisted).
pub async fn a_session_is_only_found_under_its_own_subject(
    store: Arc<dyn Store>,
    _clock: &ManualClock,
) {
    let s = session("alice", START);
    store.create_session(s.clone()).await.expect("create");
    let as_mallory = Rotation {
        subject: "mallory".to_owned(),
        ..rotation(&s, s.refresh_jti, START + 1)
    };
    assert_eq!(
        store.rotate(as_mallory).await.expect("rotate"),
        RotateOutcome::Unknown
    );
    assert!(
        !store
            .revoke_session(s.sid, "mallory", START + 60)
            .await
            .expect("revoke"),
        "another subject's revocation removed the session"
    );
    assert_eq!(store.sessions("alice").await.expect("sessions").len(), 1);
    assert!(matches!(
        store
            .rotate(rotation(&s, s.refresh_jti, START + 1))
            .await
            .expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
}

/// Refresh expiry is capped at the absolute expiry, and past it rotation fails.
pub async fn rotation_never_extends_past_the_absolute_expiry(
    store: Arc<dyn Store>,
    clock: &ManualClock,
) {
    let s = session("alice", START);
    store.create_session(s.clone()).await.expect("create");
    clock.advance(Duration::from_secs(3000));
    let r1 = rotation(&s, s.refresh_jti, clock.now());
    let RotateOutcome::Rotated(rec) = store.rotate(r1.clone()).await.expect("rotate") else {
        panic!("rotation within the lifetime must succeed");
    };
    assert_eq!(
        rec.refresh_expires_at,
        START + 3000 + 3600,
        "not capped yet"
    );
    clock.advance(Duration::from_secs(3000));
    let r2 = rotation(&s, r1.next, clock.now());
    let RotateOutcome::Rotated(rec) = store.rotate(r2.clone()).await.expect("rotate") else {
        panic!("rotation within the lifetime must succeed");
    };
    assert_eq!(
        rec.refresh_expires_at, s.expires_at,
        "capped at the absolute expiry"
    );
    clock.set(s.expires_at);
    let r3 = rotation(&s, r2.next, clock.now());
    assert_eq!(
        store.rotate(r3).await.expect("rotate"),
        RotateOutcome::Expired
    );
}

/// A token replaced by a rotation an instant ago is superseded, not reuse:
/// refused, with the session untouched; past the grace it is reuse.
pub async fn a_superseded_token_within_the_grace_leaves_the_session_alive(
    store: Arc<dyn Store>,
    clock: &ManualClock,
) {
    let s = session("alice", START);
    store.create_session(s.clone()).await.expect("create");
    let r1 = rotation_with_grace(&s, s.refresh_jti, START, Duration::from_secs(5));
    assert!(matches!(
        store.rotate(r1.clone()).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    clock.advance(Duration::from_secs(4));
    let late = rotation_with_grace(&s, s.refresh_jti, clock.now(), Duration::from_secs(5));
    assert_eq!(
        store.rotate(late).await.expect("late"),
        RotateOutcome::Superseded
    );
    assert_eq!(
        verdict(&*store, &token(&s, START)).await,
        Verdict::Allowed,
        "session alive"
    );
    clock.advance(Duration::from_secs(1));
    let replay = rotation_with_grace(&s, s.refresh_jti, clock.now(), Duration::from_secs(5));
    assert_eq!(
        store.rotate(replay).await.expect("replay"),
        RotateOutcome::Reused,
        "past the grace"
    );
    assert_eq!(
        verdict(&*store, &token(&s, START)).await,
        Verdict::Revoked(RevokedBy::Session)
    );
}

/// Of many concurrent rotations with one token, exactly one wins; within the
/// grace the others are superseded and the winner's token stays current.
pub async fn concurrent_rotations_have_exactly_one_winner(
    store: Arc<dyn Store>,
    _clock: &ManualClock,
) {
    let s = session("alice", START);
    store.create_session(s.clone()).await.expect("create");
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let store = store.clone();
            let r = rotation_with_grace(&s, s.refresh_jti, START + 1, Duration::from_secs(5));
            let next = r.next;
            tokio::spawn(async move { store.rotate(r).await.map(|o| (next, o)) })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        match t.await.expect("task").expect("rotate") {
            (next, RotateOutcome::Rotated(rec)) => {
                assert_eq!(rec.current_jti, next);
                winners.push(next);
            }
            (_, RotateOutcome::Superseded) => {}
            (_, other) => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1);
    let follow = rotation(&s, winners[0], START + 2);
    assert!(
        matches!(
            store.rotate(follow).await.expect("rotate"),
            RotateOutcome::Rotated(_)
        ),
        "the winner's token is current: no forked or revoked session"
    );
}

/// Logout-all revokes each live session of the subject and no other
/// subject's; tokens issued in earlier seconds are refused by the cut-off.
pub async fn logout_all_revokes_every_session_and_sets_a_cutoff(
    store: Arc<dyn Store>,
    clock: &ManualClock,
) {
    let a1 = session("alice", START);
    let a2 = session("alice", START);
    let b = session("bob", START);
    for s in [&a1, &a2, &b] {
        store.create_session(s.clone()).await.expect("create");
    }
    clock.advance(Duration::from_secs(30));
    let n = store
        .revoke_subject("alice", clock.now(), clock.now() + 7200)
        .await
        .expect("logout-all");
    assert_eq!(n, 2);
    assert_eq!(
        verdict(&*store, &token(&a1, START)).await,
        Verdict::Revoked(RevokedBy::Session)
    );
    assert_eq!(
        verdict(&*store, &token(&a2, START)).await,
        Verdict::Revoked(RevokedBy::Session)
    );
    assert_eq!(verdict(&*store, &token(&b, START)).await, Verdict::Allowed);
    // A token of a session the index never held, issued before the cut-off.
    let stray = session("alice", START);
    assert_eq!(
        verdict(&*store, &token(&stray, START + 29)).await,
        Verdict::Revoked(RevokedBy::Subject)
    );
    assert!(store.sessions("alice").await.expect("sessions").is_empty());
    assert_eq!(store.sessions("bob").await.expect("sessions").len(), 1);
}

/// Logins racing a logout-all end up either revoked or alive, never half:
/// every session the store still lists passes the check, every other fails.
pub async fn logout_all_racing_logins_leaves_no_half_revoked_session(
    store: Arc<dyn Store>,
    clock: &ManualClock,
) {
    let now = clock.now();
    let logins: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let s = session("alice", now);
                store.create_session(s.clone()).await.map(|_| s)
            })
        })
        .collect();
    let logout = {
        let store = store.clone();
        tokio::spawn(async move { store.revoke_subject("alice", now, now + 7200).await })
    };
    let mut created = Vec::new();
    for l in logins {
        created.push(l.await.expect("task").expect("create"));
    }
    logout.await.expect("task").expect("logout-all");
    let live = live_sids(&*store, "alice").await;
    for s in &created {
        let allowed = verdict(&*store, &token(s, now)).await == Verdict::Allowed;
        assert_eq!(
            allowed,
            live.contains(&s.sid),
            "session listed iff its tokens pass"
        );
    }
}

/// A login made in the same second as a logout-all, after it, is unaffected.
pub async fn login_in_the_cutoff_second_survives_logout_all(
    store: Arc<dyn Store>,
    clock: &ManualClock,
) {
    let before = session("alice", clock.now());
    store.create_session(before.clone()).await.expect("create");
    store
        .revoke_subject("alice", clock.now(), clock.now() + 7200)
        .await
        .expect("logout-all");
    let after = session("alice", clock.now());
    store.create_session(after.clone()).await.expect("create");
    assert_eq!(
        verdict(&*store, &token(&before, clock.now())).await,
        Verdict::Revoked(RevokedBy::Session)
    );
    assert_eq!(
        verdict(&*store, &token(&after, clock.now())).await,
        Verdict::Allowed
    );
    let r = rotation(&after, after.refresh_jti, clock.now());
    assert!(matches!(
        store.rotate(r).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
}

/// A session's device label survives rotation and shows in the listing.
pub async fn sessions_keep_their_device_label(store: Arc<dyn Store>, clock: &ManualClock) {
    let labelled = NewSession {
        device: Some("Mozilla/5.0 (X11; Linux x86_64) \"quoted\" é".to_owned()),
        ..session("dana", clock.now())
    };
    store
        .create_session(labelled.clone())
        .await
        .expect("create");
    let plain = session("dana", clock.now());
    store.create_session(plain.clone()).await.expect("create");
    clock.advance(Duration::from_secs(1));
    let next = Uuid::new_v4();
    let rotated = store
        .rotate(Rotation {
            next,
            ..rotation(&labelled, labelled.refresh_jti, clock.now())
        })
        .await
        .expect("rotate");
    match rotated {
        RotateOutcome::Rotated(record) => assert_eq!(record.device, labelled.device),
        other => panic!("expected a rotation, got {other:?}"),
    }
    let list = store.sessions("dana").await.expect("sessions");
    let devices: Vec<_> = list.iter().map(|i| (i.sid, i.device.clone())).collect();
    assert_eq!(
        devices,
        [(labelled.sid, labelled.device.clone()), (plain.sid, None)]
    );
}

/// Sessions are listed per subject, oldest first, with their timestamps.
pub async fn sessions_are_listed_per_subject_oldest_first(
    store: Arc<dyn Store>,
    clock: &ManualClock,
) {
    let first = session("alice", clock.now());
    store.create_session(first.clone()).await.expect("create");
    clock.advance(Duration::from_secs(5));
    let second = session("alice", clock.now());
    store.create_session(second.clone()).await.expect("create");
    store
        .create_session(session("bob", clock.now()))
        .await
        .expect("create");
    let list = store.sessions("alice").await.expect("sessions");
    assert_eq!(
        list.iter().map(|i| i.sid).collect::<Vec<_>>(),
        [first.sid, second.sid]
    );
    assert_eq!(list[0].created_at, START);
    assert_eq!(list[1].created_at, START + 5);
    assert_eq!(list[0].expires_at, first.expires_at);
    assert!(store.sessions("nobody").await.expect("sessions").is_empty());
}

/// The grace is measured in milliseconds: with a 1 s grace, the replaced
/// token presented 999 ms after a rotation (made mid-second) is superseded,
/// and at 1 001 ms it is reuse, which revokes the session.
pub async fn the_reuse_grace_is_measured_in_milliseconds(
    store: Arc<dyn Store>,
    clock: &ManualClock,
) {
    let grace = Duration::from_secs(1);
    let s = session("alice", START);
    store.create_session(s.clone()).await.expect("create");
    clock.advance(Duration::from_millis(250));
    let r1 = rotation_at_millis(&s, s.refresh_jti, clock.now_millis(), grace);
    assert!(matches!(
        store.rotate(r1.clone()).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    clock.advance(Duration::from_millis(999));
    let racing = rotation_at_millis(&s, s.refresh_jti, clock.now_millis(), grace);
    assert_eq!(
        store.rotate(racing).await.expect("racing"),
        RotateOutcome::Superseded,
        "999 ms after the rotation, within a 1 s grace"
    );
    assert_eq!(
        verdict(&*store, &token(&s, START)).await,
        Verdict::Allowed,
        "superseded leaves the session alive"
    );
    clock.advance(Duration::from_millis(2));
    let replay = rotation_at_millis(&s, s.refresh_jti, clock.now_millis(), grace);
    assert_eq!(
        store.rotate(replay).await.expect("replay"),
        RotateOutcome::Reused,
        "1 001 ms after the rotation, past a 1 s grace"
    );
    assert_eq!(
        verdict(&*store, &token(&s, START)).await,
        Verdict::Revoked(RevokedBy::Session)
    );
    let newest = rotation_at_millis(&s, r1.next, clock.now_millis(), grace);
    assert_eq!(
        store.rotate(newest).await.expect("newest"),
        RotateOutcome::Unknown,
        "reuse revoked the whole session"
    );
}

/// With a cap of 100, the 101st login (all in the same second) revokes the
/// first session: its refresh token is unknown, its tokens are refused; the
/// 100 others live on, and logout-all then revokes all of them.
pub async fn a_login_past_the_cap_revokes_the_oldest_session(
    store: Arc<dyn Store>,
    clock: &ManualClock,
) {
    let mut logins = Vec::new();
    for _ in 0..101 {
        let s = NewSession {
            max_sessions: 100,
            ..session("alice", clock.now())
        };
        store.create_session(s.clone()).await.expect("create");
        logins.push(s);
    }
    let bob = session("bob", clock.now());
    store.create_session(bob.clone()).await.expect("create");
    let first = &logins[0];
    assert_eq!(
        verdict(&*store, &token(first, START)).await,
        Verdict::Revoked(RevokedBy::Session),
        "the oldest session's access tokens are refused"
    );
    assert_eq!(
        store
            .rotate(rotation(first, first.refresh_jti, START))
            .await
            .expect("rotate"),
        RotateOutcome::Unknown,
        "the oldest session's refresh token is refused"
    );
    let live = live_sids(&*store, "alice").await;
    assert_eq!(
        live,
        logins[1..].iter().map(|s| s.sid).collect::<Vec<_>>(),
        "the 100 newest, listed in login order"
    );
    for s in &logins[1..] {
        assert_eq!(verdict(&*store, &token(s, START)).await, Verdict::Allowed);
    }
    let second = &logins[1];
    assert!(matches!(
        store
            .rotate(rotation(second, second.refresh_jti, START))
            .await
            .expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    let n = store
        .revoke_subject("alice", START, START + 7200)
        .await
        .expect("logout-all");
    assert_eq!(n, 100);
    for s in &logins {
        assert_eq!(
            verdict(&*store, &token(s, START)).await,
            Verdict::Revoked(RevokedBy::Session)
        );
    }
    assert!(store.sessions("alice").await.expect("sessions").is_empty());
    assert_eq!(
        verdict(&*store, &token(&bob, START)).await,
        Verdict::Allowed
    );
}

/// Only live sessions count toward the cap: one that ended by itself (its
/// refresh token expired) makes room, and no live session is revoked.
pub async fn sessions_that_ended_do_not_count_toward_the_cap(
    store: Arc<dyn Store>,
    clock: &ManualClock,
) {
    let capped = |now| NewSession {
        max_sessions: 2,
        ..session("alice", now)
    };
    let older = capped(START);
    store.create_session(older.clone()).await.expect("create");
    let idle = NewSession {
        refresh_expires_at: START + 10,
        ..capped(START)
    };
    store.create_session(idle.clone()).await.expect("create");
    clock.advance(Duration::from_secs(20));
    let newer = capped(clock.now());
    store.create_session(newer.clone()).await.expect("create");
    for s in [&older, &newer] {
        assert_eq!(
            verdict(&*store, &token(s, START)).await,
            Verdict::Allowed,
            "a live session was revoked though an ended one made room"
        );
    }
    let live = live_sids(&*store, "alice").await;
    assert_eq!(live, [older.sid, newer.sid]);
    let next = capped(clock.now());
    store.create_session(next.clone()).await.expect("create");
    assert_eq!(
        verdict(&*store, &token(&older, START)).await,
        Verdict::Revoked(RevokedBy::Session),
        "past the cap again: the oldest live session goes"
    );
}

/// The ids of `subject`'s live sessions, as the store lists them.
async fn live_sids(store: &dyn Store, subject: &str) -> Vec<Uuid> {
    store
        .sessions(subject)
        .await
        .expect("sessions")
        .iter()
        .map(|i| i.sid)
        .collect()
}
