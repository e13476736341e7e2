//! Server-side state: the revocation denylist, sessions and their rotation,
//! and logout-all cut-offs, behind one [`Store`] trait.
//!
//! The contract every implementation keeps (and the shared test suite in
//! [`testing::store_suite`] checks):
//!
//! - **Denylist**: a revoked `jti` is refused until `until`, the moment its
//!   token would be refused anyway (expiry plus leeway); then the entry may go.
//! - **Sessions**: a login creates a session (`sid`) holding the one refresh
//!   `jti` that is current. [`Store::rotate`] is an atomic compare-and-swap: of
//!   any number of concurrent rotations presenting the current `jti`, exactly
//!   one wins. The `jti` it replaced, presented again within the rotation's
//!   grace (a racing tab, a retried request), is *superseded*: refused, but
//!   the session lives on. Any other stale `jti` is reuse, and revokes the
//!   session. The grace is measured in milliseconds. Rotation never extends a
//!   session past its absolute expiry.
//! - **Subjects**: live sessions are indexed by subject, so logout-all revokes
//!   each of them, and a user's sessions can be listed. A subject has at most
//!   [`NewSession::max_sessions`] live sessions: the login that goes past it
//!   revokes the oldest, atomically with its own creation, so the work of
//!   logout-all (and of every store operation) stays bounded.
//! - **Cut-offs**: logout-all also records a cut-off second; tokens of the
//!   subject issued in an *earlier* second are refused. Tokens issued in the
//!   cut-off second itself are judged by their session alone, so a login made
//!   right after logout-all, in the same second, works.
//! - **Check**: [`Store::check`] answers per request and is an in-memory
//!   lookup in the common case: it returns a [`Check`] that is usually ready
//!   at once, with no allocation and no `.await` needed.
//! - **Fail closed**: an error is a refusal, never a pass.
//!
//! ```
//! use auth_core::store::{MemoryStore, Store, Verdict};
//! use auth_core::TokenRef;
//! use uuid::Uuid;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let store = MemoryStore::new();
//! let token = TokenRef { jti: Uuid::new_v4(), sid: Uuid::new_v4(), sub: "alice", iat: 0 };
//! assert_eq!(store.check(&token).await.unwrap(), Verdict::Allowed);
//! store.revoke_token(token.jti, u64::MAX).await.unwrap();
//! assert!(matches!(store.check(&token).await.unwrap(), Verdict::Revoked(_)));
//! # }
//! ```

// The test suite exists with the `testing` feature only.
#![cfg_attr(
    feature = "testing",
    doc = "[`testing::store_suite`]: crate::testing::store_suite"
)]
#![cfg_attr(
    not(feature = "testing"),
    doc = "[`testing::store_suite`]: https://docs.rs/auth-core/latest/auth_core/testing/store_suite/"
)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use uuid::Uuid;

use crate::claims::TokenRef;
use crate::error::{RevokedBy, StoreError};

pub(crate) mod attempts;
mod memory;
pub use memory::{DEFAULT_PURGE_INTERVAL, MemoryStore, MemoryStoreBuilder};
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{DEFAULT_REDIS_PREFIX, DEFAULT_REDIS_TIMEOUT, RedisStore, RedisStoreBuilder};

