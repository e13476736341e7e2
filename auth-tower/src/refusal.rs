//! The refusal vocabulary's actions: the store's verdict turned into a
//! refusal, and every refusal logged and counted. Below the service, its
//! future and the rejection responder, which all use it.

use auth_core::AuthError;
use auth_core::StoreError;
use auth_core::store::Verdict;

use crate::rejection::Rejection;

/// Why the store's verdict refuses the token, if it does: revoked, or the
/// store unavailable (fail closed).
pub(crate) fn refusal(verdict: Result<Verdict, StoreError>) -> Option<AuthError> {
    match verdict {
        Ok(Verdict::Allowed) => None,
        Ok(Verdict::Revoked(by)) => Some(AuthError::Revoked(by)),
        Err(e) => Some(AuthError::Store(e)),
    }
}

/// Logs a refusal (never token contents), counts it (feature `metrics`:
/// `auth_refusals_total` by class, and `auth_store_errors_total` with
/// `op="check"` when the store could not answer), and passes it on.
pub(crate) fn log(r: Rejection) -> Rejection {
    match &r {
        Rejection::Missing => tracing::debug!("request refused: no access token"),
        Rejection::InvalidRequest(why) => {
            tracing::info!(reason = why, "request refused: malformed credentials")
        }
        Rejection::Token(AuthError::Store(e)) => {
            tracing::warn!(error = %e, "request refused: revocation store unavailable (failing closed)");
            #[cfg(feature = "metrics")]
            metrics::counter!(auth_core::metrics::STORE_ERRORS, "op" => "check").increment(1);
        }
        Rejection::Misconfigured(e) => {
            tracing::error!(error = %e, "request refused: the service stack is misconfigured")
        }
        Rejection::Token(e) => {
            tracing::info!(reason = %e, "request refused: access token not accepted")
        }
    }
    #[cfg(feature = "metrics")]
    metrics::counter!(auth_core::metrics::REFUSALS, "class" => r.code()).increment(1);
    r
}
