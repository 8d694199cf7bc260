//! The [`CacheBody`] response body: stored bytes, or the inner body teed into the store.

use std::{
    fmt,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant, SystemTime},
};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use http_cache_semantics::CachePolicy;
use pin_project_lite::pin_project;

use super::{CachedResponse, HttpCache, directives::Directives, store::entry_size};
use crate::BoxError;

/// A response on its way into the store, waiting for its body.
pub(super) struct Pending {
    pub(super) cache: HttpCache,
    pub(super) key: String,
    pub(super) status: StatusCode,
    pub(super) version: Version,
    pub(super) headers: HeaderMap,
    pub(super) policy: CachePolicy,
    pub(super) directives: Directives,
    pub(super) variant: String,
    pub(super) lifetime: Duration,
    pub(super) received_at: Instant,
    pub(super) response_time: SystemTime,
}

impl Pending {
    /// Builds the stored response around `body` and puts it in the store.
    pub(super) fn store(self, body: Bytes) {
        let size = entry_size(&self.headers, &body, &self.variant);
        let response = CachedResponse {
            status: self.status,
            version: self.version,
            headers: self.headers,
            body,
            policy: self.policy,
            directives: self.directives,
            variant: self.variant,
            lifetime: self.lifetime,
            received_at: self.received_at,
            response_time: self.response_time,
            size,
        };
        self.cache.inner.store.put(&self.key, Arc::new(response));
    }
}

/// The copy of a streaming body kept for the store, dropped as soon as it passes the cap.
struct Tee {
    pending: Pending,
    chunks: Vec<Bytes>,
    len: usize,
    cap: usize,
}

impl Tee {
    /// Keeps `data`; `false` when that would pass the cap (the tee must then be dropped).
    fn push(&mut self, data: &Bytes) -> bool {
        match self.len.checked_add(data.len()) {
            Some(len) if len <= self.cap => {
                self.len = len;
                if !data.is_empty() {
                    self.chunks.push(data.clone());
                }
                true
            }
            _ => false,
        }
    }

    fn finish(mut self) {
        let body = if self.chunks.len() == 1 {
            self.chunks.pop().unwrap_or_default()
        } else {
            let mut body = BytesMut::with_capacity(self.len);
            for chunk in &self.chunks {
                body.extend_from_slice(chunk);
            }
            body.freeze()
        };
        self.pending.store(body);
    }
}

pin_project! {
    /// Response body of [`Cache`](super::Cache): a stored body served from its `Bytes`
    /// without copying, or the inner body streamed through while a copy is kept for the
    /// store. The copy is stored only when the body ends cleanly; an error, an early drop or
    /// passing the size cap discards it.
    pub struct CacheBody<B> {
        #[pin]
        kind: Kind<B>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Stored {
            data: Option<Bytes>,
        },
        Streaming {
            #[pin]
            inner: B,
            tee: Option<Box<Tee>>,
        },
    }
}

impl<B> CacheBody<B> {
    pub(super) fn stored(data: Bytes) -> Self {
        Self {
            kind: Kind::Stored {
                data: (!data.is_empty()).then_some(data),
            },
        }
    }

    pub(super) fn passthrough(inner: B) -> Self {
        Self {
            kind: Kind::Streaming { inner, tee: None },
        }
    }

    pub(super) fn tee(inner: B, pending: Pending, cap: usize) -> Self {
        Self {
            kind: Kind::Streaming {
                inner,
                tee: Some(Box::new(Tee {
                    pending,
                    chunks: Vec::new(),
                    len: 0,
                    cap,
                })),
            },
        }
    }
}

impl<B> Body for CacheBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project().kind.project() {
            KindProj::Stored { data } => Poll::Ready(data.take().map(|data| Ok(Frame::data(data)))),
            KindProj::Streaming { mut inner, tee } => match inner.as_mut().poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let frame = frame.map_data(|mut data| data.copy_to_bytes(data.remaining()));
                    if let Some(data) = frame.data_ref()
                        && let Some(kept) = tee.as_mut()
                        && !kept.push(data)
                    {
                        *tee = None;
                    }
                    // Consumers may stop polling once the body says it is over.
                    if inner.is_end_stream()
                        && let Some(kept) = tee.take()
                    {
                        kept.finish();
                    }
                    Poll::Ready(Some(Ok(frame)))
                }
                Poll::Ready(Some(Err(err))) => {
                    *tee = None;
                    Poll::Ready(Some(Err(err.into())))
                }
                Poll::Ready(None) => {
                    if let Some(kept) = tee.take() {
                        kept.finish();
                    }
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Stored { data } => data.is_none(),
            Kind::Streaming { inner, .. } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Stored { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |data| data.len() as u64))
            }
            Kind::Streaming { inner, .. } => inner.size_hint(),
        }
    }
}

impl<B: fmt::Debug> fmt::Debug for CacheBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Stored { data } => f
                .debug_struct("CacheBody::Stored")
                .field("len", &data.as_ref().map_or(0, Bytes::len))
                .finish(),
            Kind::Streaming { inner, tee } => f
                .debug_struct("CacheBody::Streaming")
                .field("inner", inner)
                .field("storing", &tee.is_some())
                .finish(),
        }
    }
}
