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
use crate::store::{NewSession, Rotation, Store, Verdict};
use crate::{DEFAULT_MAX_SESSIONS_PER_SUBJECT, TokenRef};

mod revocation;
mod rotation;
mod sessions;

pub use revocation::{
    denylisted_token_is_refused_others_pass, login_in_the_cutoff_second_survives_logout_all,
    logout_all_racing_logins_leaves_no_half_revoked_session,
    logout_all_revokes_every_session_and_sets_a_cutoff, revoked_session_refuses_every_token_of_it,
    revoking_an_unknown_session_still_refuses_it,
};
pub use rotation::{
    a_rotation_with_claims_updates_the_sessions_claims, a_session_is_read_back_with_its_claims,
    a_superseded_token_within_the_grace_leaves_the_session_alive,
    concurrent_rotations_have_exactly_one_winner, reuse_of_a_rotated_token_revokes_the_session,
    rotation_never_extends_past_the_absolute_expiry, rotation_of_an_unknown_session_is_unknown,
    rotation_swaps_the_current_jti, the_reuse_grace_is_measured_in_milliseconds,
};
pub use sessions::{
    a_login_past_the_cap_revokes_the_oldest_session, a_session_is_only_found_under_its_own_subject,
    sessions_are_listed_per_subject_oldest_first, sessions_keep_their_device_label,
    sessions_that_ended_do_not_count_toward_the_cap,
};

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
    case!(a_session_is_read_back_with_its_claims);
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
