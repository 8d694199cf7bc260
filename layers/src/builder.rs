//! [`ServiceBuilderExt`]: one `ServiceBuilder` method per layer of this crate.
//!
//! The names never collide with tower's inherent `ServiceBuilder` methods (`timeout`,
//! `retry`, `rate_limit`, …: an inherent method would silently win) nor with tower-http's
//! `ServiceBuilderExt` (`decompression`, `follow_redirects`, …: importing both traits would
//! make such a call ambiguous), so both traits can be in scope at once.
//!
//! ```
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use tower::ServiceBuilder;
//! use towline_layers::ServiceBuilderExt;
//! use towline_layers::time::ManualTimer;
//!
//! let timer = ManualTimer::new();
//! let service = ServiceBuilder::new()
//!     .timings(timer.shared())
//!     .timeouts(timer.shared(), Some(Duration::from_secs(30)), None)
//!     .service_fn(|_req: http::Request<Full<Bytes>>| async {
//!         Ok::<_, towline_layers::BoxError>(http::Response::new(Full::new(Bytes::new())))
//!     });
//! # drop(service);
//! ```

use tower::ServiceBuilder;

/// Adds this crate's layers to a `tower::ServiceBuilder`.
pub trait ServiceBuilderExt<L>: sealed::Sealed {
    /// Total and read timeouts ([`timeout::TimeoutLayer`](crate::timeout::TimeoutLayer)).
    #[cfg(feature = "timeout")]
    fn timeouts(
        self,
        timer: crate::time::SharedTimer,
        total: Option<std::time::Duration>,
        read: Option<std::time::Duration>,
    ) -> ServiceBuilder<tower_layer::Stack<crate::timeout::TimeoutLayer, L>>;

    /// Request timings ([`timings::TimingsLayer`](crate::timings::TimingsLayer)), without
    /// transport phases; add them with the layer's own constructor.
    #[cfg(feature = "timings")]
    fn timings(
        self,
        timer: crate::time::SharedTimer,
    ) -> ServiceBuilder<tower_layer::Stack<crate::timings::TimingsLayer, L>>;

    /// Follows redirects under `policy` ([`redirect::RedirectLayer`](crate::redirect::RedirectLayer)).
    #[cfg(feature = "redirect")]
    fn redirects(
        self,
        policy: crate::redirect::Policy,
    ) -> ServiceBuilder<tower_layer::Stack<crate::redirect::RedirectLayer, L>>;

    /// Sends and stores cookies in `jar` ([`cookie::CookieLayer`](crate::cookie::CookieLayer)).
    #[cfg(feature = "cookies")]
    fn cookies(
        self,
        jar: crate::cookie::CookieJar,
    ) -> ServiceBuilder<tower_layer::Stack<crate::cookie::CookieLayer, L>>;

    /// Learns HSTS policies into `store` and upgrades requests
    /// ([`hsts::HstsLayer`](crate::hsts::HstsLayer)).
    #[cfg(feature = "hsts")]
    fn hsts(
        self,
        store: crate::hsts::HstsStore,
    ) -> ServiceBuilder<tower_layer::Stack<crate::hsts::HstsLayer, L>>;

    /// Decodes compressed responses with every compiled-in coding and the default limits
    /// ([`decompression::DecompressionLayer`](crate::decompression::DecompressionLayer)).
    #[cfg(feature = "decompression")]
    fn decompress_responses(
        self,
    ) -> ServiceBuilder<tower_layer::Stack<crate::decompression::DecompressionLayer, L>>;

    /// A private HTTP cache over `cache` ([`cache::CacheLayer`](crate::cache::CacheLayer)):
    /// `timer` measures resident time, `executor` runs `stale-while-revalidate` refreshes.
    #[cfg(feature = "cache")]
    fn cache(
        self,
        cache: crate::cache::HttpCache,
        timer: crate::time::SharedTimer,
        executor: crate::exec::SharedExecutor,
    ) -> ServiceBuilder<tower_layer::Stack<crate::cache::CacheLayer, L>>;

