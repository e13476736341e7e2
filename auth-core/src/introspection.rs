//! RFC 7662 token introspection without HTTP: the clients that may ask, and
//! what they learn about a token.
//!
//! A service that cannot verify tokens itself (another language, no Redis
//! for revocations) asks the issuer: "is this token active, and whose is
//! it?". [`IntrospectionClients`] holds the registered callers (a client id
//! and a secret of at least [`MIN_CLIENT_SECRET`] bytes each) and checks a
//! presented pair in constant time; [`Introspection`] writes the answer for
//! a live token's claims. `auth-axum-extras` serves them at
//! `POST {prefix}/introspect`.
//!
//! ```
//! use auth_core::introspection::{Introspection, IntrospectionClients};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clients = IntrospectionClients::new()
//!     .client("orders-service", "a-secret-of-at-least-16-bytes")?;
//! assert!(clients.authenticate("orders-service", "a-secret-of-at-least-16-bytes"));
//! assert!(!clients.authenticate("orders-service", "a-guess-of-the-same-length!!"));
//! assert!(!clients.authenticate("nobody", "a-secret-of-at-least-16-bytes"));
//! assert!(IntrospectionClients::new().client("short", "too short").is_err());
//!
//! // The application claims a caller may learn besides the registered ones.
//! let introspection = Introspection::new(clients).claims(["roles"])?;
//! assert_eq!(Introspection::inactive(), serde_json::json!({ "active": false }));
//! # let _ = introspection;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::claims::{AccessClaims, RESERVED};

/// The shortest client secret accepted, in bytes: 128 bits, guessed by no
/// one however often they ask.
pub const MIN_CLIENT_SECRET: usize = 16;

/// The members of an introspection answer that no application claim may
/// take (RFC 7662 §2.2, and ours).
const ANSWER_MEMBERS: [&str; 7] = [
    "active",
    "token_type",
    "scope",
    "client_id",
    "username",
    "cnf",
    "auth_time",
];

/// A client or a claim could not be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectionError {
    /// The client id is empty or holds a control character.
    #[error("an introspection client id must be non-empty, without control characters")]
    BadClientId,
    /// The client id was registered twice.
    #[error("the introspection client {0:?} is registered twice")]
    DuplicateClient(String),
    /// The secret is shorter than [`MIN_CLIENT_SECRET`].
    #[error(
        "the secret of introspection client {id:?} is {len} bytes; at least {MIN_CLIENT_SECRET} are needed"
    )]
    ShortSecret {
        /// The client.
        id: String,
        /// The secret's length.
        len: usize,
    },
    /// An application claim named for the answer is a member of the
    /// answer itself (`active`, `token_type`, a registered claim...).
    #[error("the claim {0:?} cannot be shared: the introspection answer has a member of that name")]
    ReservedClaim(String),
}

/// The registered introspection clients. Secrets are kept only as keyed
/// digests (HMAC-SHA-256 under a key made at start), and a presented
/// secret is compared digest to digest in constant time; an unknown client
/// id costs the same comparison.
#[derive(Clone)]
pub struct IntrospectionClients {
    key: Arc<[u8]>,
    digests: Arc<HashMap<String, String>>,
    /// Compared against when the client id is unknown.
    dummy: String,
}

impl IntrospectionClients {
    /// No clients yet.
    pub fn new() -> Self {
        let mut key = Vec::with_capacity(32);
        key.extend_from_slice(Uuid::new_v4().as_bytes());
        key.extend_from_slice(Uuid::new_v4().as_bytes());
        let key: Arc<[u8]> = key.into();
        let dummy = digest(&key, Uuid::new_v4().as_bytes());
        IntrospectionClients {
            key,
            digests: Arc::new(HashMap::new()),
            dummy,
        }
    }

    /// Registers the client `id` with `secret` (at least
    /// [`MIN_CLIENT_SECRET`] bytes).
    pub fn client(mut self, id: &str, secret: &str) -> Result<Self, IntrospectionError> {
        if id.is_empty() || id.chars().any(char::is_control) {
            return Err(IntrospectionError::BadClientId);
        }
        if secret.len() < MIN_CLIENT_SECRET {
            return Err(IntrospectionError::ShortSecret {
                id: id.to_owned(),
                len: secret.len(),
            });
        }
        let digest = digest(&self.key, secret.as_bytes());
        let digests = Arc::make_mut(&mut self.digests);
        if digests.insert(id.to_owned(), digest).is_some() {
            return Err(IntrospectionError::DuplicateClient(id.to_owned()));
        }
        Ok(self)
    }

