//! The login throttle at the HTTP edge: which address a request comes from,
//! the device cookie, and the `429` of a throttled attempt. The rules are
//! [`auth_core::throttle`]'s; [`AuthRoutes`](crate::AuthRoutes) applies them
//! by default.
//!
//! ```
//! use std::net::SocketAddr;
//! use auth_axum_extras::throttle::ClientAddress;
//! use auth_axum_extras::{AuthRoutes, InMemoryUsers, password::hash_password};
//! use auth_core::throttle::{DeviceKey, LoginThrottle, ThrottlePolicy};
//! use auth_core::{Algorithm, Key, KeySet, RoleClaims, TokenAuthority};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let authority = TokenAuthority::builder(KeySet::new(Key::generate(Algorithm::ES256)?)?).build()?;
//! let users = InMemoryUsers::new()
//!     .user("alice", hash_password("alice-password")?, RoleClaims::with_roles(["user"]));
//! // Ten free failures per account and address; device cookies signed with
//! // a key every instance shares.
//! let throttle = LoginThrottle::new(authority.store().clone())
//!     .policy(ThrottlePolicy::default().free_failures(10))
//!     .device_key(DeviceKey::from_secret(b"a device-cookie secret of 32+ bytes!")?);
//! let app: axum::Router = AuthRoutes::new(authority, users)
//!     .throttle(throttle)
//!     .client_address(ClientAddress::ForwardedFor { hops: 1 }) // behind one proxy
//!     .into_router()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let serving = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>());
//! # drop(serving);
//! # Ok(()) }
//! ```

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use auth_core::throttle::{Attempt, Decision, LoginThrottle};
use axum::extract::ConnectInfo;
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::cookie::RefreshCookie;
use crate::error::ApiError;

/// The device cookie's name next to a `refresh_token` cookie.
pub const DEVICE_COOKIE_NAME: &str = "auth_device";
/// The device cookie's name next to a `__Secure-` refresh cookie.
pub const SECURE_DEVICE_COOKIE_NAME: &str = "__Secure-auth_device";
/// The `error` of a throttled login (status 429).
pub const TOO_MANY_ATTEMPTS: &str = "too_many_attempts";

/// Where the client's address comes from, for the login throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAddress {
    /// The TCP peer (default): read from axum's
    /// [`ConnectInfo<SocketAddr>`](ConnectInfo), so serve the app with
    /// `into_make_service_with_connect_info::<SocketAddr>()`. Without it,
    /// every client counts as one address (`0.0.0.0`), logged once as an
    /// error.
    #[default]
    Peer,
    /// Behind `hops` proxies the application trusts, each appending the
    /// address it received from to `X-Forwarded-For`: the client is the
    /// `hops`th address from the right. Spoofing risk: a client can write
    /// anything to the left of what the trusted proxies append, so the
    /// count must be exact: one too many and clients pick their address.
    /// A request with fewer entries did not come through the proxies: its
    /// peer address counts.
    ForwardedFor {
        /// How many trusted proxies append to the header (at least 1).
        hops: usize,
    },
}

static WARNED_NO_PEER: AtomicBool = AtomicBool::new(false);

impl ClientAddress {
    /// The client's address in `parts`, as configured.
    pub fn of(&self, parts: &Parts) -> IpAddr {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = match *self {
            ClientAddress::Peer => None,
            ClientAddress::ForwardedFor { hops } => forwarded_for(&parts.headers, hops.max(1)),
        };
        forwarded.or(peer).unwrap_or_else(|| {
            if !WARNED_NO_PEER.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    "login throttle: no client address; serve the app with into_make_service_with_connect_info::<SocketAddr>() or set AuthRoutes::client_address. All clients count as one address"
                );
            }
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        })
    }
}

