//! Helpers for this crate's unit tests: a counting waker and a hand-fed streaming body.

use std::{
    collections::VecDeque,
    fmt,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll, Wake, Waker},
};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame};

use crate::sync::lock;

/// Polls `future` once with a waker that ignores wake-ups.
pub(crate) fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

/// What polling a body `B` for a frame returns.
pub(crate) type PolledFrame<B> = Poll<Option<Result<Frame<<B as Body>::Data>, <B as Body>::Error>>>;

/// A waker that counts how often it was woken, so tests can assert wake-ups happen.
#[derive(Clone)]
pub(crate) struct Probe {
    wakes: Arc<WakeCounter>,
    waker: Waker,
}

struct WakeCounter(AtomicUsize);

impl Wake for WakeCounter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl Probe {
    pub(crate) fn new() -> Self {
        let wakes = Arc::new(WakeCounter(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&wakes));
        Self { wakes, waker }
    }

    pub(crate) fn wakes(&self) -> usize {
        self.wakes.0.load(Ordering::SeqCst)
    }

    pub(crate) fn poll<F: Future + ?Sized>(&self, future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(&self.waker))
    }

    pub(crate) fn poll_frame<B: Body + Unpin>(&self, body: &mut B) -> PolledFrame<B> {
        Pin::new(body).poll_frame(&mut Context::from_waker(&self.waker))
    }
}

/// The error a [`ChannelBody`] yields when told to fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestBodyError(pub(crate) &'static str);

impl fmt::Display for TestBodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "test body failed: {}", self.0)
    }
}

impl std::error::Error for TestBodyError {}

type Item = Result<Frame<Bytes>, TestBodyError>;

#[derive(Default)]
struct Channel {
    queue: VecDeque<Item>,
    closed: bool,
    waker: Option<Waker>,
    polls: usize,
}

/// Creates a streaming body fed by hand through the returned [`Sender`].
pub(crate) fn channel() -> (Sender, ChannelBody) {
    let shared = Arc::new(Mutex::new(Channel::default()));
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        ChannelBody { shared },
    )
}

/// Feeds a [`ChannelBody`]; dropping it ends the body.
pub(crate) struct Sender {
    shared: Arc<Mutex<Channel>>,
}

impl Sender {
    fn push(&self, item: Item) {
        let waker = {
            let mut channel = lock(&self.shared);
            channel.queue.push_back(item);
            channel.waker.take()
        };
        waker.into_iter().for_each(Waker::wake);
    }

    pub(crate) fn data(&self, data: &'static str) {
        self.push(Ok(Frame::data(Bytes::from_static(data.as_bytes()))));
    }

    pub(crate) fn trailers(&self, trailers: HeaderMap) {
        self.push(Ok(Frame::trailers(trailers)));
    }

    pub(crate) fn error(&self, message: &'static str) {
        self.push(Err(TestBodyError(message)));
    }

    /// Frames sent but not yet read by the body.
    pub(crate) fn queued(&self) -> usize {
        lock(&self.shared).queue.len()
    }

    /// How many times the body was polled.
    pub(crate) fn polls(&self) -> usize {
        lock(&self.shared).polls
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let waker = {
            let mut channel = lock(&self.shared);
            channel.closed = true;
            channel.waker.take()
        };
        waker.into_iter().for_each(Waker::wake);
    }
}

/// A body whose frames arrive when a test sends them.
pub(crate) struct ChannelBody {
    shared: Arc<Mutex<Channel>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = TestBodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let mut channel = lock(&self.shared);
        channel.polls += 1;
        if let Some(item) = channel.queue.pop_front() {
            Poll::Ready(Some(item))
        } else if channel.closed {
            Poll::Ready(None)
        } else {
            channel.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }

    fn is_end_stream(&self) -> bool {
        let channel = lock(&self.shared);
        channel.closed && channel.queue.is_empty()
    }
}