/// A boxed, `Send` future, as returned by the store's less frequent operations.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The server-side state of the token lifecycle. Object safe: the authority
/// holds an `Arc<dyn Store>`.
///
/// Times are seconds since the Unix epoch. `until` arguments say how long an
/// entry must be kept: past that instant the token it shadows is refused by
/// its own expiry, and the entry may be dropped.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Whether a token (already validated cryptographically) was revoked:
    /// by its `jti`, its session, or its subject's cut-off.
    fn check(&self, token: &TokenRef<'_>) -> Check;

    /// [`check`](Self::check), given the token itself too: for a store that
    /// asks the issuer about the token (RFC 7662 introspection) rather
    /// than looking up its ids. The validator and the layer call this one;
    /// by default it is `check`.
    fn check_token(&self, token: &TokenRef<'_>, raw: &str) -> Check {
        let _ = raw;
        self.check(token)
    }

    /// Records a new session. Its `sid` is fresh (a random UUID). When the
    /// subject then has more than [`NewSession::max_sessions`] live sessions,
    /// the oldest ones are revoked (like [`Store::revoke_session`]) in the
    /// same atomic step.
    fn create_session(&self, session: NewSession) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Atomically swaps the session's current refresh `jti` for the next one,
    /// if the presented one is current; see [`RotateOutcome`].
    fn rotate(&self, rotation: Rotation) -> BoxFuture<'_, Result<RotateOutcome, StoreError>>;

    /// Denylists one token until `until`.
    fn revoke_token(&self, jti: Uuid, until: u64) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Revokes a session and every token it issued. The revocation is kept
    /// until the session's own `revoke_until` when the store knows the
    /// session, else until `until`. Returns whether a live session was removed.
    ///
    /// `subject` is the session's subject, the `sub` of its tokens: a store
    /// that shards by subject (the Redis store on Redis Cluster) finds the
    /// session by it. A session of another subject is not removed, though
    /// `sid` is still denylisted.
    fn revoke_session<'a>(
        &'a self,
        sid: Uuid,
        subject: &'a str,
        until: u64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Logout-all: revokes every live session of `subject` and records the
    /// cut-off (tokens with `iat < cutoff` are refused), kept until `until`.
    /// Returns how many sessions were revoked.
    fn revoke_subject<'a>(
        &'a self,
        subject: &'a str,
        cutoff: u64,
        until: u64,
    ) -> BoxFuture<'a, Result<usize, StoreError>>;

    /// The live sessions of `subject`, oldest first (logins in the same
    /// second in login order).
    fn sessions<'a>(
        &'a self,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Vec<SessionInfo>, StoreError>>;

    /// One session's record, live or not, found by its `sid` and subject
    /// (see [`revoke_session`](Self::revoke_session) for why the subject);
    /// `None` when the store holds no such session. The authority reads it
    /// at each refresh, before the rotation, to show the application the
    /// session's claims ([`Session`](crate::Session)). The default answers
    /// `None`: a store that cannot look a session up shows no claims, and
    /// the rotation still decides alone whether the session lives.
    fn session<'a>(
        &'a self,
        sid: Uuid,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Option<SessionRecord>, StoreError>> {
        let _ = (sid, subject);
        Box::pin(std::future::ready(Ok(None)))
    }

    /// Tells the store the longest an access token is accepted, leeway
    /// included: the authority calls it when built. A revoked session or a
    /// subject cut-off then only has to stay in what [`Store::check`] reads
    /// for that long after the revocation: every access token issued before
    /// it has expired by then, and refresh tokens are refused by the session
    /// record, which the revocation removed. So the per-request denylist
    /// follows the revocations of the last access-token lifetime, not of
    /// the last session lifetime. Called again, the largest window wins.
    /// The default ignores it (entries kept for their whole `until`).
    fn set_access_window(&self, window: std::time::Duration) {
        let _ = window;
    }

    /// The login throttle's counters, kept beside the revocations
    /// ([`crate::throttle`]). The default, `None`, makes a
    /// [`LoginThrottle`](crate::throttle::LoginThrottle) keep them in its
    /// own process's memory.
    fn attempts(&self) -> Option<&dyn attempts::AttemptStore> {
        None
    }
}

/// Where the `jti`s of accepted proofs are kept, so that each is accepted
/// once: [`MemoryReplayCache`](crate::dpop::MemoryReplayCache) in one process; across instances, the Redis
/// store (feature `redis`), whose every instance on one Redis or Redis
/// Cluster shares the proofs it has seen, at one round trip per proof:
/// `DpopVerifier::new(Arc::new(redis_store.clone()))`.
///
/// An implementation must fail closed: an error refuses the proof (503),
/// and `true` may be answered only once per key within `until`.
pub trait ReplayCache: Send + Sync + fmt::Debug + 'static {
    /// Records `key` until `until` (Unix seconds) and answers `true`, or
    /// answers `false` when it is recorded already and not yet expired.
    fn first_use<'a>(&'a self, key: &'a str, until: u64)
    -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// The outcome of [`Store::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not revoked.
    Allowed,
    /// Revoked, and by what.
    Revoked(RevokedBy),
}

/// The answer of [`Store::check`]: ready at once in the common case, or a
/// future when the store has to ask elsewhere. Await it, or call
/// [`Check::now`] to take a ready answer without an executor.
#[must_use = "a check does nothing unless its verdict is read"]
pub enum Check {
    /// The verdict is known now.
    Ready(Option<Result<Verdict, StoreError>>),
    /// The verdict needs I/O.
    Pending(BoxFuture<'static, Result<Verdict, StoreError>>),
}

impl Check {
    /// A verdict known now.
    pub fn ready(result: Result<Verdict, StoreError>) -> Self {
        Check::Ready(Some(result))
    }

    /// A verdict that needs I/O.
    pub fn pending(
        fut: impl Future<Output = Result<Verdict, StoreError>> + Send + 'static,
    ) -> Self {
        Check::Pending(Box::pin(fut))
    }

