//! The [`DigestAuthLayer`].

use std::{
    fmt,
    sync::{Arc, Mutex},
};

use tower_layer::Layer;

use super::{DigestAuth, cache::NonceCache};
use crate::auth::Credentials;

/// The replay cap of the digest layer's own recordings, unless set: 64 KiB.
pub const DEFAULT_MAX_REPLAY_BYTES: usize = 64 * 1024;

/// Answers Digest challenges (`401` + `WWW-Authenticate`, `407` + `Proxy-Authenticate`);
/// builds [`DigestAuth`] services.
///
/// Clones share one nonce cache. See the [module documentation](super).
#[derive(Clone)]
pub struct DigestAuthLayer {
    pub(super) config: Arc<Config>,
    pub(super) cache: Arc<Mutex<NonceCache>>,
}

#[derive(Clone)]
pub(super) struct Config {
    pub(super) credentials: Option<Arc<Credentials>>,
    pub(super) proxy: Option<Arc<Credentials>>,
    pub(super) max_replay_bytes: usize,
}

impl DigestAuthLayer {
    /// A layer answering origin servers' Digest challenges with `credentials`, for every
    /// origin it sees. Credentials a request carries
    /// ([`DigestCredentials`](super::DigestCredentials)) take precedence.
    pub fn new(credentials: Credentials) -> Self {
        Self::with(Some(Arc::new(credentials)))
    }

    /// A layer without credentials of its own: it answers with the credentials each request
    /// carries ([`DigestCredentials`](super::DigestCredentials), or those a netrc layer
    /// above found), and passes other requests through untouched.
    pub fn per_request() -> Self {
        Self::with(None)
    }

    fn with(credentials: Option<Arc<Credentials>>) -> Self {
        Self {
            config: Arc::new(Config {
                credentials,
                proxy: None,
                max_replay_bytes: DEFAULT_MAX_REPLAY_BYTES,
            }),
            cache: Arc::default(),
        }
    }

    /// Also answers an HTTP proxy's `407` Digest challenges with `credentials`, in
    /// `Proxy-Authorization`.
    pub fn proxy_credentials(mut self, credentials: Credentials) -> Self {
        Arc::make_mut(&mut self.config).proxy = Some(Arc::new(credentials));
        self
    }

    /// How many bytes of a request body this layer records to send it again after a
    /// challenge ([`DEFAULT_MAX_REPLAY_BYTES`] unless set). A body a layer above already
    /// records (a retry's replay) is replayed from that recording instead. A longer body
    /// is not sent again: the `401` is returned.
    pub fn max_replay_bytes(mut self, max: usize) -> Self {
        Arc::make_mut(&mut self.config).max_replay_bytes = max;
        self
    }
}

impl<S> Layer<S> for DigestAuthLayer {
    type Service = DigestAuth<S>;

    fn layer(&self, inner: S) -> DigestAuth<S> {
        DigestAuth::new(inner, self.clone())
    }
}

impl fmt::Debug for DigestAuthLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestAuthLayer")
            .field("credentials", &self.config.credentials)
            .field("proxy", &self.config.proxy)
            .field("max_replay_bytes", &self.config.max_replay_bytes)
            .finish_non_exhaustive()
    }
}
