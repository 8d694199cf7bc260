//! Upload and download progress: [`ProgressBody`] wraps any body and reports the bytes that
//! went through it, with the total when the body's size is known.
//!
//! Reports go to a callback ([`ProgressBody::new`]) or to a [`ProgressHandle`] another task
//! reads when it likes ([`ProgressBody::with_handle`]). The facade offers both ends:
//! [`Body::with_progress`](crate::Body::with_progress) for uploads and
//! [`Response::with_progress`](crate::Response::with_progress) for downloads.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use towline::progress::{Progress, ProgressBody};
//! use http_body_util::{BodyExt, Full};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let body = ProgressBody::new(Full::new(bytes::Bytes::from_static(b"hello")), {
//!     let seen = seen.clone();
//!     move |progress: Progress| seen.lock().unwrap().push(progress)
//! });
//! body.collect().await.unwrap();
//! assert_eq!(
//!     *seen.lock().unwrap(),
//!     [Progress { transferred: 5, total: Some(5) }]
//! );
//! # }
//! ```

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Buf;
use http_body::{Body, Frame, SizeHint};

/// How far a body has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of data that went through so far.
    pub transferred: u64,
    /// The body's whole size, when it was known from the start.
    pub total: Option<u64>,
}

type Report = Arc<dyn Fn(Progress) + Send + Sync>;

/// Progress to read at any time: the other end of [`ProgressBody::with_handle`]. Clones share
/// the counts.
#[derive(Clone, Debug, Default)]
pub struct ProgressHandle {
    shared: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    transferred: AtomicU64,
    /// The total plus one; 0 when unknown.
    total_plus_one: AtomicU64,
}

impl ProgressHandle {
    /// The progress so far.
    pub fn get(&self) -> Progress {
        let total = self.shared.total_plus_one.load(Ordering::Relaxed);
        Progress {
            transferred: self.shared.transferred.load(Ordering::Relaxed),
            total: total.checked_sub(1),
        }
    }
}

/// A body that reports its progress (see the [module docs](self)).
pub struct ProgressBody<B> {
    inner: Pin<Box<B>>,
    transferred: u64,
    total: Option<u64>,
    report: Report,
}

impl<B> fmt::Debug for ProgressBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProgressBody")
            .field("transferred", &self.transferred)
            .field("total", &self.total)
            .finish_non_exhaustive()
    }
}

impl<B: Body> ProgressBody<B> {
    /// Wraps `body`, calling `report` after each data frame.
    pub fn new(body: B, report: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        let total = body.size_hint().exact();
        Self {
            inner: Box::pin(body),
            transferred: 0,
            total,
            report: Arc::new(report),
        }
    }

    /// Wraps `body`; the handle reads its progress.
    pub fn with_handle(body: B) -> (Self, ProgressHandle) {
        let handle = ProgressHandle::default();
        let total = body.size_hint().exact();
        handle
            .shared
            .total_plus_one
            .store(total.map_or(0, |t| t.saturating_add(1)), Ordering::Relaxed);
        let shared = handle.shared.clone();
        let body = Self::new(body, move |progress| {
            shared
                .transferred
                .store(progress.transferred, Ordering::Relaxed);
        });
        (body, handle)
    }
}

impl<B: Body> Body for ProgressBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let this = &mut *self;
            this.transferred = this.transferred.saturating_add(data.remaining() as u64);
            (this.report)(Progress {
                transferred: this.transferred,
                total: this.total,
            });
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    #[tokio::test]
    async fn a_stream_of_unknown_size_reports_each_chunk_and_no_total() {
        let chunks = futures_util::stream::iter(
            ["ab", "cde", ""]
                .map(|c| Ok::<_, std::convert::Infallible>(Frame::data(bytes::Bytes::from(c)))),
        );
        let (body, handle) = ProgressBody::with_handle(StreamBody::new(chunks));
        assert_eq!(
            handle.get(),
            Progress {
                transferred: 0,
                total: None
            }
        );
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(collected.as_ref(), b"abcde");
        assert_eq!(
            handle.get(),
            Progress {
                transferred: 5,
                total: None
            }
        );
    }
}
