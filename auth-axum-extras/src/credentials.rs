//! The application's hook for checking a username and password.

#[cfg(feature = "argon2")]
use std::collections::HashMap;
use std::fmt;
use std::future::Future;

use auth_core::{Reload, Session};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// What the login endpoint received. `Debug` never prints the password nor
/// the values of the extra fields (a one-time code is a secret too).
#[derive(Clone)]
pub struct Credentials {
    /// The username as sent (not normalized).
    pub username: String,
    /// The password as sent.
    pub password: String,
    /// The login body's other top-level fields (a tenant, a one-time code),
    /// as sent: neither checked nor interpreted by the endpoint. `cookieOnly`
    /// (also spelled `cookie_only`) is the endpoint's own and is not repeated
    /// here. The whole body is
    /// capped by [`AuthRoutes::max_body_bytes`](crate::AuthRoutes::max_body_bytes)
    /// (16 KiB by default), and these fields by shape while they are parsed:
    /// at most [`MAX_EXTRA_FIELDS`](crate::MAX_EXTRA_FIELDS) fields,
    /// [`MAX_EXTRA_DEPTH`](crate::MAX_EXTRA_DEPTH) levels deep,
    /// [`MAX_EXTRA_VALUES`](crate::MAX_EXTRA_VALUES) values in all (422
    /// beyond). Check each one's type before use; [`field`](Self::field)
    /// reads one typed.
    pub extra: Map<String, Value>,
}

impl Credentials {
    /// Credentials without extra fields.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
            extra: Map::new(),
        }
    }

    /// The extra field `name` read as a `T`: `None` when it is absent or not
    /// a `T`.
    ///
    /// ```
    /// use auth_axum_extras::Credentials;
    ///
    /// let mut c = Credentials::new("alice", "secret");
    /// c.extra.insert("tenant".into(), "acme".into());
    /// c.extra.insert("otp".into(), 123456.into());
    /// assert_eq!(c.field::<String>("tenant").as_deref(), Some("acme"));
    /// assert_eq!(c.field::<u32>("otp"), Some(123456));
    /// assert_eq!(c.field::<u32>("tenant"), None);
    /// assert_eq!(c.field::<String>("missing"), None);
    /// ```
    pub fn field<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        T::deserialize(self.extra.get(name)?).ok()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("extra", &self.extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A successful check: who logged in, and the claims their access tokens
/// carry (for example [`RoleClaims`](auth_core::RoleClaims)).
#[derive(Debug, Clone)]
pub struct Verified<E> {
    /// The token subject (`sub`): a stable user id, not necessarily the
    /// username.
    pub subject: String,
    /// Application claims for every access token of the session.
    pub claims: E,
}

impl<E> Verified<E> {
    /// `subject` logged in; its access tokens carry `claims`.
    pub fn new(subject: impl Into<String>, claims: E) -> Self {
        Verified {
            subject: subject.into(),
            claims,
        }
    }
}

/// Why a login failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// Unknown user or wrong password: answered 401 `invalid_credentials`,
    /// the same for both.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The user exists but may not log in (locked, disabled). Answered exactly
    /// like [`InvalidCredentials`](Self::InvalidCredentials) so that it is no
    /// oracle either; the reason is only logged.
    #[error("login refused: {0}")]
    Refused(String),
    /// The credential backend is down: answered 503.
    #[error("credential backend unavailable: {0}")]
    Unavailable(String),
}

