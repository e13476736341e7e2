//! Connections that hold their slot without using it are closed: one on
//! which no byte moves (stalled), and one with no request in flight (idle).
//! The hyper example includes this same file (`#[path]`): copy it along.
//!
//! hyper bounds how long an HTTP/1 client may take to send headers, and the
//! request timeout how long a request may take to be answered, but nothing
//! bounds a response that cannot be written because the client stopped
//! reading: such a connection would hold its slot forever. [`Watched`]
//! records when a byte last moved either way, and [`stalled`] completes once
//! none has for the given time.
//!
//! Nor does hyper close an HTTP/2 connection that sends no request, or a
//! connection that sends nothing at all while hyper-util's auto builder
//! waits to tell HTTP/1 from HTTP/2. [`Requests::count`] counts the
//! requests in flight, and [`close_when_idle`] shuts a connection down
//! gracefully (HTTP/2 `GOAWAY`) once none has been for the given time, and
//! resets it if it is still open a grace period later.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::server::graceful::GracefulConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// When a byte last moved on a connection, and whether it was given up.
#[derive(Debug, Clone)]
pub struct Progress {
    epoch: Instant,
    /// Milliseconds since `epoch`.
    last: Arc<AtomicU64>,
    /// Set when the connection is closed for stalling: it is then reset,
    /// not closed gracefully (see [`Watched`]).
    abandoned: Arc<AtomicBool>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

impl Progress {
    /// A connection's progress, starting now.
    pub fn new() -> Progress {
        Progress {
            epoch: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
            abandoned: Arc::new(AtomicBool::new(false)),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn moved(&self) {
        self.last.store(self.now_ms(), Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        Duration::from_millis(
            self.now_ms()
                .saturating_sub(self.last.load(Ordering::Relaxed)),
        )
    }
}

/// Completes once no byte has moved on the connection for `limit`; the
/// connection is then to be dropped, and is reset rather than closed.
pub async fn stalled(progress: &Progress, limit: Duration) {
    loop {
        let idle = progress.idle();
        if idle >= limit {
            progress.abandoned.store(true, Ordering::Relaxed);
            return;
        }
        tokio::time::sleep(limit - idle).await;
    }
}

/// A TCP connection whose reads and writes count as progress. Dropped
/// after a stall, it is reset (`SO_LINGER` 0): a graceful close would leave
/// the unsent answers in the kernel, in `FIN-WAIT-1` for as long as the
/// client reads them slowly, and the client could do that on every
/// connection it is given.
#[derive(Debug)]
pub struct Watched<S: AsTcp> {
    inner: S,
    progress: Progress,
}

/// A connection that is a TCP socket underneath.
pub trait AsTcp {
    /// The socket.
    fn tcp(&self) -> &tokio::net::TcpStream;
}

impl AsTcp for tokio::net::TcpStream {
    fn tcp(&self) -> &tokio::net::TcpStream {
        self
    }
}

impl<S: AsTcp> Drop for Watched<S> {
    fn drop(&mut self) {
        if self.progress.abandoned.load(Ordering::Relaxed) {
            let _ = self.inner.tcp().set_zero_linger();
        }
    }
}

impl<S: AsTcp> Watched<S> {
    /// Watches `inner`, recording into `progress` (now counts as a move).
    pub fn new(inner: S, progress: Progress) -> Watched<S> {
        progress.moved();
        Watched { inner, progress }
    }
}

impl<S: AsTcp + AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.progress.moved();
        }
        polled
    }
}

impl<S: AsTcp + AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.progress.moved();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.progress.moved();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The requests in flight on one connection, and when the last one ended
/// (or the connection opened).
#[derive(Debug, Clone, Default)]
pub struct Requests {
    in_flight: Arc<AtomicUsize>,
    last_ended: Progress,
}

impl Requests {
    /// `answer` (a service's response future), counted as a request in
    /// flight until it completes or is dropped: for tower's `map_future`.
    pub fn count<F: Future>(&self, answer: F) -> impl Future<Output = F::Output> + use<F> {
        struct InFlight(Requests);
        impl Drop for InFlight {
            fn drop(&mut self) {
                self.0.last_ended.moved();
                self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let in_flight = InFlight(self.clone());
        async move {
            let answer = answer.await;
            drop(in_flight);
            answer
        }
    }

    /// Completes once no request has been in flight for `limit`.
    async fn idle(&self, limit: Duration) {
        loop {
            let wait = match self.in_flight.load(Ordering::Relaxed) {
                0 => match limit.checked_sub(self.last_ended.idle()) {
                    Some(left) if !left.is_zero() => left,
                    _ => return,
                },
                _ => limit,
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// Drives `conn` (a hyper connection) to its end, shutting it down
/// gracefully once no request of `requests` has been in flight for `idle`,
/// or once `stop` completes (the server stopping): an HTTP/1 connection
/// finishes its answer and closes, an HTTP/2 one sends `GOAWAY` and
/// finishes its streams.
///
/// A connection still open `grace` after it was told to close is dropped,
/// and reset (see [`Watched`]), with an error: an HTTP/2 client that never
/// acknowledges the `PING` hyper sends with its first `GOAWAY` (hyper
/// waits for that acknowledgement before it closes), while sending a frame
/// of its own now and then so that it never stalls, would otherwise keep
/// the connection, and its slot, for ever. `progress` is the connection's.
pub async fn close_when_idle<C>(
    conn: C,
    progress: &Progress,
    requests: &Requests,
    idle: Duration,
    grace: Duration,
    stop: impl Future<Output = ()>,
) -> Result<(), C::Error>
where
    C: GracefulConnection,
    C::Error: From<String>,
{
    tokio::pin!(conn);
    tokio::select! {
        served = conn.as_mut() => return served,
        () = requests.idle(idle) => {}
        () = stop => {}
    }
    conn.as_mut().graceful_shutdown();
    match tokio::time::timeout(grace, conn).await {
        Ok(served) => served,
        Err(_) => {
            progress.abandoned.store(true, Ordering::Relaxed);
            Err(format!("still open {grace:?} after it was told to close; reset").into())
        }
    }
}
