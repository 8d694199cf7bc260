//! Redirect policies with reqwest's names: [`Policy`], [`Attempt`] and [`Action`], set with
//! [`ClientBuilder::redirect`](crate::ClientBuilder::redirect).
//!
//! A [`Policy`] here is the redirect layer's
//! [`Policy`](towline_layers::redirect::Policy) seen through [`Url`]s, as reqwest shows it:
//! [`Attempt::url`] is where the redirect points and [`Attempt::previous`] the URLs visited so
//! far, the one that answered with this redirect last. The layer itself works on
//! [`http::Uri`]s (it is usable under any tower client, which has no `Url`); the URLs are
//! made only for a [`Policy::custom`] closure, and only when a redirect asks it, so
//! `limited` and `none` cost nothing extra.
//!
//! As in reqwest, [`Policy::limited`]`(n)` follows `n` redirects and fails on the one after,
//! and the default policy follows up to 10 (a loop fails there, as "too many redirects").
//!
//! ```
//! use towline::redirect::Policy;
//!
//! // Stay on one host, and follow at most 5 redirects.
//! let policy = Policy::custom(|attempt| {
//!     if attempt.previous().len() > 5 {
//!         attempt.error("too many redirects")
//!     } else if attempt.url().host_str() != attempt.previous()[0].host_str() {
//!         attempt.stop()
//!     } else {
//!         attempt.follow()
//!     }
//! });
//! let client = towline::Client::builder().redirect(policy).build()?;
//! # let _ = client;
//! # Ok::<(), towline::Error>(())
//! ```

use std::fmt;

use http::{StatusCode, Uri};
use towline_layers::redirect::Policy as LayerPolicy;
use url::Url;

use crate::error::BoxError;

pub use towline_layers::redirect::Action;

/// Which redirects a client follows: [`Policy::default`] (up to 10), [`Policy::limited`],
/// [`Policy::none`] or [`Policy::custom`].
#[derive(Clone, Debug, Default)]
pub struct Policy {
    inner: LayerPolicy,
}

impl Policy {
    /// Follows up to `max` redirects; the next one fails the request with an error for which
    /// [`Error::is_redirect`](crate::Error::is_redirect) holds.
    pub fn limited(max: usize) -> Self {
        Self {
            inner: LayerPolicy::limited(max),
        }
    }

    /// Follows no redirect: a 3xx response is returned as it came.
    pub fn none() -> Self {
        Self {
            inner: LayerPolicy::none(),
        }
    }

    /// Asks `policy` about each redirect, which answers with [`Attempt::follow`],
    /// [`Attempt::stop`] or [`Attempt::error`]. There is no built-in limit: count with
    /// [`Attempt::previous`].
    pub fn custom<F>(policy: F) -> Self
    where
        F: Fn(Attempt<'_>) -> Action + Send + Sync + 'static,
    {
        Self {
            inner: LayerPolicy::custom(move |attempt| {
                let urls = attempt
                    .previous()
                    .iter()
                    .chain([attempt.current()])
                    .map(to_url)
                    .collect::<Option<Vec<Url>>>();
                match (urls, to_url(attempt.next())) {
                    (Some(previous), Some(next)) => policy(Attempt {
                        status: attempt.status(),
                        next: &next,
                        previous: &previous,
                    }),
                    // The layer resolves every `Location` to an absolute http(s) URI, which
                    // always parses; this is a safety net, not a path taken.
                    _ => attempt.error("redirect URI is not a URL"),
                }
            }),
        }
    }

    /// The redirect layer's policy, for a stack built by hand.
    pub fn into_layer_policy(self) -> LayerPolicy {
        self.inner
    }
}

impl From<Policy> for LayerPolicy {
    fn from(policy: Policy) -> Self {
        policy.inner
    }
}

fn to_url(uri: &Uri) -> Option<Url> {
    Url::parse(&uri.to_string()).ok()
}

/// One redirect a [`Policy::custom`] closure decides about.
pub struct Attempt<'a> {
    status: StatusCode,
    next: &'a Url,
    previous: &'a [Url],
}

impl<'a> Attempt<'a> {
    /// The redirect status: 301, 302, 303, 307 or 308.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Where the redirect points: its `Location`, resolved.
    pub fn url(&self) -> &'a Url {
        self.next
    }

    /// The URLs visited so far, oldest first: the request's, then each redirect's; the last
    /// is the one that answered with this redirect, so the slice is never empty.
    pub fn previous(&self) -> &'a [Url] {
        self.previous
    }

    /// Follows the redirect.
    pub fn follow(self) -> Action {
        Action::follow()
    }

    /// Stops: the redirect response is returned to the caller.
    pub fn stop(self) -> Action {
        Action::stop()
    }

    /// Fails the request with `error` (a redirect error, [`Error::is_redirect`](crate::Error::is_redirect)).
    pub fn error<E: Into<BoxError>>(self, error: E) -> Action {
        Action::error(error)
    }
}

impl fmt::Debug for Attempt<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // URLs may carry secrets in their query: show only the shape.
        f.debug_struct("Attempt")
            .field("status", &self.status)
            .field("next_host", &self.next.host_str())
            .field("previous", &self.previous.len())
            .finish()
    }
}
