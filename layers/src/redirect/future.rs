//! The [`ResponseFuture`] of the [`Redirect`](super::Redirect) service, and the per-request
//! state it carries from hop to hop.

use std::{
    fmt,
    future::Future,
    mem,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use http::{
    Request, Response, Uri,
    header::{LOCATION, REFERER},
};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;
use towline_core::RequestHead;

use super::{
    Fragment, RedirectError, RedirectErrorKind, RedirectHistory,
    layer::Config,
    location::{
        Resolved, is_http, is_https, is_redirect, next_method, referer, resolve, same_origin,
        strip_body_headers, strip_credentials,
    },
    policy::{ActionKind, Attempt},
};
use crate::{
    BoxError, CrossOriginRedirect, EffectiveUri, RedirectObserver, RedirectResponse, ResendCount,
    resend::{Drain, Kept, PolledAfterCompletion, ResendBody},
};

type InnerFuture<S, ReqB> = <S as Service<Request<ResendBody<ReqB>>>>::Future;

pin_project! {
    /// Response future of [`Redirect`](super::Redirect): sends the request, and as long as
    /// the policy says so, drains each redirect response and sends the next hop.
    ///
    /// Without a redirect it only polls the inner future. Each followed hop drains the
    /// previous response's body (up to
    /// [`MAX_DRAIN_BYTES`](crate::resend::MAX_DRAIN_BYTES)), readies the inner service and
    /// calls it again; no future is boxed.
    pub struct ResponseFuture<S, ReqB, ResB>
    where
        S: Service<Request<ResendBody<ReqB>>>,
    {
        #[pin]
        state: State<InnerFuture<S, ReqB>, ResB, ReqB>,
        hops: Hops<S, ReqB>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, ResB, ReqB> {
        // Waiting for the inner service's response.
        Calling {
            #[pin]
            future: F,
        },
        // Reading the redirect response's body to its end (capped) before the next hop.
        Draining {
            #[pin]
            drain: Drain<ResB>,
            next: Option<Request<ResendBody<ReqB>>>,
        },
        // Waiting for the inner service to be ready for the next hop.
        Readying {
            next: Option<Request<ResendBody<ReqB>>>,
        },
        // The future has returned its output.
        Done,
    }
}

/// The per-request state that carries from hop to hop.
pub(super) struct Hops<S, B> {
    config: Arc<Config>,
    /// The URI of the request in flight.
    current: Uri,
    /// The fragment in effect for `current` (an `http::Uri` cannot hold one).
    fragment: Option<String>,
    /// The URIs that answered with redirects that were followed, oldest first.
    history: Vec<Uri>,
    /// What the next hop is built from; `None` under `Policy::none()`, which never follows.
    follow: Option<Follow<S, B>>,
}

/// The request as the next hop will send it, and the service that sends it.
pub(super) struct Follow<S, B> {
    pub(super) service: S,
    /// The next hop's head, but for its URI: the URI of the request in flight is
    /// `Hops::current`, and each hop's comes from its `Location`.
    pub(super) head: RequestHead,
    pub(super) body: Kept<B>,
}

/// What to do with a response.
enum Step<ResB, ReqB> {
    /// Hand it to the caller.
    Done(Response<ResB>),
    /// Drain `body`, then send `next`.
    Follow {
        body: ResB,
        next: Request<ResendBody<ReqB>>,
    },
}

impl<S, B: 'static> Hops<S, B> {
    pub(super) fn new(
        config: Arc<Config>,
        current: Uri,
        fragment: Option<String>,
        follow: Option<Follow<S, B>>,
    ) -> Self {
        Self {
            config,
            current,
            fragment,
            history: Vec::new(),
            follow,
        }
    }

    /// Decides what a response from the inner service leads to.
    fn on_response<ResB>(&mut self, response: Response<ResB>) -> Result<Step<ResB, B>, BoxError> {
        // A layer below may have sent the request elsewhere (HSTS upgrades http to https);
        // Location, origin checks, Referer and the final URI all start from where it went.
        if let Some(EffectiveUri(uri)) = response.extensions().get::<EffectiveUri>() {
            self.current = uri.clone();
        }
        let status = response.status();
        let Some(follow) = self.follow.as_ref() else {
            return Ok(Step::Done(self.finish(response)));
        };
        if !is_redirect(status) {
            return Ok(Step::Done(self.finish(response)));
        }
        let Some(location) = response.headers().get(LOCATION) else {
            return Ok(Step::Done(self.finish(response)));
        };
        let Some(Resolved { uri, fragment }) =
            resolve(&self.current, self.fragment.as_deref(), location.as_bytes())
        else {
            return Err(self.fail(RedirectErrorKind::InvalidLocation, None, None));
        };

        let action = self.config.policy.redirect(Attempt {
            status,
            method: &follow.head.method,
            current: &self.current,
            next: &uri,
            headers: response.headers(),
            previous: &self.history,
        });
        match action.kind {
            ActionKind::Follow => {}
            ActionKind::Stop => return Ok(Step::Done(self.finish(response))),
            ActionKind::TooManyRedirects => {
                return Err(self.fail(RedirectErrorKind::TooManyRedirects, Some(uri), None));
            }
            ActionKind::Error(err) => {
                return Err(self.fail(RedirectErrorKind::Policy, Some(uri), Some(err)));
            }
        }
        if !is_http(&uri) {
            return Err(self.fail(RedirectErrorKind::UnsupportedScheme, Some(uri), None));
        }
        if self.config.https_only && !is_https(&uri) {
            return Err(self.fail(RedirectErrorKind::InsecureRedirect, Some(uri), None));
        }

        let (method, keep_body) = next_method(status, &follow.head.method, self.config.keep_post);
        let body = if keep_body {
            match follow.body.body() {
                Ok(body) => body,
                Err(err) => {
                    return Err(self.fail(
                        RedirectErrorKind::BodyNotReplayable,
                        Some(uri),
                        Some(err.into()),
                    ));
                }
            }
        } else {
            ResendBody::empty()
        };

        let Some(follow) = self.follow.as_mut() else {
            return Ok(Step::Done(self.finish(response)));
        };
        if !keep_body {
            // Free what was recorded of the body: no later hop can send it.
            follow.body = Kept::Empty;
            strip_body_headers(&mut follow.head.headers);
        }
        follow.head.method = method;
        if !same_origin(&self.current, &uri) {
            // Once removed, credentials stay removed, even if a later hop comes back; the
            // marker tells layers below that hold credentials of their own.
            strip_credentials(&mut follow.head.headers);
            follow.head.extensions.insert(CrossOriginRedirect);
        }
        if self.config.referer {
            match referer(&self.current, &uri) {
                Some(value) => {
                    follow.head.headers.insert(REFERER, value);
                }
                None => {
                    follow.head.headers.remove(REFERER);
                }
            }
        }

        // A layer above (e.g. the trace layer) asked to be told of each hop.
        if let Some(observer) = follow.head.extensions.get::<RedirectObserver>() {
            observer.redirected(&self.current, &uri, status);
            observer.response(&RedirectResponse {
                uri: &self.current,
                location: &uri,
                status,
                version: response.version(),
                headers: response.headers(),
            });
        }

        // The next hop counts on from the send that answered: a retry layer below may have
        // sent this hop more than once, and says so on its response.
        let answered = response
            .extensions()
            .get::<ResendCount>()
            .map_or_else(|| ResendCount::of(&follow.head.extensions), |count| count.0);
        follow
            .head
            .extensions
            .insert(ResendCount(answered.saturating_add(1)));

        let mut next = follow.body.request(&follow.head, body);
        *next.uri_mut() = uri.clone();

        let previous = mem::replace(&mut self.current, uri);
        self.history.push(previous);
        self.fragment = fragment;
        Ok(Step::Follow {
            body: response.into_body(),
            next,
        })
    }

    /// Marks a redirected response with the URI it came from and the redirects that led
    /// there. A response that was not redirected is left as it is: its URI is the request's
    /// (or the one a layer below recorded), and two extension inserts per request are saved.
    fn finish<ResB>(&mut self, mut response: Response<ResB>) -> Response<ResB> {
        // Release the recorded request body and the service clone now.
        let follow = self.follow.take();
        let extensions = response.extensions_mut();
        if !self.history.is_empty() {
            if extensions.get::<ResendCount>().is_none()
                && let Some(follow) = follow
            {
                extensions.insert(ResendCount(ResendCount::of(&follow.head.extensions)));
            }
            extensions.insert(EffectiveUri(mem::take(&mut self.current)));
            extensions.insert(RedirectHistory(mem::take(&mut self.history)));
        }
        if let Some(fragment) = self.fragment.take() {
            extensions.insert(Fragment(fragment));
        }
        response
    }

    /// Builds the error for a redirect from `current` that cannot be followed.
    fn fail(
        &mut self,
        kind: RedirectErrorKind,
        location: Option<Uri>,
        source: Option<BoxError>,
    ) -> BoxError {
        self.follow = None;
        let mut history = mem::take(&mut self.history);
        history.push(mem::take(&mut self.current));
        Box::new(RedirectError::new(kind, history, location, source))
    }
}

impl<S, ReqB, ResB> ResponseFuture<S, ReqB, ResB>
where
    S: Service<Request<ResendBody<ReqB>>>,
{
    pub(super) fn new(future: InnerFuture<S, ReqB>, hops: Hops<S, ReqB>) -> Self {
        Self {
            state: State::Calling { future },
            hops,
        }
    }
}

impl<S, ReqB, ResB> Future for ResponseFuture<S, ReqB, ResB>
where
    S: Service<Request<ResendBody<ReqB>>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    ReqB: 'static,
    ResB: Body,
{
    type Output = Result<Response<ResB>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Calling { future } => {
                    let polled = ready!(future.poll(cx));
                    let step = polled
                        .map_err(Into::into)
                        .and_then(|response| this.hops.on_response(response));
                    match step {
                        Ok(Step::Follow { body, next }) => {
                            let next = Some(next);
                            this.state.set(match Drain::start(body) {
                                Some(drain) => State::Draining { drain, next },
                                None => State::Readying { next },
                            });
                        }
                        Ok(Step::Done(response)) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(response));
                        }
                        Err(err) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(err));
                        }
                    }
                }
                StateProj::Draining { drain, next } => {
                    ready!(drain.poll(cx));
                    let next = next.take();
                    this.state.set(State::Readying { next });
                }
                StateProj::Readying { next } => {
                    let Some(follow) = this.hops.follow.as_mut() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(PolledAfterCompletion.into()));
                    };
                    if let Err(err) = ready!(follow.service.poll_ready(cx)) {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(err.into()));
                    }
                    let Some(request) = next.take() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(PolledAfterCompletion.into()));
                    };
                    let future = follow.service.call(request);
                    this.state.set(State::Calling { future });
                }
                StateProj::Done => return Poll::Ready(Err(PolledAfterCompletion.into())),
            }
        }
    }
}

impl<S, ReqB, ResB> fmt::Debug for ResponseFuture<S, ReqB, ResB>
where
    S: Service<Request<ResendBody<ReqB>>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Calling { .. } => "calling",
            State::Draining { .. } => "draining",
            State::Readying { .. } => "readying",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field("hops", &self.hops.history.len())
            .finish_non_exhaustive()
    }
}
