//! The token lifecycle: refresh with rotation, reuse detection, logout,
//! logout-all, sessions, absolute lifetime, purge, and failing closed.

#[path = "../common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use auth_core::store::{
    BoxFuture, Check, MemoryStore, NewSession, RotateOutcome, Rotation, SessionInfo, Store,
};
use auth_core::testing::store_suite;
use auth_core::{
    AuthError, ErrorClass, Key, KeySet, LogoutTokens, NoClaims, Reload, RevokedBy, Session,
    StoreError, TokenAuthority, TokenRef,
};
use common::*;
use uuid::Uuid;

mod refresh;
mod sessions;
mod store;

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
