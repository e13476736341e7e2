//! The token lifecycle: refresh with rotation, reuse detection, logout,
//! logout-all, sessions, absolute lifetime, purge, and failing closed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use auth_core::store::{
    BoxFuture, Check, MemoryStore, NewSession, RotateOutcome, Rotation, SessionInfo, Store,
    StoreError,
};
use auth_core::testing::store_suite;
use auth_core::{
    AuthError, ErrorClass, Key, KeySet, LogoutTokens, NoClaims, Reload, RevokedBy, TokenAuthority,
    TokenRef,
};
use common::*;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_passes_the_store_suite() {
    store_suite::run_all(|clock| async move {
        Arc::new(
            MemoryStore::builder()
                .clock(clock)
                .purge_interval(None)
                .build(),
        ) as Arc<dyn Store>
    })
    .await;
}

#[tokio::test]
async fn refresh_rotates_keeps_the_session_and_the_claims() {
    let f = fixture();
    let first = f
        .authority
        .issue("alice", &roles(&["user"]))
        .await
        .expect("issue");
    f.clock.advance(Duration::from_secs(60));
    let second = f
        .authority
        .refresh(&first.refresh_token)
        .await
        .expect("refresh");
    assert_eq!(second.session_id, first.session_id);
    assert_ne!(second.refresh_token, first.refresh_token);
    let v = f.authority.validator();
    let c = v
        .validate_access::<Roles>(&second.access_token)
        .await
        .expect("valid");
    assert_eq!(
        (c.sub.as_str(), c.extra.roles.as_slice()),
        ("alice", &["user".to_string()][..])
    );
    let old = v
        .decode_access::<Roles>(&first.access_token)
        .expect("decode");
    assert_ne!(c.jti, old.jti);
    let r1 = v.decode_refresh(&first.refresh_token).expect("r1");
    let r2 = v.decode_refresh(&second.refresh_token).expect("r2");
    assert_ne!(r1.jti, r2.jti);
    assert_eq!(r2.exp, f.clock.now() + 14 * 24 * 3600);
    // Earlier access tokens stay valid until they expire: rotation is not logout.
    v.validate_access::<Roles>(&first.access_token)
        .await
        .expect("old access still valid");
}

