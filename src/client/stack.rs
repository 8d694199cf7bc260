//! The stack a [`ClientBuilder`] assembles, and the one type erasure at its top.
//!
//! Every layer sits at a fixed place (see [`assemble`]); a layer the builder did not
//! configure is not in the stack, except the four whose absence would change the body
//! types (timeout, decompression, redirect, retry), which pass requests through untouched
//! when unconfigured, and the digest layer, which per-request credentials need.

use std::sync::Arc;
#[cfg(feature = "rate-limit")]
use std::time::Duration;

use http::Request;
#[cfg(not(all(
    feature = "hsts",
    feature = "cache",
    feature = "cookies",
    feature = "rate-limit",
    feature = "bandwidth",
    feature = "tracing",
    feature = "otel",
    feature = "digest-auth",
    feature = "netrc"
)))]
use tower::layer::util::Identity;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt};
#[cfg(feature = "netrc")]
use towline_layers::auth::netrc::{Netrc, NetrcLayer};
#[cfg(feature = "digest-auth")]
use towline_layers::auth::{Credentials, digest::DigestAuthLayer};
#[cfg(feature = "bandwidth")]
use towline_layers::bandwidth::{BandwidthLayer, BandwidthLimiter};
#[cfg(feature = "cache")]
use towline_layers::cache::CacheLayer;
#[cfg(feature = "cookies")]
use towline_layers::cookie::CookieLayer;
#[cfg(feature = "cache")]
use towline_layers::exec::SharedExecutor;
#[cfg(feature = "hsts")]
use towline_layers::hsts::HstsLayer;
use towline_layers::optional::{box_body, optional_body, optional_boxed};
#[cfg(feature = "rate-limit")]
use towline_layers::rate_limit::{RateLimitLayer, RateLimiter};
use towline_layers::redirect::RedirectLayer;
use towline_layers::resend::ResendBody;
use towline_layers::retry::RetryLayer;
use towline_layers::timeout::TimeoutLayer;
use towline_layers::timings::TimingsLayer;
use towline_services::connect::proxy::{ProxyConfig, ProxyConnector};
use towline_services::connect::unix::UnixConnector;
use towline_services::connect::{DynResolver, GaiResolver, HttpConnector, ResolveOverrides};
#[cfg(feature = "cache")]
use towline_services::rt::Exec;
use towline_services::rt::Runtime;
use towline_services::transport::Transport;

use super::builder::ClientBuilder;
#[cfg(any(feature = "rate-limit", feature = "bandwidth"))]
use super::builder::LimiterSetting;
use super::{Client, ClientRef, SendFn};
use crate::body::{Body, ResponseBody};
use crate::error::{BoxError, Result};

/// The stack as user layers see it: a clonable, boxed service.
pub type HttpService = BoxCloneSyncService<Request<Body>, http::Response<ResponseBody>, BoxError>;

/// A user layer added with [`ClientBuilder::layer`], applied when the client is built.
pub(super) type LayerFn = Arc<dyn Fn(HttpService) -> HttpService + Send + Sync>;

/// hickory with the system's configuration, for a client on runtime `R`, which must be tokio's:
/// hickory's queries run on it.
#[cfg(feature = "hickory-dns")]
fn system_hickory<R: Runtime>() -> Result<DynResolver> {
    use std::any::TypeId;
    if TypeId::of::<R>() != TypeId::of::<towline_services::rt::tokio::TokioRuntime>() {
        return Err(crate::Error::builder(
            "hickory_dns needs the tokio runtime: hickory runs its queries on tokio",
        ));
    }
    let resolver = towline_services::connect::hickory::HickoryResolver::system()
        .map_err(crate::Error::builder)?;
    Ok(DynResolver::new(resolver))
}

