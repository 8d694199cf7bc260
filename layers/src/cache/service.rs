//! The [`Cache`] service.

use std::{
    fmt,
    future::poll_fn,
    pin::pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{
    HeaderValue, Method, Request, Response, StatusCode,
    header::{IF_MODIFIED_SINCE, IF_NONE_MATCH, RANGE, UPGRADE},
};
use http_body::Body;
use http_body_util::BodyExt;
use http_cache_semantics::BeforeRequest;
use tower_service::Service;

use super::{
    CacheBody, CacheStatus, CachedResponse, ResponseFuture,
    directives::parse_directives,
    future::{Forwarded, Mode},
    layer::Shared,
    policy::{AsGet, RequestHead, primary_key},
};
use crate::BoxError;

/// Answers requests from an [`HttpCache`](super::HttpCache) and stores responses in it.
///
/// Built by [`CacheLayer`](super::CacheLayer); see the [module documentation](super).
pub struct Cache<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Cache<S> {
    pub(super) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Self { inner, shared }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes the layer, returning the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone> Clone for Cache<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for Cache<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("inner", &self.inner)
            .field("cache", &self.shared.cache)
            .finish()
    }
}

/// What the store holds for a request.
enum Lookup {
    Fresh(Arc<CachedResponse>),
    Stale {
        entry: Arc<CachedResponse>,
        revalidation: Box<http::request::Parts>,
    },
    Miss,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Cache<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    ReqB: Default + Send + 'static,
    ResB: Body + Send + 'static,
    ResB::Error: Into<BoxError>,
{
    type Response = Response<CacheBody<ResB>>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<ReqB>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        let request_time = shared.timer.now();
        let method = request.method().clone();
        let key = primary_key(request.uri());

        // A CONNECT's tunnel is no response to keep, nor a reason to invalidate one.
        if method == Method::CONNECT {
            return ResponseFuture::forward(self.take_ready().call(request), None);
        }
        if !method.is_safe() {
            let forwarded = key.map(|target| Forwarded {
                shared,
                mode: Mode::Invalidate { target },
                request_time,
            });
            return ResponseFuture::forward(self.take_ready().call(request), forwarded);
        }
        // A request asking to switch protocols must reach the server, whose `101` (or refusal)
        // is about this connection only.
        let Some(key) = key.filter(|_| {
            (method == Method::GET || method == Method::HEAD)
                && !request.headers().contains_key(RANGE)
                && !request.headers().contains_key(UPGRADE)
        }) else {
            return ResponseFuture::forward(self.take_ready().call(request), None);
        };
        let key = String::from(key);
        let directives = parse_directives(request.headers());
        let head = RequestHead::new(method.clone(), request.uri().clone(), request.headers());
        let head_only = method == Method::HEAD;

        match lookup(&shared, &key, &head) {
            Lookup::Fresh(entry) => {
                ResponseFuture::immediate(shared.answer(&entry, &head), CacheStatus::Hit)
            }
            Lookup::Stale { .. } | Lookup::Miss if directives.only_if_cached => {
                ResponseFuture::immediate(gateway_timeout(), CacheStatus::Miss)
            }
            Lookup::Stale {
                entry,
                revalidation,
            } if shared.may_serve_while_revalidating(&entry, &directives) => {
                self.revalidate_in_background(&key, &entry, revalidation);
                ResponseFuture::immediate(shared.answer(&entry, &head), CacheStatus::Stale)
            }
            Lookup::Stale {
                entry,
                revalidation,
            } if !head_only => {
                // Send the caller's request (its body, extensions and version intact) with
                // the validators the policy chose.
                for name in [IF_NONE_MATCH, IF_MODIFIED_SINCE] {
                    match revalidation.headers.get(&name) {
                        Some(value) => {
                            request.headers_mut().insert(name, value.clone());
                        }
                        None => {
                            request.headers_mut().remove(name);
                        }
                    }
                }
                let mode = Mode::Revalidate {
                    key,
                    head,
                    entry,
                    request: directives,
                };
                let forwarded = Forwarded {
                    shared,
                    mode,
                    request_time,
                };
                ResponseFuture::forward(self.take_ready().call(request), Some(forwarded))
            }
            Lookup::Stale { .. } | Lookup::Miss => {
                let forwarded = Forwarded {
                    shared,
                    mode: Mode::Store { key, head },
                    request_time,
                };
                ResponseFuture::forward(self.take_ready().call(request), Some(forwarded))
            }
        }
    }
}

impl<S> Cache<S> {
    /// Takes the readied service, leaving a clone in its place (the clone-swap idiom).
    fn take_ready(&mut self) -> S
    where
        S: Clone,
    {
        let clone = self.inner.clone();
        std::mem::replace(&mut self.inner, clone)
    }

    /// Spawns a conditional GET for `entry` on the executor, through a clone of the inner
    /// service; its answer refreshes or replaces the stored response.
    fn revalidate_in_background<ReqB, ResB>(
        &self,
        key: &str,
        entry: &Arc<CachedResponse>,
        revalidation: Box<http::request::Parts>,
    ) where
        S: Service<Request<ReqB>, Response = Response<ResB>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        ReqB: Default + Send + 'static,
        ResB: Body + Send + 'static,
        ResB::Error: Into<BoxError>,
    {
        let cache = &self.shared.cache;
        if !cache.begin_revalidation(key) {
            return;
        }
        let guard = RevalidationGuard {
            cache: cache.clone(),
            key: key.to_owned(),
        };
        let head = RequestHead::new(
            revalidation.method.clone(),
            revalidation.uri.clone(),
            &revalidation.headers,
        );
        let request = Request::from_parts(*revalidation, ReqB::default());
        let mut service = self.inner.clone();
        let shared = Arc::clone(&self.shared);
        let entry = Arc::clone(entry);
        self.shared.executor.execute(Box::pin(async move {
            let request_time = shared.timer.now();
            if poll_fn(|cx| service.poll_ready(cx)).await.is_err() {
                return;
            }
            let Ok(response) = service.call(request).await else {
                return;
            };
            let mut body = pin!(
                shared
                    .revalidated(&guard.key, &head, &entry, response, request_time)
                    .into_body()
            );
            // Reading the body to its end is what stores it.
            while let Some(Ok(_)) = body.frame().await {}
            drop(guard);
        }));
    }
}

/// Clears a key's "revalidating" mark when its background task ends or is dropped.
struct RevalidationGuard {
    cache: super::HttpCache,
    key: String,
}

impl Drop for RevalidationGuard {
    fn drop(&mut self) {
        self.cache.end_revalidation(&self.key);
    }
}

/// Finds the stored variant for the request: the first (most recent) one the policy says
/// matches, fresh or stale. A HEAD request is matched against stored GET responses.
fn lookup(shared: &Shared, key: &str, head: &RequestHead) -> Lookup {
    for entry in shared.cache.inner.store.get(key) {
        let now = shared.now_for(&entry);
        let decision = if head.method == Method::HEAD {
            entry.policy.before_request(&AsGet(head), now)
        } else {
            entry.policy.before_request(head, now)
        };
        match decision {
            BeforeRequest::Fresh(_) => return Lookup::Fresh(entry),
            BeforeRequest::Stale {
                request,
                matches: true,
            } => {
                return Lookup::Stale {
                    entry,
                    revalidation: Box::new(request),
                };
            }
            BeforeRequest::Stale { .. } => {}
        }
    }
    Lookup::Miss
}

/// The answer to `only-if-cached` when nothing usable is stored (RFC 9111 §5.2.1.7).
fn gateway_timeout() -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::GATEWAY_TIMEOUT;
    response
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}
