//! The ready-made endpoints: login, refresh, logout, logout-all, the
//! caller's sessions and JWKS, mounted together by [`AuthRoutes`].
//!
//! ```
//! use auth_axum_extras::{AuthRoutes, InMemoryUsers, password::hash_password};
//! use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let authority = TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::ES256)?)?).build()?;
//! let users = InMemoryUsers::new()
//!     .user("alice", hash_password("alice-password")?, RoleClaims::with_roles(["user"]));
//! let auth: axum::Router = AuthRoutes::new(authority, users)
//!     .prefix("/api/auth") // POST /api/auth/login, GET /api/auth/sessions, ...
//!     .jwks_path("/.well-known/jwks.json")
//!     .into_router()?;
//! # Ok(()) }
//! ```
//!
//! | route | input | success | failure |
//! |---|---|---|---|
//! | `POST {prefix}/login` | JSON `{"username","password"}`, optional `"cookieOnly": true`, any other fields for the verifier ([`Credentials::extra`](crate::Credentials::extra)) | 200 token pair + cookie | 401 `invalid_credentials`; 400/413/415/422 bad body (422 also for extra fields past their bounds); 503 `temporarily_unavailable` with `Retry-After` when too many logins wait |
//! | `POST {prefix}/refresh` | JSON `{"refreshToken"}` or the cookie | 200 new pair + cookie | 401 `refresh_superseded` (lost a race: retry once), 401 `invalid_token` (invalid, expired, revoked, reused, or refused by [`CredentialVerifier::reload`]: log in again), 503 (store or verifier down: retry) |
//! | `POST {prefix}/logout` | refresh token (body and/or cookies) and/or bearer access token | 204, cookie cleared, whatever the body | only 503 (store down) |
//! | `POST {prefix}/logout-all` | bearer access token | 204, cookie cleared | 401 without a valid access token |
//! | `GET {prefix}/sessions` | bearer access token | 200 the caller's live sessions (below) | 401 without a valid access token |
//! | `DELETE {prefix}/sessions/{id}` | bearer access token | 204: that session's refresh and access tokens are refused from now on (the cookie is cleared when it is the caller's own) | 404 `not_found` for an id that is not one of the caller's live sessions; 401 |
//! | `GET {prefix}/jwks` | | 200 JWKS: the keys in force now, rotations included (`Cache-Control: public, max-age=300`) | 404 when only HMAC keys are in use |
//!
//! # Sessions
//!
//! `GET {prefix}/sessions` answers the caller's live sessions, oldest first,
//! for a "where you're signed in" page; times are Unix seconds:
//!
//! ```json
//! {"sessions": [{
//!   "id": "0b7e4c1e-7c5b-4d64-9f57-3f0c2a7d1e2f",
//!   "createdAt": 1763900000,
//!   "lastRefreshedAt": 1763903600,
//!   "expiresAt": 1765109600,
//!   "absoluteExpiresAt": 1766492000,
//!   "device": "Mozilla/5.0 (X11; Linux x86_64) ...",
//!   "current": true
//! }]}
//! ```
//!
//! `expiresAt` is when the session ends unless refreshed before;
//! `absoluteExpiresAt` is when it ends regardless. `device` is the login
//! request's `User-Agent`, stripped of control characters and cut to
//! [`MAX_DEVICE_LABEL`](auth_core::store::MAX_DEVICE_LABEL) bytes (`null`
//! without one): what the client claimed, to help the user recognise a
//! session, never evidence of anything. `current` marks the session of the
//! access token that asked.
//!
//! Every `POST` is guarded by [`CrossOriginProtection`] (403
//! `cross_origin_request`); errors are JSON
//! `{"error","error_description"}` ([`ApiError`]); token responses carry
//! `Cache-Control: no-store`.
//!
//! # Where the refresh token goes
//!
//! A response body is readable by any script on the page, so the refresh
//! token goes into a body only for clients that handle it themselves:
//!
//! - **Browsers** should log in with `"cookieOnly": true`: the answer
//!   carries `accessToken`, `tokenType` and `expiresIn`, and the refresh
//!   token travels only in the `HttpOnly` cookie. Without the cookie
//!   configured, such a login is refused (400), since the token would be
//!   lost.
//! - A **refresh authenticated by the cookie** (no `refreshToken` in the
//!   body) never answers with the refresh token in the body: the new one
//!   goes only into the cookie. So a script injected into the page (XSS)
//!   can obtain access tokens while the page is open, but never the
//!   long-lived credential.
//! - **API clients** that send `{"refreshToken"}` in the body get the new
//!   one in the body (and in the cookie, when enabled).
//!
//! # A refresh that lost a race
//!
//! Two refreshes with the same token (two tabs, a retried request) race; one
//! wins and rotates the token. The loser, within the reuse grace
//! ([`auth_core::DEFAULT_REUSE_GRACE`]), gets 401 with
//! `"error": "refresh_superseded"`: the session is alive, and the client
//! retries **once** with its newest refresh token (a browser's cookie jar
//! already holds the winner's cookie: just send the request again). A
//! second `refresh_superseded` means someone else holds the newest token:
//! log out with the token in hand (`POST {prefix}/logout` ends the session,
//! a thief's tokens included) and log in again. Any other 401 from refresh
//! (`invalid_token`) means "log in again". The same
//! token presented after the grace is reuse and revokes the session.