/// The `hops`th address from the right of all `X-Forwarded-For` values.
fn forwarded_for(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    let mut entries = Vec::new();
    // Bytes that are not text are replaced, never a reason to skip a line:
    // a proxy appending to the client's own line must still be counted.
    let lines: Vec<_> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .collect();
    for value in &lines {
        entries.extend(value.split(',').map(str::trim));
        if entries.len() > 64 {
            // Proxies append one entry each: a longer list is a client's.
            entries.drain(..entries.len() - 64);
        }
    }
    let entry = entries.len().checked_sub(hops).map(|i| entries[i])?;
    entry.parse::<IpAddr>().ok().or_else(|| {
        entry
            .parse::<SocketAddr>()
            .ok()
            .map(|addr: SocketAddr| addr.ip())
    })
}

/// The routes' throttle: the core throttle, the client address rule and
/// the device cookie.
#[derive(Debug)]
pub(crate) struct Throttling {
    pub(crate) throttle: LoginThrottle,
    pub(crate) address: ClientAddress,
    pub(crate) device_cookie: RefreshCookie,
}

impl Throttling {
    /// The attempt `parts` makes at `account`.
    pub(crate) fn attempt(&self, parts: &Parts, account: &str) -> Attempt {
        // Any value that proves this account: a decoy planted beside the
        // real cookie (from a sibling domain or path) cannot hide it.
        let device = self
            .device_cookie
            .read_all(&parts.headers)
            .into_iter()
            .find_map(|token| self.throttle.known_device(token, account));
        Attempt::new(account, self.address.of(parts)).from_device(device)
    }

    /// Begins `attempt`: a wait is a 429 with `Retry-After`, a store failure
    /// a 503; a go is a [`Begun`] attempt, to be settled.
    pub(crate) async fn begin(&self, attempt: Attempt) -> Result<Begun, ApiError> {
        // The begin runs in a task of its own: a store that answers over the
        // network (Redis: two scripts) has counted before it answers, and a
        // client hanging up meanwhile must not leave that count behind. A go
        // travels as a `Begun`, which takes itself back when dropped: by
        // the task (nobody left to receive it), by the channel (received by
        // nobody), or by the handler (dropped before its verdict).
        let throttle = self.throttle.clone();
        let mut begin = Box::pin(async move {
            match throttle.begin(&attempt).await {
                Ok(Decision::Go) => Ok(Begun {
                    throttle,
                    attempt: Some(attempt),
                }),
                refused => Err(refused),
            }
        });
        // A store that answers at once (the memory store) answers here, with
        // no moment to be cut short in; one that waits finishes in a task.
        let polled = begin.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        let answer = match polled {
            Poll::Ready(answer) => answer,
            Poll::Pending => {
                let (tx, rx) = tokio::sync::oneshot::channel();
                tokio::spawn(async move {
                    let _ = tx.send(begin.await);
                });
                rx.await.unwrap_or_else(|_| {
                    Err(Err(auth_core::StoreError::Unavailable(
                        "the throttle's task ended without an answer".into(),
                    )))
                })
            }
        };
        let decision = match answer {
            Ok(begun) => return Ok(begun),
            Err(refused) => refused,
        };
        match decision {
            Ok(Decision::Go) => {
                Err(ApiError::unavailable("the login throttle is unavailable").retry_after(1))
            }
            Ok(Decision::Wait {
                counter,
                retry_after,
            }) => {
                let secs = retry_after.as_millis().div_ceil(1000).max(1);
                let secs = u64::try_from(secs).unwrap_or(u64::MAX);
                tracing::info!(
                    counter = counter.as_str(),
                    retry_after = secs,
                    "login throttled"
                );
                Err(ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    TOO_MANY_ATTEMPTS,
                    format!("too many failed logins; retry in {secs} s"),
                )
                .retry_after(secs))
            }
            Err(e) => {
                tracing::warn!(error = %e, "login refused: the throttle's store is unavailable");
                Err(ApiError::unavailable("the login throttle is unavailable").retry_after(1))
            }
        }
    }

    /// The device cookie for a successful `attempt`.
    fn device_cookie_for(&self, attempt: &Attempt) -> Option<HeaderValue> {
        let token = self
            .throttle
            .device_token(attempt.account(), attempt.device())
            .ok()?;
        self.device_cookie
            .set(&token, self.throttle.device_ttl().as_secs())
    }
}

