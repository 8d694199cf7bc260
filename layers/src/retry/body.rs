//! [`RetryBody`], the request body the [`Retry`](super::Retry) service sends.

/// The request body of every request the [`Retry`](super::Retry) service sends to its inner
/// service: the caller's body as it is when no retry is possible for the request (retries
/// off, or a body too large to keep) and on the first attempt of a request with an empty
/// body; wrapped in a [`ReplayBody`](crate::replay::ReplayBody) so that a retry can send it
/// again; or empty, for a retry of a request whose body was empty. See
/// [`ResendBody`](crate::resend::ResendBody), which the redirect layer sends as well.
pub type RetryBody<B> = crate::resend::ResendBody<B>;
