//! Request and response extensions shared by layers and the facade.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderMap, StatusCode, Uri, Version};

/// The URI a response finally came from. Layers that send a request somewhere other than
/// where it was addressed (redirects) insert it into the response's extensions; the
/// facade's `Response::url` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EffectiveUri(pub Uri);

/// Marks a request that a redirect layer sent on to another origin than the one it was
/// addressed to: the redirect layer inserts it into the extensions of that hop and of every
/// later one (like the credentials it strips, it stays, even if a later hop comes back).
///
/// Layers below that hold credentials of their own do not use them for such a request (the
/// digest layer's client-wide credentials), so credentials never follow a redirect to another
/// origin; credentials bound to an origin, or found per host, are not affected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrossOriginRedirect;

/// The instant by which the whole exchange must be over, as measured by the layers'
/// [`SharedTimer`](crate::time::SharedTimer).
///
/// The timeout layer inserts it into the request's extensions when the request has a total
/// timeout (`now + total`, from its timer's `now()`), so layers below it can plan around the
/// deadline: the retry layer never waits for a retry that would start after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(pub std::time::Instant);

/// Tells the layers under a retry layer that an attempt was given up because its attempt
/// timeout elapsed.
///
/// When an attempt timeout applies, the retry layer puts a fresh flag in the request of each
/// attempt and raises it just before it drops the attempt's future. A layer below whose future
/// is dropped mid-request can then tell a timed-out attempt from a caller that gave up: the
/// OpenTelemetry layer labels the attempt's span `timeout` rather than `cancelled`. Clones
/// share the flag.
#[derive(Clone, Debug, Default)]
pub struct AttemptTimedOut(Arc<AtomicBool>);

impl AttemptTimedOut {
    /// A flag not raised yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises the flag: the attempt's time is up.
    pub fn raise(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether the attempt's time was up.
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// How many times the logical request was sent before this send: 0 (or absent) on the first
/// send, 1 on the first re-send, and so on, whatever made each re-send (a retry, a redirect
/// hop, an authentication challenge).
///
/// It is OpenTelemetry's `http.request.resend_count`, which the OpenTelemetry layer records on
/// each attempt's span, and it is free when no request is sent again: the first send carries
/// none.
///
/// The layers that send a request again keep it, so a layer below them all sees the total:
/// - as a **request** extension, a re-sending layer puts `ResendCount(n)` in the request of
///   each send after the first, `n` counting on from the count the request it received
///   carried (a redirect hop under a retry, or a retry under a redirect, adds to the other's
///   count);
/// - as a **response** extension, a re-sending layer that sent a request again leaves the
///   count of the send that answered on the response it hands on, so a re-sending layer
///   above it counts the re-sends made below it: after a hop that was retried twice, a
///   redirect layer's next hop is re-send 3, not 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResendCount(pub u32);

impl ResendCount {
    /// The count `extensions` carry, 0 when they carry none.
    pub fn of(extensions: &http::Extensions) -> u32 {
        extensions.get::<Self>().map_or(0, |count| count.0)
    }
}

/// Told of every redirect a redirect layer follows for the request that carries it.
///
/// A layer above a redirect layer that wants to know about each hop (the trace layer
/// records a `following redirect` event in the request's span) inserts one into the
/// request's extensions; the redirect layer calls [`redirected`](Self::redirected) for every
/// hop it follows, with the URI that answered, where it sends the request next, and the
/// redirect's status, and then [`response`](Self::response) with the redirect response's
/// head. Because it travels with the request, it works whatever sits between the two layers
/// (a `Buffer`, a spawned task). Inserting one replaces any earlier one: the innermost layer
/// above the redirect layer is told.
///
/// Cloning it clones an [`Arc`].
///
/// ```
/// use http::{Request, StatusCode, Uri};
/// use towline_layers::extensions::{RedirectObserver, RedirectResponse};
///
/// let mut request = Request::new(());
/// request
///     .extensions_mut()
///     .insert(RedirectObserver::new(|from: &Uri, to: &Uri, status: StatusCode| {
///         println!("{status}: {from} -> {to}");
///     }));
///
/// // Or see each redirect response's head (curl's `-i -L` prints them all).
/// let heads = RedirectObserver::responses(|response: &RedirectResponse<'_>| {
///     println!("{:?} {} from {}", response.version, response.status, response.uri);
///     for (name, value) in response.headers {
///         println!("{name}: {value:?}");
///     }
/// });
/// request.extensions_mut().insert(heads);
/// ```
#[derive(Clone)]
pub struct RedirectObserver {
    redirected: Option<Arc<ObserveRedirect>>,
    response: Option<Arc<ObserveResponse>>,
}

/// What [`RedirectObserver::new`] calls: `(from, to, status)`.
type ObserveRedirect = dyn Fn(&Uri, &Uri, StatusCode) + Send + Sync;

/// What [`RedirectObserver::responses`] calls.
type ObserveResponse = dyn Fn(&RedirectResponse<'_>) + Send + Sync;

/// The head of a redirect response that a redirect layer follows, as
/// [`RedirectObserver::responses`] sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct RedirectResponse<'a> {
    /// The URI that answered with the redirect.
    pub uri: &'a Uri,
    /// Where the request is sent next.
    pub location: &'a Uri,
    /// The redirect's status.
    pub status: StatusCode,
    /// The response's HTTP version.
    pub version: Version,
    /// The response's headers.
    pub headers: &'a HeaderMap,
}

impl RedirectObserver {
    /// An observer calling `observe(from, to, status)` for each followed redirect.
    pub fn new(observe: impl Fn(&Uri, &Uri, StatusCode) + Send + Sync + 'static) -> Self {
        Self {
            redirected: Some(Arc::new(observe)),
            response: None,
        }
    }

    /// An observer calling `observe` with the head of each followed redirect's response.
    pub fn responses(observe: impl Fn(&RedirectResponse<'_>) + Send + Sync + 'static) -> Self {
        Self {
            redirected: None,
            response: Some(Arc::new(observe)),
        }
    }

    /// Reports that the request to `from` answered `status` and is followed to `to`.
    pub fn redirected(&self, from: &Uri, to: &Uri, status: StatusCode) {
        if let Some(observe) = &self.redirected {
            observe(from, to, status);
        }
    }

    /// Reports the head of a redirect response that is followed.
    pub fn response(&self, response: &RedirectResponse<'_>) {
        if let Some(observe) = &self.response {
            observe(response);
        }
    }
}

impl std::fmt::Debug for RedirectObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedirectObserver").finish_non_exhaustive()
    }
}
