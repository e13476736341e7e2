//! The store suite's revocation cases: denylisted tokens, revoked sessions,
//! logout-all and its cut-off.

use std::sync::Arc;
use std::time::Duration;

use super::sessions::live_sids;
use super::{START, rotation, session, token, verdict};
use crate::RevokedBy;
use crate::clock::{Clock, ManualClock};
use crate::store::{RotateOutcome, Store, Verdict};

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
