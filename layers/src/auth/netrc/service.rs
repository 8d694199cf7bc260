//! [`NetrcLayer`], the [`NetrcAuth`] service and its [`ResponseFuture`].

use std::{
    fmt,
    future::Future,
    mem,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use http::{
    HeaderMap, HeaderValue, Request, Response, StatusCode,
    header::{AUTHORIZATION, WWW_AUTHENTICATE},
    uri::Scheme,
};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use towline_core::RequestHead;

use super::Netrc;
use crate::{
    BoxError,
    auth::{NetrcAuthorization, NetrcCredentials, Origin, is_loopback, parse_challenges},
    resend::{Drain, Kept, PolledAfterCompletion, ResendBody},
};

/// The replay cap of the netrc layer's own recordings, unless set: 64 KiB.
pub const DEFAULT_MAX_REPLAY_BYTES: usize = 64 * 1024;

/// Authenticates requests with the credentials of a [`Netrc`]; builds [`NetrcAuth`]
/// services. See the [module documentation](super).
#[derive(Clone)]
pub struct NetrcLayer {
    netrc: Arc<Netrc>,
    max_replay_bytes: usize,
}

impl NetrcLayer {
    /// A layer answering with `netrc`'s entries.
    pub fn new(netrc: Netrc) -> Self {
        Self {
            netrc: Arc::new(netrc),
            max_replay_bytes: DEFAULT_MAX_REPLAY_BYTES,
        }
    }

    /// How many bytes of a request body this layer records to send it again with Basic
    /// credentials after a `401` ([`DEFAULT_MAX_REPLAY_BYTES`] unless set). A longer body
    /// is not sent again: the `401` is returned.
    pub fn max_replay_bytes(mut self, max: usize) -> Self {
        self.max_replay_bytes = max;
        self
    }

    /// The netrc entries.
    pub fn netrc(&self) -> &Netrc {
        &self.netrc
    }
}

impl<S> Layer<S> for NetrcLayer {
    type Service = NetrcAuth<S>;

    fn layer(&self, inner: S) -> NetrcAuth<S> {
        NetrcAuth {
            inner,
            layer: self.clone(),
        }
    }
}

impl fmt::Debug for NetrcLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetrcLayer")
            .field("netrc", &self.netrc)
            .field("max_replay_bytes", &self.max_replay_bytes)
            .finish()
    }
}

/// Middleware adding netrc credentials; built by [`NetrcLayer`].
///
/// It takes `Request<ResendBody<B>>` and hands its inner service the same type (see
/// [`resend`](crate::resend)).
#[derive(Clone)]
pub struct NetrcAuth<S> {
    inner: S,
    layer: NetrcLayer,
}

impl<S> NetrcAuth<S> {
    /// Returns a reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Returns a mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the middleware, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for NetrcAuth<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetrcAuth")
            .field("inner", &self.inner)
            .field("layer", &self.layer)
            .finish()
    }
}

impl<S, B, ResB> Service<Request<ResendBody<B>>> for NetrcAuth<S>
where
    S: Service<Request<ResendBody<B>>, Response = Response<ResB>> + Clone,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
    ResB: Body,
{
    type Response = Response<ResB>;
    type Error = BoxError;
    type Future = ResponseFuture<S, B, ResB>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<ResendBody<B>>) -> Self::Future {
        let uri = request.uri();
        // A caller's header and credentials in the URL win.
        let userinfo = uri.authority().is_some_and(|a| a.as_str().contains('@'));
        let found = match uri.host() {
            Some(host) if !userinfo && !request.headers().contains_key(AUTHORIZATION) => self
                .layer
                .netrc
                .machine(host)
                .map(|entry| (entry, true))
                .or_else(|| self.layer.netrc.default_entry().map(|entry| (entry, false))),
            _ => None,
        };
        let Some((entry, machine)) = found else {
            return ResponseFuture::passthrough(self.inner.call(request));
        };
        let Some(origin) = Origin::of(uri) else {
            return ResponseFuture::passthrough(self.inner.call(request));
        };
        // Basic goes out before any challenge only to a named machine, and only where it
        // cannot be read on the way: over https, or to this host.
        let preemptive =
            machine && (uri.scheme() == Some(&Scheme::HTTPS) || is_loopback(origin.host()));
        let basic = entry.basic().clone();
        request.extensions_mut().insert(NetrcCredentials {
            credentials: Arc::clone(entry.shared_credentials()),
            origin,
        });
        if preemptive {
            request.headers_mut().insert(AUTHORIZATION, basic);
            request.extensions_mut().insert(NetrcAuthorization);
            return ResponseFuture::passthrough(self.inner.call(request));
        }

        let (parts, body) = request.into_parts();
        let (body, kept) = body.keep(self.layer.max_replay_bytes);
        let head = RequestHead::from_parts(&parts);
        let clone = self.inner.clone();
        let mut service = mem::replace(&mut self.inner, clone);
        let future = service.call(Request::from_parts(parts, body));
        ResponseFuture {
            state: State::Sending { future },
            answering: Some(Box::new(Answering {
                service,
                head,
                body: kept,
                basic,
                next: None,
            })),
        }
    }
}

