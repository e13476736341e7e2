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
//! // Serve it with the peer address, which the login throttle counts by:
//! // axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
//! # Ok(()) }
//! ```
//!
//! | route | input | success | failure |
//! |---|---|---|---|
//! | `POST {prefix}/login` | JSON `{"username","password"}`, optional `"cookieOnly": true` (or `"cookie_only"`), any other fields for the verifier ([`Credentials::extra`](crate::Credentials::extra)) | 200 token pair + cookie (and the [device cookie](crate::throttle)) | 401 `invalid_credentials`; 429 `too_many_attempts` with `Retry-After` while the [login throttle](AuthRoutes::throttle) holds the attempt; 400/413/415/422 bad body (422 also for extra fields past their bounds); 503 `temporarily_unavailable` with `Retry-After` when too many logins wait |
//! | `POST {prefix}/refresh` | JSON `{"refreshToken"}` (or `"refresh_token"`) or the cookie | 200 new pair + cookie | 401 `refresh_superseded` (lost a race: retry once), 401 `invalid_token` (invalid, expired, revoked, reused, or refused by [`CredentialVerifier::reload`]: log in again), 503 (store or verifier down: retry) |
//! | `POST {prefix}/logout` | refresh token (body and/or cookies) and/or bearer access token; a DPoP-bound token ends its session only with a proof of its key (`Authorization: DPoP` and a `DPoP` proof, or the proof alone with the refresh token), else it is ignored like an invalid one | 204, cookie cleared, whatever the body | 503 (store down); a `DPoP` proof sent that does not verify (replayed, for another URL or time...): 401 `invalid_dpop_proof`, and with server nonces one without the current nonce: 400 `use_dpop_nonce` (401 with `Authorization: DPoP`); then nothing is ended nor cleared |
//! | `POST {prefix}/logout-all` | bearer access token | 204, cookie cleared | 401 without a valid access token |
//! | `GET {prefix}/sessions` | bearer access token | 200 the caller's live sessions (below) | 401 without a valid access token |
//! | `DELETE {prefix}/sessions/{id}` | bearer access token | 204: that session's refresh and access tokens are refused from now on (the cookie is cleared when it is the caller's own) | 404 `not_found` for an id that is not one of the caller's live sessions; 401 |
//! | `POST {prefix}/introspect` (when [enabled](AuthRoutes::introspection)) | HTTP Basic client credentials; form `token=...` | 200 `{"active": true, ...}` for a live access token, exactly `{"active": false}` for anything else (RFC 7662) | 401 `invalid_client` with a `Basic` challenge; 400 no `token`; 415 not a form; 503 store down |
//! | `GET /.well-known/openid-configuration`, `GET /.well-known/oauth-authorization-server` (when [enabled](AuthRoutes::discovery)) | | 200 the discovery document: `issuer`, `jwks_uri`, `access_token_signing_alg_values_supported`, `introspection_endpoint` | |
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

mod dpop;
mod introspect;
mod login;
mod metadata;
#[cfg(feature = "openapi")]
mod openapi;
mod refresh;
mod sessions;

use std::fmt;
use std::sync::Arc;

use auth_core::cache::TokenCache;
use auth_core::dpop::DpopVerifier;
use auth_core::introspection::Introspection;
use auth_core::throttle::LoginThrottle;
use auth_core::{Privileges, TokenAuthority, TokenPair};
use auth_tower::{AuthLayer, HasRole, HasScope, RequireLayer};
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{OriginalUri, Path, Request, State};
use axum::routing::{delete, get, post};
use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, PRAGMA, SET_COOKIE};

use crate::cookie::RefreshCookie;
use crate::credentials::CredentialVerifier;
use crate::csrf::CrossOriginProtection;
use crate::error::ApiError;
use crate::login_gate::{DEFAULT_LOGIN_CONCURRENCY, DEFAULT_MAX_WAITING_LOGINS, LoginGate};
use crate::throttle::{ClientAddress, Throttling, device_cookie};

