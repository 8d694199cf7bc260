//! The [`DigestAuthLayer`].

use std::{
    fmt,
    sync::{Arc, Mutex},
};

use http::Uri;
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
    pub(super) proxy: Option<ProxyCredentials>,
    pub(super) max_replay_bytes: usize,
}

/// The function [`DigestAuthLayer::proxy_credentials_with`] takes.
type ProxyLookup = Arc<dyn Fn(&Uri) -> Option<Credentials> + Send + Sync>;

/// Where an HTTP proxy's credentials come from.
#[derive(Clone)]
pub(super) enum ProxyCredentials {
    /// The same for every request.
    Fixed(Arc<Credentials>),
    /// Those of the proxy the request goes through, if any.
    Lookup(ProxyLookup),
}

impl ProxyCredentials {
    /// The credentials for a request to `uri`.
    pub(super) fn get(&self, uri: &Uri) -> Option<Arc<Credentials>> {
        match self {
            Self::Fixed(credentials) => Some(Arc::clone(credentials)),
            Self::Lookup(lookup) => lookup(uri).map(Arc::new),
        }
    }
}

impl fmt::Debug for ProxyCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Fixed(credentials) => credentials.fmt(f),
            Self::Lookup(_) => f.write_str("Lookup"),
        }
    }
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
        Arc::make_mut(&mut self.config).proxy =
            Some(ProxyCredentials::Fixed(Arc::new(credentials)));
        self
    }

    /// Also answers an HTTP proxy's `407` Digest challenges, with the credentials `lookup`
    /// gives for the request's URI (`None`: the request goes to no proxy, or to one without
    /// credentials). It is called for every request, before it is sent: a client that
    /// routes requests to proxies by URI gives each proxy its own credentials this way.
    pub fn proxy_credentials_with(
        mut self,
        lookup: impl Fn(&Uri) -> Option<Credentials> + Send + Sync + 'static,
    ) -> Self {
        Arc::make_mut(&mut self.config).proxy = Some(ProxyCredentials::Lookup(Arc::new(lookup)));
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
