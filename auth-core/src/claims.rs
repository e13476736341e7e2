//! The claims carried by access and refresh tokens.
//!
//! An access token carries the registered claims, the session id `sid` and the
//! application's own claims `E`, flattened into the same JSON object. A refresh
//! token carries only what rotation needs. The two kinds are told apart by the
//! JOSE header `typ` (see [`TokenKind`]), checked on every validation.
//!
//! ```
//! use auth_core::AccessClaims;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize, PartialEq)]
//! struct MyClaims {
//!     roles: Vec<String>,
//! }
//!
//! let json = r#"{"sub":"alice","exp":2000,"iat":1000,"nbf":1000,
//!     "jti":"5f0e8b8e-3c47-4a4e-9d5b-0a7d5e6c1a01","sid":"0b8a3b1c-2d4e-4f60-8a7b-9c0d1e2f3a4b",
//!     "roles":["user"]}"#;
//! let claims: AccessClaims<MyClaims> = serde_json::from_str(json).unwrap();
//! assert_eq!(claims.sub, "alice");
//! assert_eq!(claims.extra.roles, ["user"]);
//! ```

use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The two kinds of token, never interchangeable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Short-lived; JOSE `typ` is `at+jwt` (RFC 9068).
    Access,
    /// Long-lived, single use (rotated); JOSE `typ` is `refresh+jwt`.
    Refresh,
}

impl TokenKind {
    /// The JOSE header `typ` this kind of token carries.
    pub const fn typ(self) -> &'static str {
        match self {
            TokenKind::Access => "at+jwt",
            TokenKind::Refresh => "refresh+jwt",
        }
    }

    /// Whether a header `typ` names this kind. Media types compare
    /// case-insensitively and may carry the `application/` prefix (RFC 7515 §4.1.9).
    pub fn matches_typ(self, typ: &str) -> bool {
        let typ = match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
            _ => typ,
        };
        typ.eq_ignore_ascii_case(self.typ())
    }
}

impl std::fmt::Display for TokenKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        })
    }
}

/// The default application claims: none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoClaims {}

/// Roles and scopes a set of claims grants, for authorization checks such as
/// `auth-tower`'s `RequireLayer`. [`RoleClaims`] implements it; so does
/// [`AccessClaims<E>`] for any `E` that does, by asking `E`.
///
/// Claims with a `roles` and/or `scope` field derive it
/// (`#[derive(Privileges)]`, feature `derive`); others implement it to
/// name what they grant:
///
/// ```
/// use auth_core::{Algorithm, AuthError, Key, KeySet, Privileges, TokenAuthority};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Clone, Serialize, Deserialize)]
/// struct Claims {
///     admin: bool,
///     permissions: Vec<String>,
/// }
///
/// impl Privileges for Claims {
///     fn has_role(&self, role: &str) -> bool {
///         role == "admin" && self.admin
///     }
///     fn has_scope(&self, scope: &str) -> bool {
///         self.permissions.iter().any(|p| p == scope)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), AuthError> {
/// let authority = TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::EdDSA).unwrap()).unwrap())
///     .build()
///     .unwrap();
/// let claims = Claims { admin: false, permissions: vec!["orders:read".into()] };
/// let pair = authority.issue("alice", &claims).await?;
///
/// // The validated token grants what its claims grant.
/// let access = authority.validator().validate_access::<Claims>(&pair.access_token).await?;
/// assert!(access.has_scope("orders:read"));
/// assert!(!access.has_scope("orders:write") && !access.has_role("admin"));
/// # Ok(()) }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not say which roles and scopes it grants (`Privileges`)",
    label = "role and scope checks need `Privileges`",
    note = "add `#[derive(auth_core::Privileges)]` to a claims struct with a `roles` and/or `scope` field, or implement `Privileges` by hand"
)]
pub trait Privileges {
    /// Whether the claims grant `role`.
    fn has_role(&self, role: &str) -> bool;
    /// Whether the claims grant the OAuth `scope` (one space-separated item).
    fn has_scope(&self, scope: &str) -> bool;
}

impl Privileges for NoClaims {
    fn has_role(&self, _: &str) -> bool {
        false
    }
    fn has_scope(&self, _: &str) -> bool {
        false
    }
}

/// Ready-made application claims: a list of roles and an OAuth-style `scope`
/// string (space-separated, RFC 8693 §4.2).
///
/// ```
/// use auth_core::{Privileges, RoleClaims};
///
/// let claims = RoleClaims::with_roles(["user", "admin"]);
/// assert!(claims.has_role("admin") && !claims.has_scope("read"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleClaims {
    /// The user's roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Space-separated scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl RoleClaims {
    /// Claims with these roles and no scope.
    pub fn with_roles<I: IntoIterator<Item = S>, S: Into<String>>(roles: I) -> Self {
        RoleClaims {
            roles: roles.into_iter().map(Into::into).collect(),
            scope: None,
        }
    }
}

impl Privileges for RoleClaims {
    fn has_role(&self, role: &str) -> bool {
        crate::privileges::has_role(&self.roles, role)
    }
    fn has_scope(&self, scope: &str) -> bool {
        crate::privileges::has_scope(&self.scope, scope)
    }
}

impl<E: Privileges> Privileges for AccessClaims<E> {
    fn has_role(&self, role: &str) -> bool {
        self.extra.has_role(role)
    }
    fn has_scope(&self, scope: &str) -> bool {
        self.extra.has_scope(scope)
    }
}

