//! The login queue: at most so many logins are checked at once, at most so
//! many wait for their turn, and the rest are refused at once (503 with
//! `Retry-After`), so a flood of logins costs time, never memory.
//!
//! A login takes its place before its body is parsed and its password
//! hashed: what a waiting login holds is its raw body (at most the body
//! cap), nothing more.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Default for [`AuthRoutes::login_concurrency`](crate::AuthRoutes::login_concurrency):
/// 8 logins checked at once, as many as password hashes run at once
/// (`password::MAX_CONCURRENT_HASHES`).
pub const DEFAULT_LOGIN_CONCURRENCY: usize = 8;
/// Default for [`AuthRoutes::max_waiting_logins`](crate::AuthRoutes::max_waiting_logins):
/// 128 logins wait for a turn; past that a login is refused at once (503).
/// At tens of milliseconds per password check, the last in line waits
/// about a second or two; 128 raw bodies are 2 MiB at most.
pub const DEFAULT_MAX_WAITING_LOGINS: usize = 128;

/// The login queue.
#[derive(Debug)]
pub(crate) struct LoginGate {
    turns: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

/// The queue is full: answer 503 with `Retry-After`.
#[derive(Debug)]
pub(crate) struct Full;

/// A login's turn: held while it is checked.
pub(crate) type Turn = OwnedSemaphorePermit;

impl LoginGate {
    pub(crate) fn new(concurrency: usize, max_waiting: usize) -> LoginGate {
        LoginGate {
            turns: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting,
        }
    }

    /// A turn now, or after waiting in line; [`Full`] when the line is full.
    pub(crate) async fn enter(&self) -> Result<Turn, Full> {
        if let Ok(turn) = self.turns.clone().try_acquire_owned() {
            return Ok(turn);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Full);
        }
        // Leaves the line however the wait ends (a client hanging up drops it).
        let _in_line = InLine(&self.waiting);
        record_waiting(self.waiting.load(Ordering::Relaxed));
        self.turns.clone().acquire_owned().await.map_err(|_| Full)
    }

    /// Logins waiting for a turn now.
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        let left = self.0.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
        record_waiting(left);
    }
}

fn record_waiting(n: usize) {
    #[cfg(feature = "metrics")]
    metrics::gauge!(auth_core::metrics::LOGINS_WAITING).set(n as f64);
    #[cfg(not(feature = "metrics"))]
    let _ = n;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn past_the_line_logins_are_refused_at_once_and_the_line_drains() {
        let gate = Arc::new(LoginGate::new(1, 2));
        let first = gate.enter().await.expect("a free turn");
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.enter().await.is_ok() })
            })
            .collect();
        while gate.waiting() < 2 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(gate.enter().await.is_err(), "the line is full");
        drop(first);
        for w in waiters {
            assert!(w.await.unwrap());
        }
        assert_eq!(gate.waiting(), 0);

        // A waiter that gives up leaves the line.
        let held = gate.enter().await.unwrap();
        let gave_up = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.enter().await.is_ok() })
        };
        while gate.waiting() < 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        gave_up.abort();
        let _ = gave_up.await;
        assert_eq!(gate.waiting(), 0);
        drop(held);
    }
}
