//! The [`RedirectLayer`].

use std::{fmt, sync::Arc};

use http::StatusCode;
use tower_layer::Layer;

use super::{Policy, Redirect, location::KeepPost};

/// How many bytes of a request body the layer records by default, so that a 301, 302, 307
/// or 308 can send it again: 1 MiB.
pub const DEFAULT_MAX_REPLAY_BODY_BYTES: usize = 1024 * 1024;

/// Follows redirects according to a [`Policy`].
///
/// See the [module documentation](super) for the rules every hop follows.
#[derive(Clone)]
pub struct RedirectLayer {
    config: Arc<Config>,
}

/// Settings shared by the layer, the services it builds and their futures.
#[derive(Clone, Debug)]
pub(super) struct Config {
    pub(super) policy: Policy,
    pub(super) https_only: bool,
    pub(super) referer: bool,
    pub(super) max_replay_body_bytes: usize,
    pub(super) keep_post: KeepPost,
}

impl RedirectLayer {
    /// Creates a layer that follows redirects as `policy` says, with `https_only` and
    /// `Referer` off, and a replay cap of [`DEFAULT_MAX_REPLAY_BODY_BYTES`].
    pub fn new(policy: Policy) -> Self {
        Self {
            config: Arc::new(Config {
                policy,
                https_only: false,
                referer: false,
                max_replay_body_bytes: DEFAULT_MAX_REPLAY_BODY_BYTES,
                keep_post: KeepPost::default(),
            }),
        }
    }

    /// Replaces the policy.
    pub fn policy(mut self, policy: Policy) -> Self {
        Arc::make_mut(&mut self.config).policy = policy;
        self
    }

    /// Refuses (with [`RedirectErrorKind::InsecureRedirect`](super::RedirectErrorKind)) any
    /// redirect to an `http` URI. Off by default.
    ///
    /// Only redirect targets are checked: the first request is sent as the caller built it.
    pub fn https_only(mut self, enabled: bool) -> Self {
        Arc::make_mut(&mut self.config).https_only = enabled;
        self
    }

    /// Sends a `Referer` on each hop naming the URI that redirected: in full (without
    /// userinfo) within one origin, only the origin across origins, and none from https to
    /// http. Off by default; when on, it replaces a `Referer` the caller set.
    pub fn referer(mut self, enabled: bool) -> Self {
        Arc::make_mut(&mut self.config).referer = enabled;
        self
    }

    /// How many bytes of a request body to record so that a redirect that keeps the body
    /// (307, 308, and 301/302 for methods other than POST) can send it again. A body larger
    /// than this makes such a redirect fail with
    /// [`RedirectErrorKind::BodyNotReplayable`](super::RedirectErrorKind); it is never sent
    /// empty or truncated. Buffered bodies cost only a reference count to record, but are
    /// bound by the cap too. A re-sending layer below (a retry layer) replays the same
    /// recording under this cap (see [`resend`](crate::resend)).
    pub fn max_replay_body_bytes(mut self, max: usize) -> Self {
        Arc::make_mut(&mut self.config).max_replay_body_bytes = max;
        self
    }

    /// Keeps a POST a POST, body included, when it is redirected with `status` (301, 302 or
    /// 303), where RFC 9110 §15.4 lets it become a GET without its body; the body is then
    /// sent again as for a 307. This is curl's `--post301`, `--post302` and `--post303`, for
    /// servers that mean "the same request, elsewhere" by those codes. Other statuses are
    /// ignored: 307 and 308 always keep the method, and only POST changes on 301 and 302.
    pub fn keep_post(mut self, status: StatusCode) -> Self {
        Arc::make_mut(&mut self.config).keep_post.insert(status);
        self
    }

    /// The policy this layer follows.
    pub fn get_policy(&self) -> &Policy {
        &self.config.policy
    }
}

impl Default for RedirectLayer {
    /// [`RedirectLayer::new`] with [`Policy::default`] (up to 10 redirects).
    fn default() -> Self {
        Self::new(Policy::default())
    }
}

impl<S> Layer<S> for RedirectLayer {
    type Service = Redirect<S>;

    fn layer(&self, inner: S) -> Redirect<S> {
        Redirect::new(inner, Arc::clone(&self.config))
    }
}

impl fmt::Debug for RedirectLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedirectLayer")
            .field("policy", &self.config.policy)
            .field("https_only", &self.config.https_only)
            .field("referer", &self.config.referer)
            .field("max_replay_body_bytes", &self.config.max_replay_body_bytes)
            .field("keep_post", &self.config.keep_post)
            .finish()
    }
}