/// Builds the client's stack from `builder`'s settings.
pub(super) fn assemble<R: Runtime>(builder: ClientBuilder<R>) -> Result<Client> {
    let mut tcp = builder.tcp;
    if !builder.resolve.is_empty() {
        tcp.overrides = ResolveOverrides::new(builder.resolve);
    }
    let overrides = tcp.overrides.clone();
    // One resolver type whichever resolver is used, so the stack's type does not depend on
    // it; the system resolver's lookup is boxed either way.
    #[cfg(feature = "hickory-dns")]
    let resolver = match builder.resolver {
        None if builder.hickory_dns => Some(system_hickory::<R>()?),
        given => given,
    };
    #[cfg(not(feature = "hickory-dns"))]
    let resolver = builder.resolver;
    let resolver =
        resolver.unwrap_or_else(|| DynResolver::new(GaiResolver::new(builder.runtime.clone())));
    #[cfg(feature = "http3")]
    let quic_settings = (resolver.clone(), tcp.clone());
    let connector = HttpConnector::with_resolver(builder.runtime.clone(), resolver.clone(), tcp);
    let connector = UnixConnector::new(connector, builder.runtime.clone());
    let connector = ProxyConnector::new(connector, resolver).with_overrides(overrides);
    // A tunnel's `407` never reaches the digest layer (the connector asks for tunnels, below
    // every layer), so the connector gets the layer's answer as a function.
    #[cfg(feature = "digest-auth")]
    let connector =
        connector.with_tunnel_authenticator(Arc::new(|challenges, credentials, authority| {
            towline_layers::auth::digest::tunnel_authorization(
                challenges,
                &Credentials::new(credentials.username(), credentials.password()),
                authority,
            )
        }));
    #[cfg(feature = "rustls")]
    let tls_configs = builder.tls.build().map_err(crate::Error::builder)?;
    #[cfg(feature = "rustls")]
    let connector = towline_services::connect::tls::TlsConnector::new(
        connector.with_tls(&tls_configs),
        tls_configs.clone(),
    );
    let mut transport_config = builder.transport;
    // The environment is read once, here, as reqwest reads it; proxies given to the builder
    // replace it.
    transport_config.proxy = match builder.proxies {
        Some(proxies) => proxies,
        None => ProxyConfig::from_env(),
    };
    // The OpenTelemetry layer records how long each connection the transport made was open.
    #[cfg(feature = "otel")]
    if let Some(otel) = &builder.otel {
        transport_config.on_connection_close =
            Some(towline_services::transport::ConnectionCloseHook::new(
                otel.connection_duration_recorder(),
            ));
    }
    // The digest layer answers an HTTP proxy's 407 with the credentials of the proxy the
    // transport routes the request to (forward, absolute-form requests only: a tunnel's 407
    // is the connector's).
    #[cfg(feature = "digest-auth")]
    let proxies_for_digest =
        (!transport_config.proxy.is_empty()).then(|| transport_config.proxy.clone());
    // HTTP/3 resolves and trusts as the TCP stack does: the same resolver, overrides,
    // address families and TLS settings.
    #[cfg(feature = "http3")]
    let transport: Transport<_, ResendBody<ResendBody<Body>>, R> = {
        let (resolver, tcp) = quic_settings;
        let quic = towline_services::connect::quic::QuicConnector::new(
            &builder.runtime,
            resolver,
            tcp,
            &tls_configs,
            &transport_config.http3,
        );
        Transport::with_http3(connector, quic, builder.runtime.clone(), transport_config)
    };
    #[cfg(not(feature = "http3"))]
    let transport: Transport<_, ResendBody<ResendBody<Body>>, R> =
        Transport::new(connector, builder.runtime.clone(), transport_config);
    let timer = builder.runtime.timer();
    let retry = match builder.attempt_timeout {
        Some(limit) if builder.retry.get_attempt_timeout().is_none() => {
            builder.retry.attempt_timeout(limit)
        }
        _ => builder.retry,
    };
    // The order, outermost first: trace, timings, total timeout (it also gives
    // the retry layer its deadline), decompression (above redirect, so redirect bodies
    // are drained undecoded, and above the cache, so the cache keeps encoded bytes),
    // redirect (each hop below it), HSTS (so redirect targets are upgraded too), cache,
    // retry (each attempt below it: auth, cookies, rate limit), netrc and digest auth (each
    // answer below them: cookies), cookies (so every hop, attempt and answer sends and
    // stores cookies), rate limit,
    // connection_verbose (right above the transport, so it logs the heads as sent and
    // received), bandwidth (on the response body), transport.
    // The timeout, decompression, redirect and retry layers are always present and pass
    // requests through untouched when unconfigured (a disabled decompression layer
    // forwards the body as it is, `Policy::none()` follows nothing, a disabled retry
    // config neither wraps nor copies anything): that keeps one body type under them,
    // so the response body is boxed once for the whole core stack rather than once per
    // layer, and lets a single request turn retries on. The redirect and retry layers
    // also decide the transport's request body type. Layers that do not wrap the body
    // (HSTS, cookies, rate limit) are `option_layer`s; optional body-wrapping layers in
    // the core (cache, bandwidth) answer with an `Either` body (no box), those above it
    // (timings, trace) erase their body again, so both arms of their `Either` answer
    // alike.
    // A layer compiled out is an `Identity` that is never configured, so the stack's shape
    // (and its types) is the same in every feature set.
    #[cfg(feature = "hsts")]
    let hsts = builder.hsts.map(HstsLayer::new);
    #[cfg(not(feature = "hsts"))]
    let hsts = None::<Identity>;
    #[cfg(feature = "cache")]
    let cache = builder.cache.map(|cache| {
        let executor: SharedExecutor = Arc::new(Exec(builder.runtime.clone()));
        CacheLayer::new(cache, timer.clone(), executor)
    });
    #[cfg(not(feature = "cache"))]
    let cache = None::<Identity>;
    #[cfg(feature = "cookies")]
    let cookies = builder.cookies.map(CookieLayer::new);
    #[cfg(not(feature = "cookies"))]
    let cookies = None::<Identity>;
    // Auth (netrc above digest, which answers Digest challenges with the credentials netrc
    // finds) sits under retry, whose recording of the body it replays, and above cookies,
    // not under them as the usual order has it: a server may set a cookie with its
    // challenge and want it back with the answer (a session tied to the nonce; httpbin's
    // `require-cookie` and stale-nonce paths), so each answer, like each retry, passes
    // through the cookie layer. The digest layer is present whenever compiled in, since
    // any request may carry its own credentials (`RequestBuilder::digest_auth`); without
    // any it passes requests through and allocates nothing. Both keep the body type, so
    // they are `option_layer`s.
    #[cfg(feature = "netrc")]
    let netrc = match &builder.netrc {
        super::builder::NetrcSetting::Off => None,
        super::builder::NetrcSetting::Default => {
            match towline_layers::auth::netrc::Netrc::default_path() {
                Some(path) if path.exists() => Some(NetrcLayer::new(
                    Netrc::from_path(path).map_err(crate::Error::builder)?,
                )),
                _ => None,
            }
        }
        super::builder::NetrcSetting::Path(path) => Some(NetrcLayer::new(
            Netrc::from_path(path).map_err(crate::Error::builder)?,
        )),
    };
    #[cfg(not(feature = "netrc"))]
    let netrc = None::<Identity>;
    #[cfg(feature = "digest-auth")]
    let digest = Some({
        let layer = match builder.digest_auth {
            Some(credentials) => DigestAuthLayer::new(credentials),
            None => DigestAuthLayer::per_request(),
        };
        match proxies_for_digest {
            Some(proxies) => layer.proxy_credentials_with(move |uri| {
                let route = proxies.route(uri).filter(|route| route.is_forward())?;
                let credentials = route.last()?.credentials()?;
                Some(Credentials::new(
                    credentials.username(),
                    credentials.password(),
                ))
            }),
            None => layer,
        }
    });
    #[cfg(not(feature = "digest-auth"))]
    let digest = None::<Identity>;
    #[cfg(feature = "rate-limit")]
    let rate_limit = match builder.rate_limiter {
        Some(LimiterSetting::Given(limiter)) => Some(RateLimitLayer::new(limiter)),
        Some(LimiterSetting::PerSecond(requests)) => Some(RateLimitLayer::new(
            RateLimiter::new(requests, Duration::from_secs(1), timer.clone())
                .map_err(crate::Error::builder)?,
        )),
        None => None,
    };
    #[cfg(not(feature = "rate-limit"))]
    let rate_limit = None::<Identity>;
    #[cfg(feature = "bandwidth")]
    let bandwidth = match builder.bandwidth {
        Some(LimiterSetting::Given(limiter)) => Some(BandwidthLayer::new(limiter)),
        Some(LimiterSetting::PerSecond(bytes)) => Some(BandwidthLayer::new(
            BandwidthLimiter::new(bytes, timer.clone()).map_err(crate::Error::builder)?,
        )),
        None => None,
    };
    #[cfg(not(feature = "bandwidth"))]
    let bandwidth = None::<Identity>;
    #[cfg(feature = "tracing")]
    let verbose = builder
        .connection_verbose
        .then_some(super::verbose::VerboseLayer);
    #[cfg(not(feature = "tracing"))]
    let verbose = None::<Identity>;
    #[cfg(feature = "tracing")]
    let trace = builder
        .trace
        .map(|layer| layer.default_error_classifier(crate::error::error_type));
    #[cfg(not(feature = "tracing"))]
    let trace = None::<Identity>;
    // OpenTelemetry's span is one physical send, so the layer sits below every layer that
    // sends a request again (redirect, retry; authentication re-sends too), right under the
    // cookie layer: each hop and attempt gets its own span, with the `Cookie` header set but
    // never recorded, and carries the trace context of its own span to the server. It sits
    // above the rate limit, whose wait is part of the attempt as the caller sees it. It wraps
    // the body (the span ends with it), so it is an `optional_body` like cache and bandwidth.
    #[cfg(feature = "otel")]
    let otel = builder.otel.map(|layer| {
        layer
            .default_error_classifier(crate::error::error_type)
            .pool_metrics(transport.pool().stats_source())
    });
    #[cfg(not(feature = "otel"))]
    let otel = None::<Identity>;
    let stack = ServiceBuilder::new()
        .map_response(box_body)
        .layer(
            TimeoutLayer::new(builder.runtime.timer())
                .total(builder.timeout)
                .read(builder.read_timeout),
        )
        .layer(builder.decompression)
        .layer(
            builder.redirect_keep_post.iter().fold(
                RedirectLayer::new(builder.redirect_policy)
                    .https_only(builder.https_only)
                    .referer(builder.referer),
                |layer, status| layer.keep_post(*status),
            ),
        )
        .option_layer(hsts)
        .service(optional_body(
            cache,
            ServiceBuilder::new()
                .layer(
                    RetryLayer::new(retry, timer.clone())
                        .error_classifier(towline_services::retry_class),
                )
                .option_layer(netrc)
                .option_layer(digest)
                .option_layer(cookies)
                .service(optional_body(
                    otel,
                    ServiceBuilder::new()
                        .option_layer(rate_limit)
                        .option_layer(verbose)
                        .service(optional_body(bandwidth, transport)),
                )),
        ));
    let stack = optional_boxed(
        builder
            .timings
            .then(|| TimingsLayer::new(builder.runtime.timer())),
        stack,
    );
    let stack = optional_boxed(trace, stack);
    let send: SendFn = if builder.layers.is_empty() {
        Arc::new(move |request| {
            let stack = stack.clone();
            Box::pin(stack.oneshot(request))
        })
    } else {
        let mut service: HttpService = BoxCloneSyncService::new(stack);
        for layer in builder.layers.iter().rev() {
            service = layer(service);
        }
        Arc::new(move |request| Box::pin(service.clone().oneshot(request)))
    };
    Ok(Client {
        inner: Arc::new(ClientRef {
            send,
            default_headers: builder.default_headers,
            https_only: builder.https_only,
            max_body_size: builder.max_body_size,
            base_url: builder.base_url,
            unix_socket: builder.unix_socket,
            timer: builder.runtime.timer(),
            spawner: {
                let runtime = builder.runtime.clone();
                Arc::new(move |task| runtime.spawn(task))
            },
            #[cfg(any(feature = "multipart", feature = "download"))]
            blocking_pool: crate::blocking_pool::BlockingPool::new(builder.runtime.clone()),
        }),
    })
}
