//! The store under the authority: the suite on memory, purging, failing
//! closed, the default, and how long revocations stay in the request path.

use super::*;

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

#[tokio::test]
async fn a_failing_store_fails_closed() {
    for check_at_once in [false, true] {
        failing_store_fails_closed(check_at_once).await;
    }
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
