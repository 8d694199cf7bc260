//! [`Kept`]: how a re-sending layer keeps the request body for its later attempts.

#[cfg(any(feature = "redirect", feature = "retry"))]
use http::{Extensions, Request};
#[cfg(any(feature = "redirect", feature = "retry"))]
use http_body::Body;
#[cfg(any(feature = "redirect", feature = "retry"))]
use towline_core::RequestHead;

use super::ResendBody;
use crate::replay::{ReplayError, ReplaySource};
#[cfg(any(feature = "redirect", feature = "retry"))]
use crate::{
    BoxError,
    replay::{ReplayBody, len_u64},
};

/// What a re-sending layer sends its later attempts' bodies from.
pub(crate) enum Kept<B> {
    /// Fresh replays of this layer's own recording of the body.
    Replay(ReplaySource<ResendBody<B>>),
    /// Fresh replays of a re-sending layer above's recording, which the body this layer
    /// received is already one of.
    #[cfg(any(feature = "redirect", feature = "retry"))]
    Reused(ReplaySource<B>),
    /// The body is empty (or a redirect dropped it): every later attempt sends an empty body.
    Empty,
    /// The body cannot be sent again: it is known from the start to exceed the replay cap.
    Unreplayable(ReplayError),
}

#[cfg(any(feature = "redirect", feature = "retry"))]
impl<B> Kept<B>
where
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
{
    /// Wraps the body a re-sending layer received for the first attempt, and keeps what
    /// later attempts send.
    ///
    /// `extensions` are those of the request the first attempt sends: a layer above may have
    /// left a [`ReplaySource`] of this body there, which is then taken and reused rather
    /// than recording the body again under `cap` (no layer below has this body type, and a
    /// copy of the head need not carry it). The caller [`mark`](Self::mark)s the request
    /// once it has copied the head.
    ///
    /// A layer that reuses a recording does not pass it on: a third re-sending layer below
    /// it would record the body again.
    pub(crate) fn first(body: B, cap: usize, extensions: &mut Extensions) -> (ResendBody<B>, Self) {
        if body.is_end_stream() {
            // Every attempt sends an empty body, which needs no recording.
            return (ResendBody::original(body), Self::Empty);
        }
        if let Some(above) = extensions.remove::<ReplaySource<B>>() {
            if extensions.is_empty() {
                // Free the map, so that copying the head copies nothing.
                *extensions = Extensions::new();
            }
            return (ResendBody::original(body), Self::Reused(above));
        }
        if body.size_hint().lower() > len_u64(cap) {
            // Known to be too large to record: sent once as it is.
            let unreplayable = Self::Unreplayable(ReplayError::CapExceeded { cap });
            return (ResendBody::original(body), unreplayable);
        }
        let body = ReplayBody::new(body, cap);
        let source = body.source();
        (ResendBody::replay(body), Self::Replay(source))
    }
}

impl<B> Kept<B> {
    /// The body of the next attempt, or why it cannot be sent again.
    pub(crate) fn body(&self) -> Result<ResendBody<B>, ReplayError> {
        match self {
            Self::Replay(source) => source.replay(),
            #[cfg(any(feature = "redirect", feature = "retry"))]
            Self::Reused(source) => source.replay().map(ResendBody::original),
            Self::Empty => Ok(ResendBody::empty()),
            Self::Unreplayable(err) => Err(err.clone()),
        }
    }
}

#[cfg(any(feature = "redirect", feature = "retry"))]
impl<B: 'static> Kept<B> {
    /// Leaves the source of this layer's replays in the extensions of a request it sends,
    /// for the re-sending layers below.
    pub(crate) fn mark(&self, extensions: &mut Extensions) {
        if let Self::Replay(source) = self {
            extensions.insert(source.clone());
        }
    }

    /// The next attempt's request: `head` and `body`, [marked](Self::mark).
    pub(crate) fn request(
        &self,
        head: &RequestHead,
        body: ResendBody<B>,
    ) -> Request<ResendBody<B>> {
        let mut request = head.to_request(body);
        self.mark(request.extensions_mut());
        request
    }
}
