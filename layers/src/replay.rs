//! Request-body replay for layers that re-send a request.
//!
//! Retries, 307/308 redirects and digest authentication all have to send a request again
//! after its body may already have been (partly) sent. [`ReplayBody`] makes that possible
//! without buffering bodies up front:
//!
//! - Wrap the body with [`ReplayBody::new`] and a byte cap before the first attempt.
//!   As the transport reads it, the body records each frame — a cheap `Bytes` clone, no copy —
//!   until the recorded data would exceed the cap.
//! - Before each attempt, take a clone with [`ReplayBody::try_clone`] (or
//!   [`try_clone_request`]). When a clone is polled it first replays the recorded frames and
//!   then continues with whatever part of the original body was never read: replay is lazy,
//!   nothing is read ahead.
//! - A buffered body such as `http_body_util::Full` is one `Bytes` frame, so recording it
//!   costs a reference count; as long as its size fits the cap, it always replays.
//! - Once a body outgrows the cap, it can no longer be replayed. The body being sent carries
//!   on unharmed, [`try_clone`](ReplayBody::try_clone) returns
//!   [`ReplayError::CapExceeded`], and a clone taken earlier fails with that error on its first
//!   poll. A replay never yields a silently empty or truncated body. A body whose
//!   `size_hint().lower()` already exceeds the cap is never recorded at all.
//!
//! The clones share their state; the newest clone that has been polled owns the original body.
//! Layers send a fresh clone for each attempt: an older clone polled after a newer one took
//! over fails with [`ReplayError::Superseded`] instead of competing for the same data.
//!
//! Trailers are recorded and replayed like data; the cap counts data bytes only.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use towline_layers::{replay::{ReplayBody, ReplayError}, BoxError};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let body = ReplayBody::new(Full::new(Bytes::from("payload")), 64 * 1024);
//! let second_attempt = body.try_clone()?;
//!
//! let first = body.collect().await?.to_bytes();
//! let second = second_attempt.collect().await?.to_bytes();
//! assert_eq!((first.as_ref(), second.as_ref()), (&b"payload"[..], &b"payload"[..]));
//!
//! // A body known to be larger than the cap is sent once, and replay is refused up front.
//! let big = ReplayBody::new(Full::new(Bytes::from(vec![0u8; 1024])), 16);
//! assert!(big.is_capped());
//! assert_eq!(big.try_clone().err(), Some(ReplayError::CapExceeded { cap: 16 }));
//! # Ok(())
//! # }
//! ```

use std::{
    error::Error,
    fmt,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, ready},
};

use bytes::{Buf, Bytes};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use towline_core::RequestHead;

use crate::{BoxError, sync::lock};

/// Why a request body cannot be replayed.
///
/// Returned by [`ReplayBody::try_clone`], and yielded (boxed) as the error frame of a clone
/// that cannot deliver the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayError {
    /// The body grew larger than the replay cap, so its start was not kept.
    CapExceeded {
        /// The cap, in bytes of data.
        cap: usize,
    },
    /// Reading the original body failed, so its remainder can never be read again.
    SourceFailed,
    /// A newer clone of this body has taken over; this one may no longer be read.
    Superseded,
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CapExceeded { cap } => write!(
                f,
                "request body cannot be replayed: it is larger than the replay cap of {cap} bytes"
            ),
            Self::SourceFailed => {
                f.write_str("request body cannot be replayed: reading the original body failed")
            }
            Self::Superseded => {
                f.write_str("request body was taken over by a newer replay of the same body")
            }
        }
    }
}

impl Error for ReplayError {}

/// A request body that records what it yields so that clones can send it again.
///
/// See the [module documentation](self) for how recording, the cap and clones interact.
pub struct ReplayBody<B> {
    shared: Arc<Mutex<Shared<B>>>,
    cursor: Cursor,
}