use introspect::Introspector;
use metadata::{Metadata, OAUTH_AUTHORIZATION_SERVER, OPENID_CONFIGURATION};

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
///
/// ```
/// use std::net::SocketAddr;
/// use auth_axum_extras::{AuthRoutes, InMemoryUsers, password::hash_password};
/// use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority};
/// # use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// # async fn post(addr: SocketAddr, path: &str, json: &str) -> std::io::Result<String> {
/// #     let mut conn = tokio::net::TcpStream::connect(addr).await?;
/// #     let head = format!(
/// #         "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
/// #          content-length: {}\r\nconnection: close\r\n\r\n",
/// #         json.len()
/// #     );
/// #     conn.write_all(format!("{head}{json}").as_bytes()).await?;
/// #     let mut answer = String::new();
/// #     conn.read_to_string(&mut answer).await?;
/// #     Ok(answer)
/// # }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let authority = TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::EdDSA)?)?).build()?;
/// let users = InMemoryUsers::new()
///     .user("alice", hash_password("alice-password")?, RoleClaims::with_roles(["user"]));
/// let app: axum::Router = AuthRoutes::new(authority, users).into_router()?;
///
/// // Served with the peer address, which the login throttle counts by.
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let serving = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>());
/// tokio::spawn(async move { serving.await });
///
/// // `post` sends one HTTP/1.1 request and returns the whole answer.
/// let ok = post(addr, "/auth/login", r#"{"username":"alice","password":"alice-password"}"#).await?;
/// assert!(ok.starts_with("HTTP/1.1 200") && ok.contains(r#""accessToken":"#));
/// let wrong = post(addr, "/auth/login", r#"{"username":"alice","password":"guess"}"#).await?;
/// assert!(wrong.starts_with("HTTP/1.1 401") && wrong.contains("invalid_credentials"));
/// # Ok(()) }
/// ```
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
    introspection: Option<Introspection>,
    discovery: Option<String>,
    format: TokenFormat,
    dpop: Option<DpopVerifier>,
    dpop_required: bool,
    dpop_origin: Option<String>,
}

