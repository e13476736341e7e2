//! The metrics the crates record through the [`metrics`](https://docs.rs/metrics)
//! facade, with feature `metrics` (of `auth-core`, `auth-tower` and
//! `auth-axum-extras`; each records its own). Without a recorder installed
//! by the application (a Prometheus exporter, say) they cost next to
//! nothing; without the feature, nothing at all.
//!
//! | name | type | labels | recorded by |
//! |---|---|---|---|
//! | `auth_logins_total` | counter | `outcome`: `ok`, `refused` (bad credentials, a disabled user, a bad request: any 4xx), `unavailable` (the verifier's backend or the store is down: 5xx), `overloaded` (refused at once, 503: too many logins already waiting) | the login route of `auth-axum-extras` |
//! | `auth_logins_waiting` | gauge | | the login route: logins waiting for their turn to be checked |
//! | `auth_refreshes_total` | counter | `outcome`: `ok`, `superseded`, `reused`, `expired`, `refused` (by the application's reload hook), `invalid`, `unavailable` | [`TokenAuthority::refresh`](crate::TokenAuthority::refresh) |
//! | `auth_refusals_total` | counter | `class`: `missing_token`, `invalid_request`, `invalid_token`, `insufficient_scope`, `temporarily_unavailable`, `server_error` | `auth-tower`'s layers for every refused request, its `grpc` helpers, and `auth-axum-extras`' extractors and bearer-checked routes |
//! | `auth_revocations_total` | counter | `kind`: `token`, `session`; `reason`: `logout`, `logout_all`, `reuse`, `refused`, `revoked` (by id) | [`TokenAuthority`](crate::TokenAuthority) |
//! | `auth_store_duration_seconds` | histogram | `op`: `create_session`, `rotate`, `revoke_token`, `revoke_session`, `revoke_subject`, `sessions`; and `check` for per-request checks that had to wait on I/O (the built-in stores answer from memory, untimed) | [`TokenAuthority`](crate::TokenAuthority) around each store call; `auth-tower` for checks |
//! | `auth_store_errors_total` | counter | `op`: the above, and `check` (a request refused because the store could not answer) | [`TokenAuthority`](crate::TokenAuthority), `auth-tower` |
//! | `auth_store_feed_up` | gauge | | the Redis store: 1 while its revocation feed is in sync, 0 while checks fail closed |
//! | `auth_jwks_fetches_total` | counter | `outcome`: `ok`, `error` | `auth-tower`'s JWKS client (features `jwks` and `metrics`), per JWKS fetch |
//! | `auth_jwks_keys` | gauge | | the JWKS client: keys loaded (0 until the first fetch: tokens get 503) |
//!
//! Labels take only the fixed values above, never user input, so series
//! stay few.
//!
//! ```
//! // Names are constants, for dashboards and tests:
//! assert_eq!(auth_core::metrics::REFRESHES, "auth_refreshes_total");
//! ```

/// Counter: logins, by `outcome`.
pub const LOGINS: &str = "auth_logins_total";
/// Gauge: logins waiting for their turn to be checked.
pub const LOGINS_WAITING: &str = "auth_logins_waiting";
/// Counter: login attempts refused unchecked by the throttle, by `counter`
/// (`pair`, `address`, `account`, `device`).
pub const LOGINS_THROTTLED: &str = "auth_logins_throttled_total";
/// Histogram: the wait left (seconds) when the throttle refused an attempt,
/// by `counter`: how long throttled clients are being held.
pub const LOGIN_WAIT: &str = "auth_login_wait_seconds";
/// Counter: refreshes, by `outcome`.
pub const REFRESHES: &str = "auth_refreshes_total";
/// Counter: requests refused by the layers, by `class`.
pub const REFUSALS: &str = "auth_refusals_total";
/// Counter: revocations, by `kind` and `reason`.
pub const REVOCATIONS: &str = "auth_revocations_total";
/// Histogram: store call latency in seconds, by `op`.
pub const STORE_DURATION: &str = "auth_store_duration_seconds";
/// Counter: failed store calls, by `op`.
pub const STORE_ERRORS: &str = "auth_store_errors_total";
/// Gauge: 1 while the Redis revocation feed is in sync, else 0.
pub const STORE_FEED_UP: &str = "auth_store_feed_up";
/// Counter: DPoP proofs refused, by `reason` ([`DpopError::reason`](crate::dpop::DpopError::reason):
/// `missing`, `key_mismatch`, `signature`, `replay`, `htu`, `nonce`...) and `at`
/// (`refresh`, `login`, `request`).
pub const DPOP_REFUSALS: &str = "auth_dpop_refusals_total";
/// Counter: JWKS fetches of auth-tower's client, by `outcome`.
pub const JWKS_FETCHES: &str = "auth_jwks_fetches_total";
/// Gauge: verification keys the JWKS client holds.
pub const JWKS_KEYS: &str = "auth_jwks_keys";

use std::future::Future;

use crate::error::{AuthError, StoreError};

/// Times a store call and counts its failure.
pub(crate) async fn store_call<T>(
    op: &'static str,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    #[cfg(feature = "metrics")]
    {
        let start = std::time::Instant::now();
        let result = call.await;
        ::metrics::histogram!(STORE_DURATION, "op" => op).record(start.elapsed().as_secs_f64());
        if result.is_err() {
            ::metrics::counter!(STORE_ERRORS, "op" => op).increment(1);
        }
        result
    }
    #[cfg(not(feature = "metrics"))]
    {
        let _ = op;
        call.await
    }
}

/// Counts `n` revocations.
#[inline]
/// Counts a refused DPoP proof.
pub fn dpop_refused(reason: &'static str, at: &'static str) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(DPOP_REFUSALS, "reason" => reason, "at" => at).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (reason, at);
}

pub(crate) fn revoked(kind: &'static str, reason: &'static str, n: u64) {
    #[cfg(feature = "metrics")]
    if n > 0 {
        ::metrics::counter!(REVOCATIONS, "kind" => kind, "reason" => reason).increment(n);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (kind, reason, n);
}

/// Counts an attempt the throttle refused, and the wait it still had.
#[inline]
pub(crate) fn throttled(counter: &'static str, wait: std::time::Duration) {
    #[cfg(feature = "metrics")]
    {
        ::metrics::counter!(LOGINS_THROTTLED, "counter" => counter).increment(1);
        ::metrics::histogram!(LOGIN_WAIT, "counter" => counter).record(wait.as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (counter, wait);
}

/// Counts a refresh by its outcome.
#[inline]
pub(crate) fn refresh<T>(result: &Result<T, AuthError>) {
    #[cfg(feature = "metrics")]
    {
        let outcome = match result {
            Ok(_) => "ok",
            Err(AuthError::RefreshSuperseded) => "superseded",
            Err(AuthError::RefreshReused) => "reused",
            Err(AuthError::Expired | AuthError::SessionExpired) => "expired",
            Err(AuthError::SessionRefused(_)) => "refused",
            Err(AuthError::Store(_) | AuthError::ClaimsUnavailable(_)) => "unavailable",
            Err(AuthError::Dpop(_)) => "dpop_refused",
            Err(_) => "invalid",
        };
        ::metrics::counter!(REFRESHES, "outcome" => outcome).increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// Sets the Redis feed gauge.
#[cfg(feature = "redis")]
#[inline]
pub(crate) fn feed_up(up: bool) {
    #[cfg(feature = "metrics")]
    ::metrics::gauge!(STORE_FEED_UP).set(if up { 1.0 } else { 0.0 });
    #[cfg(not(feature = "metrics"))]
    let _ = up;
}
