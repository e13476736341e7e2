//! Typed extractors for the claims that [`AuthLayer`](auth_tower::AuthLayer)
//! validated.
//!
//! The layer does the validating (signature, `alg`, `typ`, time, issuer,
//! audience, revocation); these extractors only take its result out of the
//! request extensions.
//!
//! # Rules
//!
//! - The claims type is always spelled out (`Auth<RoleClaims>`, not `Auth`)
//!   and must be the layer's: `AuthLayer<RoleClaims>` goes with
//!   `Auth<RoleClaims>`. A type alias keeps handlers short. Leaving it out
//!   does not compile:
//!
//!   ```compile_fail
//!   async fn profile(auth: auth_axum_extras::Auth) -> String {
//!       auth.sub.clone()
//!   }
//!   ```
//! - A handler whose extractor asks for another claims type than the layer
//!   stores, or that no `AuthLayer` wraps, is a bug in the service stack:
//!   every extractor here answers **500** `server_error` and logs an error
//!   naming both types, so the mistake shows on the first request instead of
//!   passing for "no token" (see [`auth_tower::ClaimsError`]).
//! - Behind a required layer, [`Auth`] always finds claims. Behind
//!   [`AuthLayer::optional`](auth_tower::AuthLayer::optional), [`MaybeAuth`] and
//!   `Option<Auth<E>>` give `None` for a request without a token, and
//!   [`Auth`] answers 401 `missing_token`. A request with an invalid token
//!   never reaches the handler: the layer refused it.
//! - [`RequireRole`] and [`RequireScope`] answer 403 `insufficient_scope`
//!   without the role or scope; [`RequireLoginWithin`] answers 401
//!   `insufficient_user_authentication` when the login is too old (RFC 9470).
//!
//! ```
//! use auth_axum_extras::{Auth, MaybeAuth, RequireRole, Role};
//! use auth_core::RoleClaims;
//!
//! struct Admin;
//! impl Role for Admin {
//!     const NAME: &'static str = "admin";
//! }
//!
//! async fn profile(Auth(claims): Auth<RoleClaims>) -> String {
//!     format!("{} has roles {:?}", claims.sub, claims.extra.roles)
//! }
//!
//! async fn greeting(MaybeAuth(claims): MaybeAuth<RoleClaims>) -> String {
//!     match claims {
//!         Some(c) => format!("hello {}", c.sub),
//!         None => "hello stranger".into(),
//!     }
//! }
//!
//! async fn admin(admin: RequireRole<Admin, RoleClaims>) -> String {
//!     format!("welcome, {}", admin.sub)
//! }
//! # let _ = axum::Router::<()>::new()
//! #     .route("/p", axum::routing::get(profile))
//! #     .route("/g", axum::routing::get(greeting))
//! #     .route("/a", axum::routing::get(admin));
//! ```

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use auth_core::{AccessClaims, AuthError, Clock, Privileges, SystemClock};
use auth_tower::{DEFAULT_REALM, Rejection};
use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use crate::error::ApiError;

/// The validated access claims (shared, not copied: the layer and its token
/// cache hold the same `Arc`); 401 `missing_token` when an optional layer
/// let the request through without a token, 500 when no `AuthLayer<E>` ran
/// (see the [rules](self#rules)). Dereferences to the claims.
///
/// ```
/// use auth_axum_extras::Auth;
/// use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority};
/// use auth_tower::AuthLayer;
/// use axum::{body::Body, handler::Handler};
/// use http::{Request, StatusCode, header::AUTHORIZATION};
/// use http_body_util::BodyExt;
///
/// async fn profile(Auth(claims): Auth<RoleClaims>) -> String {
///     format!("hello {}", claims.sub)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let authority = TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::EdDSA)?)?).build()?;
/// // The handler behind the layer (on a `Router`: `.route(..).layer(..)`).
/// let app = profile.layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()));
///
/// let pair = authority.issue("alice", &RoleClaims::with_roles(["user"])).await?;
/// let request = Request::get("/profile")
///     .header(AUTHORIZATION, format!("Bearer {}", pair.access_token))
///     .body(Body::empty())?;
/// let response = app.clone().call(request, ()).await;
/// assert_eq!(response.status(), StatusCode::OK);
/// assert_eq!(response.into_body().collect().await?.to_bytes(), "hello alice");
///
/// // Without a token the layer refuses, and the handler never runs.
/// let response = app.call(Request::get("/profile").body(Body::empty())?, ()).await;
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Auth<E>(pub Arc<AccessClaims<E>>);

