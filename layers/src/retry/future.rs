//! The [`ResponseFuture`] of the [`Retry`](super::Retry) service, and the per-request state
//! it carries from attempt to attempt.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use http::{Request, Response, header::RETRY_AFTER};
use http_body::Body;
use hyper::rt::Sleep;
use pin_project_lite::pin_project;
use tower_service::Service;
use towline_core::RequestHead;

use super::{
    AttemptElapsed, AttemptOutcome, RetryAttempt, RetryConfig, RetryCount, layer::Shared,
    parse_retry_after,
};
use crate::{
    AttemptTimedOut, BoxError, ResendCount,
    resend::{Drain, Kept, PolledAfterCompletion, ResendBody},
};

type InnerFuture<S, ReqB> = <S as Service<Request<ResendBody<ReqB>>>>::Future;

pin_project! {
    /// Response future of [`Retry`](super::Retry): sends the request and, while the policy
    /// says so, drains the failed response, sleeps, and sends the request again.
    ///
    /// With retries off for the request it only polls the inner future, and stays small: the
    /// per-request retry state is boxed, so a request without retries does not carry it
    /// through every layer above (futures are moved as each layer wraps them). No future is
    /// boxed; with retries on, the state is one allocation, and each retry's sleep another.
    pub struct ResponseFuture<S, ReqB, ResB>
    where
        S: Service<Request<ResendBody<ReqB>>>,
    {
        #[pin]
        state: State<InnerFuture<S, ReqB>, ResB>,
        retrying: Option<Box<Retrying<S, ReqB>>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, ResB> {
        // Waiting for the inner service's response.
        Sending {
            #[pin]
            future: F,
        },
        // Reading the failed response's body to its end (capped) before the next attempt.
        Draining {
            #[pin]
            drain: Drain<ResB>,
        },
        // Waiting out the backoff.
        Sleeping {
            sleep: Pin<Box<dyn Sleep>>,
        },
        // Waiting for the inner service to be ready for the next attempt.
        Readying,
        // The future has returned its output.
        Done,
    }
}

/// The per-request state of a request that may be retried.
pub(super) struct Retrying<S, B> {
    service: S,
    config: Arc<RetryConfig>,
    shared: Arc<Shared>,
    /// Method, URI, version, headers and extensions of every attempt.
    template: RequestHead,
    body: Kept<B>,
    deadline: Option<Instant>,
    /// Retries sent so far.
    retries: u32,
    /// The request of the next attempt, and the wait before it.
    next: Option<(Request<ResendBody<B>>, Duration)>,
    attempt_limit: Option<AttemptLimit>,
    /// The current attempt's timeout, armed once the attempt is pending.
    attempt_sleep: Option<Pin<Box<dyn Sleep>>>,
}

/// How long each attempt may wait for its head, and the flag in the current attempt's
/// request that is raised when it has waited that long.
pub(super) struct AttemptLimit {
    pub(super) after: Duration,
    pub(super) timed_out: AttemptTimedOut,
}

/// What an attempt's outcome leads to.
enum Plan {
    /// Hand the outcome to the caller; `success` when the policy found nothing to retry.
    Finish { success: bool },
    /// Send `self.next` after its wait.
    Retry,
}

impl<S, B: 'static> Retrying<S, B> {
    pub(super) fn new(
        service: S,
        config: Arc<RetryConfig>,
        shared: Arc<Shared>,
        template: RequestHead,
        body: Kept<B>,
        deadline: Option<Instant>,
        attempt_limit: Option<AttemptLimit>,
    ) -> Self {
        Self {
            service,
            config,
            shared,
            template,
            body,
            deadline,
            retries: 0,
            next: None,
            attempt_limit,
            attempt_sleep: None,
        }
    }

    /// For a pending attempt: the error that ends it, once its timeout has elapsed.
    fn attempt_elapsed(&mut self, cx: &mut Context<'_>) -> Option<AttemptElapsed> {
        let after = self.attempt_limit.as_ref()?.after;
        let timer = &self.shared.timer;
        let sleep = self.attempt_sleep.get_or_insert_with(|| timer.sleep(after));
        if sleep.as_mut().poll(cx).is_pending() {
            return None;
        }
        self.attempt_sleep = None;
        if let Some(limit) = &self.attempt_limit {
            limit.timed_out.raise();
        }
        Some(AttemptElapsed::new(after))
    }

    /// Decides whether to retry after `outcome`, and if so prepares the next attempt.
    fn plan(&mut self, outcome: AttemptOutcome<'_>) -> Plan {
        let retry_after = match outcome {
            AttemptOutcome::Response { headers, .. } => headers.get(RETRY_AFTER),
            AttemptOutcome::Error(_) => None,
        };
        let attempt = RetryAttempt {
            method: &self.template.method,
            attempt: self.retries,
            outcome,
        };
        let Some(wait) = self.config.decide(&attempt, &self.shared.error_classifier) else {
            return Plan::Finish { success: true };
        };
        if self.retries >= self.config.max_retries {
            return Plan::Finish { success: false };
        }
        let wait = wait
            .or_else(|| {
                let now = self.shared.wall_clock.now();
                parse_retry_after(retry_after?.as_bytes(), now)
                    .map(|wait| wait.min(self.config.max_backoff))
            })
            .unwrap_or_else(|| self.config.jittered_backoff(self.retries));
        let now = self.shared.timer.now();
        if let Some(deadline) = self.deadline
            && now.checked_add(wait).is_none_or(|start| start >= deadline)
        {
            return Plan::Finish { success: false };
        }
        let Ok(body) = self.body.body() else {
            return Plan::Finish { success: false };
        };
        if let Some(budget) = &self.config.budget
            && !budget.withdraw(self.template.uri.authority(), now)
        {
            return Plan::Finish { success: false };
        }
        let mut next = self.body.request(&self.template, body);
        self.retries += 1;
        next.extensions_mut()
            .insert(ResendCount(self.sends_before() + self.retries));
        if let Some(limit) = &mut self.attempt_limit {
            limit.timed_out = AttemptTimedOut::new();
            next.extensions_mut().insert(limit.timed_out.clone());
        }
        self.next = Some((next, wait));
        Plan::Retry
    }

    fn deposit(&self) {
        if let Some(budget) = &self.config.budget {
            budget.deposit(self.template.uri.authority(), self.shared.timer.now());
        }
    }

    /// The state that follows a drained (or dropped) response: sleep, or send at once.
    /// How many sends of the logical request came before this layer's first attempt: the
    /// count a re-sending layer above put on the request.
    fn sends_before(&self) -> u32 {
        ResendCount::of(&self.template.extensions)
    }

    fn wait<F, ResB>(&self) -> State<F, ResB> {
        match &self.next {
            Some((_, wait)) if !wait.is_zero() => State::Sleeping {
                sleep: self.shared.timer.sleep(*wait),
            },
            _ => State::Readying,
        }
    }
}