#[tokio::test]
async fn refresh_with_reloads_claims_refuses_or_waits_for_the_application() {
    let f = fixture();
    let v = f.authority.validator();
    let pair = f
        .authority
        .issue("alice", &roles(&["admin"]))
        .await
        .expect("issue");

    // The directory is down: 503-class error, nothing rotated, the same
    // token works once it is back.
    let down = f
        .authority
        .refresh_with(&pair.refresh_token, |_| async {
            Reload::<Roles>::Unavailable("ldap timeout".into())
        })
        .await;
    assert!(
        matches!(&down, Err(e @ AuthError::ClaimsUnavailable(_)) if e.class() == ErrorClass::Unavailable),
        "{down:?}"
    );

    // Demoted: the new access token carries the new roles; the hook saw
    // the subject.
    let demoted = f
        .authority
        .refresh_with(&pair.refresh_token, |subject| async move {
            assert_eq!(subject, "alice");
            Reload::Replace(roles(&["user"]))
        })
        .await
        .expect("refresh after the outage");
    let c = v
        .validate_access::<Roles>(&demoted.access_token)
        .await
        .expect("valid");
    assert_eq!(c.extra.roles, ["user"]);

    // Keep: the session's claims, which the demotion replaced: a demoted
    // user stays demoted.
    let kept = f
        .authority
        .refresh_with(&demoted.refresh_token, |_| async { Reload::<Roles>::Keep })
        .await
        .expect("refresh");
    let c = v
        .validate_access::<Roles>(&kept.access_token)
        .await
        .expect("valid");
    assert_eq!(c.extra.roles, ["user"]);

    // Claims that collide with a registered claim are a server error, and
    // change nothing.
    let bad = f
        .authority
        .refresh_with(&kept.refresh_token, |_| async {
            Reload::Replace(serde_json::json!({ "sub": "mallory" }))
        })
        .await;
    assert!(matches!(bad, Err(AuthError::Claims(_))), "{bad:?}");

    // Disabled: refused, and the whole session is gone, access tokens too.
    let refused = f
        .authority
        .refresh_with(&kept.refresh_token, |_| async {
            Reload::<Roles>::Refuse("account disabled".into())
        })
        .await;
    assert!(
        matches!(&refused, Err(e @ AuthError::SessionRefused(_)) if e.class() == ErrorClass::InvalidToken),
        "{refused:?}"
    );
    assert!(
        f.authority
            .sessions("alice")
            .await
            .expect("list")
            .is_empty()
    );
    let err = v
        .validate_access::<Roles>(&kept.access_token)
        .await
        .expect_err("the session's access token is revoked");
    assert!(
        matches!(err, AuthError::Revoked(RevokedBy::Session)),
        "{err:?}"
    );
    assert!(f.authority.refresh(&kept.refresh_token).await.is_err());
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_session() {
    let f = fixture();
    let first = f.login("alice").await;
    let second = f
        .authority
        .refresh(&first.refresh_token)
        .await
        .expect("refresh");
    // Past the 2 s reuse grace a replay is reuse, not a lost race.
    f.clock.advance(Duration::from_secs(2));
    assert!(matches!(
        f.authority.refresh(&first.refresh_token).await,
        Err(AuthError::RefreshReused)
    ));
    assert!(matches!(
        f.authority.refresh(&second.refresh_token).await,
        Err(AuthError::Revoked(RevokedBy::Session))
    ));
    let v = f.authority.validator();
    for t in [&first.access_token, &second.access_token] {
        assert!(matches!(
            v.validate_access::<Roles>(t).await,
            Err(AuthError::Revoked(RevokedBy::Session))
        ));
    }
    assert!(
        f.authority
            .sessions("alice")
            .await
            .expect("sessions")
            .is_empty()
    );
}

async fn race(f: &Fixture, refresh_token: &str) -> (Vec<auth_core::TokenPair>, usize) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let authority = f.authority.clone();
            let token = refresh_token.to_owned();
            tokio::spawn(async move { authority.refresh(&token).await })
        })
        .collect();
    let (mut winners, mut losers) = (Vec::new(), 0);
    for t in tasks {
        match t.await.expect("join") {
            Ok(pair) => winners.push(pair),
            Err(
                AuthError::RefreshSuperseded | AuthError::RefreshReused | AuthError::Revoked(_),
            ) => losers += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    (winners, losers)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_have_one_winner_whose_pair_keeps_working() {
    let f = fixture();
    let pair = f.login("alice").await;
    let (winners, losers) = race(&f, &pair.refresh_token).await;
    assert_eq!((winners.len(), losers), (1, 15));
    let v = f.authority.validator();
    v.validate_access::<Roles>(&winners[0].access_token)
        .await
        .expect("the losers did not revoke the winner's session");
    let next = f
        .authority
        .refresh(&winners[0].refresh_token)
        .await
        .expect("one lineage goes on");
    assert_eq!(next.session_id, pair.session_id);
    assert_eq!(
        f.authority.sessions("alice").await.expect("s").len(),
        1,
        "no forked session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_zero_grace_concurrent_refreshes_count_as_reuse() {
    let f = fixture_with(hs256(), |b| b.reuse_grace(Duration::ZERO));
    let pair = f.login("alice").await;
    let (winners, _) = race(&f, &pair.refresh_token).await;
    assert_eq!(winners.len(), 1);
    assert!(matches!(
        f.authority
            .validator()
            .validate_access::<Roles>(&winners[0].access_token)
            .await,
        Err(AuthError::Revoked(RevokedBy::Session))
    ));
}

#[tokio::test]
async fn the_reuse_grace_is_measured_in_milliseconds() {
    let f = fixture_with(hs256(), |b| b.reuse_grace(Duration::from_secs(1)));
    let first = f.login("alice").await;
    // Rotate mid-second, so a grace counted in whole seconds would end early.
    f.clock.advance(Duration::from_millis(600));
    let second = f
        .authority
        .refresh(&first.refresh_token)
        .await
        .expect("refresh");
    f.clock.advance(Duration::from_millis(999));
    let err = f.authority.refresh(&first.refresh_token).await.unwrap_err();
    assert!(matches!(err, AuthError::RefreshSuperseded), "{err}");
    assert_ne!(err.description(), AuthError::RefreshReused.description());
    f.clock.advance(Duration::from_millis(2));
    assert!(matches!(
        f.authority.refresh(&first.refresh_token).await,
        Err(AuthError::RefreshReused)
    ));
    assert!(matches!(
        f.authority
            .validator()
            .validate_access::<Roles>(&second.access_token)
            .await,
        Err(AuthError::Revoked(RevokedBy::Session))
    ));
}

#[tokio::test]
async fn a_login_past_the_session_cap_logs_out_the_oldest() {
    let f = fixture_with(hs256(), |b| b.max_sessions_per_subject(2));
    let first = f.login("alice").await;
    let second = f.login("alice").await;
    let third = f.login("alice").await;
    let v = f.authority.validator();
    assert!(matches!(
        v.validate_access::<Roles>(&first.access_token).await,
        Err(AuthError::Revoked(RevokedBy::Session))
    ));
    assert!(matches!(
        f.authority.refresh(&first.refresh_token).await,
        Err(AuthError::Revoked(RevokedBy::Session))
    ));
    for pair in [&second, &third] {
        v.validate_access::<Roles>(&pair.access_token)
            .await
            .expect("the newer sessions live");
    }
    let live: Vec<_> = f
        .authority
        .sessions("alice")
        .await
        .expect("sessions")
        .iter()
        .map(|i| i.sid)
        .collect();
    assert_eq!(live, [second.session_id, third.session_id]);
    assert_eq!(
        f.authority.logout_all("alice").await.expect("logout-all"),
        2
    );
}

#[test]
fn the_session_cap_defaults_to_100_and_refuses_zero() {
    let keys = || KeySet::new(hs256()).expect("keys");
    let authority = TokenAuthority::builder(keys()).build().expect("authority");
    assert_eq!(authority.config().max_sessions_per_subject, 100);
    assert_eq!(auth_core::DEFAULT_MAX_SESSIONS_PER_SUBJECT, 100);
    let err = TokenAuthority::builder(keys())
        .max_sessions_per_subject(0)
        .build()
        .unwrap_err();
    assert!(
        matches!(err, auth_core::ConfigError::NoSessionsAllowed),
        "{err}"
    );
    // An unbounded cap would make the store's create step unbounded.
    let limit = auth_core::MAX_SESSIONS_PER_SUBJECT_LIMIT;
    assert!(
        TokenAuthority::builder(keys())
            .max_sessions_per_subject(limit + 1)
            .build()
            .is_err()
    );
    assert!(
        TokenAuthority::builder(keys())
            .max_sessions_per_subject(limit)
            .build()
            .is_ok()
    );
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused_and_nothing_is_revoked() {
    let f = fixture();
    let pair = f.login("alice").await;
    f.clock.advance(Duration::from_secs(14 * 24 * 3600 + 5));
    assert!(matches!(
        f.authority.refresh(&pair.refresh_token).await,
        Err(AuthError::Expired)
    ));
    // The session was not revoked: a token of it still passes the store.
    let probe = TokenRef {
        jti: Uuid::new_v4(),
        sid: pair.session_id,
        sub: "alice",
        iat: f.clock.now(),
    };
    assert_eq!(
        f.store.check(&probe).await.expect("check"),
        auth_core::store::Verdict::Allowed
    );
}

#[tokio::test]
async fn rotation_never_extends_a_session_past_its_absolute_lifetime() {
    let f = fixture_with(hs256(), |b| {
        b.access_ttl(Duration::from_secs(600))
            .refresh_ttl(Duration::from_secs(3600))
            .session_lifetime(Duration::from_secs(5000))
    });
    let start = f.clock.now();
    let mut pair = f.login("alice").await;
    f.clock.advance(Duration::from_secs(3000));
    pair = f
        .authority
        .refresh(&pair.refresh_token)
        .await
        .expect("refresh within lifetime");
    let v = f.authority.validator();
    assert_eq!(
        v.decode_refresh(&pair.refresh_token).expect("r").exp,
        start + 5000,
        "capped"
    );
    f.clock.advance(Duration::from_secs(1900));
    pair = f
        .authority
        .refresh(&pair.refresh_token)
        .await
        .expect("refresh near the end");
    assert_eq!(
        v.decode_access::<Roles>(&pair.access_token).expect("a").exp,
        start + 5000,
        "access capped too"
    );
    assert_eq!(pair.expires_in, 100);
    f.clock.advance(Duration::from_secs(100));
    assert!(matches!(
        f.authority.refresh(&pair.refresh_token).await,
        Err(AuthError::SessionExpired)
    ));
}

#[tokio::test]
async fn logout_revokes_the_session_and_the_access_token() {
    let f = fixture();
    let pair = f.login("alice").await;
    let other = f.login("alice").await;
    let out = f
        .logout(Some(&pair.refresh_token), Some(&pair.access_token))
        .await;
    assert_eq!(out.sessions_revoked, 1);
    assert!(out.access_token_revoked);
    let v = f.authority.validator();
    assert!(matches!(
        v.validate_access::<Roles>(&pair.access_token).await,
        Err(AuthError::Revoked(_))
    ));
    assert!(f.authority.refresh(&pair.refresh_token).await.is_err());
    v.validate_access::<Roles>(&other.access_token)
        .await
        .expect("the other device is untouched");
    // Idempotent, and never an oracle: garbage and repeats are fine.
    let again = f.logout(Some(&pair.refresh_token), Some("garbage")).await;
    assert_eq!(again.sessions_revoked, 0);
}

#[tokio::test]
async fn logout_with_an_expired_access_token_still_ends_its_session() {
    let f = fixture();
    let pair = f.login("alice").await;
    f.clock.advance(Duration::from_secs(16 * 60));
    let out = f.logout(None, Some(&pair.access_token)).await;
    assert_eq!(out.sessions_revoked, 1);
    assert!(
        !out.access_token_revoked,
        "an expired token needs no denylist entry"
    );
    assert!(matches!(
        f.authority.refresh(&pair.refresh_token).await,
        Err(AuthError::Revoked(RevokedBy::Session))
    ));
    // A forged token, expired or not, revokes nothing.
    let other = f.login("bob").await;
    let (h, p, _) = parts(&other.access_token);
    let forged = forge_hs256(&h, &p, b"another-secret-that-is-32-bytes!");
    let out = f.logout(None, Some(&forged)).await;
    assert_eq!(out, auth_core::LogoutOutcome::default());
    f.authority
        .refresh(&other.refresh_token)
        .await
        .expect("bob untouched");
}

#[tokio::test]
async fn a_user_can_revoke_only_their_own_sessions() {
    let f = fixture();
    let alice = f.login("alice").await;
    let bob = f.login("bob").await;
    assert!(
        !f.authority
            .revoke_session_of("alice", bob.session_id)
            .await
            .expect("revoke")
    );
    f.authority
        .refresh(&bob.refresh_token)
        .await
        .expect("bob's session survives");
    assert!(
        f.authority
            .revoke_session_of("alice", alice.session_id)
            .await
            .expect("revoke")
    );
    assert!(f.authority.refresh(&alice.refresh_token).await.is_err());
}

#[tokio::test]
async fn logout_with_only_an_access_token_ends_its_session() {
    let f = fixture();
    let pair = f.login("alice").await;
    f.logout(None, Some(&pair.access_token)).await;
    assert!(matches!(
        f.authority.refresh(&pair.refresh_token).await,
        Err(AuthError::Revoked(_))
    ));
}

#[tokio::test]
async fn logout_all_kills_every_session_but_not_a_login_in_the_same_second() {
    let f = fixture();
    let a = f.login("alice").await;
    let b = f.login("alice").await;
    let bob = f.login("bob").await;
    let b2 = f
        .authority
        .refresh(&b.refresh_token)
        .await
        .expect("b refreshed in the same second");
    let before = f.clock.now();
    assert_eq!(
        f.authority.logout_all("alice").await.expect("logout-all"),
        2
    );
    // The clock has not moved: this login shares the second of the logout-all.
    let after = f.login("alice").await;
    assert_eq!(f.clock.now(), before);
    let v = f.authority.validator();
    for t in [&a.access_token, &b.access_token, &b2.access_token] {
        assert!(
            v.validate_access::<Roles>(t).await.is_err(),
            "issued before logout-all"
        );
    }
    for t in [&a.refresh_token, &b2.refresh_token] {
        assert!(f.authority.refresh(t).await.is_err());
    }
    v.validate_access::<Roles>(&after.access_token)
        .await
        .expect("new login works");
    let after2 = f
        .authority
        .refresh(&after.refresh_token)
        .await
        .expect("and refreshes");
    v.validate_access::<Roles>(&after2.access_token)
        .await
        .expect("valid");
    v.validate_access::<Roles>(&bob.access_token)
        .await
        .expect("other users untouched");
    let sessions: Vec<Uuid> = f
        .authority
        .sessions("alice")
        .await
        .expect("s")
        .iter()
        .map(|s| s.sid)
        .collect();
    assert_eq!(sessions, [after.session_id]);
}

#[tokio::test]
async fn sessions_list_created_and_last_refreshed_and_revoke_one() {
    let f = fixture();
    let t0 = f.clock.now();
    let phone = f.login("alice").await;
    f.clock.advance(Duration::from_secs(10));
    let laptop = f.login("alice").await;
    f.clock.advance(Duration::from_secs(10));
    f.authority
        .refresh(&phone.refresh_token)
        .await
        .expect("refresh");
    let list = f.authority.sessions("alice").await.expect("sessions");
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[0].sid, list[0].created_at, list[0].last_refreshed_at),
        (phone.session_id, t0, t0 + 20)
    );
    assert_eq!(
        (list[1].sid, list[1].created_at, list[1].last_refreshed_at),
        (laptop.session_id, t0 + 10, t0 + 10)
    );
    assert!(
        f.authority
            .revoke_session("alice", phone.session_id)
            .await
            .expect("revoke")
    );
    let list = f.authority.sessions("alice").await.expect("sessions");
    assert_eq!(
        list.iter().map(|s| s.sid).collect::<Vec<_>>(),
        [laptop.session_id]
    );
}

#[tokio::test]
async fn expired_entries_are_purged_so_memory_follows_live_tokens() {
    let f = fixture_with(hs256(), |b| {
        b.refresh_ttl(Duration::from_secs(3600))
            .leeway(Duration::ZERO)
    });
    for _ in 0..10 {
        f.authority
            .test_tokens()
            .revoked_access("alice", &roles(&[]))
            .await
            .expect("mint");
    }
    let live = f.login("bob").await;
    f.authority
        .logout_all("carol")
        .await
        .expect("cut-off entry");
    assert!(
        f.store.len() == 22,
        "10 denied jtis, 10 revoked sessions, 1 live session, 1 cut-off"
    );
    assert_eq!(f.store.purge_expired(), 0, "nothing expired yet");
    f.clock.advance(Duration::from_secs(15 * 60));
    let purged = f.store.purge_expired();
    // Every access token of the revoked sessions and of carol has expired
    // too, so their revocations go with the denied tokens: the per-request
    // denylist follows one access lifetime, not the session lifetime.
    assert_eq!(
        purged, 21,
        "10 denied jtis, 10 revoked sessions and the cut-off"
    );
    f.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        f.store.purge_expired(),
        1,
        "bob's session can no longer be refreshed"
    );
    assert!(f.store.is_empty(), "{} entries left", f.store.len());
    assert!(f.authority.refresh(&live.refresh_token).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn the_background_task_purges_without_being_asked() {
    let clock = Arc::new(auth_core::ManualClock::starting_now());
    let store = MemoryStore::builder()
        .clock(clock.clone())
        .purge_interval(Some(Duration::from_secs(60)))
        .build();
    store
        .revoke_token(Uuid::new_v4(), clock.now() + 10)
        .await
        .expect("revoke");
    assert_eq!(store.len(), 1);
    clock.advance(Duration::from_secs(11));
    tokio::time::sleep(Duration::from_secs(61)).await; // paused time: instant
    assert_eq!(store.len(), 0);
}

/// A store whose every operation fails, as when its backend is down. Its
/// check fails later (through a future) or at once.
#[derive(Debug)]
struct DownStore {
    check_at_once: bool,
}

fn down<T: Send + 'static>() -> BoxFuture<'static, Result<T, StoreError>> {
    Box::pin(async { Err(StoreError::Unavailable("backend down".into())) })
}

impl Store for DownStore {
    fn check(&self, _: &TokenRef<'_>) -> Check {
        if self.check_at_once {
            return Check::ready(Err(StoreError::Unavailable("backend down".into())));
        }
        Check::pending(async { Err(StoreError::Unavailable("backend down".into())) })
    }
    fn create_session(&self, _: NewSession) -> BoxFuture<'_, Result<(), StoreError>> {
        down()
    }
    fn rotate(&self, _: Rotation) -> BoxFuture<'_, Result<RotateOutcome, StoreError>> {
        down()
    }
    fn revoke_token(&self, _: Uuid, _: u64) -> BoxFuture<'_, Result<(), StoreError>> {
        down()
    }
    fn revoke_session<'a>(
        &'a self,
        _: Uuid,
        _: &'a str,
        _: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        down()
    }
    fn revoke_subject<'a>(
        &'a self,
        _: &'a str,
        _: u64,
        _: u64,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        down()
    }
    fn sessions<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>> {
        down()
    }
}

