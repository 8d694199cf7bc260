//! The [`ResponseFuture`] of the [`Redirect`](super::Redirect) service, and the per-request
//! state it carries from hop to hop.

use std::{
    fmt,
    future::Future,
    mem,
    pin::Pin,
    task::{Context, Poll, ready},
};

use crate::resend::poll_drain;
use http::{
    Extensions, HeaderMap, Method, Request, Response, Uri, Version,
    header::{LOCATION, REFERER},
};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{
    Fragment, RedirectBody, RedirectError, RedirectErrorKind, RedirectHistory,
    layer::Config,
    location::{
        Resolved, is_http, is_https, is_redirect, next_method, referer, resolve, same_origin,
        strip_body_headers, strip_credentials,
    },
    policy::{ActionKind, Attempt},
};
use crate::{
    BoxError, EffectiveUri, RedirectObserver,
    replay::{ReplayBody, ReplayError},
};
use std::sync::Arc;

/// How much of a redirect response's body is read (and discarded) before the next hop, so
/// that its HTTP/1 connection can go back to the pool. A longer body is dropped unread,
/// which closes its connection.
pub const MAX_DRAIN_BYTES: usize = 64 * 1024;

type InnerFuture<S, ReqB> = <S as Service<Request<RedirectBody<ReqB>>>>::Future;

pin_project! {
    /// Response future of [`Redirect`](super::Redirect): sends the request, and as long as
    /// the policy says so, drains each redirect response and sends the next hop.
    ///
    /// Without a redirect it only polls the inner future. Each followed hop drains the
    /// previous response's body (up to [`MAX_DRAIN_BYTES`]), readies the inner service and
    /// calls it again; no future is boxed.
    pub struct ResponseFuture<S, ReqB, ResB>
    where
        S: Service<Request<RedirectBody<ReqB>>>,
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
            body: ResB,
            drained: usize,
            next: Option<Request<RedirectBody<ReqB>>>,
        },
        // Waiting for the inner service to be ready for the next hop.
        Readying {
            next: Option<Request<RedirectBody<ReqB>>>,
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
    pub(super) method: Method,
    pub(super) version: Version,
    pub(super) headers: HeaderMap,
    pub(super) extensions: Extensions,
    pub(super) body: Kept<B>,
}

/// The handle a redirect that keeps the request body sends it again from.
pub(super) enum Kept<B> {
    /// A never-polled clone of the body being sent; each hop takes a fresh clone from it.
    Replay(ReplayBody<B>),
    /// The body is empty (or a redirect dropped it).
    Empty,
    /// The body could not be recorded from the start (its size is known to exceed the cap).
    Unreplayable(ReplayError),
}

impl<B> Kept<B> {
    fn replay(&self) -> Result<RedirectBody<B>, ReplayError> {
        match self {
            Self::Replay(body) => body.try_clone().map(RedirectBody::replay),
            Self::Empty => Ok(RedirectBody::empty()),
            Self::Unreplayable(err) => Err(err.clone()),
        }
    }
}

/// What to do with a response.
enum Step<ResB, ReqB> {
    /// Hand it to the caller.
    Done(Response<ResB>),
    /// Drain `body`, then send `next`.
    Follow {
        body: ResB,
        next: Request<RedirectBody<ReqB>>,
    },
}

impl<S, B> Hops<S, B> {
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
            method: &follow.method,
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

        let (method, keep_body) = next_method(status, &follow.method);
        let body = if keep_body {
            match follow.body.replay() {
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
            RedirectBody::empty()
        };

        let Some(follow) = self.follow.as_mut() else {
            return Ok(Step::Done(self.finish(response)));
        };
        if !keep_body {
            // Free what was recorded of the body: no later hop can send it.
            follow.body = Kept::Empty;
            strip_body_headers(&mut follow.headers);
        }
        follow.method = method;
        if !same_origin(&self.current, &uri) {
            // Once removed, credentials stay removed, even if a later hop comes back.
            strip_credentials(&mut follow.headers);
        }
        if self.config.referer {
            match referer(&self.current, &uri) {
                Some(value) => {
                    follow.headers.insert(REFERER, value);
                }
                None => {
                    follow.headers.remove(REFERER);
                }
            }
        }

        // A layer above (e.g. the trace layer) asked to be told of each hop.
        if let Some(observer) = follow.extensions.get::<RedirectObserver>() {
            observer.redirected(&self.current, &uri, status);
        }

        let mut next = Request::new(body);
        *next.method_mut() = follow.method.clone();
        *next.uri_mut() = uri.clone();
        *next.version_mut() = follow.version;
        *next.headers_mut() = follow.headers.clone();
        *next.extensions_mut() = follow.extensions.clone();

        let previous = mem::replace(&mut self.current, uri);
        self.history.push(previous);
        self.fragment = fragment;
        Ok(Step::Follow {
            body: response.into_body(),
            next,
        })
    }

    /// Marks the final response with the URI it came from and the redirects that led there.
    fn finish<ResB>(&mut self, mut response: Response<ResB>) -> Response<ResB> {
        // Release the recorded request body and the service clone now.
        self.follow = None;
        let extensions = response.extensions_mut();
        extensions.insert(EffectiveUri(mem::take(&mut self.current)));
        extensions.insert(RedirectHistory(mem::take(&mut self.history)));
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
    S: Service<Request<RedirectBody<ReqB>>>,
{
    pub(super) fn new(future: InnerFuture<S, ReqB>, hops: Hops<S, ReqB>) -> Self {
        Self {
            state: State::Calling { future },
            hops,
        }
    }
}

/// The error of a [`ResponseFuture`] polled again after it completed.
#[derive(Debug)]
struct PolledAfterCompletion;

impl fmt::Display for PolledAfterCompletion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redirect response future polled after it completed")
    }
}

impl std::error::Error for PolledAfterCompletion {}

impl<S, ReqB, ResB> Future for ResponseFuture<S, ReqB, ResB>
where
    S: Service<Request<RedirectBody<ReqB>>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
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
                            if body.is_end_stream()
                                || body.size_hint().lower() > len_u64(MAX_DRAIN_BYTES)
                            {
                                // Nothing to read, or too much: drop the body now.
                                this.state.set(State::Readying { next: Some(next) });
                            } else {
                                this.state.set(State::Draining {
                                    body,
                                    drained: 0,
                                    next: Some(next),
                                });
                            }
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
                StateProj::Draining {
                    body,
                    drained,
                    next,
                } => {
                    ready!(poll_drain(body, drained, MAX_DRAIN_BYTES, cx));
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

fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

impl<S, ReqB, ResB> fmt::Debug for ResponseFuture<S, ReqB, ResB>
where
    S: Service<Request<RedirectBody<ReqB>>>,
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
