//! The [`DecompressionLayer`].

use std::fmt;

use http::HeaderValue;
use tower_layer::Layer;

use super::{Decompression, Encoding, encoding::Codecs, limit::Limits};

/// Asks for compressed responses and decodes them; see the [module documentation](super).
///
/// By default every coding compiled in is enabled, and the decompression-bomb limits are
/// [`DEFAULT_MAX_SIZE`](super::DEFAULT_MAX_SIZE) and
/// [`DEFAULT_MAX_RATIO`](super::DEFAULT_MAX_RATIO).
#[derive(Clone)]
pub struct DecompressionLayer {
    config: Config,
}

/// Settings shared by the layer and the services it builds.
#[derive(Clone)]
pub(super) struct Config {
    pub(super) codecs: Codecs,
    /// The `Accept-Encoding` value for `codecs`, built once.
    pub(super) accept: Option<HeaderValue>,
    pub(super) limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        let codecs = Codecs::compiled();
        Self {
            codecs,
            accept: codecs.accept_encoding(),
            limits: Limits::default(),
        }
    }
}

impl Default for DecompressionLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl DecompressionLayer {
    /// A layer with every coding this build has (`gzip`, `deflate`, `br`, `zstd`, each behind
    /// its `decompression-*` feature) and the default limits.
    pub fn new() -> Self {
        Self {
            config: Config::default(),
        }
    }

    fn codec(mut self, coding: Encoding, enabled: bool) -> Self {
        self.config.codecs = self.config.codecs.set(coding, enabled);
        self.config.accept = self.config.codecs.accept_encoding();
        self
    }

    /// Whether to ask for and decode `gzip` (and `x-gzip`). Enabling it has no effect without
    /// the `decompression-gzip` feature.
    pub fn gzip(self, enabled: bool) -> Self {
        self.codec(Encoding::Gzip, enabled)
    }

    /// Whether to ask for and decode `deflate`. Enabling it has no effect without the
    /// `decompression-deflate` feature.
    pub fn deflate(self, enabled: bool) -> Self {
        self.codec(Encoding::Deflate, enabled)
    }

    /// Whether to ask for and decode `br`. Enabling it has no effect without the
    /// `decompression-br` feature.
    pub fn br(self, enabled: bool) -> Self {
        self.codec(Encoding::Br, enabled)
    }

    /// Whether to ask for and decode `zstd`. Enabling it has no effect without the
    /// `decompression-zstd` feature.
    pub fn zstd(self, enabled: bool) -> Self {
        self.codec(Encoding::Zstd, enabled)
    }

    /// Disables every coding: the layer then adds no `Accept-Encoding` and passes every
    /// response through untouched. Codings enabled afterwards are turned back on.
    pub fn no_decompression(mut self) -> Self {
        self.config.codecs = Codecs::NONE;
        self.config.accept = None;
        self
    }

    /// The most bytes a decoded body may have (each decoding stage is held to it); past it,
    /// the body ends with a [`SizeLimit`](super::DecompressionErrorKind::SizeLimit) error after
    /// decoding at most one byte more. `None` removes the limit. Default:
    /// [`DEFAULT_MAX_SIZE`](super::DEFAULT_MAX_SIZE) (256 MiB).
    pub fn max_size(mut self, max: Option<u64>) -> Self {
        self.config.limits.max_size = max;
        self
    }

    /// The most decoded bytes per byte of the response body read so far, checked once a body
    /// has decoded more than [`RATIO_CHECK_AFTER`](super::RATIO_CHECK_AFTER) (1 MiB); past it,
    /// the body ends with a [`RatioLimit`](super::DecompressionErrorKind::RatioLimit) error.
    /// `None` removes the limit. Default: [`DEFAULT_MAX_RATIO`](super::DEFAULT_MAX_RATIO) (1000).
    pub fn max_ratio(mut self, ratio: Option<u32>) -> Self {
        self.config.limits.max_ratio = ratio;
        self
    }
}

impl<S> Layer<S> for DecompressionLayer {
    type Service = Decompression<S>;

    fn layer(&self, inner: S) -> Decompression<S> {
        Decompression::with_config(inner, self.config.clone())
    }
}

impl fmt::Debug for DecompressionLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecompressionLayer")
            .field("accept_encoding", &self.accept)
            .field("max_size", &self.limits.max_size)
            .field("max_ratio", &self.limits.max_ratio)
            .finish()
    }
}
