//! The application's hook for checking a username and password.

#[cfg(feature = "argon2")]
use std::collections::HashMap;
use std::fmt;
use std::future::Future;

use serde::Serialize;

/// What the login endpoint received. `Debug` never prints the password.
#[derive(Clone)]
pub struct Credentials {
    /// The username as sent (not normalized).
    pub username: String,
    /// The password as sent.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"[redacted]")
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

/// Checks credentials for the login endpoint. The application implements it.
///
/// To resist user enumeration, answer an unknown user and a wrong password
/// identically *and in similar time*: verify against a dummy hash when the
/// user does not exist ([`password::verify_password`](crate::password::verify_password)
/// does this). Run password hashing off the async workers
/// (`tokio::task::spawn_blocking`). Rate limiting belongs in front of the
/// login route, as a tower layer.
///
/// ```
/// use auth_axum_extras::{CredentialVerifier, Credentials, LoginError, Verified};
/// use auth_core::RoleClaims;
///
/// struct Ldap;
///
/// impl CredentialVerifier for Ldap {
///     type Claims = RoleClaims;
///
///     async fn verify(&self, c: Credentials) -> Result<Verified<RoleClaims>, LoginError> {
///         // ... ask the directory ...
///         if c.username == "alice" && c.password == "from-the-directory" {
///             Ok(Verified { subject: "u-1".into(), claims: RoleClaims::with_roles(["user"]) })
///         } else {
///             Err(LoginError::InvalidCredentials)
///         }
///     }
/// }
/// ```
pub trait CredentialVerifier: Send + Sync + 'static {
    /// The application claims of the issued access tokens.
    type Claims: Serialize + Send + Sync + 'static;

    /// Checks `credentials`.
    fn verify(
        &self,
        credentials: Credentials,
    ) -> impl Future<Output = Result<Verified<Self::Claims>, LoginError>> + Send;
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
    E: Serialize + Clone + Send + Sync + 'static,
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