/// The field names of token responses (login and refresh).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenFormat {
    /// `{"accessToken","refreshToken","tokenType","expiresIn"}`, the
    /// default: the casing of JavaScript clients. Errors stay
    /// `{"error","error_description"}`, the OAuth 2.0 names every client
    /// library already parses.
    #[default]
    CamelCase,
    /// `{"access_token","refresh_token","token_type","expires_in"}`, the
    /// names of RFC 6749 §5.1, for OAuth 2.0 client libraries. Whatever the
    /// format, request bodies take both spellings: `refreshToken` or
    /// `refresh_token`, `cookieOnly` or `cookie_only` (one of the two; both
    /// is 422).
    OAuth2,
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
            introspection: None,
            discovery: None,
            format: TokenFormat::default(),
            dpop: None,
            dpop_required: false,
            dpop_origin: None,
        }
    }

    /// Takes DPoP (RFC 9449): a login that carries a valid `DPoP` proof
    /// (for `POST` and the login URL) starts a session bound to the proof's
    /// key: `tokenType` `DPoP`, and both tokens carry `cnf.jkt`, its
    /// thumbprint. Refreshing a bound session, by body or cookie, needs a
    /// proof signed by the same key; without one, or with another key's,
    /// it is 401 `invalid_dpop_proof` and nothing is rotated nor revoked
    /// (the new pair of a good refresh stays bound). Logins without a proof
    /// stay Bearer unless [`require_dpop`](Self::require_dpop). Any proof
    /// sent is checked: an invalid one is 401 `invalid_dpop_proof` with a
    /// `WWW-Authenticate: DPoP` challenge. [`layer`](Self::layer) then
    /// checks the proofs of bound access tokens too.
    ///
    /// Proofs name the URL the client called: set
    /// [`dpop_origin`](Self::dpop_origin) behind a proxy; without it the
    /// request's `Host` is taken, with either scheme.
    ///
    /// With [server nonces](DpopVerifier::nonces), every answer of the
    /// routes carries the current nonce in a `DPoP-Nonce` header, and a
    /// proof without it is refused with `use_dpop_nonce`: 400 at login,
    /// refresh and logout (RFC 9449 §8), 401 with a `DPoP` challenge where
    /// an access token is presented (the session routes, §9). The refusal
    /// spends and changes nothing: the client signs again with the nonce.
    pub fn dpop(mut self, verifier: DpopVerifier) -> Self {
        self.dpop = Some(verifier);
        self
    }

    /// Refuses logins without a DPoP proof (401 `invalid_dpop_proof`):
    /// every session is bound to a key. Needs [`dpop`](Self::dpop); without
    /// it, [`into_router`](Self::into_router) fails.
    pub fn require_dpop(mut self) -> Self {
        self.dpop_required = true;
        self
    }

    /// The public origin (`https://app.example`) DPoP proofs name, for an
    /// app behind a proxy; see [`dpop`](Self::dpop).
    pub fn dpop_origin(mut self, origin: impl Into<String>) -> Self {
        self.dpop_origin = Some(origin.into());
        self
    }

    /// The [`AuthLayer`] that checks these routes' access tokens, typed with
    /// the verifier's claims: the one source of the claims type, so the
    /// layer and the `Auth<V::Claims>` extractor cannot disagree. Put it
    /// around the application's routes:
    ///
    /// ```
    /// use auth_axum_extras::{Auth, AuthRoutes, InMemoryUsers};
    /// use auth_core::{Algorithm, Key, RoleClaims, TokenAuthority};
    /// use axum::{Router, routing::get};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let authority = TokenAuthority::new(Key::generate(Algorithm::EdDSA)?)?;
    /// let routes = AuthRoutes::new(authority, InMemoryUsers::<RoleClaims>::new());
    /// let app: Router = Router::new()
    ///     .route("/me", get(|Auth(me): Auth<RoleClaims>| async move { me.sub.clone() }))
    ///     .route("/admin", get(|| async { "admins only" }).layer(routes.require_role("admin")))
    ///     .layer(routes.layer())
    ///     .merge(routes.into_router()?);
    /// # Ok(()) }
    /// ```
    ///
    /// It reads the `Authorization: Bearer` header; configure it further
    /// like any [`AuthLayer`] (`.optional()`, `.cookie(...)`).
    pub fn layer(&self) -> AuthLayer<V::Claims> {
        let layer = AuthLayer::new(self.authority.validator().clone());
        match &self.dpop {
            Some(verifier) => {
                let layer = layer.dpop(verifier.clone());
                match &self.dpop_origin {
                    Some(origin) => layer.dpop_origin(origin.clone()),
                    None => layer,
                }
            }
            None => layer,
        }
    }

    /// A [`RequireLayer`] that lets through only access tokens granting
    /// `role` (403 `insufficient_scope` otherwise), typed with the
    /// verifier's claims; put it inside [`layer`](Self::layer) (on a route
    /// or a nested router). The claims implement
    /// [`Privileges`]: `#[derive(Privileges)]` on a
    /// struct with a `roles` field does it.
    pub fn require_role(&self, role: &str) -> RequireLayer<HasRole, V::Claims>
    where
        V::Claims: Privileges,
    {
        RequireLayer::role(role)
    }

    /// A [`RequireLayer`] that lets through only access tokens granting the
    /// OAuth `scope` (403 `insufficient_scope` otherwise); see
    /// [`require_role`](Self::require_role).
    pub fn require_scope(&self, scope: &str) -> RequireLayer<HasScope, V::Claims>
    where
        V::Claims: Privileges,
    {
        RequireLayer::scope(scope)
    }

    /// The field names of token responses (default
    /// [`TokenFormat::CamelCase`]; [`TokenFormat::OAuth2`] for OAuth 2.0
    /// client libraries).
    pub fn token_format(mut self, format: TokenFormat) -> Self {
        self.format = format;
        self
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
    /// paths: merge it. Nested instead (`Router::nest("/api", routes)`),
    /// the routes see the path they were reached by, and a cookie whose
    /// path was left to the prefix follows: `Path=/api/auth`.
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

    /// Serves `POST {prefix}/introspect` (RFC 7662) to the clients of
    /// `introspection` (off by default). A caller authenticates with HTTP
    /// Basic (`client_id:client_secret`, each form-urlencoded, RFC 6749
    /// §2.3.1) and sends the form `token=...`: a live access token of this
    /// authority is answered `{"active": true, "sub", "exp", "iat", "iss",
    /// "aud", "jti", "token_type", "scope", ...}` (see
    /// [`Introspection::active`]), anything else exactly
    /// `{"active": false}`, with 200. The revocation store is asked on
    /// every call, so a token logged out a moment ago is inactive at once;
    /// the signature check is cached as in the layer. Unauthenticated
    /// callers get 401 `invalid_client` with a `Basic` challenge; a missing
    /// or repeated `token` 400; a store outage 503.
    pub fn introspection(mut self, introspection: Introspection) -> Self {
        self.introspection = Some(introspection);
        self
    }

    /// Serves the discovery documents (off by default):
    /// `GET /.well-known/openid-configuration` (OpenID Connect Discovery)
    /// and `GET /.well-known/oauth-authorization-server` (RFC 8414), at the
    /// router's root, for verifiers that start from the issuer's URL alone
    /// (`auth_tower::jwks::Jwks::discover`). `base_url` is the URL the
    /// router's root is reached at (`https://auth.example.com`); the
    /// documents name endpoints under it. For `Jwks::discover(issuer)` to
    /// accept them, the authority's issuer must be that URL.
    ///
    /// The documents carry only what these routes implement: `issuer` (the
    /// authority's, `base_url` without one), `jwks_uri` (while a key with a
    /// public half is in force), `access_token_signing_alg_values_supported`,
    /// and `introspection_endpoint` with
    /// `introspection_endpoint_auth_methods_supported` when
    /// [introspection](Self::introspection) is on. There is no
    /// `authorization_endpoint` or `token_endpoint`: logins are not OAuth
    /// grants. Written anew for each request, so a key rotation shows at
    /// once; `Cache-Control: public, max-age=300`.
    pub fn discovery(mut self, base_url: impl Into<String>) -> Self {
        self.discovery = Some(base_url.into());
        self
    }

    /// The OpenAPI 3.1 description of these routes as configured (feature
    /// `openapi`): paths under the prefix, request and response bodies,
    /// every error answer, and the security schemes (`bearer`,
    /// `refreshCookie` named after the cookie, `clientBasic` for
    /// introspection). Merge it into the application's own document, and
    /// serve it as JSON:
    ///
    /// ```
    /// use auth_axum_extras::{AuthRoutes, InMemoryUsers};
    /// use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let authority = TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::ES256)?)?).build()?;
    /// let routes = AuthRoutes::new(authority, InMemoryUsers::<RoleClaims>::new()).prefix("/api/auth");
    /// let mut doc = utoipa::openapi::OpenApiBuilder::new().build(); // the app's own
    /// doc.merge(routes.openapi()?);
    /// let json = doc.to_json()?;
    /// assert!(json.contains("/api/auth/login"));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "openapi")]
    #[cfg_attr(docsrs, doc(cfg(feature = "openapi")))]
    pub fn openapi(&self) -> Result<utoipa::openapi::OpenApi, RoutesError> {
        let prefix = self.prefix.trim_end_matches('/');
        let cookie = self.cookie.is_enabled().then(|| self.cookie.cookie_name());
        let jwks_path = self
            .jwks_path
            .clone()
            .unwrap_or_else(|| format!("{prefix}/jwks"));
        let doc = openapi::document(&openapi::Described {
            prefix,
            cookie,
            jwks_path: &jwks_path,
            introspection: self.introspection.is_some(),
            discovery: self.discovery.is_some(),
            throttled: self.throttled,
            oauth2_names: self.format == TokenFormat::OAuth2,
            dpop: self.dpop.is_some(),
            dpop_nonces: self
                .dpop
                .as_ref()
                .is_some_and(|v| v.server_nonces().is_some()),
        });
        serde_json::from_value(doc)
            .map_err(|e| RoutesError(format!("the OpenAPI description did not build: {e}")))
    }

    /// The router, generic over the application's state type so it merges
    /// into any `Router<S>`.
    pub fn into_router<S: Clone + Send + Sync + 'static>(self) -> Result<Router<S>, RoutesError> {
        let prefix = self.prefix.trim_end_matches('/').to_owned();
        // Plain path characters only: axum panics on malformed route patterns.
        let path_ok = plain_path;
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
        let introspection_path = format!("{prefix}/introspect");
        let metadata = match self.discovery {
            Some(base) => Some(Arc::new(Metadata {
                authority: self.authority.clone(),
                base: metadata::base_url(&base).map_err(RoutesError)?,
                jwks_path: jwks_path.clone(),
                introspection_path: self
                    .introspection
                    .is_some()
                    .then(|| introspection_path.clone()),
            })),
            None => None,
        };
        if self.dpop_required && self.dpop.is_none() {
            return Err(RoutesError(
                "require_dpop() needs dpop(verifier): the proofs must be checked".into(),
            ));
        }
        let dpop = self.dpop.map(|verifier| dpop::RoutesDpop {
            verifier,
            required: self.dpop_required,
            origin: self.dpop_origin,
        });
        let introspector = self.introspection.map(|settings| {
            let validator = self.authority.validator().clone();
            Arc::new(Introspector {
                settings,
                cache: TokenCache::new(validator.clone()),
                validator,
                csrf: self.csrf.clone(),
                max_body: self.max_body,
            })
        });
        let nonces = dpop
            .as_ref()
            .and_then(|d| d.verifier.server_nonces().cloned());
        let shared = Arc::new(Shared {
            throttling,
            authority: self.authority,
            verifier: self.verifier,
            cookie,
            csrf: self.csrf,
            max_body: self.max_body,
            gate: LoginGate::new(self.login_concurrency, self.max_waiting_logins),
            format: self.format,
            dpop,
        });
        let mut router = Router::new()
            .route(&format!("{prefix}/login"), post(login::<V>))
            .route(&format!("{prefix}/refresh"), post(refresh::<V>))
            .route(&format!("{prefix}/logout"), post(logout::<V>))
            .route(&format!("{prefix}/logout-all"), post(logout_all::<V>))
            .route(&format!("{prefix}/sessions"), get(list_sessions::<V>))
            .route(
                &format!("{prefix}/sessions/{{id}}"),
                delete(delete_session::<V>),
            );
        // The current nonce on the answers of the routes that take proofs,
        // not on the JWKS (which caches may share) nor on a 404.
        if let Some(nonces) = nonces {
            router = router.route_layer(axum::middleware::map_response_with_state(
                nonces,
                dpop::with_nonce,
            ));
        }
        let mut router = router
            .route(&jwks_path, get(serve_jwks::<V>))
            .with_state(shared);
        if let Some(introspector) = introspector {
            router = router.merge(
                Router::new()
                    .route(&introspection_path, post(introspect::introspect))
                    .with_state(introspector),
            );
        }
        if let Some(metadata) = metadata {
            router = router.merge(
                Router::new()
                    .route(OPENID_CONFIGURATION, get(metadata::serve))
                    .route(OAUTH_AUTHORIZATION_SERVER, get(metadata::serve))
                    .with_state(metadata),
            );
        }
        Ok(router)
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
    format: TokenFormat,
    dpop: Option<dpop::RoutesDpop>,
}