/// The claims of a validated access token.
///
/// `E` holds the application's own claims (roles, scopes, tenant...), flattened
/// into the token's JSON object next to the registered ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims<E = NoClaims> {
    /// Issuer, when the authority is configured with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Subject: the user id.
    pub sub: String,
    /// Audience, when the authority is configured with one.
    #[serde(default, skip_serializing_if = "Audience::is_empty")]
    pub aud: Audience,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Not before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Token id (random UUID): the key of the denylist.
    pub jti: Uuid,
    /// Session id (random UUID), shared by every token of one login.
    pub sid: Uuid,
    /// When the login that started the session happened, seconds since the
    /// Unix epoch (OpenID Connect's `auth_time`, RFC 9470): a refresh keeps
    /// it. Step-up guards compare it with their `max_age`. `None` in a token
    /// of an issuer that does not send it, which no such guard accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// The key the token is bound to (DPoP, RFC 9449 §6): a token with a
    /// `cnf.jkt` is accepted only with a proof signed by that key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// The application's claims.
    #[serde(flatten)]
    pub extra: E,
}

impl<E> AccessClaims<E> {
    /// Whether the login behind these claims happened at most `max_age`
    /// seconds before `now` (seconds since the Unix epoch), by its
    /// [`auth_time`](Self::auth_time): RFC 9470's test for step-up. False
    /// without an `auth_time`.
    ///
    /// ```
    /// use auth_core::{AccessClaims, NoClaims};
    /// # let mut claims: AccessClaims<NoClaims> = serde_json::from_str(r#"{"sub":"alice","exp":2000,"iat":1000,
    /// #   "jti":"5f0e8b8e-3c47-4a4e-9d5b-0a7d5e6c1a01","sid":"0b8a3b1c-2d4e-4f60-8a7b-9c0d1e2f3a4b"}"#).unwrap();
    /// claims.auth_time = Some(1_000);
    /// assert!(claims.logged_in_within(300, 1_300));
    /// assert!(!claims.logged_in_within(300, 1_301));
    /// claims.auth_time = None;
    /// assert!(!claims.logged_in_within(300, 1_000));
    /// ```
    pub fn logged_in_within(&self, max_age: u64, now: u64) -> bool {
        self.auth_time
            .is_some_and(|t| now <= t.saturating_add(max_age))
    }
}

/// The claims of a validated refresh token: only what rotation needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshClaims {
    /// Issuer, when the authority is configured with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Subject: the user id.
    pub sub: String,
    /// Audience, when the authority is configured with one.
    #[serde(default, skip_serializing_if = "Audience::is_empty")]
    pub aud: Audience,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Not before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Token id: the one the session expects next.
    pub jti: Uuid,
    /// Session id.
    pub sid: Uuid,
    /// The key the session is bound to (DPoP): refreshing needs a proof
    /// signed by it, and the new pair stays bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// What the store needs from a token to decide whether it was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRef<'a> {
    /// The token id.
    pub jti: Uuid,
    /// The session id.
    pub sid: Uuid,
    /// The subject.
    pub sub: &'a str,
    /// Issued at (seconds), compared with the subject's logout-all cut-off.
    pub iat: u64,
}

impl<E> AccessClaims<E> {
    /// The part of these claims the revocation store looks at.
    pub fn token_ref(&self) -> TokenRef<'_> {
        TokenRef {
            jti: self.jti,
            sid: self.sid,
            sub: &self.sub,
            iat: self.iat,
        }
    }
}

impl RefreshClaims {
    /// The part of these claims the revocation store looks at.
    pub fn token_ref(&self) -> TokenRef<'_> {
        TokenRef {
            jti: self.jti,
            sid: self.sid,
            sub: &self.sub,
            iat: self.iat,
        }
    }
}

/// The `aud` claim: one string or an array of strings (RFC 7519 §4.1.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Audience(Vec<String>);

impl Audience {
    /// An audience of one.
    pub fn one(aud: impl Into<String>) -> Self {
        Self(vec![aud.into()])
    }

    /// Whether there is no audience at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `aud` is one of the audiences.
    pub fn contains(&self, aud: &str) -> bool {
        self.0.iter().any(|a| a == aud)
    }

    /// The audiences.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Audience;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<Er: de::Error>(self, v: &str) -> Result<Audience, Er> {
                Ok(Audience::one(v))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut out = Vec::new();
                while let Some(a) = seq.next_element::<String>()? {
                    out.push(a);
                }
                Ok(Audience(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// The registered claim names an application's claims may not use.
pub(crate) const RESERVED: [&str; 10] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "sid",
    "auth_time",
    "cnf",
];

/// The confirmation claim `cnf` (RFC 7800) of a sender-constrained token:
/// the key its presenter must prove to hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the DPoP key (RFC 9449 §6.1),
    /// base64url.
    pub jkt: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typ_matching_is_case_insensitive_and_allows_media_type_prefix() {
        assert!(TokenKind::Access.matches_typ("at+jwt"));
        assert!(TokenKind::Access.matches_typ("AT+JWT"));
        assert!(TokenKind::Access.matches_typ("application/at+jwt"));
        assert!(!TokenKind::Access.matches_typ("refresh+jwt"));
        assert!(!TokenKind::Refresh.matches_typ("at+jwt"));
        assert!(!TokenKind::Access.matches_typ("JWT"));
        assert!(!TokenKind::Access.matches_typ(""));
    }

    #[test]
    fn audience_reads_string_or_array() {
        let one: Audience = serde_json::from_str(r#""api""#).unwrap();
        assert!(one.contains("api"));
        let many: Audience = serde_json::from_str(r#"["a","api"]"#).unwrap();
        assert!(many.contains("api") && !many.contains("b"));
        assert_eq!(serde_json::to_string(&one).unwrap(), r#""api""#);
        assert!(serde_json::from_str::<Audience>("42").is_err());
    }
}
