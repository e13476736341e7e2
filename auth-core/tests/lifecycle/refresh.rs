//! Refresh: rotation, reloaded claims, reuse, concurrent refreshes and the
//! grace, expiry and the absolute lifetime.

use super::*;

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
    // A refresh is no sign-in: the login time stays the session's.
    assert_eq!(old.auth_time, Some(old.iat), "the login's token: now");
    assert_eq!(c.auth_time, old.auth_time, "kept by the refresh");
    assert_eq!(c.iat, old.iat + 60);
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
    // the session: its id, subject, login time and login claims.
    let sid = v
        .validate_access::<Roles>(&pair.access_token)
        .await
        .expect("valid")
        .sid;
    let demoted = f
        .authority
        .refresh_with(&pair.refresh_token, |session: Session<Roles>| async move {
            assert_eq!((session.id, session.subject.as_str()), (sid, "alice"));
            assert!(session.login_at.is_some());
            assert_eq!(
                session.claims.map(|c| c.roles),
                Some(vec!["admin".to_string()])
            );
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
        .refresh_with(
            &demoted.refresh_token,
            |session: Session<Roles>| async move {
                // The session's claims are the replacement's now.
                assert_eq!(
                    session.claims.map(|c| c.roles),
                    Some(vec!["user".to_string()])
                );
                Reload::Keep
            },
        )
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
