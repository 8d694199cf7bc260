//! The [`ResponseFuture`] of the [`DigestAuth`](super::DigestAuth) service, and the
//! per-request state it carries between attempts.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use bytes::{Buf, Bytes, BytesMut};
use http::{
    HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode,
    header::{AUTHORIZATION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, WWW_AUTHENTICATE},
};
use http_body::Body;
use pin_project_lite::pin_project;
use tower_service::Service;
use towline_core::RequestHead;

use super::{
    DigestAuthLayer,
    algorithm::{Answer, DigestChallenge, Qop, cnonce},
    cache::Server,
};
use crate::{
    BoxError,
    auth::{Credentials, Origin, parse_challenges},
    resend::{Drain, Kept, PolledAfterCompletion, ResendBody},
    sync::lock,
};

type InnerFuture<S, B> = <S as Service<Request<ResendBody<B>>>>::Future;

pin_project! {
    // Never `Unpin`: proving a nested stack's future `Unpin` (which optimised builds ask,
    // to mark `&mut` arguments `noalias`) would otherwise walk every layer below this one,
    // past the compiler's recursion limit in the `towline` client's stack.
    #[project(!Unpin)]
    /// Response future of [`DigestAuth`](super::DigestAuth): sends the request and, when
    /// the origin (`401`) or the proxy (`407`) answers with a Digest challenge it can
    /// answer, drains that response and sends the request again with the answer.
    ///
    /// A request the layer has no credentials for only polls the inner future; the state
    /// of one it may answer is one allocation.
    pub struct ResponseFuture<S, B, ResB>
    where
        S: Service<Request<ResendBody<B>>>,
    {
        #[pin]
        state: State<InnerFuture<S, B>, ResB, B>,
        auth: Option<Box<Authenticating<S, B>>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, ResB, B> {
        // Waiting for the inner service's response.
        Sending { #[pin] future: F },
        // Reading a replay of the request body to hash it for `auth-int`, the challenge's
        // response kept to be returned should that fail.
        Hashing {
            #[pin]
            body: ResendBody<B>,
            read: BytesMut,
            response: Option<Response<ResB>>,
        },
        // Reading the challenge's body before the next attempt.
        Draining { #[pin] drain: Drain<ResB> },
        // Waiting for the inner service to be ready for the next attempt.
        Readying,
        Done,
    }
}

/// One side of the exchange: the origin server (`Authorization`) or the proxy
/// (`Proxy-Authorization`).
pub(super) struct Side {
    credentials: Option<Arc<Credentials>>,
    /// The challenge the current attempt answers, with its qop.
    current: Option<(DigestChallenge, Option<Qop>)>,
    /// Whether `current` came from the cache rather than from this request's challenge.
    preempted: bool,
    /// Whether a challenge to this request was answered.
    answered: bool,
    /// Whether the one extra attempt a `stale=true` challenge allows was used.
    stale_used: bool,
}

impl Side {
    pub(super) fn new(credentials: Option<Arc<Credentials>>) -> Self {
        Self {
            credentials,
            current: None,
            preempted: false,
            answered: false,
            stale_used: false,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Origin,
    Proxy,
}

impl Which {
    fn challenge_header(self) -> HeaderName {
        match self {
            Self::Origin => WWW_AUTHENTICATE,
            Self::Proxy => PROXY_AUTHENTICATE,
        }
    }

    fn answer_header(self) -> HeaderName {
        match self {
            Self::Origin => AUTHORIZATION,
            Self::Proxy => PROXY_AUTHORIZATION,
        }
    }
}

/// The per-request state of a request the layer may answer a challenge for.
pub(super) struct Authenticating<S, B> {
    pub(super) service: S,
    layer: DigestAuthLayer,
    head: RequestHead,
    body: Kept<B>,
    body_buffered: bool,
    /// The request body, once read for `auth-int`.
    body_bytes: Option<Bytes>,
    www: Side,
    proxy: Side,
    next: Option<Request<ResendBody<B>>>,
}

/// What a response leads to.
enum Plan {
    /// Hand it to the caller.
    Return,
    /// Send `next` after draining it.
    Resend,
    /// Read the request body for `auth-int`, then answer.
    Hash,
}

impl<S, B> Authenticating<S, B>
where
    B: 'static,
{
    pub(super) fn new(
        service: S,
        layer: DigestAuthLayer,
        head: RequestHead,
        body: Kept<B>,
        body_buffered: bool,
        www: Side,
        proxy: Side,
    ) -> Self {
        Self {
            service,
            layer,
            head,
            body,
            body_buffered,
            body_bytes: None,
            www,
            proxy,
            next: None,
        }
    }

    fn side(&mut self, which: Which) -> &mut Side {
        match which {
            Which::Origin => &mut self.www,
            Which::Proxy => &mut self.proxy,
        }
    }

    fn server(&self, which: Which) -> Server {
        match which {
            // Built when first needed: a request that meets no challenge never needs it.
            Which::Origin => Origin::of(&self.head.uri),
            Which::Proxy => None,
        }
    }

    /// Adds the answers the cache allows before any challenge to the first attempt.
    pub(super) fn preempt(&mut self, headers: &mut HeaderMap) {
        if lock(&self.layer.cache).is_empty() {
            // No challenge was ever answered: nothing to send at once.
            return;
        }
        for which in [Which::Origin, Which::Proxy] {
            if self.side(which).credentials.is_none() {
                continue;
            }
            let server = self.server(which);
            if which == Which::Origin && server.is_none() {
                continue;
            }
            let cached = lock(&self.layer.cache).preemptive(&server, &self.head.uri);
            let Some(challenge) = cached else { continue };
            // auth-int needs the body before it is sent: preemptively only for an empty one.
            let empty = matches!(self.body, Kept::Empty);
            let qop = match challenge.choose_qop(false) {
                Some(Qop::AuthInt) if !empty => continue,
                Some(Qop::AuthInt) => {
                    self.body_bytes = Some(Bytes::new());
                    Some(Qop::AuthInt)
                }
                qop => qop,
            };
            let side = self.side(which);
            side.current = Some((challenge, qop));
            side.preempted = true;
            if let Some(value) = self.answer(which) {
                headers.insert(which.answer_header(), value);
            } else {
                self.side(which).current = None;
            }
        }
    }

    /// The header answering `which`'s current challenge, with the next `nc`.
    fn answer(&mut self, which: Which) -> Option<HeaderValue> {
        let server = self.server(which);
        let side = match which {
            Which::Origin => &self.www,
            Which::Proxy => &self.proxy,
        };
        let (challenge, qop) = side.current.as_ref()?;
        let credentials = side.credentials.as_deref()?;
        let nc = lock(&self.layer.cache).answer(&server, challenge)?;
        let cnonce = cnonce()?;
        let body_hash = match qop {
            Some(Qop::AuthInt) => Some(
                challenge
                    .algorithm
                    .hash(&[self.body_bytes.as_deref().unwrap_or_default()]),
            ),
            _ => None,
        };
        let uri = self.head.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let value = challenge.authorization(&Answer {
            credentials,
            method: self.head.method.as_str(),
            uri,
            qop: *qop,
            body_hash: body_hash.as_deref(),
            nc,
            cnonce: &cnonce,
        });
        // A user name that is not ASCII, sent as it is to a server that did not offer
        // `charset=UTF-8`, is obs-text: valid in a header, though not a `str` one.
        let mut value = HeaderValue::from_bytes(value.as_bytes()).ok()?;
        value.set_sensitive(true);
        Some(value)
    }

    /// What `response` leads to; on [`Plan::Resend`] the next request is ready.
    fn plan(&mut self, status: StatusCode, headers: &HeaderMap) -> Plan
    where
        B: Body + Send,
        B::Error: Into<BoxError>,
    {
        let which = match status {
            StatusCode::UNAUTHORIZED => Which::Origin,
            StatusCode::PROXY_AUTHENTICATION_REQUIRED => Which::Proxy,
            _ => {
                self.confirm(Which::Origin);
                self.confirm(Which::Proxy);
                return Plan::Return;
            }
        };
        if which == Which::Origin {
            // The request got past the proxy.
            self.confirm(Which::Proxy);
        }
        if self.side(which).credentials.is_none() {
            return Plan::Return;
        }
        let Some(challenge) = best_challenge(headers.get_all(which.challenge_header())) else {
            self.forget_preempted(which);
            return Plan::Return;
        };
        let side = self.side(which);
        if side.answered {
            if !challenge.stale || side.stale_used {
                return Plan::Return;
            }
            side.stale_used = true;
        }
        side.answered = true;
        self.forget_preempted(which);
        let empty = matches!(self.body, Kept::Empty);
        let qop = challenge.choose_qop(self.body_buffered || empty);
        self.side(which).current = Some((challenge, qop));
        if qop == Some(Qop::AuthInt) && self.body_bytes.is_none() {
            if empty {
                self.body_bytes = Some(Bytes::new());
            } else {
                return Plan::Hash;
            }
        }
        self.prepare()
    }

    /// Builds the next attempt, answering every side's current challenge.
    fn prepare(&mut self) -> Plan {
        let Ok(body) = self.body.body() else {
            return Plan::Return;
        };
        let mut request = self.head.to_request(body);
        for which in [Which::Origin, Which::Proxy] {
            if self.side(which).current.is_none() {
                continue;
            }
            let Some(value) = self.answer(which) else {
                return Plan::Return;
            };
            request.headers_mut().insert(which.answer_header(), value);
        }
        self.next = Some(request);
        Plan::Resend
    }

    fn forget_preempted(&mut self, which: Which) {
        let server = self.server(which);
        let side = match which {
            Which::Origin => &mut self.www,
            Which::Proxy => &mut self.proxy,
        };
        if std::mem::take(&mut side.preempted)
            && let Some((challenge, _)) = &side.current
        {
            lock(&self.layer.cache).forget(&server, &challenge.realm);
        }
    }

    /// Records that `which`'s current answer succeeded, for preemptive reuse.
    fn confirm(&mut self, which: Which) {
        let server = self.server(which);
        let side = match which {
            Which::Origin => &self.www,
            Which::Proxy => &self.proxy,
        };
        if let Some((challenge, _)) = &side.current {
            lock(&self.layer.cache).confirm(&server, &challenge.realm);
        }
    }

    /// The body for `auth-int`'s hash: a fresh replay to read.
    fn replay(&self) -> Option<ResendBody<B>> {
        self.body.body().ok()
    }
}

/// The strongest Digest challenge this crate can answer among every challenge of every
/// header value; values that do not parse are skipped.
pub(super) fn best_challenge<'a>(
    values: impl IntoIterator<Item = &'a HeaderValue>,
) -> Option<DigestChallenge> {
    values
        .into_iter()
        .filter_map(|value| parse_challenges(value.as_bytes()).ok())
        .flatten()
        .filter_map(|challenge| DigestChallenge::from_challenge(&challenge))
        // The first offered among the strongest.
        .fold(
            None,
            |best: Option<DigestChallenge>, challenge| match best {
                Some(best) if best.algorithm.strength() >= challenge.algorithm.strength() => {
                    Some(best)
                }
                _ => Some(challenge),
            },
        )
}

impl<S, B, ResB> ResponseFuture<S, B, ResB>
where
    S: Service<Request<ResendBody<B>>>,
{
    pub(super) fn passthrough(future: InnerFuture<S, B>) -> Self {
        Self {
            state: State::Sending { future },
            auth: None,
        }
    }

    pub(super) fn new(future: InnerFuture<S, B>, auth: Box<Authenticating<S, B>>) -> Self {
        Self {
            state: State::Sending { future },
            auth: Some(auth),
        }
    }
}

impl<S, B, ResB> Future for ResponseFuture<S, B, ResB>
where
    S: Service<Request<ResendBody<B>>, Response = Response<ResB>>,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Error: Into<BoxError>,
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
                    let Some(auth) = this.auth.as_mut() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Ok(response));
                    };
                    match auth.plan(response.status(), response.headers()) {
                        Plan::Return => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(response));
                        }
                        Plan::Resend => this.state.set(drain(response)),
                        Plan::Hash => match auth.replay() {
                            Some(body) => this.state.set(State::Hashing {
                                body,
                                read: BytesMut::new(),
                                response: Some(response),
                            }),
                            None => {
                                this.state.set(State::Done);
                                return Poll::Ready(Ok(response));
                            }
                        },
                    }
                }
                StateProj::Hashing {
                    mut body,
                    read,
                    response,
                } => {
                    // The replay is bounded by the recording's cap: it fails past it.
                    let collected = loop {
                        match ready!(body.as_mut().poll_frame(cx)) {
                            Some(Ok(frame)) => {
                                if let Some(data) = frame.data_ref() {
                                    read.extend_from_slice(data.chunk());
                                }
                            }
                            Some(Err(err)) => break Err(err),
                            None => break Ok(std::mem::take(read).freeze()),
                        }
                    };
                    let Some(response) = response.take() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(PolledAfterCompletion.into()));
                    };
                    let plan = match (collected, this.auth.as_mut()) {
                        (Ok(collected), Some(auth)) => {
                            auth.body_bytes = Some(collected);
                            auth.prepare()
                        }
                        _ => Plan::Return,
                    };
                    match plan {
                        Plan::Resend => this.state.set(drain(response)),
                        Plan::Return | Plan::Hash => {
                            this.state.set(State::Done);
                            return Poll::Ready(Ok(response));
                        }
                    }
                }
                StateProj::Draining { drain } => {
                    ready!(drain.poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    let Some(auth) = this.auth.as_mut() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(PolledAfterCompletion.into()));
                    };
                    if let Err(err) = ready!(auth.service.poll_ready(cx)) {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(err.into()));
                    }
                    let Some(request) = auth.next.take() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(PolledAfterCompletion.into()));
                    };
                    let future = auth.service.call(request);
                    this.state.set(State::Sending { future });
                }
                StateProj::Done => return Poll::Ready(Err(PolledAfterCompletion.into())),
            }
        }
    }
}

/// The state after a challenge is answered: drain its body, or send at once.
fn drain<F, ResB: Body, B>(response: Response<ResB>) -> State<F, ResB, B> {
    match Drain::start(response.into_body()) {
        Some(drain) => State::Draining { drain },
        None => State::Readying,
    }
}

impl<S, B, ResB> fmt::Debug for ResponseFuture<S, B, ResB>
where
    S: Service<Request<ResendBody<B>>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Sending { .. } => "sending",
            State::Hashing { .. } => "hashing",
            State::Draining { .. } => "draining",
            State::Readying => "readying",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
