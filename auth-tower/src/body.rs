//! [`AuthBody`]: the response body of the layer's services, either the inner
//! service's body or the layer's own refusal.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The response body of [`AuthService`](crate::AuthService) and
    /// [`Require`](crate::Require): the inner service's body `B` when the
    /// request was let through, or the refusal the layer wrote (the JSON
    /// error of an HTTP refusal, nothing for a gRPC one).
    ///
    /// It is a [`Body`] whenever `B` is one whose data can be made from
    /// [`Bytes`] (every body of axum, hyper and tonic), with `B`'s error
    /// type; so the layer wraps services of any body type, and what it adds
    /// costs one branch per poll, no boxing.
    ///
    /// ```
    /// use auth_tower::AuthBody;
    /// use http_body::Body;
    /// use http_body_util::Full;
    /// use bytes::Bytes;
    ///
    /// let passed = AuthBody::new(Full::new(Bytes::from_static(b"hello")));
    /// assert_eq!(passed.size_hint().exact(), Some(5));
    /// assert!(!passed.is_refusal());
    /// ```
    pub struct AuthBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Refusal { data: Option<Bytes> },
    }
}

impl<B> AuthBody<B> {
    /// The body of a response the inner service wrote.
    pub fn new(body: B) -> Self {
        AuthBody {
            kind: Kind::Inner { body },
        }
    }

    /// A body the layer wrote: `data` as one frame (nothing when empty).
    pub(crate) fn refusal(data: Bytes) -> Self {
        AuthBody {
            kind: Kind::Refusal {
                data: Some(data).filter(|d| !d.is_empty()),
            },
        }
    }

    /// Whether the layer wrote this body (a refusal) rather than the inner service.
    pub fn is_refusal(&self) -> bool {
        matches!(self.kind, Kind::Refusal { .. })
    }

    /// The inner service's body, or `None` for a refusal.
    pub fn into_inner(self) -> Option<B> {
        match self.kind {
            Kind::Inner { body } => Some(body),
            Kind::Refusal { .. } => None,
        }
    }
}

impl<B: Default> Default for AuthBody<B> {
    /// The inner body's default, so the layer can sit below layers that
    /// need `ResBody: Default`.
    fn default() -> Self {
        AuthBody::new(B::default())
    }
}

impl<B: fmt::Debug> fmt::Debug for AuthBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Inner { body } => f.debug_tuple("AuthBody::Inner").field(body).finish(),
            Kind::Refusal { data } => f
                .debug_struct("AuthBody::Refusal")
                .field("len", &data.as_ref().map_or(0, Bytes::len))
                .finish(),
        }
    }
}

impl<B> Body for AuthBody<B>
where
    B: Body,
    B::Data: From<Bytes>,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match self.project().kind.project() {
            KindProj::Inner { body } => body.poll_frame(cx),
            KindProj::Refusal { data } => {
                Poll::Ready(data.take().map(|d| Ok(Frame::data(B::Data::from(d)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Refusal { data } => data.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Refusal { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};

    #[tokio::test]
    async fn a_refusal_is_one_frame_of_exact_size_then_the_end() {
        let body = AuthBody::<Empty<Bytes>>::refusal(Bytes::from_static(b"{}"));
        assert!(body.is_refusal() && !body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(2));
        let collected = body.collect().await.map(|c| c.to_bytes());
        assert_eq!(collected.ok().as_deref(), Some(&b"{}"[..]));

        let empty = AuthBody::<Empty<Bytes>>::refusal(Bytes::new());
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
    }

    #[tokio::test]
    async fn an_inner_body_is_passed_through() {
        let body = AuthBody::new(http_body_util::Full::new(Bytes::from_static(b"abc")));
        assert_eq!(body.size_hint().exact(), Some(3));
        let collected = body.collect().await.map(|c| c.to_bytes());
        assert_eq!(collected.ok().as_deref(), Some(&b"abc"[..]));
        assert!(AuthBody::new(Empty::<Bytes>::new()).is_end_stream());
    }
}
