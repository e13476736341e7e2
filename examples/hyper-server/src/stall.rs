//! Connections on which nothing moves are closed.
//!
//! hyper bounds how long a client may take to send headers, and the
//! request timeout how long a request may take to be answered, but nothing
//! bounds a response that cannot be written because the client stopped
//! reading: such a connection would hold its slot forever. [`Watched`]
//! records when a byte last moved either way, and [`stalled`] completes once
//! none has for the given time.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

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

impl Progress {
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