/// Checks credentials for the login endpoint, and (optionally) whether a
/// session may go on at each refresh. The application implements it, or
/// hands a closure to [`verify_with`].
///
/// To resist user enumeration, answer an unknown user and a wrong password
/// identically *and in similar time*: verify against a dummy hash when the
/// user does not exist (`password::verify_password`, feature `argon2`,
/// does this). Run password hashing off the async workers
/// (`tokio::task::spawn_blocking`). The login routes throttle attempts
/// already ([`AuthRoutes::throttle`](crate::AuthRoutes::throttle)).
///
/// ```
/// use auth_axum_extras::{CredentialVerifier, Credentials, LoginError, Verified};
/// use auth_core::{Reload, RoleClaims, Session};
///
/// struct Ldap;
///
/// impl CredentialVerifier for Ldap {
///     type Claims = RoleClaims;
///
///     async fn verify(&self, c: Credentials) -> Result<Verified<RoleClaims>, LoginError> {
///         // ... ask the directory; `c.field::<String>("tenant")` reads an extra field ...
///         if c.username == "alice" && c.password == "from-the-directory" {
///             Ok(Verified::new("u-1", RoleClaims::with_roles(["user"])))
///         } else {
///             Err(LoginError::InvalidCredentials)
///         }
///     }
///
///     // Optional: today's roles at every refresh, or the end of the session.
///     async fn reload(&self, session: Session<RoleClaims>) -> Reload<RoleClaims> {
///         match session.subject.as_str() {
///             "u-1" => Reload::Replace(RoleClaims::with_roles(["user"])),
///             _ => Reload::Refuse("no such user any more".into()),
///         }
///     }
/// }
/// ```
///
/// Anything else given to [`AuthRoutes::new`](crate::AuthRoutes::new) is
/// refused at compile time with a hint:
///
/// ```compile_fail
/// # let authority = auth_core::TokenAuthority::builder(auth_core::KeySet::new(auth_core::Key::generate(auth_core::Algorithm::HS256)?)?).build()?;
/// // error[E0277]: `&str` cannot check logins (`CredentialVerifier`)
/// let routes = auth_axum_extras::AuthRoutes::new(authority, "alice:secret");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot check logins (`CredentialVerifier`)",
    label = "not a credential verifier",
    note = "implement `CredentialVerifier` for it, or pass a closure: `verify_with(|creds: Credentials| async move {{ ... Ok(Verified::new(user_id, claims)) }})`"
)]
pub trait CredentialVerifier: Send + Sync + 'static {
    /// The application claims of the issued access tokens (read back by
    /// the layer, so deserializable too).
    type Claims: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Checks `credentials`.
    fn verify(
        &self,
        credentials: Credentials,
    ) -> impl Future<Output = Result<Verified<Self::Claims>, LoginError>> + Send;

    /// Called at each refresh, before the refresh token is rotated, with the
    /// [`Session`]: its id, subject, login time and current claims (those
    /// given at login, or of the last [`Reload::Replace`]).
    /// [`Reload::Replace`] puts fresh claims (today's roles) into the new
    /// access token, [`Reload::Refuse`] ends the session (401
    /// `invalid_token`, its tokens revoked), [`Reload::Unavailable`]
    /// answers 503 and changes nothing. The default, [`Reload::Keep`],
    /// keeps the session's claims (up to its absolute lifetime, 30 days by
    /// default): implement this so that a demoted or disabled user loses
    /// access at the next refresh, within one access token lifetime.
    fn reload(
        &self,
        session: Session<Self::Claims>,
    ) -> impl Future<Output = Reload<Self::Claims>> + Send {
        let _ = session;
        async { Reload::Keep }
    }
}

/// A [`CredentialVerifier`] made of closures: `verify` checks a login,
/// and (optionally, [`reload`](VerifyWith::reload)) another decides at
/// each refresh.
///
/// ```
/// use auth_axum_extras::{Credentials, LoginError, Verified, verify_with};
/// use auth_core::{Reload, RoleClaims, Session};
///
/// let users = verify_with(|c: Credentials| async move {
///     // Your user lookup (a database, a directory...).
///     match (c.username.as_str(), c.password.as_str()) {
///         ("alice", "from-the-database") => Ok(Verified::new("u-1", RoleClaims::with_roles(["user"]))),
///         _ => Err(LoginError::InvalidCredentials),
///     }
/// })
/// .reload(|session: Session<RoleClaims>| async move {
///     if session.subject == "u-1" { Reload::Keep } else { Reload::Refuse("deleted".into()) }
/// });
/// # let _ = users;
/// ```
pub fn verify_with<F>(verify: F) -> VerifyWith<F> {
    VerifyWith {
        verify,
        reload: KeepClaims,
    }
}

/// The [`CredentialVerifier`] of [`verify_with`].
#[derive(Clone)]
pub struct VerifyWith<F, R = KeepClaims> {
    verify: F,
    reload: R,
}

/// The reload of a [`VerifyWith`] without one: [`Reload::Keep`].
#[derive(Debug, Clone, Copy, Default)]
pub struct KeepClaims;

impl<F> VerifyWith<F, KeepClaims> {
    /// Asks `reload` at each refresh (see [`CredentialVerifier::reload`]).
    /// Its claims type is the one `verify` gives.
    pub fn reload<R, Fut, E, RFut>(self, reload: R) -> VerifyWith<F, R>
    where
        F: Fn(Credentials) -> Fut,
        Fut: Future<Output = Result<Verified<E>, LoginError>>,
        R: Fn(Session<E>) -> RFut,
        RFut: Future<Output = Reload<E>>,
    {
        VerifyWith {
            verify: self.verify,
            reload,
        }
    }
}

impl<F, R> fmt::Debug for VerifyWith<F, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyWith").finish_non_exhaustive()
    }
}