#[tokio::test]
async fn a_failing_store_fails_closed() {
    for check_at_once in [false, true] {
        failing_store_fails_closed(check_at_once).await;
    }
}

async fn failing_store_fails_closed(check_at_once: bool) {
    let up = fixture();
    let pair = up.login("alice").await;
    let authority = TokenAuthority::builder(KeySet::new(hs256()).expect("set"))
        .store(Arc::new(DownStore { check_at_once }))
        .build()
        .expect("authority");
    let v = authority.validator();
    let err = v
        .validate_access::<NoClaims>(&pair.access_token)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Store(_)), "{err}");
    assert_eq!(err.class(), ErrorClass::Unavailable);
    assert_eq!(err.class().http_status(), 503);
    assert!(matches!(
        authority.refresh(&pair.refresh_token).await,
        Err(AuthError::Store(_))
    ));
    assert!(matches!(
        authority.issue("alice", &NoClaims {}).await,
        Err(AuthError::Store(_))
    ));
    assert!(matches!(
        authority.logout_all("alice").await,
        Err(AuthError::Store(_))
    ));
    let logout = authority
        .logout(LogoutTokens {
            refresh_token: Some(&pair.refresh_token),
            access_token: None,
        })
        .await;
    assert!(
        matches!(logout, Err(AuthError::Store(_))),
        "a logout that could not revoke says so"
    );
    // Crypto and claims are still checked first, so a bad token is still a 401.
    assert_eq!(
        v.validate_access::<NoClaims>("garbage")
            .await
            .unwrap_err()
            .class(),
        ErrorClass::InvalidToken
    );
}

