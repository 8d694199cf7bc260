//! The [`ResponseFuture`] of the [`Cache`](super::Cache) service, and what happens to a
//! response once it arrives: store it, merge a 304 into the stored response, fall back to a
//! stale response on errors, or invalidate after an unsafe method.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http::{
    HeaderValue, Method, Response, StatusCode,
    header::{AGE, CONTENT_LENGTH, CONTENT_LOCATION, IF_NONE_MATCH, LOCATION},
};
use http_body::Body;
use http_cache_semantics::CachePolicy;
use pin_project_lite::pin_project;

use super::{
    CacheBody, CacheStatus, CachedResponse,
    body::Pending,
    directives::{Directives, parse_directives},
    layer::Shared,
    policy::{
        RequestHead, caller_validator_matches, correct_age, merge_not_modified, new_policy,
        same_entity_tag, same_origin_target, strip_hop_by_hop, variant_key,
    },
    with_status,
};
use crate::{BoxError, time::saturating_add_wall};

/// What to do with the inner service's answer.
pub(super) enum Mode {
    /// A miss: store the response if it may be stored.
    Store { key: String, head: RequestHead },
    /// A conditional request for a stale stored response.
    Revalidate {
        key: String,
        head: RequestHead,
        entry: Arc<CachedResponse>,
        request: Directives,
    },
    /// An unsafe method: on success, invalidate the target and same-origin locations.
    Invalidate { target: url::Url },
}

/// The per-request state of a forwarded request.
pub(super) struct Forwarded {
    pub(super) shared: Arc<Shared>,
    pub(super) mode: Mode,
    pub(super) request_time: Instant,
}

