//! The store suite's session cases: finding, listing and capping a
//! subject's sessions.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::{START, rotation, session, token, verdict};
use crate::RevokedBy;
use crate::clock::{Clock, ManualClock};
use crate::store::{NewSession, RotateOutcome, Rotation, Store, Verdict};

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
pub(super) async fn live_sids(store: &dyn Store, subject: &str) -> Vec<Uuid> {
    store
        .sessions(subject)
        .await
        .expect("sessions")
        .iter()
        .map(|i| i.sid)
        .collect()
}
