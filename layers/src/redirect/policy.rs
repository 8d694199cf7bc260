//! The redirect [`Policy`]: which redirects to follow, as a plain function over plain data.

use std::{fmt, sync::Arc};

use http::{HeaderMap, Method, StatusCode, Uri};

use crate::BoxError;

/// Decides, for each redirect response, whether the layer follows it.
///
/// A policy is cheap to clone (a custom one is behind an `Arc`), and is consulted only for
/// responses the layer could follow: a 301, 302, 303, 307 or 308 with a usable `Location`.
/// The method, body and header rules of the [module documentation](super) apply to every
/// redirect that the policy lets through; the policy only chooses between following,
/// stopping (the redirect response goes back to the caller) and failing.
///
/// ```
/// use towline_layers::redirect::Policy;
///
/// // Follow at most 10 redirects (the default), at most 3, or none at all.
/// let standard = Policy::default();
/// let short = Policy::limited(3);
/// let never = Policy::none();
///
/// // Stay on one host, and never follow more than 5 redirects.
/// let same_host = Policy::custom(|attempt| {
///     if attempt.hops() >= 5 {
///         attempt.too_many_redirects()
///     } else if attempt.next().host() != attempt.current().host() {
///         attempt.stop()
///     } else {
///         attempt.follow()
///     }
/// });
/// # let _ = (standard, short, never, same_host);
/// ```
#[derive(Clone)]
pub struct Policy {
    kind: PolicyKind,
}

type CustomFn = dyn Fn(Attempt<'_>) -> Action + Send + Sync;

#[derive(Clone)]
enum PolicyKind {
    Limited(usize),
    None,
    Custom(Arc<CustomFn>),
}

impl Policy {
    /// How many redirects [`Policy::default`] follows.
    pub const DEFAULT_MAX_REDIRECTS: usize = 10;

    /// Follows up to `max` redirects; the redirect after those fails with a
    /// [`RedirectError`](super::RedirectError) of kind
    /// [`TooManyRedirects`](super::RedirectErrorKind::TooManyRedirects) that carries the
    /// history. `limited(0)` fails on the first redirect.
    pub fn limited(max: usize) -> Self {
        Self {
            kind: PolicyKind::Limited(max),
        }
    }

    /// Follows no redirect: every response, 3xx included, goes back to the caller as it
    /// came. The layer then neither buffers the request body nor clones the request.
    pub fn none() -> Self {
        Self {
            kind: PolicyKind::None,
        }
    }

    /// Asks `policy` about each redirect. It sees the [`Attempt`] — the current and next URI,
    /// the status, the method, the response headers and the redirects followed so far — and
    /// answers with [`Attempt::follow`], [`Attempt::stop`], [`Attempt::error`] or
    /// [`Attempt::too_many_redirects`].
    ///
    /// A custom policy has no built-in limit: count with [`Attempt::hops`].
    pub fn custom<F>(policy: F) -> Self
    where
        F: Fn(Attempt<'_>) -> Action + Send + Sync + 'static,
    {
        Self {
            kind: PolicyKind::Custom(Arc::new(policy)),
        }
    }

    /// Applies the policy to one redirect.
    pub fn redirect(&self, attempt: Attempt<'_>) -> Action {
        match &self.kind {
            PolicyKind::Limited(max) => {
                if attempt.hops() < *max {
                    Action::follow()
                } else {
                    Action::too_many_redirects()
                }
            }
            PolicyKind::None => Action::stop(),
            PolicyKind::Custom(policy) => policy(attempt),
        }
    }

    /// Whether this is [`Policy::none`], which never follows anything.
    pub fn is_none(&self) -> bool {
        matches!(self.kind, PolicyKind::None)
    }

    /// The limit of a [`Policy::limited`] (or default) policy; `None` for the others.
    pub fn max_redirects(&self) -> Option<usize> {
        match self.kind {
            PolicyKind::Limited(max) => Some(max),
            PolicyKind::None | PolicyKind::Custom(_) => None,
        }
    }
}

impl Default for Policy {
    /// Follows up to [`Policy::DEFAULT_MAX_REDIRECTS`] (10) redirects.
    fn default() -> Self {
        Self::limited(Self::DEFAULT_MAX_REDIRECTS)
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            PolicyKind::Limited(max) => f.debug_tuple("Policy::Limited").field(max).finish(),
            PolicyKind::None => f.write_str("Policy::None"),
            PolicyKind::Custom(_) => f.write_str("Policy::Custom"),
        }
    }
}

/// One redirect the layer could follow, as shown to a [`Policy`].
#[derive(Clone, Copy)]
pub struct Attempt<'a> {
    pub(super) status: StatusCode,
    pub(super) method: &'a Method,
    pub(super) current: &'a Uri,
    pub(super) next: &'a Uri,
    pub(super) headers: &'a HeaderMap,
    pub(super) previous: &'a [Uri],
}

