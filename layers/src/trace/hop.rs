//! Redirect hop events, redacted the way the enclosing [`TraceLayer`](super::TraceLayer) says.

use http::{StatusCode, Uri};
use tracing::Span;

use super::{RedactedUri, layer::Config};
use crate::extensions::RedirectObserver;

/// The observer the trace layer puts in a request's extensions for a redirect layer below:
/// each followed hop becomes a `following redirect` event in `span`, at the layer's level,
/// with `http.response.status_code`, `redirect.from` and `redirect.to` redacted the way the
/// layer redacts `url.full`.
///
/// The event names `span` as its parent rather than relying on the span being entered, so
/// it lands in the right span even when the redirect layer's future runs in another task.
pub(super) fn observer(span: Span, config: Config) -> RedirectObserver {
    RedirectObserver::new(move |from: &Uri, to: &Uri, status: StatusCode| {
        event_at!(
            parent: &span,
            config.level,
            "http.response.status_code" = status.as_u16(),
            "redirect.from" = %RedactedUri::new(from, config.query),
            "redirect.to" = %RedactedUri::new(to, config.query),
            "following redirect"
        );
    })
}