use std::fmt;
use std::sync::Arc;

use auth_core::throttle::{Attempt, LoginThrottle};
use auth_core::{
    AccessClaims, AuthError, ErrorClass, LogoutTokens, NoClaims, SessionMeta, TokenAuthority,
    TokenPair, Uuid,
};
use auth_tower::{DEFAULT_REALM, Rejection, TokenSource};
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::routing::{delete, get, post};
use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{
    CACHE_CONTROL, CONTENT_TYPE, HeaderMap, HeaderValue, PRAGMA, SET_COOKIE, USER_AGENT,
};
use serde::{Deserialize, Serialize};

use crate::body::{parse_json, read_json, read_object};
use crate::cookie::RefreshCookie;
use crate::credentials::{CredentialVerifier, Credentials, LoginError};
use crate::csrf::CrossOriginProtection;
use crate::error::ApiError;
use crate::login_body::LoginBody;
use crate::login_gate::{DEFAULT_LOGIN_CONCURRENCY, DEFAULT_MAX_WAITING_LOGINS, LoginGate};
use crate::throttle::{ClientAddress, Throttling, device_cookie};

/// The default route prefix, and so the default cookie path.
pub const DEFAULT_PREFIX: &str = "/auth";
/// The default cap on request bodies: room for a maximal (8 KiB) token.
pub const DEFAULT_MAX_BODY: usize = 16 * 1024;
/// Longest accepted username, in bytes.
pub const MAX_USERNAME: usize = 256;
/// Longest accepted password, in bytes (argon2 would take more; a cap keeps
/// hashing cost bounded).
pub const MAX_PASSWORD: usize = 1024;

/// Builds the auth [`Router`]; see the [module docs](self) for the routes.
///
/// Defaults: prefix [`DEFAULT_PREFIX`], cookie [`RefreshCookie::default`]
/// with `Path` = prefix, same-origin [`CrossOriginProtection`], bodies
/// capped at [`DEFAULT_MAX_BODY`], JWKS at `{prefix}/jwks`.
pub struct AuthRoutes<V> {
    authority: TokenAuthority,
    verifier: V,
    prefix: String,
    cookie: RefreshCookie,
    csrf: CrossOriginProtection,
    max_body: usize,
    jwks_path: Option<String>,
    login_concurrency: usize,
    max_waiting_logins: usize,
    throttle: Option<LoginThrottle>,
    throttled: bool,
    client_address: ClientAddress,
}

/// The routes could not be built from this configuration.
#[derive(Debug, thiserror::Error)]
#[error("invalid auth routes configuration: {0}")]
pub struct RoutesError(String);

impl<V: CredentialVerifier> AuthRoutes<V> {
    /// The routes for `authority`, checking logins with `verifier`.
    pub fn new(authority: TokenAuthority, verifier: V) -> Self {
        AuthRoutes {
            authority,
            verifier,
            prefix: DEFAULT_PREFIX.to_owned(),
            cookie: RefreshCookie::default(),
            csrf: CrossOriginProtection::default(),
            max_body: DEFAULT_MAX_BODY,
            jwks_path: None,
            login_concurrency: DEFAULT_LOGIN_CONCURRENCY,
            max_waiting_logins: DEFAULT_MAX_WAITING_LOGINS,
            throttle: None,
            throttled: true,
            client_address: ClientAddress::default(),
        }
    }