impl<'a> Attempt<'a> {
    /// The redirect status: 301, 302, 303, 307 or 308.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The method of the request that got the redirect (before any change the redirect
    /// rules make for the next request).
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The URI that answered with this redirect.
    pub fn current(&self) -> &'a Uri {
        self.current
    }

    /// Where the redirect points: the `Location` resolved against [`current`](Self::current),
    /// without a fragment.
    pub fn next(&self) -> &'a Uri {
        self.next
    }

    /// The headers of the redirect response.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The URIs that answered with the redirects followed so far, oldest first; the first
    /// is the original request's URI. Empty on the first redirect.
    pub fn previous(&self) -> &'a [Uri] {
        self.previous
    }

    /// How many redirects have been followed before this one.
    pub fn hops(&self) -> usize {
        self.previous.len()
    }

    /// Follows the redirect.
    pub fn follow(self) -> Action {
        Action::follow()
    }

    /// Stops: the redirect response goes back to the caller.
    pub fn stop(self) -> Action {
        Action::stop()
    }

    /// Fails the request with `error`, wrapped in a [`RedirectError`](super::RedirectError)
    /// of kind [`Policy`](super::RedirectErrorKind::Policy).
    pub fn error(self, error: impl Into<BoxError>) -> Action {
        Action::error(error)
    }

    /// Fails the request with the same error a [`Policy::limited`] policy raises past its
    /// limit.
    pub fn too_many_redirects(self) -> Action {
        Action::too_many_redirects()
    }
}

impl fmt::Debug for Attempt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // URIs may carry credentials or secrets in their query: show only the shape.
        f.debug_struct("Attempt")
            .field("status", &self.status)
            .field("method", &self.method)
            .field("next_host", &self.next.host())
            .field("hops", &self.hops())
            .finish_non_exhaustive()
    }
}

/// What a [`Policy`] decided about one redirect.
pub struct Action {
    pub(super) kind: ActionKind,
}

pub(super) enum ActionKind {
    Follow,
    Stop,
    TooManyRedirects,
    Error(BoxError),
}

impl Action {
    /// Follow the redirect.
    pub fn follow() -> Self {
        Self {
            kind: ActionKind::Follow,
        }
    }

    /// Return the redirect response to the caller.
    pub fn stop() -> Self {
        Self {
            kind: ActionKind::Stop,
        }
    }

    /// Fail with `error` (wrapped in a [`RedirectError`](super::RedirectError) of kind
    /// [`Policy`](super::RedirectErrorKind::Policy)).
    pub fn error(error: impl Into<BoxError>) -> Self {
        Self {
            kind: ActionKind::Error(error.into()),
        }
    }

    /// Fail with a [`TooManyRedirects`](super::RedirectErrorKind::TooManyRedirects) error.
    pub fn too_many_redirects() -> Self {
        Self {
            kind: ActionKind::TooManyRedirects,
        }
    }

    /// Whether the action follows the redirect.
    pub fn is_follow(&self) -> bool {
        matches!(self.kind, ActionKind::Follow)
    }

    /// Whether the action returns the redirect response to the caller.
    pub fn is_stop(&self) -> bool {
        matches!(self.kind, ActionKind::Stop)
    }

    /// Whether the action fails the request.
    pub fn is_error(&self) -> bool {
        matches!(
            self.kind,
            ActionKind::Error(_) | ActionKind::TooManyRedirects
        )
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ActionKind::Follow => f.write_str("Action::Follow"),
            ActionKind::Stop => f.write_str("Action::Stop"),
            ActionKind::TooManyRedirects => f.write_str("Action::TooManyRedirects"),
            ActionKind::Error(error) => f.debug_tuple("Action::Error").field(error).finish(),
        }
    }
}