    /// The verdict if it is ready, else the check itself back, to be awaited.
    pub fn now(self) -> Result<Result<Verdict, StoreError>, Check> {
        match self {
            Check::Ready(Some(result)) => Ok(result),
            other => Err(other),
        }
    }
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Ready(r) => f.debug_tuple("Ready").field(r).finish(),
            Check::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

impl Future for Check {
    type Output = Result<Verdict, StoreError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Check::Ready(r) => Poll::Ready(r.take().unwrap_or_else(|| {
                Err(StoreError::Unavailable(
                    "check polled after completion".into(),
                ))
            })),
            Check::Pending(fut) => fut.as_mut().poll(cx),
        }
    }
}

/// A session to record at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// The session id.
    pub sid: Uuid,
    /// The user.
    pub subject: String,
    /// The `jti` of the first refresh token.
    pub refresh_jti: Uuid,
    /// Login time.
    pub created_at: u64,
    /// Expiry of the first refresh token.
    pub refresh_expires_at: u64,
    /// The absolute end of the session: no token of it outlives this.
    pub expires_at: u64,
    /// How long a revocation of this session must be kept: `expires_at` plus
    /// the validation leeway.
    pub revoke_until: u64,
    /// The application's claims (a JSON object), re-issued on every refresh.
    pub claims: String,
    /// A label for the device the session was started from (shown to its
    /// user, never trusted), at most [`MAX_DEVICE_LABEL`] bytes.
    pub device: Option<String>,
    /// The most live sessions the subject may have, this one included: past
    /// it the oldest are revoked. From the authority's
    /// `max_sessions_per_subject`; 0 counts as 1.
    pub max_sessions: usize,
}

/// A rotation request: "the holder of `presented` asks for `next`".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The session.
    pub sid: Uuid,
    /// The session's subject, the `sub` of the presented token: a store that
    /// shards by subject finds the session by it. A session of another
    /// subject is [`RotateOutcome::Unknown`].
    pub subject: String,
    /// The `jti` of the refresh token presented.
    pub presented: Uuid,
    /// The `jti` of the refresh token about to be issued.
    pub next: Uuid,
    /// Now, in milliseconds since the Unix epoch
    /// ([`Clock::now_millis`](crate::Clock::now_millis)); [`Rotation::now`]
    /// gives the seconds that token times use.
    pub now_ms: u64,
    /// The refresh token lifetime, in seconds; the new expiry is
    /// `min(now + refresh_ttl, expires_at)`.
    pub refresh_ttl: u64,
    /// Milliseconds after a rotation during which the replaced `jti` is
    /// [`RotateOutcome::Superseded`] rather than reuse; 0 for strict reuse.
    pub grace_ms: u64,
    /// New application claims (a JSON object) for the session, stored with
    /// the rotation when it succeeds and carried by every later refresh
    /// that keeps the claims; `None` keeps those it has.
    pub claims: Option<String>,
}

impl Rotation {
    /// Now, in whole seconds since the Unix epoch (`now_ms / 1000`).
    pub fn now(&self) -> u64 {
        self.now_ms / 1000
    }
}

/// What [`Store::rotate`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RotateOutcome {
    /// The presented `jti` was current; `next` now is. The session as it is
    /// after the rotation.
    Rotated(SessionRecord),
    /// The presented `jti` is the one the last rotation replaced, within the
    /// grace: a concurrent refresh lost the race. Refused; the session lives.
    Superseded,
    /// The presented `jti` was not current: reuse. The session is revoked.
    Reused,
    /// The session reached its absolute expiry (it is now removed).
    Expired,
    /// No such live session: revoked, logged out, or purged.
    Unknown,
}

/// A session as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The session id.
    pub sid: Uuid,
    /// The user.
    pub subject: String,
    /// The refresh `jti` that is current.
    pub current_jti: Uuid,
    /// The refresh `jti` the last rotation replaced, if any.
    pub previous_jti: Option<Uuid>,
    /// Login time.
    pub created_at: u64,
    /// Last rotation, in milliseconds since the Unix epoch (`created_at`
    /// in milliseconds before the first); the reuse grace runs from it.
    pub last_refreshed_ms: u64,
    /// Expiry of the current refresh token.
    pub refresh_expires_at: u64,
    /// The absolute end of the session.
    pub expires_at: u64,
    /// How long a revocation of this session must be kept.
    pub revoke_until: u64,
    /// The application's claims, as JSON.
    pub claims: String,
    /// The device label given at login.
    pub device: Option<String>,
}

