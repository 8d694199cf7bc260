//! Request and response extensions shared by layers and the facade.

/// The URI a response finally came from. Layers that send a request somewhere other than
/// where it was addressed (redirects) insert it into the response's extensions; the
/// facade's `Response::url` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectiveUri(pub http::Uri);

/// The instant by which the whole exchange must be over, as measured by the layers'
/// [`SharedTimer`](crate::time::SharedTimer).
///
/// The timeout layer inserts it into the request's extensions when the request has a total
/// timeout (`now + total`, from its timer's `now()`), so layers below it can plan around the
/// deadline: the retry layer never waits for a retry that would start after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(pub std::time::Instant);
