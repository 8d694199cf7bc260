//! Request and response extensions shared by layers and the facade.

use http::{StatusCode, Uri};

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

/// Told of every redirect a redirect layer follows for the request that carries it.
///
/// A layer above a redirect layer that wants to know about each hop (the trace layer
/// records a `following redirect` event in the request's span) inserts one into the
/// request's extensions; the redirect layer calls [`redirected`](Self::redirected) for every
/// hop it follows, with the URI that answered, where it sends the request next, and the
/// redirect's status. Because it travels with the request, it works whatever sits between
/// the two layers (a `Buffer`, a spawned task). Inserting one replaces any earlier one: the
/// innermost layer above the redirect layer is told.
///
/// Cloning it clones an [`Arc`](std::sync::Arc).
///
/// ```
/// use http::{Request, StatusCode, Uri};
/// use towline_layers::extensions::RedirectObserver;
///
/// let mut request = Request::new(());
/// request
///     .extensions_mut()
///     .insert(RedirectObserver::new(|from: &Uri, to: &Uri, status: StatusCode| {
///         println!("{status}: {from} -> {to}");
///     }));
/// ```
#[derive(Clone)]
pub struct RedirectObserver(std::sync::Arc<ObserveRedirect>);

/// What a [`RedirectObserver`] calls: `(from, to, status)`.
type ObserveRedirect = dyn Fn(&Uri, &Uri, StatusCode) + Send + Sync;

impl RedirectObserver {
    /// An observer calling `observe(from, to, status)` for each followed redirect.
    pub fn new(observe: impl Fn(&Uri, &Uri, StatusCode) + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(observe))
    }

    /// Reports that the request to `from` answered `status` and is followed to `to`.
    pub fn redirected(&self, from: &Uri, to: &Uri, status: StatusCode) {
        (self.0)(from, to, status);
    }
}

impl std::fmt::Debug for RedirectObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedirectObserver").finish_non_exhaustive()
    }
}
