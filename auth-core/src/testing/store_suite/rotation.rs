//! The store suite's rotation cases: the compare-and-swap, reuse and its
//! grace, the absolute expiry, concurrent rotations.

use std::sync::Arc;
use std::time::Duration;

use super::{START, rotation, rotation_at_millis, rotation_with_grace, session, token, verdict};
use crate::RevokedBy;
use crate::clock::{Clock, ManualClock};
use crate::store::{RotateOutcome, Store, Verdict};
use uuid::Uuid;

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

/// A session is read back by id under its own subject, with the claims of
/// its last rotation; nothing under another subject or an unknown id.
pub async fn a_session_is_read_back_with_its_claims(store: Arc<dyn Store>, clock: &ManualClock) {
    let mut s = session("alice", START);
    s.claims = r#"{"roles":["admin"]}"#.to_owned();
    store.create_session(s.clone()).await.expect("create");
    let rec = store.session(s.sid, "alice").await.expect("read");
    let rec = rec.expect("the session is found under its subject");
    assert_eq!((rec.sid, rec.subject.as_str()), (s.sid, "alice"));
    assert_eq!(
        (rec.created_at, rec.claims.as_str()),
        (START, r#"{"roles":["admin"]}"#)
    );
    assert!(
        store
            .session(s.sid, "mallory")
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        store
            .session(Uuid::new_v4(), "alice")
            .await
            .expect("read")
            .is_none()
    );
    clock.advance(Duration::from_secs(1));
    let mut demoted = rotation(&s, s.refresh_jti, clock.now());
    demoted.claims = Some(r#"{"roles":["user"]}"#.to_owned());
    assert!(matches!(
        store.rotate(demoted).await.expect("rotate"),
        RotateOutcome::Rotated(_)
    ));
    let rec = store
        .session(s.sid, "alice")
        .await
        .expect("read")
        .expect("found");
    assert_eq!(rec.claims, r#"{"roles":["user"]}"#);
    store
        .revoke_session(s.sid, "alice", START + 7200)
        .await
        .expect("revoke");
    assert!(store.session(s.sid, "alice").await.expect("read").is_none());
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
