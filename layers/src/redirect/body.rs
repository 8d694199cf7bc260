//! [`RedirectBody`], the request body the [`Redirect`](super::Redirect) service sends.

/// The request body of every request the [`Redirect`](super::Redirect) service sends to its
/// inner service: the caller's body as it is when no redirect can need it again; wrapped in a
/// [`ReplayBody`](crate::replay::ReplayBody) so that a 301, 302, 307 or 308 can send it again;
/// or empty, for a redirect that drops the body (or when the original body was empty). See
/// [`ResendBody`](crate::resend::ResendBody), which the retry layer sends as well.
pub type RedirectBody<B> = crate::resend::ResendBody<B>;
