//! Sessions: the cap, logout, logout-all, listing and revoking one.

use super::*;

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