type St<V> = State<Arc<Shared<V>>>;

/// A token response with [`TokenFormat::CamelCase`].
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct CamelCaseTokens<'a> {
    access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a String>,
    token_type: &'a str,
    expires_in: u64,
}

/// A token response with [`TokenFormat::OAuth2`] (RFC 6749 §5.1).
#[derive(serde::Serialize)]
struct OAuth2Tokens<'a> {
    access_token: &'a str,
    token_type: &'a str,
    expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a String>,
}

/// Whether a token response may carry the refresh token in its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Body and cookie: the client sent or asked for the token itself.
    BodyAndCookie,
    /// Cookie only: a browser, whose scripts must never see it.
    CookieOnly,
}

fn respond(result: Result<Response, ApiError>) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn login<V: CredentialVerifier>(State(s): St<V>, req: Request) -> Response {
    let mount = Mount::of(&req);
    s.remount(mount, respond(s.login(req).await))
}

async fn refresh<V: CredentialVerifier>(State(s): St<V>, req: Request) -> Response {
    let mount = Mount::of(&req);
    s.remount(mount, respond(s.refresh(req).await))
}

async fn logout<V: CredentialVerifier>(State(s): St<V>, req: Request) -> Response {
    let mount = Mount::of(&req);
    s.remount(mount, respond(s.logout(req).await))
}