    /// The login throttle (default: on, [`LoginThrottle::new`] over the
    /// authority's store and clock: the default
    /// [`ThrottlePolicy`](auth_core::throttle::ThrottlePolicy), counters
    /// shared by every instance on that store, a random device key). Give
    /// one to change the policy, or to share a
    /// [`DeviceKey`](auth_core::throttle::DeviceKey) between instances.
    /// A throttled login is a `429` `too_many_attempts` with `Retry-After`,
    /// decided before the password is hashed; a successful login sets the
    /// device cookie (`auth_device`, `__Secure-auth_device` beside a
    /// `__Secure-` refresh cookie; same attributes as the refresh cookie)
    /// when the refresh cookie is enabled.
    pub fn throttle(mut self, throttle: LoginThrottle) -> Self {
        self.throttle = Some(throttle);
        self.throttled = true;
        self
    }

    /// Turns the login throttle off: every login is checked, however many
    /// failed before. Only for an application that throttles logins itself.
    pub fn without_throttle(mut self) -> Self {
        self.throttle = None;
        self.throttled = false;
        self
    }

    /// Where the throttle reads the client's address (default: the TCP
    /// peer, [`ClientAddress::Peer`]).
    pub fn client_address(mut self, address: ClientAddress) -> Self {
        self.client_address = address;
        self
    }

    /// How many logins are checked at once (default 8,
    /// [`DEFAULT_LOGIN_CONCURRENCY`], as
    /// many as password hashes run at once); at least 1. Each holds its
    /// parsed body and its verifier's work (an argon2id hash: 19 MiB).
    pub fn login_concurrency(mut self, n: usize) -> Self {
        self.login_concurrency = n;
        self
    }

    /// How many logins may wait for their turn (default 128,
    /// [`DEFAULT_MAX_WAITING_LOGINS`]).
    /// Past it a login is refused at once with 503
    /// `temporarily_unavailable` and `Retry-After: 1`, counted as
    /// `overloaded` in `auth_logins_total`. A waiting login holds only its
    /// raw body (at most [`max_body_bytes`](Self::max_body_bytes)): it is
    /// parsed, and its password checked, in its turn.
    pub fn max_waiting_logins(mut self, n: usize) -> Self {
        self.max_waiting_logins = n;
        self
    }

    /// Where the routes live (`/auth` by default, `""` for the root). The
    /// router returned by [`into_router`](Self::into_router) carries the full
    /// paths: merge it, do not nest it (or set the cookie path yourself).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The refresh cookie settings ([`RefreshCookie::disabled`] for
    /// body-only clients).
    pub fn cookie(mut self, cookie: RefreshCookie) -> Self {
        self.cookie = cookie;
        self
    }

    /// The cross-origin rule for the `POST` endpoints.
    pub fn cross_origin(mut self, csrf: CrossOriginProtection) -> Self {
        self.csrf = csrf;
        self
    }

    /// The cap on request bodies, in bytes (larger: 413).
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.max_body = max;
        self
    }

    /// Serves the JWKS at `path` instead of `{prefix}/jwks` (e.g.
    /// `/.well-known/jwks.json`).
    pub fn jwks_path(mut self, path: impl Into<String>) -> Self {
        self.jwks_path = Some(path.into());
        self
    }

    /// The router, generic over the application's state type so it merges
    /// into any `Router<S>`.
    pub fn into_router<S: Clone + Send + Sync + 'static>(self) -> Result<Router<S>, RoutesError> {
        let prefix = self.prefix.trim_end_matches('/').to_owned();
        // Plain path characters only: axum panics on malformed route patterns.
        let path_ok = |p: &str| {
            p.starts_with('/')
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
        };
        if !prefix.is_empty() && !path_ok(&prefix) {
            return Err(RoutesError(format!(
                "prefix {prefix:?} must start with '/' and hold only letters, digits and -._~/"
            )));
        }
        let cookie = self.cookie.with_default_path(&prefix);
        cookie.check().map_err(RoutesError)?;
        let jwks_path = self.jwks_path.unwrap_or_else(|| format!("{prefix}/jwks"));
        if !path_ok(&jwks_path) {
            return Err(RoutesError(format!(
                "JWKS path {jwks_path:?} must start with '/' and hold only letters, digits and -._~/"
            )));
        }
        let throttling = self.throttled.then(|| Throttling {
            throttle: self.throttle.unwrap_or_else(|| {
                LoginThrottle::new(self.authority.store().clone())
                    .clock(self.authority.clock().clone())
            }),
            address: self.client_address,
            device_cookie: device_cookie(&cookie),
        });
        let shared = Arc::new(Shared {
            throttling,
            authority: self.authority,
            verifier: self.verifier,
            cookie,
            csrf: self.csrf,
            max_body: self.max_body,
            gate: LoginGate::new(self.login_concurrency, self.max_waiting_logins),
        });
        Ok(Router::new()
            .route(&format!("{prefix}/login"), post(login::<V>))
            .route(&format!("{prefix}/refresh"), post(refresh::<V>))
            .route(&format!("{prefix}/logout"), post(logout::<V>))
            .route(&format!("{prefix}/logout-all"), post(logout_all::<V>))
            .route(&format!("{prefix}/sessions"), get(list_sessions::<V>))
            .route(
                &format!("{prefix}/sessions/{{id}}"),
                delete(delete_session::<V>),
            )
            .route(&jwks_path, get(serve_jwks::<V>))
            .with_state(shared))
    }
}

