//! The error the [`Redirect`](super::Redirect) service raises.

use std::{error::Error, fmt};

use http::Uri;

use crate::BoxError;

/// Why a redirect could not be followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RedirectErrorKind {
    /// A [`Policy::limited`](super::Policy::limited) policy (or a custom one, through
    /// [`Attempt::too_many_redirects`](super::Attempt::too_many_redirects)) refused one
    /// redirect more.
    TooManyRedirects,
    /// A custom policy returned [`Attempt::error`](super::Attempt::error); its error is the
    /// [`source`](Error::source).
    Policy,
    /// The `Location` header could not be resolved to a URI.
    InvalidLocation,
    /// The `Location` points to a scheme other than `http` or `https`.
    UnsupportedScheme,
    /// The layer is [`https_only`](super::RedirectLayer::https_only) and the redirect
    /// points to `http`.
    InsecureRedirect,
    /// A 301, 302, 307 or 308 keeps the request body, and the body cannot be sent again:
    /// it outgrew the replay cap or reading it failed. The
    /// [`ReplayError`](crate::replay::ReplayError) is the [`source`](Error::source).
    BodyNotReplayable,
}

impl RedirectErrorKind {
    fn describe(self) -> &'static str {
        match self {
            Self::TooManyRedirects => "too many redirects",
            Self::Policy => "the redirect policy refused a redirect",
            Self::InvalidLocation => "the redirect's Location header is not a valid URI",
            Self::UnsupportedScheme => "the redirect points to a scheme other than http or https",
            Self::InsecureRedirect => "https_only refuses a redirect to http",
            Self::BodyNotReplayable => {
                "the redirect must send the request body again, and it cannot be replayed"
            }
        }
    }
}

impl fmt::Display for RedirectErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// A redirect could not be followed.
///
/// It carries the redirect chain up to the failure: [`history`](Self::history) lists every
/// URI that answered with a redirect, oldest first — the original request's URI, then each
/// hop, ending with the URI whose redirect failed — and [`location`](Self::location) is where
/// that last redirect pointed, when its `Location` could be resolved.
///
/// Its `Display` names the kind and the number of redirects, never a URI (URIs may carry
/// credentials or secrets in their query).
pub struct RedirectError {
    kind: RedirectErrorKind,
    history: Vec<Uri>,
    location: Option<Uri>,
    source: Option<BoxError>,
}

impl RedirectError {
    pub(super) fn new(
        kind: RedirectErrorKind,
        history: Vec<Uri>,
        location: Option<Uri>,
        source: Option<BoxError>,
    ) -> Self {
        Self {
            kind,
            history,
            location,
            source,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> RedirectErrorKind {
        self.kind
    }

    /// Every URI that answered with a redirect, oldest first, ending with the one whose
    /// redirect failed. Its length minus one is the number of redirects that were followed.
    pub fn history(&self) -> &[Uri] {
        &self.history
    }

    /// Takes the history out of the error.
    pub fn into_history(self) -> Vec<Uri> {
        self.history
    }

    /// Where the failed redirect pointed, when its `Location` could be resolved.
    pub fn location(&self) -> Option<&Uri> {
        self.location.as_ref()
    }

    /// Whether this is a [`TooManyRedirects`](RedirectErrorKind::TooManyRedirects) error.
    pub fn is_too_many_redirects(&self) -> bool {
        self.kind == RedirectErrorKind::TooManyRedirects
    }
}

impl fmt::Display for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let followed = self.history.len().saturating_sub(1);
        let plural = if followed == 1 { "" } else { "s" };
        write!(
            f,
            "{} (after following {followed} redirect{plural})",
            self.kind
        )
    }
}

impl fmt::Debug for RedirectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No URIs: they may carry credentials or secrets in their query.
        f.debug_struct("RedirectError")
            .field("kind", &self.kind)
            .field("history_len", &self.history.len())
            .field("location_host", &self.location.as_ref().and_then(Uri::host))
            .field("source", &self.source)
            .finish()
    }
}

impl Error for RedirectError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| -> &(dyn Error + 'static) { source })
    }
}