    /// One `tracing` span per request ([`trace::TraceLayer`](crate::trace::TraceLayer)).
    #[cfg(feature = "tracing")]
    fn trace(self) -> ServiceBuilder<tower_layer::Stack<crate::trace::TraceLayer, L>>;

    /// One OpenTelemetry span and the HTTP client metrics per attempt, through the global
    /// providers, measuring with `timer` ([`otel::OtelLayer`](crate::otel::OtelLayer)); put it
    /// below redirects and retries.
    #[cfg(feature = "otel")]
    fn otel_attempts(
        self,
        timer: crate::time::SharedTimer,
    ) -> ServiceBuilder<tower_layer::Stack<crate::otel::OtelLayer, L>>;

    /// Holds requests to `limiter`'s rate, sleeping on its timer
    /// ([`rate_limit::RateLimitLayer`](crate::rate_limit::RateLimitLayer)).
    #[cfg(feature = "rate-limit")]
    fn request_rate_limit(
        self,
        limiter: crate::rate_limit::RateLimiter,
    ) -> ServiceBuilder<tower_layer::Stack<crate::rate_limit::RateLimitLayer, L>>;

    /// Paces response bodies to `limiter`'s rate, sleeping on its timer
    /// ([`bandwidth::BandwidthLayer`](crate::bandwidth::BandwidthLayer)).
    #[cfg(feature = "bandwidth")]
    fn bandwidth_limit(
        self,
        limiter: crate::bandwidth::BandwidthLimiter,
    ) -> ServiceBuilder<tower_layer::Stack<crate::bandwidth::BandwidthLayer, L>>;

    /// Retries failed requests as `config` says, waiting on `timer`, telling errors apart
    /// with `classify` ([`retry::RetryLayer`](crate::retry::RetryLayer) with its
    /// [`error_classifier`](crate::retry::RetryLayer::error_classifier)): pass
    /// [`default_error_class`](crate::retry::default_error_class), or a classifier that knows
    /// the transport's errors (the `towline` facade's `retry_class` for towline's transport).
    #[cfg(feature = "retry")]
    fn retries(
        self,
        config: crate::retry::RetryConfig,
        timer: crate::time::SharedTimer,
        classify: fn(&(dyn std::error::Error + 'static)) -> crate::retry::ErrorClass,
    ) -> ServiceBuilder<tower_layer::Stack<crate::retry::RetryLayer, L>>;

    /// Answers Digest challenges with `credentials`
    /// ([`auth::digest::DigestAuthLayer`](crate::auth::digest::DigestAuthLayer)).
    #[cfg(feature = "digest-auth")]
    fn digest_auth(
        self,
        credentials: crate::auth::Credentials,
    ) -> ServiceBuilder<tower_layer::Stack<crate::auth::digest::DigestAuthLayer, L>>;

    /// Authenticates with the entries of `netrc`
    /// ([`auth::netrc::NetrcLayer`](crate::auth::netrc::NetrcLayer)); add a digest layer
    /// after it to answer Digest challenges with them.
    #[cfg(feature = "netrc")]
    fn netrc(
        self,
        netrc: crate::auth::netrc::Netrc,
    ) -> ServiceBuilder<tower_layer::Stack<crate::auth::netrc::NetrcLayer, L>>;
}

mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for tower::ServiceBuilder<L> {}
}

impl<L> ServiceBuilderExt<L> for ServiceBuilder<L> {
    #[cfg(feature = "timeout")]
    fn timeouts(
        self,
        timer: crate::time::SharedTimer,
        total: Option<std::time::Duration>,
        read: Option<std::time::Duration>,
    ) -> ServiceBuilder<tower_layer::Stack<crate::timeout::TimeoutLayer, L>> {
        self.layer(
            crate::timeout::TimeoutLayer::new(timer)
                .total(total)
                .read(read),
        )
    }

    #[cfg(feature = "timings")]
    fn timings(
        self,
        timer: crate::time::SharedTimer,
    ) -> ServiceBuilder<tower_layer::Stack<crate::timings::TimingsLayer, L>> {
        self.layer(crate::timings::TimingsLayer::new(timer))
    }