impl<V> fmt::Debug for AuthRoutes<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthRoutes")
            .field("prefix", &self.prefix)
            .field("cookie", &self.cookie)
            .field("csrf", &self.csrf)
            .field("max_body", &self.max_body)
            .field("login_concurrency", &self.login_concurrency)
            .field("max_waiting_logins", &self.max_waiting_logins)
            .finish_non_exhaustive()
    }
}

struct Shared<V> {
    authority: TokenAuthority,
    verifier: V,
    cookie: RefreshCookie,
    csrf: CrossOriginProtection,
    max_body: usize,
    gate: LoginGate,
    throttling: Option<Throttling>,
}

type St<V> = State<Arc<Shared<V>>>;

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

/// Whether a token response may carry the refresh token in its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Body and cookie: the client sent or asked for the token itself.
    BodyAndCookie,
    /// Cookie only: a browser, whose scripts must never see it.
    CookieOnly,
}

/// The refresh tokens a request carries.
struct PresentedTokens {
    body: Option<String>,
    cookie: Option<String>,
}

/// The username of a login body, read before the rest.
#[derive(Deserialize)]
struct Username {
    username: String,
}

#[derive(Deserialize)]
struct RefreshBody {
    #[serde(rename = "refreshToken")]
    refresh_token: Option<String>,
}

/// Counts a login attempt that reached the verifier or failed on input
/// (feature `metrics`): `ok`, `throttled` (429), `overloaded` (the queue
/// was full), `refused` (any other 4xx), `unavailable` (5xx).
fn count_login(result: &Result<Response, ApiError>) {
    #[cfg(feature = "metrics")]
    {
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) if e.code() == OVERLOADED => "overloaded",
            Err(e) if e.code() == crate::throttle::TOO_MANY_ATTEMPTS => "throttled",
            Err(e) if e.status().is_server_error() => "unavailable",
            Err(_) => "refused",
        };
        metrics::counter!(auth_core::metrics::LOGINS, "outcome" => outcome).increment(1);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// The `error` of a login refused because too many wait already.
const OVERLOADED: &str = "temporarily_unavailable";

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn login<V: CredentialVerifier>(State(s): St<V>, req: Request) -> Response {
    respond(s.login(req).await)
}

async fn refresh<V: CredentialVerifier>(State(s): St<V>, req: Request) -> Response {
    respond(s.refresh(req).await)
}

async fn logout<V: CredentialVerifier>(State(s): St<V>, req: Request) -> Response {
    respond(s.logout(req).await)
}

async fn logout_all<V: CredentialVerifier>(State(s): St<V>, req: Request) -> Response {
    respond(s.logout_all(req).await)
}

async fn list_sessions<V: CredentialVerifier>(State(s): St<V>, req: Request) -> Response {
    respond(s.list_sessions(req.headers()).await)
}

async fn delete_session<V: CredentialVerifier>(
    State(s): St<V>,
    // An id that is not UTF-8 is as unknown as any other: 404 after the
    // bearer check, not axum's plain-text 400.
    id: Result<Path<String>, PathRejection>,
    req: Request,
) -> Response {
    let id = id.map(|Path(id)| id).unwrap_or_default();
    respond(s.delete_session(req.headers(), &id).await)
}