impl SessionRecord {
    /// A freshly created session.
    pub fn new(s: NewSession) -> Self {
        SessionRecord {
            sid: s.sid,
            subject: s.subject,
            current_jti: s.refresh_jti,
            previous_jti: None,
            created_at: s.created_at,
            last_refreshed_ms: s.created_at.saturating_mul(1000),
            refresh_expires_at: s.refresh_expires_at,
            expires_at: s.expires_at,
            revoke_until: s.revoke_until,
            claims: s.claims,
            device: s.device,
        }
    }

    /// Last rotation, in whole seconds (`created_at` before the first).
    pub fn last_refreshed_at(&self) -> u64 {
        self.last_refreshed_ms / 1000
    }

    /// Whether the session can no longer be refreshed at `now`.
    pub fn is_dead(&self, now: u64) -> bool {
        now >= self.refresh_expires_at.min(self.expires_at)
    }

    /// What a user may see of this session.
    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            sid: self.sid,
            subject: self.subject.clone(),
            created_at: self.created_at,
            last_refreshed_at: self.last_refreshed_at(),
            refresh_expires_at: self.refresh_expires_at,
            expires_at: self.expires_at,
            device: self.device.clone(),
        }
    }

    /// Applies a successful rotation.
    pub fn rotate(&mut self, r: &Rotation) {
        self.previous_jti = Some(self.current_jti);
        self.current_jti = r.next;
        self.last_refreshed_ms = r.now_ms;
        self.refresh_expires_at = r.now().saturating_add(r.refresh_ttl).min(self.expires_at);
        if let Some(claims) = &r.claims {
            self.claims.clone_from(claims);
        }
    }

    /// The outcome of a rotation against this record, without applying it.
    /// The grace is compared in milliseconds: with a 1 s grace, the replaced
    /// token is superseded 999 ms after the rotation and reuse at 1 000 ms.
    pub fn judge(&self, r: &Rotation) -> RotateVerdict {
        if r.presented != self.current_jti {
            let recent = r.now_ms.saturating_sub(self.last_refreshed_ms) < r.grace_ms;
            if recent && self.previous_jti == Some(r.presented) {
                RotateVerdict::Superseded
            } else {
                RotateVerdict::Reused
            }
        } else if self.is_dead(r.now()) {
            RotateVerdict::Expired
        } else {
            RotateVerdict::Rotate
        }
    }
}

/// How a rotation request compares with a session record; shared by stores
/// so they all judge alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateVerdict {
    /// The presented token is current and the session alive: rotate.
    Rotate,
    /// The presented token was replaced by a rotation within the grace.
    Superseded,
    /// The presented token is not current: reuse.
    Reused,
    /// The session is past its refresh or absolute expiry.
    Expired,
}

/// A session as listed to its user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionInfo {
    /// The session id; pass it to revoke this session.
    pub sid: Uuid,
    /// The user.
    pub subject: String,
    /// Login time.
    pub created_at: u64,
    /// Last refresh (equal to `created_at` before the first).
    pub last_refreshed_at: u64,
    /// Expiry of the current refresh token.
    pub refresh_expires_at: u64,
    /// Absolute end of the session.
    pub expires_at: u64,
    /// The device label given at login (for example the `User-Agent`):
    /// informative only, never trusted.
    pub device: Option<String>,
}

/// The longest device label a session keeps, in bytes; longer ones are cut
/// at a character boundary.
pub const MAX_DEVICE_LABEL: usize = 128;

/// A device label fit to keep and show: printable ASCII only (control
/// characters, bidirectional overrides, zero-width and every other
/// non-ASCII character dropped, so the label cannot disguise itself), cut to
/// [`MAX_DEVICE_LABEL`] bytes, surrounding blanks trimmed; `None` when
/// nothing is left. `User-Agent` values are ASCII in practice.
///
/// ```
/// use auth_core::store::{MAX_DEVICE_LABEL, device_label};
///
/// assert_eq!(device_label("curl/8.5\r\nX: y").as_deref(), Some("curl/8.5X: y"));
/// assert_eq!(device_label("Phone\u{202E}exe.gpj").as_deref(), Some("Phoneexe.gpj"));
/// assert_eq!(device_label(&"a".repeat(300)).map(|l| l.len()), Some(MAX_DEVICE_LABEL));
/// assert_eq!(device_label(" \t é "), None);
/// ```
pub fn device_label(raw: &str) -> Option<String> {
    let out: String = raw
        .chars()
        .filter(|c| *c == ' ' || c.is_ascii_graphic())
        .take(MAX_DEVICE_LABEL)
        .collect();
    let trimmed = out.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}