    #[cfg(feature = "redirect")]
    fn redirects(
        self,
        policy: crate::redirect::Policy,
    ) -> ServiceBuilder<tower_layer::Stack<crate::redirect::RedirectLayer, L>> {
        self.layer(crate::redirect::RedirectLayer::new(policy))
    }

    #[cfg(feature = "cookies")]
    fn cookies(
        self,
        jar: crate::cookie::CookieJar,
    ) -> ServiceBuilder<tower_layer::Stack<crate::cookie::CookieLayer, L>> {
        self.layer(crate::cookie::CookieLayer::new(jar))
    }

    #[cfg(feature = "hsts")]
    fn hsts(
        self,
        store: crate::hsts::HstsStore,
    ) -> ServiceBuilder<tower_layer::Stack<crate::hsts::HstsLayer, L>> {
        self.layer(crate::hsts::HstsLayer::new(store))
    }

    #[cfg(feature = "decompression")]
    fn decompress_responses(
        self,
    ) -> ServiceBuilder<tower_layer::Stack<crate::decompression::DecompressionLayer, L>> {
        self.layer(crate::decompression::DecompressionLayer::new())
    }

    #[cfg(feature = "cache")]
    fn cache(
        self,
        cache: crate::cache::HttpCache,
        timer: crate::time::SharedTimer,
        executor: crate::exec::SharedExecutor,
    ) -> ServiceBuilder<tower_layer::Stack<crate::cache::CacheLayer, L>> {
        self.layer(crate::cache::CacheLayer::new(cache, timer, executor))
    }

    #[cfg(feature = "tracing")]
    fn trace(self) -> ServiceBuilder<tower_layer::Stack<crate::trace::TraceLayer, L>> {
        self.layer(crate::trace::TraceLayer::new())
    }

    #[cfg(feature = "otel")]
    fn otel_attempts(
        self,
        timer: crate::time::SharedTimer,
    ) -> ServiceBuilder<tower_layer::Stack<crate::otel::OtelLayer, L>> {
        self.layer(crate::otel::OtelLayer::new(timer))
    }

    #[cfg(feature = "rate-limit")]
    fn request_rate_limit(
        self,
        limiter: crate::rate_limit::RateLimiter,
    ) -> ServiceBuilder<tower_layer::Stack<crate::rate_limit::RateLimitLayer, L>> {
        self.layer(crate::rate_limit::RateLimitLayer::new(limiter))
    }

    #[cfg(feature = "bandwidth")]
    fn bandwidth_limit(
        self,
        limiter: crate::bandwidth::BandwidthLimiter,
    ) -> ServiceBuilder<tower_layer::Stack<crate::bandwidth::BandwidthLayer, L>> {
        self.layer(crate::bandwidth::BandwidthLayer::new(limiter))
    }

    #[cfg(feature = "retry")]
    fn retries(
        self,
        config: crate::retry::RetryConfig,
        timer: crate::time::SharedTimer,
        classify: fn(&(dyn std::error::Error + 'static)) -> crate::retry::ErrorClass,
    ) -> ServiceBuilder<tower_layer::Stack<crate::retry::RetryLayer, L>> {
        self.layer(crate::retry::RetryLayer::new(config, timer).error_classifier(classify))
    }

    #[cfg(feature = "digest-auth")]
    fn digest_auth(
        self,
        credentials: crate::auth::Credentials,
    ) -> ServiceBuilder<tower_layer::Stack<crate::auth::digest::DigestAuthLayer, L>> {
        self.layer(crate::auth::digest::DigestAuthLayer::new(credentials))
    }

    #[cfg(feature = "netrc")]
    fn netrc(
        self,
        netrc: crate::auth::netrc::Netrc,
    ) -> ServiceBuilder<tower_layer::Stack<crate::auth::netrc::NetrcLayer, L>> {
        self.layer(crate::auth::netrc::NetrcLayer::new(netrc))
    }
}