async fn logout_all<V: CredentialVerifier>(State(s): St<V>, req: Request) -> Response {
    let mount = Mount::of(&req);
    s.remount(mount, respond(s.logout_all(req).await))
}

async fn list_sessions<V: CredentialVerifier>(State(s): St<V>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    respond(s.list_sessions(&parts).await)
}

async fn delete_session<V: CredentialVerifier>(
    State(s): St<V>,
    // An id that is not UTF-8 is as unknown as any other: 404 after the
    // bearer check, not axum's plain-text 400.
    id: Result<Path<String>, PathRejection>,
    req: Request,
) -> Response {
    let id = id.map(|Path(id)| id).unwrap_or_default();
    let mount = Mount::of(&req);
    let (parts, _) = req.into_parts();
    s.remount(mount, respond(s.delete_session(&parts, &id).await))
}

/// Where a nesting router mounted the routes: the part of the original
/// path that `Router::nest` stripped (`/api` for `/api/auth/login`
/// reaching `/auth/login`); `None` when they were merged, not nested.
struct Mount(Option<String>);

impl Mount {
    fn of(req: &Request) -> Mount {
        let stripped = req
            .extensions()
            .get::<OriginalUri>()
            .and_then(|original| original.path().strip_suffix(req.uri().path()))
            // The client wrote this path (a mount under a path parameter is
            // theirs to choose): only plain characters go into `Set-Cookie`,
            // never a `;` that would add attributes.
            .filter(|mount| mount.len() <= MAX_MOUNT_BYTES && plain_path(mount))
            .map(str::to_owned);
        Mount(stripped)
    }
}