/// One handle's progress through the shared body.
#[derive(Debug)]
struct Cursor {
    /// Creation order; a larger id is a newer clone.
    id: u64,
    /// Frames this handle has yielded.
    pos: usize,
    /// Data bytes this handle has yielded.
    yielded: u64,
    /// Set once this handle yielded its end or an error.
    finished: bool,
}

struct Shared<B> {
    source: Source<B>,
    /// Recorded frames, in order; complete up to `frames_read` unless `capped`.
    log: Log,
    /// Frames read from the original body so far.
    frames_read: usize,
    /// Data bytes read from the original body so far.
    bytes_read: u64,
    cap: usize,
    /// Recording stopped: the recorded prefix is incomplete, replay is impossible.
    capped: bool,
    next_id: u64,
    /// Id of the newest handle that has been polled.
    owner: u64,
}

enum Source<B> {
    Live(Pin<Box<B>>),
    Ended,
    Failed,
}

/// The recorded frames. The first is kept apart so that a buffered body, one frame long,
/// is recorded without an allocation.
#[derive(Debug, Default)]
struct Log {
    first: Option<Recorded>,
    rest: Vec<Recorded>,
}

impl Log {
    fn get(&self, index: usize) -> Option<&Recorded> {
        match index.checked_sub(1) {
            None => self.first.as_ref(),
            Some(index) => self.rest.get(index),
        }
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    fn push(&mut self, recorded: Recorded) {
        if self.first.is_none() {
            self.first = Some(recorded);
        } else {
            self.rest.push(recorded);
        }
    }
}

#[derive(Debug)]
enum Recorded {
    Data(Bytes),
    Trailers(HeaderMap),
}

impl Recorded {
    fn to_frame(&self) -> Frame<Bytes> {
        match self {
            Self::Data(data) => Frame::data(data.clone()),
            Self::Trailers(trailers) => Frame::trailers(trailers.clone()),
        }
    }

    fn data_len(&self) -> u64 {
        match self {
            Self::Data(data) => len_u64(data.len()),
            Self::Trailers(_) => 0,
        }
    }
}

/// A length as the `u64` body sizes are counted in (saturating on a platform where `usize`
/// is wider).
pub(crate) fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

impl<B: Body> ReplayBody<B> {
    /// Wraps `body`, recording up to `max_replay_bytes` bytes of data for replay.
    ///
    /// A body whose size hint says it is larger than the cap is sent as usual but is never
    /// recorded: [`is_capped`](Self::is_capped) is `true` from the start.
    pub fn new(body: B, max_replay_bytes: usize) -> Self {
        let capped = body.size_hint().lower() > len_u64(max_replay_bytes);
        Self {
            shared: Arc::new(Mutex::new(Shared {
                source: Source::Live(Box::pin(body)),
                log: Log::default(),
                frames_read: 0,
                bytes_read: 0,
                cap: max_replay_bytes,
                capped,
                next_id: 1,
                owner: 0,
            })),
            cursor: Cursor {
                id: 0,
                pos: 0,
                yielded: 0,
                finished: false,
            },
        }
    }
}

impl<B> ReplayBody<B> {
    /// Returns a body that replays everything read so far and then continues with the rest
    /// of the original body.
    ///
    /// Fails when the body can no longer be replayed: it outgrew the cap
    /// ([`ReplayError::CapExceeded`]) or reading it failed ([`ReplayError::SourceFailed`]).
    /// A clone taken now can still fail later, when it is polled, if the body outgrows the
    /// cap in the meantime; it then yields that error instead of a truncated body.
    pub fn try_clone(&self) -> Result<Self, ReplayError> {
        Self::replay_of(Arc::clone(&self.shared))
    }