/// An attempt the throttle let through, until it is settled. Settling runs
/// in a task of its own, so a client hanging up cannot stop it halfway; an
/// attempt dropped unsettled (the client hung up, the request timed out
/// before the password was checked, or while it was) is taken back the
/// same way: no verdict reached anyone, so it is no guess.
#[derive(Debug)]
pub(crate) struct Begun {
    throttle: LoginThrottle,
    attempt: Option<Attempt>,
}

/// How a begun attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The password was wrong (or the user unknown): its counts stand.
    Failed,
    /// The login succeeded: the pair reset, the other counts taken back.
    Succeeded,
    /// No verdict on the password: every count taken back.
    Abandoned,
}

impl Begun {
    /// The attempt.
    pub(crate) fn attempt(&self) -> Option<&Attempt> {
        self.attempt.as_ref()
    }

    /// Settles the attempt; on success, the device cookie to set.
    pub(crate) async fn settle(
        mut self,
        outcome: Outcome,
        throttling: &Throttling,
    ) -> Option<HeaderValue> {
        let attempt = self.attempt.take()?;
        let cookie = (outcome == Outcome::Succeeded)
            .then(|| throttling.device_cookie_for(&attempt))
            .flatten();
        let task = tokio::spawn(settle(self.throttle.clone(), attempt, outcome));
        // Awaiting the task, not the settling: cancelled here, it runs on.
        let _ = task.await;
        cookie
    }
}

impl Drop for Begun {
    fn drop(&mut self) {
        if let Some(attempt) = self.attempt.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let throttle = self.throttle.clone();
            runtime.spawn(settle(throttle, attempt, Outcome::Abandoned));
        }
    }
}

async fn settle(throttle: LoginThrottle, attempt: Attempt, outcome: Outcome) {
    let result = match outcome {
        Outcome::Succeeded => throttle.succeeded(&attempt).await,
        Outcome::Abandoned => throttle.abandoned(&attempt).await,
        Outcome::Failed => throttle.failed(&attempt).await,
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, ?outcome, "login throttle: could not settle an attempt");
    }
}

/// The device cookie beside `refresh`: same attributes, its own name.
pub(crate) fn device_cookie(refresh: &RefreshCookie) -> RefreshCookie {
    let name = if refresh.cookie_name().starts_with("__Secure-") {
        SECURE_DEVICE_COOKIE_NAME
    } else {
        DEVICE_COOKIE_NAME
    };
    refresh.clone().name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(xff: &[&str]) -> Parts {
        let mut req = http::Request::builder();
        for v in xff {
            req = req.header("x-forwarded-for", *v);
        }
        let (mut parts, ()) = req.body(()).unwrap().into_parts();
        parts
            .extensions
            .insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 4000))));
        parts
    }

    #[test]
    fn forwarded_for_trusts_exactly_its_hops() {
        let one = ClientAddress::ForwardedFor { hops: 1 };
        let two = ClientAddress::ForwardedFor { hops: 2 };
        let p = parts(&["6.6.6.6, 192.0.2.1", "198.51.100.2"]);
        assert_eq!(one.of(&p), "198.51.100.2".parse::<IpAddr>().unwrap());
        assert_eq!(two.of(&p), "192.0.2.1".parse::<IpAddr>().unwrap());
        // Too few entries, or garbage: the peer.
        assert_eq!(two.of(&parts(&["192.0.2.1"])), IpAddr::from([10, 0, 0, 1]));
        assert_eq!(one.of(&parts(&["nonsense"])), IpAddr::from([10, 0, 0, 1]));
        assert_eq!(ClientAddress::Peer.of(&p), IpAddr::from([10, 0, 0, 1]));
        // A client's bytes that are not text do not hide the proxy's entry.
        let mut p = parts(&[]);
        p.headers.insert(
            "x-forwarded-for",
            http::HeaderValue::from_bytes(b"\xff, 192.0.2.77").unwrap(),
        );
        assert_eq!(one.of(&p), "192.0.2.77".parse::<IpAddr>().unwrap());
    }
}