/// The longest mount path a cookie follows.
const MAX_MOUNT_BYTES: usize = 256;

/// A path of plain characters only: `/`, then letters, digits and
/// `-._~/` (axum panics on malformed route patterns, and a cookie's
/// `Path` must not carry `;`).
fn plain_path(p: &str) -> bool {
    p.starts_with('/')
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b))
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

    /// 200 with the pair as JSON (without the refresh token for
    /// [`Delivery::CookieOnly`]) and the refresh cookie.
    fn tokens(&self, pair: &TokenPair, delivery: Delivery) -> Result<Response, ApiError> {
        let refresh = (delivery == Delivery::BodyAndCookie).then_some(&pair.refresh_token);
        let json = match self.format {
            TokenFormat::OAuth2 => serde_json::to_vec(&OAuth2Tokens {
                access_token: &pair.access_token,
                token_type: pair.token_type,
                expires_in: pair.expires_in,
                refresh_token: refresh,
            }),
            _ => serde_json::to_vec(&CamelCaseTokens {
                access_token: &pair.access_token,
                refresh_token: refresh,
                token_type: pair.token_type,
                expires_in: pair.expires_in,
            }),
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

    /// Moves the cookies of `res` under the path the routes were reached
    /// by, when a nesting router mounted them and the cookie path was left
    /// to the prefix: `Path=/auth` would never be sent to `/api/auth`.
    fn remount(&self, mount: Mount, mut res: Response) -> Response {
        let (Some(mount), Some(default)) = (mount.0, self.cookie.default_path()) else {
            return res;
        };
        let nested = format!("{}{}", mount.trim_end_matches('/'), default);
        let cookies: Vec<HeaderValue> = res.headers().get_all(SET_COOKIE).iter().cloned().collect();
        res.headers_mut().remove(SET_COOKIE);
        for value in cookies {
            let moved = value
                .to_str()
                .ok()
                .and_then(|v| ::cookie::Cookie::parse(v.to_owned()).ok())
                .filter(|c| c.path() == Some(default))
                .and_then(|mut c| {
                    c.set_path(nested.clone());
                    HeaderValue::from_str(&c.to_string()).ok()
                });
            res.headers_mut().append(SET_COOKIE, moved.unwrap_or(value));
        }
        res
    }

    fn no_content_clearing_cookie(&self) -> Response {
        let mut res = StatusCode::NO_CONTENT.into_response();
        if let Some(cookie) = self.cookie.clear() {
            res.headers_mut().insert(SET_COOKIE, cookie);
        }
        res
    }
}