    /// A new handle on `shared` that starts from the first recorded frame.
    fn replay_of(shared: Arc<Mutex<Shared<B>>>) -> Result<Self, ReplayError> {
        let id = {
            let mut state = lock(&shared);
            if state.capped {
                return Err(ReplayError::CapExceeded { cap: state.cap });
            }
            if matches!(state.source, Source::Failed) {
                return Err(ReplayError::SourceFailed);
            }
            let id = state.next_id;
            state.next_id += 1;
            id
        };
        Ok(Self {
            shared,
            cursor: Cursor {
                id,
                pos: 0,
                yielded: 0,
                finished: false,
            },
        })
    }

    /// Whether the body outgrew the cap, so that it can no longer be replayed.
    pub fn is_capped(&self) -> bool {
        lock(&self.shared).capped
    }

    /// The replay cap this body was created with, in bytes of data.
    pub fn cap(&self) -> usize {
        lock(&self.shared).cap
    }
}

#[cfg(any(
    feature = "redirect",
    feature = "retry",
    feature = "digest-auth",
    feature = "netrc"
))]
impl<B: Send + 'static> ReplayBody<B> {
    /// A source of fresh replays of this body, each wrapped as `T`.
    pub(crate) fn source<T: FromReplay<B>>(&self) -> ReplaySource<T> {
        // The shared state itself is the source: no allocation beyond a reference count.
        let recording: Arc<dyn Replays<T>> = Arc::clone(&self.shared) as _;
        ReplaySource { recording }
    }
}

/// The body type a [`ReplaySource`] hands out a body's replays as.
#[cfg(any(
    feature = "redirect",
    feature = "retry",
    feature = "digest-auth",
    feature = "netrc"
))]
pub(crate) trait FromReplay<B> {
    /// Wraps a fresh replay.
    fn from_replay(body: ReplayBody<B>) -> Self;
}

/// What a [`ReplaySource`] holds: the recording, seen as a maker of replays of type `T`.
#[cfg(any(
    feature = "redirect",
    feature = "retry",
    feature = "digest-auth",
    feature = "netrc"
))]
trait Replays<T>: Send + Sync {
    /// A fresh replay, or why there can be none.
    fn replay(self: Arc<Self>) -> Result<T, ReplayError>;
}

#[cfg(any(
    feature = "redirect",
    feature = "retry",
    feature = "digest-auth",
    feature = "netrc"
))]
impl<B: Send, T: FromReplay<B>> Replays<T> for Mutex<Shared<B>> {
    fn replay(self: Arc<Self>) -> Result<T, ReplayError> {
        ReplayBody::replay_of(self).map(T::from_replay)
    }
}

/// A clonable handle that hands out fresh replays of one recorded body as the body type
/// `T`, whatever body was recorded.
///
/// Keyed by `T` in a request's extensions, it tells a re-sending layer whose request body
/// type is `T` that the body it receives is already recorded (see
/// [`resend`](crate::resend)).
#[cfg(any(
    feature = "redirect",
    feature = "retry",
    feature = "digest-auth",
    feature = "netrc"
))]
pub(crate) struct ReplaySource<T> {
    recording: Arc<dyn Replays<T>>,
}

#[cfg(any(
    feature = "redirect",
    feature = "retry",
    feature = "digest-auth",
    feature = "netrc"
))]
impl<T> ReplaySource<T> {
    /// A fresh replay of the recorded body, or why there can be none.
    pub(crate) fn replay(&self) -> Result<T, ReplayError> {
        Arc::clone(&self.recording).replay()
    }
}

#[cfg(any(
    feature = "redirect",
    feature = "retry",
    feature = "digest-auth",
    feature = "netrc"
))]
impl<T> Clone for ReplaySource<T> {
    fn clone(&self) -> Self {
        Self {
            recording: Arc::clone(&self.recording),
        }
    }
}

/// Clones a request whose body is a [`ReplayBody`], for sending it again.
///
/// Method, URI, version, headers and extensions are copied; the body is
/// [`ReplayBody::try_clone`]d, and its error is returned when it cannot be.
pub fn try_clone_request<B>(
    request: &http::Request<ReplayBody<B>>,
) -> Result<http::Request<ReplayBody<B>>, ReplayError> {
    let body = request.body().try_clone()?;
    Ok(RequestHead::from_request(request).into_request(body))
}