/// The validated access claims if the request carried a valid token. Use it
/// behind [`AuthLayer::optional`](auth_tower::AuthLayer::optional): a request
/// with an *invalid* token was already refused by the layer. 500 when no
/// `AuthLayer<E>` ran (see the [rules](self#rules)).
#[derive(Debug, Clone)]
pub struct MaybeAuth<E>(pub Option<Arc<AccessClaims<E>>>);

/// The claims of `E` the layer left, `None` for a request it let through
/// without a token, or 500 when the stack is wired wrongly (logged as an
/// error naming both types).
fn claims<E: Send + Sync + 'static>(
    parts: &Parts,
) -> Result<Option<Arc<AccessClaims<E>>>, ApiError> {
    auth_tower::claims::<E>(&parts.extensions)
        .map(|c| c.cloned())
        .map_err(|e| ApiError::refusal_in(Rejection::Misconfigured(e), parts))
}

/// The claims, or 401 without a token (or 500, misconfigured).
fn required<E: Send + Sync + 'static>(parts: &Parts) -> Result<Arc<AccessClaims<E>>, ApiError> {
    claims(parts)?.ok_or_else(|| ApiError::refusal_in(Rejection::Missing, parts))
}

impl<S, E> FromRequestParts<S> for Auth<E>
where
    S: Send + Sync,
    E: Send + Sync + 'static,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        required(parts).map(Auth)
    }
}

impl<S, E> OptionalFromRequestParts<S> for Auth<E>
where
    S: Send + Sync,
    E: Send + Sync + 'static,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(claims(parts)?.map(Auth))
    }
}

impl<S, E> FromRequestParts<S> for MaybeAuth<E>
where
    S: Send + Sync,
    E: Send + Sync + 'static,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        claims(parts).map(MaybeAuth)
    }
}

impl<E> Deref for Auth<E> {
    type Target = AccessClaims<E>;
    fn deref(&self) -> &AccessClaims<E> {
        &self.0
    }
}

impl<E: Privileges> Auth<E> {
    /// `Ok` when the claims carry `role`, else 403 `insufficient_scope`; for
    /// checks decided at run time (see [`RequireRole`] for static ones).
    pub fn require_role(&self, role: &str) -> Result<(), ApiError> {
        require(self.0.has_role(role), role)
    }

    /// `Ok` when the claims carry the OAuth scope `scope`, else 403
    /// `insufficient_scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        require(self.0.has_scope(scope), scope)
    }
}

impl<E> Auth<E> {
    /// `Ok` when the login behind the token happened at most `max_age`
    /// ago (whole seconds, by its `auth_time`), else 401
    /// `insufficient_user_authentication` with `max_age` in the challenge
    /// (RFC 9470 step-up); for an age decided at run time (see
    /// [`RequireLoginWithin`] for a fixed one).
    pub fn require_login_within(&self, max_age: Duration) -> Result<(), ApiError> {
        let max_age = max_age.as_secs();
        if self.0.logged_in_within(max_age, SystemClock.now()) {
            return Ok(());
        }
        tracing::info!(max_age, "request refused: the login is too old");
        Err(ApiError::from_rejection(
            login_too_old(max_age),
            DEFAULT_REALM,
        ))
    }
}

fn login_too_old(max_age: u64) -> Rejection {
    Rejection::Token(AuthError::LoginTooOld {
        max_age,
        acr_values: None,
    })
}

/// The validated claims of a caller who signed in at most `MAX_AGE`
/// seconds ago (by the token's `auth_time`; a refresh keeps the login
/// time): RFC 9470 step-up for sensitive operations. 401 without valid
/// claims; 401 `insufficient_user_authentication` with
/// `WWW-Authenticate: Bearer ..., max_age=MAX_AGE` for an older login, or
/// a token without `auth_time`. Dereferences to the claims.
///
/// ```
/// use auth_axum_extras::RequireLoginWithin;
/// use auth_core::RoleClaims;
///
/// // Changing the password needs a sign-in within the last five minutes.
/// async fn change_password(user: RequireLoginWithin<300, RoleClaims>) -> String {
///     format!("{} may change the password", user.sub)
/// }
/// # let _ = axum::Router::<()>::new().route("/p", axum::routing::post(change_password));
/// ```
pub struct RequireLoginWithin<const MAX_AGE: u64, E> {
    /// The caller's claims.
    pub claims: Arc<AccessClaims<E>>,
}