/// The keys in force now: a key added by
/// [`rotate_signing_key`](TokenAuthority::rotate_signing_key) is served at
/// once, a retired one no more.
async fn serve_jwks<V: CredentialVerifier>(State(s): St<V>) -> Response {
    let jwks = s.authority.keys().jwks();
    match (!jwks.keys.is_empty())
        .then(|| serde_json::to_vec(&jwks).ok())
        .flatten()
    {
        Some(doc) => {
            let mut res = Response::new(Body::from(doc));
            let h = res.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            let max_age = format!("public, max-age={}", auth_core::JWKS_MAX_AGE.as_secs());
            if let Ok(v) = HeaderValue::from_str(&max_age) {
                h.insert(CACHE_CONTROL, v);
            }
            res
        }
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no public keys: tokens are signed with a shared secret",
        )
        .into_response(),
    }
}

impl<V: CredentialVerifier> Shared<V> {
    fn cross_origin(&self, req: &Request) -> Result<(), ApiError> {
        self.csrf
            .check(req.headers(), req.uri().authority())
            .map_err(|why| {
                tracing::info!(reason = why.reason(), path = %req.uri().path(), "request refused: cross-origin");
                ApiError::new(StatusCode::FORBIDDEN, "cross_origin_request", why.reason())
            })
    }

    async fn login(&self, req: Request) -> Result<Response, ApiError> {
        let result = self.login_inner(req).await;
        count_login(&result);
        result
    }

    async fn login_inner(&self, req: Request) -> Result<Response, ApiError> {
        self.cross_origin(&req)?;
        let (parts, body) = req.into_parts();
        let raw = read_object(&parts.headers, body, self.max_body)
            .await?
            .ok_or_else(|| ApiError::bad_request("the request body is empty"))?;
        // Throttled before anything costly, the queue included: the
        // username alone is read (other fields skipped unparsed).
        let mut begun = None;
        if let (Some(t), Ok(Username { username })) =
            (&self.throttling, serde_json::from_slice::<Username>(&raw))
            && !username.is_empty()
            && username.len() <= MAX_USERNAME
        {
            let attempt = t.attempt(&parts, &username);
            t.begin(&attempt).await?;
            begun = Some(attempt);
        }
        let mut verdict = None;
        let mut result = self
            .login_begun(&parts, raw, &mut begun, &mut verdict)
            .await;
        // Every begun attempt is settled: a failure counts, a success resets,
        // anything else (overload, bad input, an outage) is taken back.
        if let (Some(t), Some(attempt)) = (&self.throttling, &begun) {
            match (verdict, &mut result) {
                (Some(false), _) => t.failed(attempt).await,
                (Some(true), Ok(res)) => {
                    if let Some(device) = t.succeeded(attempt).await {
                        res.headers_mut().append(SET_COOKIE, device);
                    }
                }
                _ => t.abandoned(attempt).await,
            }
        }
        result
    }

