//! What layers that send a request again (redirect, retry, digest and netrc
//! authentication) share: the body they send their inner service, how they keep the
//! request for a later attempt, and what they do with a response they do not hand on.
//!
//! # The contract
//!
//! - **The body type.** A re-sending layer takes `Request<B>` and calls its inner service
//!   with `Request<`[`ResendBody<B>`]`>`, the way tower-http's `FollowRedirect` changes the
//!   body type. A [`ResendBody`] is the body as it was received, when the layer will never
//!   send it again (or a layer above already records it); the body wrapped in a
//!   [`ReplayBody`](crate::replay::ReplayBody); or empty. The authentication layers
//!   ([`auth`](crate::auth)) take `Request<ResendBody<B>>` and hand on the same type, so
//!   that the `towline` client can leave them out of its stack when they are not
//!   configured; a body below a retry layer is already recorded, and they replay that
//!   recording.
//! - **Recording.** A body that a later attempt may need is recorded by a
//!   [`ReplayBody`](crate::replay::ReplayBody) as it is sent, up to the layer's replay cap:
//!   buffered bodies cost a reference count, streaming ones are replayed lazily. An empty
//!   body (`is_end_stream()`) is not recorded: later attempts send an empty body. A body
//!   whose size hint already exceeds the cap is sent once, as it is. A body that outgrew the
//!   cap, or whose reading failed, is never sent again — the layer gives up (a redirect
//!   fails with a [`ReplayError`](crate::replay::ReplayError) as its source, a retry returns
//!   the last outcome), and no attempt sends an empty or truncated body.
//! - **Recorded once.** A re-sending layer that records a body leaves, in the extensions of
//!   every request it sends, a handle on the recording keyed by its [`ResendBody`] type. A
//!   re-sending layer right below it (retry under redirect, in the `towline` client), whose
//!   body type that is, takes it, sends the body it received unchanged, and builds its own
//!   later attempts from fresh replays of the same recording, so the body is recorded once.
//!   The cap of the layer that records applies; the cap of the one below does not. The
//!   handle describes the body it travels with as long as nobody between the two layers
//!   replaces the body and keeps the extensions ([`ResendBody::new`] makes that possible:
//!   a layer that swaps bodies builds a fresh request rather than keep the extensions).
//!   The handle goes one level down: a layer that reuses a recording does not pass it on
//!   (that would cost every request with a body an allocation more), so a third
//!   re-sending layer below would record the body again.
//! - **The head.** The layer copies the request's head (method, URI, version, headers,
//!   extensions) once, into a [`RequestHead`](towline_core::RequestHead), and builds each
//!   later attempt from it; a redirect changes method, URI and headers for its hop.
//! - **Draining.** Before sending again, the layer reads the response it will not hand on to
//!   its end, up to [`MAX_DRAIN_BYTES`], and drops it, so that an HTTP/1 connection goes
//!   back to the pool and the next attempt can reuse it. A body known to be longer, or one
//!   that goes on past the limit, is dropped, which closes its connection. The drain is not
//!   timed: a total timeout above the layer bounds it.
//! - **Nothing to re-send, nothing paid.** A layer that will not send the request again
//!   (`Policy::none()`, retries off for the request) passes the body through as it is and
//!   copies nothing. A request with an empty body is neither recorded nor marked.

mod body;
mod drain;
mod kept;

use std::{error::Error, fmt};

pub use self::body::ResendBody;
pub(crate) use self::{drain::Drain, kept::Kept};

/// How much of a response that is not handed on (a redirect, a retried failure) is read and
/// discarded before the request is sent again, so that its HTTP/1 connection can go back
/// to the pool: 64 KiB. A longer body is dropped unread, which closes its connection.
pub const MAX_DRAIN_BYTES: usize = 64 * 1024;

/// The error of a re-sending layer's response future polled again after it completed.
#[derive(Debug)]
pub(crate) struct PolledAfterCompletion;

impl fmt::Display for PolledAfterCompletion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("response future polled after it completed")
    }
}

impl Error for PolledAfterCompletion {}

#[cfg(all(test, feature = "redirect", feature = "retry"))]
mod tests;