impl<St, const MAX_AGE: u64, E> FromRequestParts<St> for RequireLoginWithin<MAX_AGE, E>
where
    St: Send + Sync,
    E: Send + Sync + 'static,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, Self::Rejection> {
        let claims = required::<E>(parts)?;
        if !claims.logged_in_within(MAX_AGE, SystemClock.now()) {
            return Err(ApiError::refusal_in(login_too_old(MAX_AGE), parts));
        }
        Ok(RequireLoginWithin { claims })
    }
}

impl<const MAX_AGE: u64, E> Deref for RequireLoginWithin<MAX_AGE, E> {
    type Target = AccessClaims<E>;
    fn deref(&self) -> &AccessClaims<E> {
        &self.claims
    }
}

impl<const MAX_AGE: u64, E: std::fmt::Debug> std::fmt::Debug for RequireLoginWithin<MAX_AGE, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireLoginWithin")
            .field("max_age", &MAX_AGE)
            .field("claims", &self.claims)
            .finish()
    }
}

fn require(ok: bool, required: &str) -> Result<(), ApiError> {
    if ok {
        return Ok(());
    }
    tracing::info!(required, "request refused: missing role or scope");
    Err(ApiError::from_rejection(
        insufficient(required),
        DEFAULT_REALM,
    ))
}

fn insufficient(required: &str) -> Rejection {
    Rejection::Token(AuthError::InsufficientScope {
        required: required.to_owned(),
    })
}

/// 403 for a guard, answered as the layer answers.
fn require_in(ok: bool, required: &str, parts: &Parts) -> Result<(), ApiError> {
    if ok {
        return Ok(());
    }
    Err(ApiError::refusal_in(insufficient(required), parts))
}

/// A role, named by a type, for [`RequireRole`].
///
/// ```
/// use auth_axum_extras::{RequireRole, Role};
/// use auth_core::{Privileges, RoleClaims};
///
/// /// The `billing` role.
/// struct Billing;
/// impl Role for Billing {
///     const NAME: &'static str = "billing";
/// }
///
/// async fn invoices(user: RequireRole<Billing, RoleClaims>) -> String {
///     format!("the invoices, for {}", user.sub)
/// }
/// # let _ = axum::Router::<()>::new().route("/invoices", axum::routing::get(invoices));
///
/// // `NAME` is looked up in the claims' roles, as it is spelled there.
/// assert!(RoleClaims::with_roles(["billing"]).has_role(Billing::NAME));
/// assert!(!RoleClaims::with_roles(["Billing"]).has_role(Billing::NAME));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a role type (`Role`)",
    label = "`RequireRole` takes a type naming the role",
    note = "write `struct Admin; impl Role for Admin {{ const NAME: &'static str = \"admin\"; }}`, or check a role by name without a type: `.layer(routes.require_role(\"admin\"))` on the route, or `auth.require_role(\"admin\")?` in the handler"
)]
pub trait Role: Send + Sync + 'static {
    /// The role name as it appears in the claims.
    const NAME: &'static str;
}

/// An OAuth scope, named by a type, for [`RequireScope`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a scope type (`Scope`)",
    label = "`RequireScope` takes a type naming the scope",
    note = "write `struct Read; impl Scope for Read {{ const NAME: &'static str = \"read\"; }}`, or check a scope by name: `.layer(routes.require_scope(\"read\"))`"
)]
pub trait Scope: Send + Sync + 'static {
    /// The scope as it appears in the `scope` claim.
    const NAME: &'static str;
}

