//! Test helpers (feature `testing`): a manual clock, tokens minted without a
//! login round trip, and the conformance suite every [`Store`](crate::store::Store) must pass.
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use auth_core::{Algorithm, AuthError, Key, KeySet, ManualClock, NoClaims, TokenAuthority};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let clock = Arc::new(ManualClock::starting_now());
//! let keys = KeySet::new(Key::generate(Algorithm::HS256).unwrap()).unwrap();
//! let authority = TokenAuthority::builder(keys).clock(clock.clone()).build().unwrap();
//! let tokens = authority.test_tokens();
//!
//! let expired = tokens.expired_access("alice", &NoClaims {}).unwrap();
//! let v = authority.validator();
//! assert!(matches!(v.validate_access::<NoClaims>(&expired).await, Err(AuthError::Expired)));
//!
//! // Or move time instead of minting: 16 minutes later the access token is dead.
//! let pair = tokens.valid("alice", &NoClaims {}).await.unwrap();
//! clock.advance(Duration::from_secs(16 * 60));
//! assert!(matches!(v.validate_access::<NoClaims>(&pair.access_token).await, Err(AuthError::Expired)));
//! # }
//! ```

#[cfg(feature = "redis")]
pub mod redis_server;

mod dpop;
pub use dpop::DpopKey;

use serde::Serialize;
use uuid::Uuid;

use crate::authority::{AccessSpec, app_claims};
pub use crate::clock::ManualClock;
use crate::{AuthError, LogoutTokens, TokenAuthority, TokenPair};

/// Mints tokens for tests; see [`TokenAuthority::test_tokens`].
#[derive(Debug, Clone, Copy)]
pub struct TestTokens<'a> {
    authority: &'a TokenAuthority,
}

impl TokenAuthority {
    /// Token minting helpers for tests (feature `testing`).
    pub fn test_tokens(&self) -> TestTokens<'_> {
        TestTokens { authority: self }
    }
}

impl TestTokens<'_> {
    /// A valid pair with a live session (the same as a login).
    pub async fn valid<E: Serialize>(
        &self,
        subject: &str,
        claims: &E,
    ) -> Result<TokenPair, AuthError> {
        self.authority.issue(subject, claims).await
    }

    /// An access token that expired (beyond the leeway) one second ago.
    pub fn expired_access<E: Serialize>(
        &self,
        subject: &str,
        claims: &E,
    ) -> Result<String, AuthError> {
        let now = self.authority.clock().now();
        let leeway = self.authority.config().leeway.as_secs();
        let ttl = self.authority.config().access_ttl.as_secs();
        let exp = now.saturating_sub(leeway + 1);
        self.access_at(subject, claims, exp.saturating_sub(ttl), exp)
    }

    /// An access token whose `nbf` is a minute beyond the leeway.
    pub fn not_yet_valid_access<E: Serialize>(
        &self,
        subject: &str,
        claims: &E,
    ) -> Result<String, AuthError> {
        let now = self.authority.clock().now();
        let iat = now + self.authority.config().leeway.as_secs() + 60;
        self.access_at(
            subject,
            claims,
            iat,
            iat + self.authority.config().access_ttl.as_secs(),
        )
    }

    /// An access token whose session was logged out.
    pub async fn revoked_access<E: Serialize>(
        &self,
        subject: &str,
        claims: &E,
    ) -> Result<String, AuthError> {
        let pair = self.valid(subject, claims).await?;
        self.authority
            .logout(LogoutTokens {
                refresh_token: Some(&pair.refresh_token),
                access_token: Some(&pair.access_token),
            })
            .await?;
        Ok(pair.access_token)
    }

    /// An access token with the given `iat` (also `nbf`) and `exp`, in a
    /// session the store has never seen (so only its own claims decide).
    pub fn access_at<E: Serialize>(
        &self,
        subject: &str,
        claims: &E,
        iat: u64,
        exp: u64,
    ) -> Result<String, AuthError> {
        let extra = app_claims(claims)?;
        self.authority.sign_access(&AccessSpec {
            subject,
            extra: &extra,
            sid: Uuid::new_v4(),
            jti: Uuid::new_v4(),
            iat,
            exp,
            auth_time: Some(iat),
            jkt: None,
        })
    }
}

pub mod store_suite;
pub mod throttle_suite;