impl<S, ReqB, ResB> ResponseFuture<S, ReqB, ResB>
where
    S: Service<Request<ResendBody<ReqB>>>,
{
    pub(super) fn new(
        future: InnerFuture<S, ReqB>,
        retrying: Option<Box<Retrying<S, ReqB>>>,
    ) -> Self {
        Self {
            state: State::Sending { future },
            retrying,
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
                StateProj::Sending { future } => {
                    let polled = match future.poll(cx) {
                        Poll::Ready(polled) => polled.map_err(Into::into),
                        Poll::Pending => {
                            let elapsed = this
                                .retrying
                                .as_mut()
                                .and_then(|retrying| retrying.attempt_elapsed(cx));
                            match elapsed {
                                Some(elapsed) => Err(elapsed.into()),
                                None => return Poll::Pending,
                            }
                        }
                    };
                    let Some(retrying) = this.retrying.as_mut() else {
                        this.state.set(State::Done);
                        return Poll::Ready(polled);
                    };
                    retrying.attempt_sleep = None;
                    match polled {
                        Ok(mut response) => {
                            let plan = retrying.plan(AttemptOutcome::Response {
                                status: response.status(),
                                headers: response.headers(),
                            });
                            match plan {
                                Plan::Retry => {
                                    this.state.set(match Drain::start(response.into_body()) {
                                        Some(drain) => State::Draining { drain },
                                        None => retrying.wait(),
                                    });
                                }
                                Plan::Finish { success } => {
                                    if success {
                                        retrying.deposit();
                                    }
                                    let extensions = response.extensions_mut();
                                    extensions.insert(RetryCount(retrying.retries));
                                    // A re-sending layer below already counted this send.
                                    if retrying.retries > 0
                                        && extensions.get::<ResendCount>().is_none()
                                    {
                                        extensions.insert(ResendCount(
                                            retrying.sends_before() + retrying.retries,
                                        ));
                                    }
                                    *this.retrying = None;
                                    this.state.set(State::Done);
                                    return Poll::Ready(Ok(response));
                                }
                            }
                        }
                        Err(err) => match retrying.plan(AttemptOutcome::Error(&*err)) {
                            Plan::Retry => {
                                let next = retrying.wait();
                                this.state.set(next);
                            }
                            Plan::Finish { .. } => {
                                *this.retrying = None;
                                this.state.set(State::Done);
                                return Poll::Ready(Err(err));
                            }
                        },
                    }
                }
                StateProj::Draining { drain } => {
                    ready!(drain.poll(cx));
                    let next = match this.retrying.as_ref() {
                        Some(retrying) => retrying.wait(),
                        None => State::Done,
                    };
                    this.state.set(next);
                }
                StateProj::Sleeping { sleep } => {
                    ready!(sleep.as_mut().poll(cx));
                    this.state.set(State::Readying);
                }
                StateProj::Readying => {
                    let Some(retrying) = this.retrying.as_mut() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(PolledAfterCompletion.into()));
                    };
                    if let Err(err) = ready!(retrying.service.poll_ready(cx)) {
                        *this.retrying = None;
                        this.state.set(State::Done);
                        return Poll::Ready(Err(err.into()));
                    }
                    let Some((request, _)) = retrying.next.take() else {
                        this.state.set(State::Done);
                        return Poll::Ready(Err(PolledAfterCompletion.into()));
                    };
                    let future = retrying.service.call(request);
                    this.state.set(State::Sending { future });
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
            State::Sending { .. } => "sending",
            State::Draining { .. } => "draining",
            State::Sleeping { .. } => "sleeping",
            State::Readying => "readying",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .field(
                "retries",
                &self.retrying.as_ref().map(|retrying| retrying.retries),
            )
            .finish_non_exhaustive()
    }
}