type InnerFuture<S, B> = <S as Service<Request<ResendBody<B>>>>::Future;

pin_project! {
    // Never `Unpin`: proving a nested stack's future `Unpin` (which optimised builds ask,
    // to mark `&mut` arguments `noalias`) would otherwise walk every layer below this one,
    // past the compiler's recursion limit in the `towline` client's stack.
    #[project(!Unpin)]
    /// Response future of [`NetrcAuth`]: sends the request and, when a `401` asks for Basic
    /// only and the credentials were not sent yet, drains it and sends the request again
    /// with them.
    pub struct ResponseFuture<S, B, ResB>
    where
        S: Service<Request<ResendBody<B>>>,
    {
        #[pin]
        state: State<InnerFuture<S, B>, ResB>,
        answering: Option<Box<Answering<S, B>>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, ResB> {
        Sending { #[pin] future: F },
        Draining { #[pin] drain: Drain<ResB> },
        Readying,
        Done,
    }
}

/// The state of a request that may be answered with Basic after a `401`.
struct Answering<S, B> {
    service: S,
    head: RequestHead,
    body: Kept<B>,
    basic: HeaderValue,
    next: Option<Request<ResendBody<B>>>,
}

impl<S, B: 'static> Answering<S, B> {
    /// Prepares the Basic attempt when `headers` (a `401`'s) ask for Basic and not for
    /// Digest (which a digest layer below answers with the same credentials).
    fn prepare(&mut self, headers: &HeaderMap) -> bool {
        let challenges: Vec<_> = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|value| parse_challenges(value.as_bytes()).ok())
            .flatten()
            .collect();
        let basic = challenges.iter().any(|c| c.is_scheme("Basic"));
        let digest =
            cfg!(feature = "digest-auth") && challenges.iter().any(|c| c.is_scheme("Digest"));
        if !basic || digest {
            return false;
        }
        let Ok(body) = self.body.body() else {
            return false;
        };
        let mut request = self.head.to_request(body);
        request
            .headers_mut()
            .insert(AUTHORIZATION, self.basic.clone());
        request.extensions_mut().insert(NetrcAuthorization);
        self.next = Some(request);
        true
    }
}

impl<S, B, ResB> ResponseFuture<S, B, ResB>
where
    S: Service<Request<ResendBody<B>>>,
{
    fn passthrough(future: InnerFuture<S, B>) -> Self {
        Self {
            state: State::Sending { future },
            answering: None,
        }
    }
}

impl<S, B, ResB> Future for ResponseFuture<S, B, ResB>
where
    S: Service<Request<ResendBody<B>>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    B: 'static,
    ResB: Body,
{
    type Output = Result<Response<ResB>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Sending { future } => {
                    let response = match ready!(future.poll(cx)) {
                        Ok(response) => response,
                        Err(err) => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(err.into()));
                        }
                    };
                    // One Basic attempt at most: the state goes once it is prepared.
                    let answer = response.status() == StatusCode::UNAUTHORIZED
                        && this
                            .answering
                            .as_mut()
                            .is_some_and(|a| a.prepare(response.headers()));
                    if !answer {
                        this.state.set(State::Done);
                        return Poll::Ready(Ok(response));
                    }
                    this.state.set(match Drain::start(response.into_body()) {
                        Some(drain) => State::Draining { drain },
                        None => State::Readying,
                    });
                }
                StateProj::Draining { drain } => {
                    ready!(drain.poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    let Some(answering) = this.answering.as_mut() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(PolledAfterCompletion.into()));
                    };
                    if let Err(err) = ready!(answering.service.poll_ready(cx)) {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(err.into()));
                    }
                    let request = answering.next.take();
                    let future = request.map(|request| answering.service.call(request));
                    *this.answering = None;
                    match future {
                        Some(future) => this.state.set(State::Sending { future }),
                        None => {
                            this.state.set(State::Done);
                            return Poll::Ready(Err(PolledAfterCompletion.into()));
                        }
                    }
                }
                StateProj::Done => return Poll::Ready(Err(PolledAfterCompletion.into())),
            }
        }
    }
}

impl<S, B, ResB> fmt::Debug for ResponseFuture<S, B, ResB>
where
    S: Service<Request<ResendBody<B>>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Sending { .. } => "sending",
            State::Draining { .. } => "draining",
            State::Readying => "readying",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
