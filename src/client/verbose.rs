//! [`ClientBuilder::connection_verbose`](super::builder::ClientBuilder::connection_verbose):
//! the head of every request sent and every response received, as `tracing` events at
//! `trace` level (target `towline::connection`).
//!
//! reqwest logs the raw bytes of each connection; towline logs the heads as the transport
//! sends and receives them, one event each, because its HTTP/2 connections carry frames,
//! not text. The layer sits right above the transport, so every redirect hop and every
//! retry is logged. Unlike reqwest, credentials are not written out: the values of
//! `Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie` and of every header
//! marked sensitive show as `<redacted>`, since trace logs travel further than a terminal.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, COOKIE, PROXY_AUTHORIZATION, SET_COOKIE};
use http::{HeaderMap, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// Logs request and response heads; see the [module documentation](self).
#[derive(Clone, Copy, Debug)]
pub(super) struct VerboseLayer;

impl<S> Layer<S> for VerboseLayer {
    type Service = Verbose<S>;

    fn layer(&self, inner: S) -> Verbose<S> {
        Verbose { inner }
    }
}

/// The service of [`VerboseLayer`].
#[derive(Clone, Debug)]
pub(super) struct Verbose<S> {
    inner: S,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Verbose<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = VerboseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        tracing::trace!(
            target: "towline::connection",
            "> {} {} {:?}\n{}",
            request.method(),
            request.uri(),
            request.version(),
            Head(request.headers(), "> "),
        );
        VerboseFuture {
            inner: self.inner.call(request),
        }
    }
}

pin_project! {
    /// Logs the response head when it arrives.
    pub(super) struct VerboseFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, B, E> Future for VerboseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let output = std::task::ready!(self.project().inner.poll(cx));
        if let Ok(response) = &output {
            tracing::trace!(
                target: "towline::connection",
                "< {:?} {}\n{}",
                response.version(),
                response.status(),
                Head(response.headers(), "< "),
            );
        }
        Poll::Ready(output)
    }
}

/// Header lines, each after `prefix`, with credentials redacted.
struct Head<'a>(&'a HeaderMap, &'static str);

impl fmt::Display for Head<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in self.0 {
            let secret = value.is_sensitive()
                || [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE, SET_COOKIE].contains(name);
            if secret {
                writeln!(f, "{}{name}: <redacted>", self.1)?;
            } else {
                writeln!(
                    f,
                    "{}{name}: {}",
                    self.1,
                    String::from_utf8_lossy(value.as_bytes())
                )?;
            }
        }
        Ok(())
    }
}
