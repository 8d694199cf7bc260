//! Redirect hop events, redacted the way the enclosing [`TraceLayer`](super::TraceLayer) says.

use std::cell::Cell;

use http::{StatusCode, Uri};
use tracing::Level;

use super::{QueryRedaction, RedactedUri};

/// What a redirect event needs from the enclosing trace layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct HopContext {
    pub(super) level: Level,
    pub(super) query: QueryRedaction,
}

impl Default for HopContext {
    fn default() -> Self {
        Self {
            level: Level::INFO,
            query: QueryRedaction::default(),
        }
    }
}

thread_local! {
    /// The context of the trace layer whose future or `call` is running on this thread.
    static CURRENT: Cell<Option<HopContext>> = const { Cell::new(None) };
}

/// Restores the previous context when the trace layer's poll ends.
pub(super) struct ContextGuard {
    previous: Option<HopContext>,
}

/// Makes `context` the one [`record_redirect`] uses on this thread until the guard drops.
pub(super) fn enter(context: HopContext) -> ContextGuard {
    // During thread teardown the slot may be gone: the default context is used then.
    let previous = CURRENT
        .try_with(|current| current.replace(Some(context)))
        .ok()
        .flatten();
    ContextGuard { previous }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|current| current.set(self.previous));
    }
}

fn current() -> HopContext {
    CURRENT
        .try_with(Cell::get)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// Records that a request answered `status` at `from` and is followed to `to`.
///
/// For a redirect layer placed below a [`TraceLayer`](super::TraceLayer): called while that
/// layer polls its future, it emits a `following redirect` event inside the request's span,
/// at the layer's level, with `http.response.status_code`, `redirect.from` and `redirect.to`
/// redacted the way the layer redacts `url.full` (no userinfo; the query per its
/// [`QueryRedaction`]). Called anywhere else it uses `INFO` and the default redaction.
///
/// ```
/// use http::{StatusCode, Uri};
///
/// let from: Uri = "https://example.com/login?next=%2Fhome".parse()?;
/// let to: Uri = "https://example.com/home".parse()?;
/// // Recorded as `redirect.from = "https://example.com/login?next=REDACTED"`.
/// towline_layers::trace::record_redirect(&from, &to, StatusCode::FOUND);
/// # Ok::<_, http::uri::InvalidUri>(())
/// ```
pub fn record_redirect(from: &Uri, to: &Uri, status: StatusCode) {
    let context = current();
    event_at!(
        context.level,
        "http.response.status_code" = status.as_u16(),
        "redirect.from" = %RedactedUri::new(from, context.query),
        "redirect.to" = %RedactedUri::new(to, context.query),
        "following redirect"
    );
}
