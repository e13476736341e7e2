//! The bearer's sessions: `GET {prefix}/sessions`, `DELETE
//! {prefix}/sessions/{id}` and `POST {prefix}/logout-all`.

use auth_core::Uuid;
use axum::extract::Request;
use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::request::Parts;
use serde::Serialize;

use crate::credentials::CredentialVerifier;
use crate::error::ApiError;

use super::Shared;

/// The answer of `GET {prefix}/sessions`.
#[derive(Serialize)]
struct SessionList {
    sessions: Vec<SessionView>,
}

/// One entry of `GET {prefix}/sessions`, fields in this order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionView {
    id: Uuid,
    created_at: u64,
    last_refreshed_at: u64,
    expires_at: u64,
    absolute_expires_at: u64,
    device: Option<String>,
    current: bool,
}

impl<V: CredentialVerifier> Shared<V> {
    pub(super) async fn logout_all(&self, req: Request) -> Result<Response, ApiError> {
        self.cross_origin(&req)?;
        let (parts, _) = req.into_parts();
        let claims = self.caller(&parts, "logout-all").await?;
        let sessions = self.authority.logout_all(&claims.sub).await?;
        tracing::info!(sessions, "logout-all");
        Ok(self.no_content_clearing_cookie())
    }

    pub(super) async fn list_sessions(&self, parts: &Parts) -> Result<Response, ApiError> {
        let claims = self.caller(parts, "sessions").await?;
        let sessions: Vec<SessionView> = self
            .authority
            .sessions(&claims.sub)
            .await?
            .into_iter()
            .map(|s| SessionView {
                id: s.sid,
                created_at: s.created_at,
                last_refreshed_at: s.last_refreshed_at,
                expires_at: s.refresh_expires_at.min(s.expires_at),
                absolute_expires_at: s.expires_at,
                current: s.sid == claims.sid,
                device: s.device,
            })
            .collect();
        let body = serde_json::to_vec(&SessionList { sessions }).map_err(|e| {
            tracing::error!(error = %e, "session list did not serialize");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the session list could not be written",
            )
        })?;
        let mut res = Response::new(Body::from(body));
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(res)
    }

    pub(super) async fn delete_session(
        &self,
        parts: &Parts,
        id: &str,
    ) -> Result<Response, ApiError> {
        let claims = self.caller(parts, "delete session").await?;
        let not_found = || {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                "no such session among yours",
            )
        };
        // Another user's session and an unknown or malformed id look alike.
        let sid: Uuid = id.parse().map_err(|_| not_found())?;
        if !self.authority.revoke_session_of(&claims.sub, sid).await? {
            return Err(not_found());
        }
        tracing::info!(%sid, own = sid == claims.sid, "session revoked by its user");
        if sid == claims.sid {
            Ok(self.no_content_clearing_cookie())
        } else {
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}