    /// A login from its body on, its throttle attempt begun (or begun here,
    /// into `begun`, when only the full parse finds the username);
    /// `verdict` says whether the password was right, once it is known.
    async fn login_begun(
        &self,
        parts: &http::request::Parts,
        raw: Vec<u8>,
        begun: &mut Option<Attempt>,
        verdict: &mut Option<bool>,
    ) -> Result<Response, ApiError> {
        // In line before anything costly: parsing, hashing, the store.
        let _turn = self.gate.enter().await.map_err(|_| {
            tracing::warn!("login refused: too many logins waiting");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                OVERLOADED,
                "too many logins are waiting; retry shortly",
            )
            .retry_after(1)
        })?;
        let LoginBody {
            username,
            password,
            cookie_only,
            extra,
        } = parse_json(&raw)?;
        drop(raw);
        if cookie_only && !self.cookie.is_enabled() {
            return Err(ApiError::bad_request(
                "cookieOnly needs the refresh cookie, which this server does not use",
            ));
        }
        if username.is_empty() || username.len() > MAX_USERNAME || password.len() > MAX_PASSWORD {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                format!(
                    "username must be 1 to {MAX_USERNAME} bytes, password at most {MAX_PASSWORD} bytes"
                ),
            ));
        }
        if let Some(t) = &self.throttling {
            match begun {
                // The full parse must name the account the throttle counted.
                Some(attempt) if attempt.account() != username => {
                    return Err(ApiError::bad_request("the username is ambiguous"));
                }
                Some(_) => {}
                None => {
                    let attempt = t.attempt(parts, &username);
                    t.begin(&attempt).await?;
                    *begun = Some(attempt);
                }
            }
        }
        let verified = match self
            .verifier
            .verify(Credentials {
                username,
                password,
                extra,
            })
            .await
        {
            Ok(v) => v,
            Err(LoginError::InvalidCredentials) => {
                tracing::info!("login refused: invalid credentials");
                *verdict = Some(false);
                return Err(ApiError::invalid_credentials());
            }
            Err(LoginError::Refused(why)) => {
                tracing::info!(reason = %why, "login refused");
                *verdict = Some(false);
                return Err(ApiError::invalid_credentials());
            }
            Err(LoginError::Unavailable(why)) => {
                tracing::warn!(error = %why, "login failed: credential backend unavailable");
                return Err(ApiError::unavailable(
                    "the credential backend is unavailable",
                ));
            }
        };
        let mut meta = SessionMeta::default();
        if let Some(agent) = parts.headers.get(USER_AGENT) {
            meta = meta.device(&String::from_utf8_lossy(agent.as_bytes()));
        }
        let pair = self
            .authority
            .issue_with(&verified.subject, &verified.claims, meta)
            .await?;
        tracing::info!(sid = %pair.session_id, cookie_only, "login");
        let delivery = if cookie_only {
            Delivery::CookieOnly
        } else {
            Delivery::BodyAndCookie
        };
        let res = self.tokens(&pair, delivery)?;
        *verdict = Some(true);
        Ok(res)
    }

    /// The refresh tokens of the JSON body and of the cookie.
    async fn refresh_tokens(&self, req: Request) -> Result<PresentedTokens, ApiError> {
        let (parts, body) = req.into_parts();
        let body = read_json::<RefreshBody>(&parts.headers, body, self.max_body)
            .await?
            .and_then(|b| b.refresh_token);
        let cookie = self
            .cookie
            .read(&parts.headers)
            .map_err(ApiError::bad_request)?
            .map(str::to_owned);
        Ok(PresentedTokens { body, cookie })
    }

    async fn refresh(&self, req: Request) -> Result<Response, ApiError> {
        self.cross_origin(&req)?;
        let tokens = self.refresh_tokens(req).await?;
        // The body wins: a client that sends one means it. A token that came
        // from the cookie goes back only in the cookie.
        let from_cookie = tokens.cookie.is_some() && tokens.body.is_none()
            || tokens.body.is_some() && tokens.body == tokens.cookie;
        let (token, delivery) = match (tokens.body, tokens.cookie) {
            (Some(body), _) => (Some(body), Delivery::BodyAndCookie),
            (None, cookie) => (cookie, Delivery::CookieOnly),
        };
        let Some(token) = token else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "no refresh token in the body or the cookie",
            ));
        };
        let verifier = &self.verifier;
        let reload = |subject: String| async move { verifier.reload(&subject).await };
        let refreshed = self
            .authority
            .refresh_with(&token, reload)
            .await
            .map_err(|e| {
                // An oversized refresh token is as invalid as any other: 401.
                if e.class() == ErrorClass::InvalidRequest {
                    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", e.description())
                } else if matches!(e, AuthError::RefreshSuperseded) {
                    tracing::info!("refresh superseded by a concurrent refresh");
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "refresh_superseded",
                        e.description(),
                    )
                } else {
                    ApiError::from(e)
                }
            });
        match refreshed {
            Ok(pair) => self.tokens(&pair, delivery),
            // The cookie's token is dead for good (invalid, expired, reused,
            // revoked, or refused by the application): clear it, so the
            // browser stops sending it. Not after `refresh_superseded`,
            // whose winner is setting the newest cookie, nor after a 503.
            Err(e)
                if from_cookie
                    && e.status() == StatusCode::UNAUTHORIZED
                    && e.code() != "refresh_superseded" =>
            {
                let mut res = e.into_response();
                if let Some(cookie) = self.cookie.clear() {
                    res.headers_mut().append(SET_COOKIE, cookie);
                }
                Ok(res)
            }
            Err(e) => Err(e),
        }
    }

    async fn logout(&self, req: Request) -> Result<Response, ApiError> {
        self.cross_origin(&req)?;
        let (parts, body) = req.into_parts();
        // A body that cannot be read (another media type from a beacon or a
        // form, bad JSON, too large) names no token, but the cookie and the
        // bearer token still end their sessions: logout never fails on input.
        let body = match read_json::<RefreshBody>(&parts.headers, body, self.max_body).await {
            Ok(body) => body.and_then(|b| b.refresh_token),
            Err(e) => {
                tracing::debug!(error = %e, "logout: request body ignored");
                None
            }
        };
        // Every cookie value, not just an unambiguous one: a cookie planted
        // from a sibling domain must not shield the real session, which
        // ends here since its cookie is cleared below.
        let cookies = self.cookie.read_all(&parts.headers);
        // A malformed Authorization header revokes nothing, like an invalid token.
        let access = TokenSource::Bearer.read(&parts.headers).ok().flatten();
        let outcome = self
            .authority
            .logout(LogoutTokens {
                refresh_token: body.as_deref(),
                access_token: access,
            })
            .await?;
        let mut sessions = outcome.sessions_revoked;
        for cookie in cookies.into_iter().filter(|c| Some(*c) != body.as_deref()) {
            let more = self
                .authority
                .logout(LogoutTokens {
                    refresh_token: Some(cookie),
                    access_token: None,
                })
                .await?;
            sessions += more.sessions_revoked;
        }
        tracing::info!(
            sessions,
            access_token = outcome.access_token_revoked,
            "logout"
        );
        Ok(self.no_content_clearing_cookie())
    }

    async fn logout_all(&self, req: Request) -> Result<Response, ApiError> {
        self.cross_origin(&req)?;
        let claims = self.bearer(req.headers(), "logout-all").await?;
        let sessions = self.authority.logout_all(&claims.sub).await?;
        tracing::info!(sessions, "logout-all");
        Ok(self.no_content_clearing_cookie())
    }

    /// The claims of a valid bearer access token (revocation checked), or
    /// the layer's refusal.
    async fn bearer(
        &self,
        headers: &HeaderMap,
        what: &'static str,
    ) -> Result<AccessClaims<NoClaims>, ApiError> {
        let token = match TokenSource::Bearer.read(headers) {
            Ok(Some(token)) => token,
            Ok(None) => return Err(ApiError::from_rejection(Rejection::Missing, DEFAULT_REALM)),
            Err(rejection) => return Err(ApiError::from_rejection(rejection, DEFAULT_REALM)),
        };
        self.authority
            .validator()
            .validate_access::<NoClaims>(token)
            .await
            .map_err(|e| {
                tracing::info!(reason = %e, endpoint = what, "request refused");
                ApiError::from_rejection(Rejection::Token(e), DEFAULT_REALM)
            })
    }

    async fn list_sessions(&self, headers: &HeaderMap) -> Result<Response, ApiError> {
        let claims = self.bearer(headers, "sessions").await?;
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

    async fn delete_session(&self, headers: &HeaderMap, id: &str) -> Result<Response, ApiError> {
        let claims = self.bearer(headers, "delete session").await?;
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

    /// 200 with the pair as JSON (without the refresh token for
    /// [`Delivery::CookieOnly`]) and the refresh cookie.
    fn tokens(&self, pair: &TokenPair, delivery: Delivery) -> Result<Response, ApiError> {
        let json = match delivery {
            Delivery::BodyAndCookie => serde_json::to_vec(pair),
            Delivery::CookieOnly => serde_json::to_vec(&serde_json::json!({
                "accessToken": pair.access_token,
                "tokenType": pair.token_type,
                "expiresIn": pair.expires_in,
            })),
        };
        let body = json.map_err(|e| {
            tracing::error!(error = %e, "token pair did not serialize");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "the tokens could not be written",
            )
        })?;
        let mut res = Response::new(Body::from(body));
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(cookie) = self
            .cookie
            .set(&pair.refresh_token, pair.refresh_expires_in)
        {
            h.insert(SET_COOKIE, cookie);
        }
        Ok(res)
    }

    fn no_content_clearing_cookie(&self) -> Response {
        let mut res = StatusCode::NO_CONTENT.into_response();
        if let Some(cookie) = self.cookie.clear() {
            res.headers_mut().insert(SET_COOKIE, cookie);
        }
        res
    }
}
