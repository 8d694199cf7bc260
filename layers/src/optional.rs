//! Switching a body-wrapping layer on and off at run time.
//!
//! tower's `option_layer` puts a layer in the stack or leaves it out, but both arms of the
//! `Either` it builds must answer with the same response type. A layer that wraps the
//! response body (cache, bandwidth, timings, trace, …) changes that type, so `option_layer`
//! cannot switch it. The two helpers here can:
//!
//! - [`optional_body`] answers with an [`http_body_util::Either`] body in both arms: no
//!   allocation per request, at the price of one more body type — the choice deep in a stack;
//! - [`optional_boxed`] boxes the layer's body into the [`BoxBody`] the inner service already
//!   answers with, so the stack's type does not grow — the choice at its top, above one
//!   erasure.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Full};
//! use tower::{ServiceExt, service_fn};
//! use towline_layers::BoxError;
//! use towline_layers::optional::optional_body;
//! use towline_layers::time::ManualTimer;
//! use towline_layers::timings::TimingsLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let transport = service_fn(|_req: http::Request<Full<Bytes>>| async {
//!     Ok::<_, BoxError>(http::Response::new(Full::new(Bytes::from("hello"))))
//! });
//! let timings_wanted = false;
//! let timer = ManualTimer::new();
//! let service = optional_body(timings_wanted.then(|| TimingsLayer::new(timer.shared())), transport);
//! let response = service.oneshot(http::Request::new(Full::default())).await?;
//! assert_eq!(response.into_body().collect().await?.to_bytes(), "hello");
//! # Ok(())
//! # }
//! ```

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Either as EitherBody, combinators::UnsyncBoxBody};
use tower::util::{Either, MapResponse};
use tower_layer::Layer;
use tower_service::Service;

use crate::BoxError;

/// The boxed response body [`optional_boxed`] erases to.
pub type BoxBody = UnsyncBoxBody<Bytes, BoxError>;

/// The service [`optional_body`] builds.
pub type OptionalBody<L, S, LB, SB> = Either<
    MapResponse<<L as Layer<S>>::Service, fn(Response<LB>) -> Response<EitherBody<LB, SB>>>,
    MapResponse<S, fn(Response<SB>) -> Response<EitherBody<LB, SB>>>,
>;

/// The service [`optional_boxed`] builds.
pub type OptionalBoxed<L, S, LB> =
    Either<MapResponse<<L as Layer<S>>::Service, fn(Response<LB>) -> Response<BoxBody>>, S>;

/// `inner` under `layer` when it is `Some`, `inner` alone otherwise; both answer with an
/// [`http_body_util::Either`] body (left: the layer's, right: the inner service's).
pub fn optional_body<L, S, ReqB, LB, SB>(layer: Option<L>, inner: S) -> OptionalBody<L, S, LB, SB>
where
    L: Layer<S>,
    L::Service: Service<Request<ReqB>, Response = Response<LB>>,
    S: Service<Request<ReqB>, Response = Response<SB>>,
{
    fn left<LB, SB>(response: Response<LB>) -> Response<EitherBody<LB, SB>> {
        response.map(EitherBody::Left)
    }
    fn right<LB, SB>(response: Response<SB>) -> Response<EitherBody<LB, SB>> {
        response.map(EitherBody::Right)
    }
    match layer {
        Some(layer) => Either::Left(MapResponse::new(layer.layer(inner), left as fn(_) -> _)),
        None => Either::Right(MapResponse::new(inner, right as fn(_) -> _)),
    }
}

/// `inner` under `layer` when it is `Some`, with the layer's body boxed into the
/// [`BoxBody`] that `inner` answers with; `inner` alone otherwise.
pub fn optional_boxed<L, S, ReqB, LB>(layer: Option<L>, inner: S) -> OptionalBoxed<L, S, LB>
where
    L: Layer<S>,
    L::Service: Service<Request<ReqB>, Response = Response<LB>>,
    S: Service<Request<ReqB>, Response = Response<BoxBody>>,
    LB: http_body::Body<Data = Bytes> + Send + 'static,
    LB::Error: Into<BoxError>,
{
    match layer {
        Some(layer) => Either::Left(MapResponse::new(
            layer.layer(inner),
            box_body::<LB> as fn(_) -> _,
        )),
        None => Either::Right(inner),
    }
}

/// Boxes a response's body into a [`BoxBody`].
pub fn box_body<B>(response: Response<B>) -> Response<BoxBody>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    response.map(|body| body.map_err(Into::into).boxed_unsync())
}

#[cfg(all(test, feature = "timings"))]
mod tests {
    use http_body_util::Full;
    use tower::{ServiceExt, service_fn};

    use super::*;
    use crate::time::ManualTimer;
    use crate::timings::{RequestTimings, TimingsLayer};

    fn hello()
    -> impl Service<Request<()>, Response = Response<BoxBody>, Error = BoxError, Future = impl Send>
    + Clone {
        service_fn(|_req: Request<()>| async {
            Ok::<_, BoxError>(box_body(Response::new(Full::new(Bytes::from("hello")))))
        })
    }

    #[tokio::test]
    async fn the_layer_is_there_only_when_configured() -> Result<(), BoxError> {
        let timer = ManualTimer::new();
        for on in [false, true] {
            let layer = on.then(|| TimingsLayer::new(timer.shared()));
            let response = optional_body(layer.clone(), hello())
                .oneshot(Request::new(()))
                .await?;
            assert_eq!(response.extensions().get::<RequestTimings>().is_some(), on);
            assert_eq!(matches!(response.body(), EitherBody::Left(_)), on);
            assert_eq!(response.into_body().collect().await?.to_bytes(), "hello");

            let response = optional_boxed(layer, hello())
                .oneshot(Request::new(()))
                .await?;
            assert_eq!(response.extensions().get::<RequestTimings>().is_some(), on);
            assert_eq!(response.into_body().collect().await?.to_bytes(), "hello");
        }
        Ok(())
    }
}
