//! Request and response extensions shared by layers and the facade.

/// The URI a response finally came from. Layers that send a request somewhere other than
/// where it was addressed (redirects) insert it into the response's extensions; the
/// facade's `Response::url` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectiveUri(pub http::Uri);