pin_project! {
    /// Response future of [`Cache`](super::Cache): either an answer from the store, ready at
    /// once, or the inner service's future, whose response is then stored, merged or
    /// replaced by a stale stored response.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Immediate {
            response: Option<Response<Bytes>>,
        },
        Forward {
            #[pin]
            future: F,
            forwarded: Option<Box<Forwarded>>,
        },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn immediate(response: Response<Bytes>, status: CacheStatus) -> Self {
        Self {
            state: State::Immediate {
                response: Some(with_status(response, status)),
            },
        }
    }

    pub(super) fn forward(future: F, forwarded: Option<Forwarded>) -> Self {
        Self {
            state: State::Forward {
                future,
                forwarded: forwarded.map(Box::new),
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: Body,
{
    type Output = Result<Response<CacheBody<B>>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Immediate { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response.map(CacheBody::stored))),
                None => Poll::Ready(Err("cache response future polled after completion".into())),
            },
            StateProj::Forward { future, forwarded } => {
                let result = match future.poll(cx) {
                    Poll::Ready(result) => result,
                    Poll::Pending => return Poll::Pending,
                };
                let result = match forwarded.take() {
                    Some(forwarded) => forwarded.complete(result.map_err(Into::into)),
                    None => result
                        .map(|response| response.map(CacheBody::passthrough))
                        .map_err(Into::into),
                };
                // Whatever the answer did not mark as served from the store came from the
                // origin.
                Poll::Ready(result.map(|mut response| {
                    if response.extensions().get::<CacheStatus>().is_none() {
                        response.extensions_mut().insert(CacheStatus::Miss);
                    }
                    response
                }))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Immediate { .. } => "immediate",
            State::Forward { .. } => "forward",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

impl Forwarded {
    fn complete<B: Body>(
        self,
        result: Result<Response<B>, BoxError>,
    ) -> Result<Response<CacheBody<B>>, BoxError> {
        let Self {
            shared,
            mode,
            request_time,
        } = self;
        match mode {
            Mode::Store { key, head } => {
                result.map(|response| shared.store(&key, &head, response, request_time))
            }
            Mode::Revalidate {
                key,
                head,
                entry,
                request,
            } => match result {
                Ok(response) if response.status().is_server_error() => {
                    match shared.stale_if_error(&entry, &head, &request) {
                        Some(stale) => {
                            Ok(with_status(stale, CacheStatus::Stale).map(CacheBody::stored))
                        }
                        None => Ok(response.map(CacheBody::passthrough)),
                    }
                }
                Ok(response) => Ok(shared.revalidated(&key, &head, &entry, response, request_time)),
                Err(err) => match shared.stale_if_error(&entry, &head, &request) {
                    Some(stale) => {
                        Ok(with_status(stale, CacheStatus::Stale).map(CacheBody::stored))
                    }
                    None => Err(err),
                },
            },
            Mode::Invalidate { target } => result.map(|response| {
                shared.invalidate(&target, &response);
                response.map(CacheBody::passthrough)
            }),
        }
    }
}

impl Shared {
    /// The wall-clock time for `entry` now: its receipt time plus the resident time measured
    /// on the monotonic timer, so a wall-clock step does not age or rejuvenate entries.
    ///
    /// Capped at the end of year 9999: `http-cache-semantics` formats the time it is given
    /// as a date and panics past that.
    pub(super) fn now_for(&self, entry: &CachedResponse) -> SystemTime {
        let resident = self
            .timer
            .now()
            .saturating_duration_since(entry.received_at);
        saturating_add_wall(entry.response_time, resident).min(latest_date())
    }

    /// How long `entry` has been stale, zero while it is fresh.
    pub(super) fn staleness(&self, entry: &CachedResponse) -> Duration {
        entry
            .policy
            .age(self.now_for(entry))
            .saturating_sub(entry.lifetime)
    }

    /// The stored response as the answer to `request`: the stored head with an `Age` for now
    /// and the stored body — or, when the caller's own conditional matches the stored
    /// response (RFC 9111 §4.3.2), a 304 with the stored head and no body.
    pub(super) fn answer(&self, entry: &CachedResponse, request: &RequestHead) -> Response<Bytes> {
        let age = entry.policy.age(self.now_for(entry));
        let not_modified = caller_validator_matches(&request.headers, &entry.headers);
        let empty = not_modified || request.method == Method::HEAD;
        let mut response = Response::new(if empty {
            Bytes::new()
        } else {
            entry.body.clone()
        });
        *response.version_mut() = entry.version;
        *response.headers_mut() = entry.headers.clone();
        if not_modified {
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response.headers_mut().remove(CONTENT_LENGTH);
        } else {
            *response.status_mut() = entry.status;
        }
        response
            .headers_mut()
            .insert(AGE, HeaderValue::from(age.as_secs()));
        response
    }

    /// Whether `entry` may be served stale while it is revalidated in the background
    /// (RFC 5861 §3): inside its window, and neither message forbids stale responses.
    pub(super) fn may_serve_while_revalidating(
        &self,
        entry: &CachedResponse,
        request: &Directives,
    ) -> bool {
        let response = &entry.directives;
        !request.no_cache
            && request.max_age.is_none()
            && !response.no_cache
            && !response.must_revalidate
            && response
                .stale_while_revalidate
                .is_some_and(|window| self.staleness(entry) <= window)
    }

    /// The stale response to serve instead of an error, when inside the `stale-if-error`
    /// window of the response or the request (RFC 5861 §4).
    fn stale_if_error(
        &self,
        entry: &CachedResponse,
        head: &RequestHead,
        request: &Directives,
    ) -> Option<Response<Bytes>> {
        let response = &entry.directives;
        let window = response.stale_if_error.max(request.stale_if_error)?;
        (!response.no_cache && !response.must_revalidate && self.staleness(entry) <= window)
            .then(|| self.answer(entry, head))
    }

    /// A response from the origin to a GET: stored (as its body streams) when the policy
    /// allows it and it fits, passed through otherwise.
    pub(super) fn store<B: Body>(
        &self,
        key: &str,
        head: &RequestHead,
        response: Response<B>,
        request_time: Instant,
    ) -> Response<CacheBody<B>> {
        let config = self.cache.config();
        let too_large = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
            .is_some_and(|length| length > config.entry_cap() as u64);
        if head.method != Method::GET || too_large {
            return response.map(CacheBody::passthrough);
        }
        let received_at = self.timer.now();
        let response_time = self.wall.now();
        let mut headers = response.headers().clone();
        strip_hop_by_hop(&mut headers);
        correct_age(
            &mut headers,
            response_time,
            received_at.saturating_duration_since(request_time),
        );
        let policy = new_policy(
            head,
            response.status(),
            &headers,
            response_time,
            config.heuristic(),
        );
        if !policy.is_storable() {
            return response.map(CacheBody::passthrough);
        }
        let Some(variant) = variant_key(&headers, &head.headers) else {
            return response.map(CacheBody::passthrough);
        };
        let pending = Pending {
            cache: self.cache.clone(),
            key: key.to_owned(),
            status: response.status(),
            version: response.version(),
            directives: parse_directives(&headers),
            lifetime: lifetime(&policy, response_time),
            headers,
            policy,
            variant,
            received_at,
            response_time,
        };
        let cap = config.entry_cap();
        response.map(|body| {
            if body.is_end_stream() {
                // Nobody polls a body that is already over: store it now.
                pending.store(Bytes::new());
                CacheBody::passthrough(body)
            } else {
                CacheBody::tee(body, pending, cap)
            }
        })
    }

    /// The origin's answer to a conditional request for `entry`: a matching 304 refreshes the
    /// stored head and serves the stored body; anything else is a new response to store.
    pub(super) fn revalidated<B: Body>(
        &self,
        key: &str,
        head: &RequestHead,
        entry: &CachedResponse,
        response: Response<B>,
        request_time: Instant,
    ) -> Response<CacheBody<B>> {
        if response.status() != StatusCode::NOT_MODIFIED {
            return self.store(key, head, response, request_time);
        }
        if head.headers.contains_key(IF_NONE_MATCH)
            && !same_entity_tag(&entry.headers, response.headers())
        {
            // A 304 about another representation: one the caller itself asked about.
            return response.map(CacheBody::passthrough);
        }
        let response_time = self.wall.now();
        let received_at = self.timer.now();
        // The crate's `after_response` is not used here: it rejects a 304 that carries no
        // validator when the stored response has one (the origin owes none, RFC 9110 §15.4.5,
        // and this 304 answers this cache's own conditional request), and its merge keeps only
        // fields the stored response already had, while RFC 9111 §3.2 adds the 304's new ones.
        let mut headers = merge_not_modified(&entry.headers, response.headers());
        correct_age(
            &mut headers,
            response_time,
            received_at.saturating_duration_since(request_time),
        );
        let policy = new_policy(
            head,
            entry.status,
            &headers,
            response_time,
            self.cache.config().heuristic(),
        );
        let Some(variant) = variant_key(&headers, &head.headers) else {
            self.cache.inner.store.remove(key);
            return response.map(CacheBody::passthrough);
        };
        let updated = CachedResponse {
            status: entry.status,
            version: entry.version,
            directives: parse_directives(&headers),
            lifetime: lifetime(&policy, response_time),
            size: super::store::entry_size(&headers, &entry.body, &variant),
            headers,
            body: entry.body.clone(),
            policy,
            variant,
            received_at,
            response_time,
        };
        let answer = self.answer(&updated, head);
        if updated.policy.is_storable() {
            self.cache.inner.store.put(key, Arc::new(updated));
        } else {
            self.cache.inner.store.remove(key);
        }
        with_status(answer, CacheStatus::Revalidated).map(CacheBody::stored)
    }

    /// After a successful unsafe request, removes the target URI and the same-origin
    /// `Location` and `Content-Location` targets (RFC 9111 §4.4).
    fn invalidate<B>(&self, target: &url::Url, response: &Response<B>) {
        let status = response.status();
        if !(status.is_success() || status.is_redirection()) {
            return;
        }
        let store = &self.cache.inner.store;
        store.remove(target.as_str());
        for name in [LOCATION, CONTENT_LOCATION] {
            if let Some(other) = response
                .headers()
                .get(name)
                .and_then(|value| same_origin_target(target, value))
            {
                store.remove(other.as_str());
            }
        }
    }
}

/// 9999-12-31T23:59:59Z, the last time an HTTP date (and the crate) can express.
fn latest_date() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(253_402_300_799)
}

/// The freshness lifetime of a response just received. The crate reports the time left
/// (`time_to_live`) and the age; their sum is the lifetime. A response stale on arrival has
/// an unknown lifetime no larger than its age: zero is the conservative choice.
fn lifetime(policy: &CachePolicy, response_time: SystemTime) -> Duration {
    let left = policy.time_to_live(response_time);
    if left.is_zero() {
        Duration::ZERO
    } else {
        left.saturating_add(policy.age(response_time))
    }
}