impl<F, Fut, E> CredentialVerifier for VerifyWith<F, KeepClaims>
where
    F: Fn(Credentials) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Verified<E>, LoginError>> + Send,
    E: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Claims = E;

    fn verify(
        &self,
        credentials: Credentials,
    ) -> impl Future<Output = Result<Verified<E>, LoginError>> + Send {
        (self.verify)(credentials)
    }
}

impl<F, Fut, E, R, RFut> CredentialVerifier for VerifyWith<F, R>
where
    F: Fn(Credentials) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Verified<E>, LoginError>> + Send,
    E: Serialize + DeserializeOwned + Send + Sync + 'static,
    R: Fn(Session<E>) -> RFut + Send + Sync + 'static,
    RFut: Future<Output = Reload<E>> + Send,
{
    type Claims = E;

    fn verify(
        &self,
        credentials: Credentials,
    ) -> impl Future<Output = Result<Verified<E>, LoginError>> + Send {
        (self.verify)(credentials)
    }

    fn reload(&self, session: Session<E>) -> impl Future<Output = Reload<E>> + Send {
        (self.reload)(session)
    }
}

#[cfg(feature = "argon2")]
/// [`verify_password`](crate::password::verify_password) as a verifier's step: `Ok(())` when `password`
/// matches `stored`, else [`LoginError::InvalidCredentials`] (an unknown
/// user, `None`, included, after the same work as a wrong password).
///
/// ```
/// use auth_axum_extras::check_password;
/// use auth_axum_extras::password::hash_password;
/// use auth_axum_extras::{Credentials, LoginError, Verified};
/// use auth_core::RoleClaims;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let hash = hash_password("alice-password").unwrap();
/// let verify = |c: Credentials| {
///     let hash = hash.clone();
///     async move {
///         check_password(&c.password, (c.username == "alice").then_some(hash.as_str())).await?;
///         Ok::<_, LoginError>(Verified::new("user-1", RoleClaims::with_roles(["user"])))
///     }
/// };
/// assert!(verify(Credentials::new("alice", "alice-password")).await.is_ok());
/// assert!(matches!(verify(Credentials::new("alice", "wrong")).await, Err(LoginError::InvalidCredentials)));
/// assert!(verify(Credentials::new("mallory", "alice-password")).await.is_err());
/// # }
/// ```
pub async fn check_password(password: &str, stored: Option<&str>) -> Result<(), LoginError> {
    if crate::password::verify_password(password, stored).await {
        Ok(())
    } else {
        Err(LoginError::InvalidCredentials)
    }
}

/// A fixed table of users with argon2id password hashes: for demos, tests
/// and small deployments. The subject is the username.
///
/// ```
/// use auth_axum_extras::InMemoryUsers;
/// use auth_axum_extras::password::hash_password;
/// use auth_core::RoleClaims;
///
/// let users = InMemoryUsers::new()
///     .user("alice", hash_password("alice-password").unwrap(), RoleClaims::with_roles(["user"]));
/// ```
#[cfg(feature = "argon2")]
#[derive(Clone, Default)]
pub struct InMemoryUsers<E> {
    users: HashMap<String, (String, E)>,
}

#[cfg(feature = "argon2")]
impl<E> InMemoryUsers<E> {
    /// An empty table. Makes the dummy hash for unknown users now (one
    /// argon2id hash, tens of milliseconds), see
    /// [`password::warm_up`](crate::password::warm_up).
    pub fn new() -> Self {
        crate::password::warm_up();
        InMemoryUsers {
            users: HashMap::new(),
        }
    }

    /// Adds `username` with `password_hash` (a PHC string from
    /// [`hash_password`](crate::password::hash_password)) and its claims.
    pub fn user(mut self, username: impl Into<String>, password_hash: String, claims: E) -> Self {
        self.users.insert(username.into(), (password_hash, claims));
        self
    }
}

#[cfg(feature = "argon2")]
impl<E> fmt::Debug for InMemoryUsers<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryUsers")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(feature = "argon2")]
impl<E> CredentialVerifier for InMemoryUsers<E>
where
    E: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Claims = E;

    async fn verify(&self, c: Credentials) -> Result<Verified<E>, LoginError> {
        let entry = self.users.get(&c.username);
        let hash = entry.map(|(hash, _)| hash.as_str());
        if !crate::password::verify_password(&c.password, hash).await {
            return Err(LoginError::InvalidCredentials);
        }
        let (_, claims) = entry.ok_or(LoginError::InvalidCredentials)?;
        Ok(Verified {
            subject: c.username,
            claims: claims.clone(),
        })
    }
}
