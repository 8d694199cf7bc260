//! [`Kept`]: how a re-sending layer keeps the request body for its later attempts.

use std::sync::Arc;

use http::{Extensions, Request};
use http_body::Body;
use towline_core::RequestHead;

use super::ResendBody;
use crate::{
    BoxError,
    replay::{ReplayBody, ReplayError, ReplaySource, Replays, len_u64},
};

/// What a re-sending layer sends its later attempts' bodies from.
pub(crate) enum Kept<B> {
    /// Fresh replays of the recorded body: the layer's own recording, or one a re-sending
    /// layer above made.
    Replay(ReplaySource<ResendBody<B>>),
    /// The body is empty (or a redirect dropped it): every later attempt sends an empty body.
    Empty,
    /// The body cannot be sent again: it is known from the start to exceed the replay cap.
    Unreplayable(ReplayError),
}

impl<B> Kept<B>
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// Wraps the body a re-sending layer received for the first attempt, and keeps what
    /// later attempts send.
    ///
    /// `extensions` are those of the request the first attempt sends: a layer above may have
    /// left a [`ReplaySource`] of this body there, which is then reused rather than recording
    /// the body again under `cap`; and the source of this layer's attempts goes there, for
    /// the re-sending layers below.
    pub(crate) fn first(body: B, cap: usize, extensions: &mut Extensions) -> (ResendBody<B>, Self) {
        if body.is_end_stream() {
            // Every attempt sends an empty body, which needs no recording.
            return (ResendBody::original(body), Self::Empty);
        }
        if let Some(above) = extensions.get::<ReplaySource<B>>() {
            let source = above.clone().lift();
            extensions.insert(source.clone());
            return (ResendBody::original(body), Self::Replay(source));
        }
        if body.size_hint().lower() > len_u64(cap) {
            // Known to be too large to record: sent once as it is.
            let unreplayable = Self::Unreplayable(ReplayError::CapExceeded { cap });
            return (ResendBody::original(body), unreplayable);
        }
        let body = ReplayBody::new(body, cap);
        let source = body.source();
        extensions.insert(source.clone());
        (ResendBody::replay(body), Self::Replay(source))
    }
}

impl<B> Kept<B> {
    /// The body of the next attempt, or why it cannot be sent again.
    pub(crate) fn body(&self) -> Result<ResendBody<B>, ReplayError> {
        match self {
            Self::Replay(source) => source.replay(),
            Self::Empty => Ok(ResendBody::empty()),
            Self::Unreplayable(err) => Err(err.clone()),
        }
    }
}

impl<B: 'static> Kept<B> {
    /// The next attempt's request: `head` and `body`, with the source of this layer's
    /// replays for the re-sending layers below.
    pub(crate) fn request(
        &self,
        head: &RequestHead,
        body: ResendBody<B>,
    ) -> Request<ResendBody<B>> {
        let mut request = head.to_request(body);
        if let Self::Replay(source) = self {
            request.extensions_mut().insert(source.clone());
        }
        request
    }
}

/// Hands out the replays of a source from a layer above as the original body of this
/// layer's attempts.
struct Lifted<B>(ReplaySource<B>);

impl<B> Replays<ResendBody<B>> for Lifted<B> {
    fn replay(self: Arc<Self>) -> Result<ResendBody<B>, ReplayError> {
        self.0.replay().map(ResendBody::original)
    }
}

impl<B: 'static> ReplaySource<B> {
    /// The same recording, for the layers below one that sends its replays unchanged.
    fn lift(self) -> ReplaySource<ResendBody<B>> {
        ReplaySource::new(Arc::new(Lifted(self)))
    }
}