    /// Whether `secret` is the secret of client `id`, compared in constant
    /// time.
    pub fn authenticate(&self, id: &str, secret: &str) -> bool {
        let presented = digest(&self.key, secret.as_bytes());
        let (expected, known) = match self.digests.get(id) {
            Some(d) => (d, true),
            None => (&self.dummy, false),
        };
        constant_time_eq(presented.as_bytes(), expected.as_bytes()) & known
    }

    /// How many clients are registered.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether no client is registered (then every caller is refused).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

impl Default for IntrospectionClients {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for IntrospectionClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&str> = self.digests.keys().map(String::as_str).collect();
        ids.sort_unstable();
        f.debug_struct("IntrospectionClients")
            .field("ids", &ids)
            .finish_non_exhaustive()
    }
}

/// The introspection endpoint's settings: who may ask, and which of the
/// application's claims they learn.
#[derive(Debug, Clone)]
pub struct Introspection {
    clients: IntrospectionClients,
    shared: Arc<[String]>,
}

impl Introspection {
    /// Introspection for `clients`, sharing none of the application's
    /// claims but `scope`.
    pub fn new(clients: IntrospectionClients) -> Self {
        Introspection {
            clients,
            shared: Arc::new([]),
        }
    }

    /// The application claims (top-level names of the token's own claims,
    /// such as `roles` or `tenant`) a caller learns besides the registered
    /// ones. None by default: what the application put in its tokens stays
    /// between it and the token's holder unless it says otherwise.
    pub fn claims<I, S>(mut self, names: I) -> Result<Self, IntrospectionError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if let Some(bad) = names
            .iter()
            .find(|n| RESERVED.contains(&n.as_str()) || ANSWER_MEMBERS.contains(&n.as_str()))
        {
            return Err(IntrospectionError::ReservedClaim(bad.clone()));
        }
        self.shared = names.into();
        Ok(self)
    }

    /// The registered clients.
    pub fn clients(&self) -> &IntrospectionClients {
        &self.clients
    }

    /// The answer for anything that is not a live access token of this
    /// issuer (garbage, expired, revoked, another issuer's, a refresh
    /// token): exactly `{"active": false}`, RFC 7662 §2.2.
    pub fn inactive() -> Value {
        let mut answer = Map::new();
        answer.insert("active".into(), Value::Bool(false));
        Value::Object(answer)
    }

    /// The answer for a live access token with these (validated, not
    /// revoked) claims: `active`, `token_type` (`Bearer`, or `DPoP` with `cnf.jkt` for a
    /// bound token), `sub`, `exp`,
    /// `iat`, `nbf`, `iss` and `aud` when the token has them, `jti`,
    /// `auth_time` when known, `scope` when the application's claims carry
    /// one as a string, and the application claims named in
    /// [`claims`](Self::claims).
    pub fn active(&self, claims: &AccessClaims<Map<String, Value>>) -> Value {
        let mut answer = Map::new();
        answer.insert("active".into(), Value::Bool(true));
        let token_type = if claims.cnf.is_some() {
            "DPoP"
        } else {
            "Bearer"
        };
        answer.insert("token_type".into(), token_type.into());
        answer.insert("sub".into(), claims.sub.clone().into());
        answer.insert("exp".into(), claims.exp.into());
        answer.insert("iat".into(), claims.iat.into());
        if let Some(nbf) = claims.nbf {
            answer.insert("nbf".into(), nbf.into());
        }
        if let Some(iss) = &claims.iss {
            answer.insert("iss".into(), iss.clone().into());
        }
        if !claims.aud.is_empty()
            && let Ok(aud) = serde_json::to_value(&claims.aud)
        {
            answer.insert("aud".into(), aud);
        }
        answer.insert("jti".into(), claims.jti.to_string().into());
        if let Some(t) = claims.auth_time {
            answer.insert("auth_time".into(), t.into());
        }
        // RFC 9449 §6.2: a bound token's key, so the resource server can
        // check the proof.
        if let Some(cnf) = &claims.cnf {
            answer.insert("cnf".into(), serde_json::json!({ "jkt": cnf.jkt }));
        }
        if let Some(scope @ Value::String(_)) = claims.extra.get("scope") {
            answer.insert("scope".into(), scope.clone());
        }
        for name in self.shared.iter() {
            if let Some(v) = claims.extra.get(name) {
                answer.insert(name.clone(), v.clone());
            }
        }
        Value::Object(answer)
    }
}

/// HMAC-SHA-256 of `data` under `key`, base64url.
fn digest(key: &[u8], data: &[u8]) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(key);
    // HS256 over a secret key cannot fail; an empty digest would match
    // nothing but another failure, and `authenticate` also asks that the
    // client be known.
    jsonwebtoken::crypto::sign(data, &key, jsonwebtoken::Algorithm::HS256).unwrap_or_default()
}

/// Compares in time that depends only on the lengths (equal here: both are
/// digests).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