impl<B> Shared<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    fn poll_frame(
        &mut self,
        cursor: &mut Cursor,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if cursor.id < self.owner {
            return Poll::Ready(Some(Err(ReplayError::Superseded.into())));
        }
        self.owner = cursor.id;

        if cursor.pos < self.frames_read {
            return Poll::Ready(Some(match self.log.get(cursor.pos) {
                Some(recorded) => {
                    cursor.pos += 1;
                    cursor.yielded += recorded.data_len();
                    Ok(recorded.to_frame())
                }
                None => Err(ReplayError::CapExceeded { cap: self.cap }.into()),
            }));
        }

        let body = match &mut self.source {
            Source::Live(body) => body,
            Source::Ended => return Poll::Ready(None),
            Source::Failed => return Poll::Ready(Some(Err(ReplayError::SourceFailed.into()))),
        };
        if body.is_end_stream() {
            self.source = Source::Ended;
            return Poll::Ready(None);
        }
        match ready!(body.as_mut().poll_frame(cx)) {
            None => {
                self.source = Source::Ended;
                Poll::Ready(None)
            }
            Some(Err(err)) => {
                self.source = Source::Failed;
                Poll::Ready(Some(Err(err.into())))
            }
            Some(Ok(frame)) => {
                let frame = frame.map_data(|mut data| data.copy_to_bytes(data.remaining()));
                let len = frame.data_ref().map_or(0, |data| len_u64(data.len()));
                self.record(&frame, len);
                self.frames_read += 1;
                self.bytes_read += len;
                cursor.pos += 1;
                cursor.yielded += len;
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }
}

impl<B> Shared<B> {
    fn record(&mut self, frame: &Frame<Bytes>, len: u64) {
        if self.capped {
            return;
        }
        let recorded = if let Some(data) = frame.data_ref() {
            if self.bytes_read.saturating_add(len) > len_u64(self.cap) {
                None
            } else {
                Some(Recorded::Data(data.clone()))
            }
        } else {
            // http-body 1 frames are data or trailers; a kind this code cannot record would
            // make replay impossible exactly like an exceeded cap.
            frame
                .trailers_ref()
                .map(|trailers| Recorded::Trailers(trailers.clone()))
        };
        match recorded {
            Some(recorded) => self.log.push(recorded),
            None => {
                self.capped = true;
                self.log = Log::default();
            }
        }
    }

    /// Whether `cursor` still has recorded frames to replay that the log no longer holds.
    fn lost_frames(&self, cursor: &Cursor) -> bool {
        cursor.pos < self.frames_read && cursor.pos >= self.log.len()
    }
}

impl<B> Body for ReplayBody<B>
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
        let this = self.get_mut();
        if this.cursor.finished {
            return Poll::Ready(None);
        }
        let polled = lock(&this.shared).poll_frame(&mut this.cursor, cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            this.cursor.finished = true;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        if self.cursor.finished {
            return true;
        }
        let shared = lock(&self.shared);
        if self.cursor.id < shared.owner || self.cursor.pos < shared.frames_read {
            return false;
        }
        match &shared.source {
            Source::Live(body) => body.is_end_stream(),
            Source::Ended => true,
            Source::Failed => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        if self.cursor.finished {
            return SizeHint::with_exact(0);
        }
        let shared = lock(&self.shared);
        if self.cursor.id < shared.owner || shared.lost_frames(&self.cursor) {
            // This handle will yield an error, not data.
            return SizeHint::default();
        }
        let replay = shared.bytes_read.saturating_sub(self.cursor.yielded);
        match &shared.source {
            Source::Live(body) => {
                let rest = body.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower().saturating_add(replay));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper.saturating_add(replay));
                }
                hint
            }
            Source::Ended => SizeHint::with_exact(replay),
            Source::Failed => {
                let mut hint = SizeHint::new();
                hint.set_lower(replay);
                hint
            }
        }
    }
}