/// The validated claims of a caller that has the role `R`: 401 without valid
/// claims, 403 `insufficient_scope` without the role. Dereferences to the
/// claims. `E` is the layer's claims type, such as [`RoleClaims`](auth_core::RoleClaims).
///
/// ```
/// use auth_axum_extras::{RequireRole, Role};
/// use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority};
/// use auth_tower::AuthLayer;
/// use axum::{body::Body, handler::Handler};
/// use http::{Request, StatusCode, header::AUTHORIZATION};
///
/// struct Admin;
/// impl Role for Admin {
///     const NAME: &'static str = "admin";
/// }
///
/// async fn users(admin: RequireRole<Admin, RoleClaims>) -> String {
///     format!("{} may list the users", admin.sub)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let authority = TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::EdDSA)?)?).build()?;
/// let app = users.layer(AuthLayer::<RoleClaims>::new(authority.validator().clone()));
/// let get = |token: &str| {
///     let request = Request::get("/users").header(AUTHORIZATION, format!("Bearer {token}"));
///     app.clone().call(request.body(Body::empty()).unwrap(), ())
/// };
///
/// let admin = authority.issue("root", &RoleClaims::with_roles(["admin"])).await?;
/// assert_eq!(get(&admin.access_token).await.status(), StatusCode::OK);
///
/// // A valid token without the role: 403, and the challenge names the role.
/// let user = authority.issue("alice", &RoleClaims::with_roles(["user"])).await?;
/// let refused = get(&user.access_token).await;
/// assert_eq!(refused.status(), StatusCode::FORBIDDEN);
/// let challenge = refused.headers()["www-authenticate"].to_str()?;
/// assert!(challenge.contains(r#"error="insufficient_scope""#) && challenge.contains("admin"));
/// # Ok(()) }
/// ```
///
/// Claims without [`Privileges`] are refused where the handler names the
/// type, with a hint to `#[derive(Privileges)]`:
///
/// ```compile_fail
/// use auth_axum_extras::{RequireRole, Role};
///
/// #[derive(serde::Deserialize)]
/// struct Claims { roles: Vec<String> } // no Privileges
/// struct Admin;
/// impl Role for Admin { const NAME: &'static str = "admin"; }
///
/// // error[E0277]: `Claims` does not say which roles and scopes it grants (`Privileges`)
/// async fn admin(admin: RequireRole<Admin, Claims>) {}
/// ```
///
/// and so is a role that is not a [`Role`] type:
///
/// ```compile_fail
/// use auth_axum_extras::RequireRole;
/// use auth_core::RoleClaims;
///
/// // error[E0277]: `&str` is not a role type (`Role`)
/// async fn admin(admin: RequireRole<&'static str, RoleClaims>) {}
/// ```
pub struct RequireRole<R: Role, E: Privileges> {
    /// The caller's claims.
    pub claims: Arc<AccessClaims<E>>,
    _role: PhantomData<fn() -> R>,
}

/// The validated claims of a caller granted the scope `S`: 401 without valid
/// claims, 403 `insufficient_scope` without the scope.
pub struct RequireScope<S: Scope, E: Privileges> {
    /// The caller's claims.
    pub claims: Arc<AccessClaims<E>>,
    _scope: PhantomData<fn() -> S>,
}

impl<St, R, E> FromRequestParts<St> for RequireRole<R, E>
where
    St: Send + Sync,
    R: Role,
    E: Privileges + Send + Sync + 'static,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, Self::Rejection> {
        let claims = required::<E>(parts)?;
        require_in(claims.has_role(R::NAME), R::NAME, parts)?;
        Ok(RequireRole {
            claims,
            _role: PhantomData,
        })
    }
}

impl<St, S, E> FromRequestParts<St> for RequireScope<S, E>
where
    St: Send + Sync,
    S: Scope,
    E: Privileges + Send + Sync + 'static,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, Self::Rejection> {
        let claims = required::<E>(parts)?;
        require_in(claims.has_scope(S::NAME), S::NAME, parts)?;
        Ok(RequireScope {
            claims,
            _scope: PhantomData,
        })
    }
}

impl<R: Role, E: Privileges> Deref for RequireRole<R, E> {
    type Target = AccessClaims<E>;
    fn deref(&self) -> &AccessClaims<E> {
        &self.claims
    }
}

impl<S: Scope, E: Privileges> Deref for RequireScope<S, E> {
    type Target = AccessClaims<E>;
    fn deref(&self) -> &AccessClaims<E> {
        &self.claims
    }
}

impl<R: Role, E: Privileges + std::fmt::Debug> std::fmt::Debug for RequireRole<R, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireRole")
            .field("role", &std::any::type_name::<R>())
            .field("claims", &self.claims)
            .finish()
    }
}

impl<S: Scope, E: Privileges + std::fmt::Debug> std::fmt::Debug for RequireScope<S, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireScope")
            .field("scope", &std::any::type_name::<S>())
            .field("claims", &self.claims)
            .finish()
    }
}