#[tokio::test]
async fn the_default_store_is_in_memory_and_works_out_of_the_box() {
    let authority = TokenAuthority::builder(
        KeySet::new(Key::generate(auth_core::Algorithm::ES256).expect("k")).expect("s"),
    )
    .build()
    .expect("authority");
    let pair = authority.issue("alice", &NoClaims {}).await.expect("issue");
    authority
        .refresh(&pair.refresh_token)
        .await
        .expect("refresh");
    assert!(matches!(
        authority.refresh(&pair.refresh_token).await,
        Err(AuthError::RefreshSuperseded)
    ));
}

#[tokio::test]
async fn revocations_stay_in_the_request_path_for_one_access_lifetime_only() {
    let f = fixture_with(hs256(), |b| {
        b.access_ttl(Duration::from_secs(60))
            .leeway(Duration::from_secs(5))
    });
    let ended = f.login("alice").await;
    let everywhere = f.login("bob").await;
    let empty = f.store.len();
    f.logout(Some(&ended.refresh_token), Some(&ended.access_token))
        .await;
    f.authority.logout_all("bob").await.unwrap();
    assert!(f.store.len() > empty - 2, "revocations recorded");
    let v = f.authority.validator();
    f.clock.advance(Duration::from_secs(30));
    for token in [&ended.access_token, &everywhere.access_token] {
        assert!(matches!(
            v.validate_access::<NoClaims>(token).await,
            Err(AuthError::Revoked(_))
        ));
    }
    // One access lifetime plus leeway later, every token of those sessions
    // has expired by itself: the denylist entries go at the next purge...
    f.clock.advance(Duration::from_secs(36));
    f.store.purge_expired();
    assert_eq!(f.store.len(), 0, "nothing of the revocations is left");
    for token in [&ended.access_token, &everywhere.access_token] {
        assert!(matches!(
            v.validate_access::<NoClaims>(token).await,
            Err(AuthError::Expired)
        ));
    }
    // ... while their refresh tokens stay refused: the session records are gone.
    for token in [&ended.refresh_token, &everywhere.refresh_token] {
        assert!(matches!(
            f.authority.refresh(token).await,
            Err(AuthError::Revoked(RevokedBy::Session))
        ));
    }
}