impl<B> fmt::Debug for ReplayBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = lock(&self.shared);
        f.debug_struct("ReplayBody")
            .field("cursor", &self.cursor)
            .field("cap", &shared.cap)
            .field("capped", &shared.capped)
            .field("frames_read", &shared.frames_read)
            .field("bytes_read", &shared.bytes_read)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::task::Poll;

    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, Method, Request};
    use http_body::{Body, Frame};
    use http_body_util::{BodyExt, Empty, Full};

    use super::*;
    use crate::{
        error::find_cause,
        test_util::{Probe, TestBodyError, channel},
    };

    type Polled = Poll<Option<Result<Frame<Bytes>, BoxError>>>;

    fn data(polled: Polled) -> Option<Bytes> {
        match polled {
            Poll::Ready(Some(Ok(frame))) => frame.into_data().ok(),
            _ => None,
        }
    }

    fn replay_error(polled: Polled) -> Option<ReplayError> {
        match polled {
            Poll::Ready(Some(Err(err))) => find_cause::<ReplayError>(&*err).cloned(),
            _ => None,
        }
    }

    fn grpc_trailers() -> HeaderMap {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        trailers
    }

    #[tokio::test]
    async fn full_body_replays_without_copying() -> Result<(), BoxError> {
        let payload = Bytes::from("hello world");
        let body = ReplayBody::new(Full::new(payload.clone()), 1024);
        let early = body.try_clone()?;
        assert_eq!(early.size_hint().exact(), Some(11));
        assert!(!early.is_end_stream());

        let first = body.collect().await?.to_bytes();
        assert_eq!(first, payload);

        let late = early.try_clone()?;
        assert_eq!(late.size_hint().exact(), Some(11));
        let second = early.collect().await?.to_bytes();
        let third = late.collect().await?.to_bytes();
        assert_eq!((second.clone(), third), (payload.clone(), payload.clone()));
        // The replayed frame is the very same allocation: replay costs a reference count.
        assert_eq!(second.as_ptr(), payload.as_ptr());
        Ok(())
    }

    #[test]
    fn streaming_body_replays_lazily() -> Result<(), BoxError> {
        let (tx, rx) = channel();
        let probe = Probe::new();
        let mut original = ReplayBody::new(rx, 1024);
        tx.data("one");
        tx.data("two");

        assert_eq!(data(probe.poll_frame(&mut original)), Some("one".into()));
        assert_eq!(tx.queued(), 1);

        let mut clone = original.try_clone()?;
        let polls = tx.polls();
        assert_eq!(data(probe.poll_frame(&mut clone)), Some("one".into()));
        assert_eq!(
            tx.polls(),
            polls,
            "replaying must not read the original body"
        );
        assert_eq!(tx.queued(), 1, "nothing is read ahead");

        assert_eq!(data(probe.poll_frame(&mut clone)), Some("two".into()));
        assert!(matches!(probe.poll_frame(&mut clone), Poll::Pending));
        drop(tx);
        assert!(
            probe.wakes() >= 1,
            "the clone is woken by the original body"
        );
        assert!(matches!(probe.poll_frame(&mut clone), Poll::Ready(None)));
        assert!(clone.is_end_stream());
        Ok(())
    }

    #[test]
    fn clone_taken_mid_body_continues_the_original() -> Result<(), BoxError> {
        let (tx, rx) = channel();
        let probe = Probe::new();
        let mut original = ReplayBody::new(rx, 1024);
        tx.data("a");
        assert_eq!(data(probe.poll_frame(&mut original)), Some("a".into()));
        assert!(matches!(probe.poll_frame(&mut original), Poll::Pending));

        let mut clone = original.try_clone()?;
        assert_eq!(clone.size_hint().lower(), 1);
        assert_eq!(clone.size_hint().upper(), None);
        assert!(!clone.is_end_stream());

        tx.data("b");
        tx.data("c");
        drop(tx);
        let mut seen = Vec::new();
        while let Some(bytes) = data(probe.poll_frame(&mut clone)) {
            seen.push(bytes);
        }
        assert_eq!(seen, ["a", "b", "c"]);
        assert!(clone.is_end_stream());

        // Everything is recorded now: a later clone knows its exact length.
        let mut late = clone.try_clone()?;
        assert_eq!(late.size_hint().exact(), Some(3));
        assert_eq!(data(probe.poll_frame(&mut late)), Some("a".into()));
        assert_eq!(late.size_hint().exact(), Some(2));
        Ok(())
    }

    #[test]
    fn exceeding_the_cap_fails_clearly_never_empty() -> Result<(), BoxError> {
        let (tx, rx) = channel();
        let probe = Probe::new();
        let mut original = ReplayBody::new(rx, 4);
        let mut early = original.try_clone()?;
        tx.data("abc");
        tx.data("def");
        drop(tx);

        assert_eq!(data(probe.poll_frame(&mut original)), Some("abc".into()));
        assert!(!original.is_capped());
        // The body being sent carries on past the cap.
        assert_eq!(data(probe.poll_frame(&mut original)), Some("def".into()));
        assert!(original.is_capped());
        assert!(matches!(probe.poll_frame(&mut original), Poll::Ready(None)));

        assert_eq!(
            original.try_clone().err(),
            Some(ReplayError::CapExceeded { cap: 4 })
        );
        assert!(!early.is_end_stream());
        let err = replay_error(probe.poll_frame(&mut early));
        assert_eq!(err, Some(ReplayError::CapExceeded { cap: 4 }));
        // After the error the clone is over; it never pretends to be a complete body.
        assert!(matches!(probe.poll_frame(&mut early), Poll::Ready(None)));
        Ok(())
    }

    #[tokio::test]
    async fn clone_taken_before_cap_exceeded_fails_when_read() -> Result<(), BoxError> {
        let (tx, rx) = channel();
        let probe = Probe::new();
        let mut original = ReplayBody::new(rx, 4);
        tx.data("ab");
        assert_eq!(data(probe.poll_frame(&mut original)), Some("ab".into()));
        let early = original.try_clone()?;
        tx.data("cdef");
        assert_eq!(data(probe.poll_frame(&mut original)), Some("cdef".into()));
        drop(tx);

        let err = early.collect().await.err().ok_or("the clone must fail")?;
        assert_eq!(
            find_cause::<ReplayError>(&*err),
            Some(&ReplayError::CapExceeded { cap: 4 })
        );
        assert_eq!(
            err.to_string(),
            "request body cannot be replayed: it is larger than the replay cap of 4 bytes"
        );
        Ok(())
    }

    #[tokio::test]
    async fn body_known_to_exceed_cap_is_sent_once() -> Result<(), BoxError> {
        let body = ReplayBody::new(Full::new(Bytes::from("0123456789")), 4);
        assert!(body.is_capped());
        assert_eq!(body.cap(), 4);
        assert_eq!(
            body.try_clone().err(),
            Some(ReplayError::CapExceeded { cap: 4 })
        );
        assert_eq!(body.collect().await?.to_bytes(), "0123456789");
        Ok(())
    }

    #[test]
    fn body_exactly_at_cap_replays() -> Result<(), BoxError> {
        let (tx, rx) = channel();
        let probe = Probe::new();
        let mut original = ReplayBody::new(rx, 4);
        tx.data("ab");
        tx.data("cd");
        drop(tx);
        while data(probe.poll_frame(&mut original)).is_some() {}
        assert!(!original.is_capped());
        let mut clone = original.try_clone()?;
        assert_eq!(data(probe.poll_frame(&mut clone)), Some("ab".into()));
        assert_eq!(data(probe.poll_frame(&mut clone)), Some("cd".into()));
        Ok(())
    }

    #[tokio::test]
    async fn trailers_replay() -> Result<(), BoxError> {
        let (tx, rx) = channel();
        let original = ReplayBody::new(rx, 1024);
        let early = original.try_clone()?;
        tx.data("x");
        tx.trailers(grpc_trailers());
        drop(tx);

        let first = original.collect().await?;
        assert_eq!(first.trailers(), Some(&grpc_trailers()));
        let second = early.collect().await?;
        assert_eq!(second.trailers(), Some(&grpc_trailers()));
        assert_eq!(second.to_bytes(), "x");
        Ok(())
    }

    #[tokio::test]
    async fn empty_body_replays() -> Result<(), BoxError> {
        let original = ReplayBody::new(Empty::<Bytes>::new(), 0);
        assert!(original.is_end_stream());
        assert!(!original.is_capped());
        let clone = original.try_clone()?;
        assert!(clone.is_end_stream());
        assert_eq!(clone.size_hint().exact(), Some(0));
        assert!(original.collect().await?.to_bytes().is_empty());
        assert!(clone.collect().await?.to_bytes().is_empty());
        Ok(())
    }

    #[test]
    fn failed_source_is_not_replayed() -> Result<(), BoxError> {
        let (tx, rx) = channel();
        let probe = Probe::new();
        let mut original = ReplayBody::new(rx, 1024);
        let mut early = original.try_clone()?;
        tx.data("a");
        tx.error("connection reset");

        assert_eq!(data(probe.poll_frame(&mut original)), Some("a".into()));
        match probe.poll_frame(&mut original) {
            Poll::Ready(Some(Err(err))) => assert_eq!(
                find_cause::<TestBodyError>(&*err),
                Some(&TestBodyError("connection reset"))
            ),
            _ => return Err("the original body's error must pass through".into()),
        }
        assert_eq!(original.try_clone().err(), Some(ReplayError::SourceFailed));

        assert_eq!(data(probe.poll_frame(&mut early)), Some("a".into()));
        assert_eq!(
            replay_error(probe.poll_frame(&mut early)),
            Some(ReplayError::SourceFailed)
        );
        Ok(())
    }

    #[test]
    fn newest_polled_clone_takes_over() -> Result<(), BoxError> {
        let (tx, rx) = channel();
        let probe = Probe::new();
        let mut original = ReplayBody::new(rx, 1024);
        tx.data("a");
        assert_eq!(data(probe.poll_frame(&mut original)), Some("a".into()));

        let mut clone = original.try_clone()?;
        // Taking a clone alone does not stop the original.
        tx.data("b");
        assert_eq!(data(probe.poll_frame(&mut original)), Some("b".into()));

        assert_eq!(data(probe.poll_frame(&mut clone)), Some("a".into()));
        assert_eq!(
            replay_error(probe.poll_frame(&mut original)),
            Some(ReplayError::Superseded)
        );
        assert_eq!(data(probe.poll_frame(&mut clone)), Some("b".into()));
        Ok(())
    }

    #[test]
    fn try_clone_request_copies_the_request() -> Result<(), BoxError> {
        #[derive(Clone, Debug, PartialEq)]
        struct Marker(u8);

        let mut request = Request::builder()
            .method(Method::PUT)
            .uri("http://example.test/upload")
            .header("content-type", "text/plain")
            .body(ReplayBody::new(Full::new(Bytes::from("data")), 64))?;
        request.extensions_mut().insert(Marker(7));

        let clone = try_clone_request(&request)?;
        assert_eq!(clone.method(), Method::PUT);
        assert_eq!(clone.uri(), "http://example.test/upload");
        assert_eq!(clone.version(), request.version());
        assert_eq!(clone.headers(), request.headers());
        assert_eq!(clone.extensions().get::<Marker>(), Some(&Marker(7)));
        assert_eq!(clone.body().size_hint().exact(), Some(4));
        Ok(())
    }
}
