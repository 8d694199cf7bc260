//! [`RetryConfig`] and the policy pieces it is made of: what is retried, and how long to wait.

use std::{error::Error, fmt, io, sync::Arc, time::Duration};

use http::{HeaderMap, Method, StatusCode};

use super::RetryBudget;
use crate::{error::find_cause, replay::ReplayError};

/// The default cap on the bytes of a request body kept for replay: 64 KiB.
pub const DEFAULT_MAX_REPLAY_BYTES: usize = 64 * 1024;

/// How the wait before a retry is randomised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Jitter {
    /// "Full jitter": uniform in `[0, backoff]`. The default; it spreads clients that failed
    /// together the most.
    #[default]
    Full,
    /// "Equal jitter": uniform in `[backoff / 2, backoff]`.
    Equal,
    /// No randomness: exactly the computed backoff.
    None,
}

/// Whether a failed request may have reached the server; says which errors are retried
/// (shared with the transport, which knows its own errors' class: `towline_services::retry_class`).
pub use towline_core::ErrorClass;

/// The answer of a [`RetryConfig::classify`] hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetryDecision {
    /// Apply the configured rules (statuses, error classes, idempotency).
    Default,
    /// Retry after the computed backoff (or the response's `Retry-After`), whatever the
    /// status, error class or method.
    Retry,
    /// Retry after this wait (capped by `max_backoff`), whatever the status, error class or
    /// method.
    RetryAfter(Duration),
    /// Do not retry: the response or error goes to the caller.
    DoNotRetry,
}

/// What a [`RetryConfig::classify`] hook sees of one attempt.
#[derive(Debug)]
#[non_exhaustive]
pub struct RetryAttempt<'a> {
    /// The request's method.
    pub method: &'a Method,
    /// The attempt that just ended: 0 for the first send, 1 for the first retry, …
    pub attempt: u32,
    /// How it ended.
    pub outcome: AttemptOutcome<'a>,
}

/// How an attempt ended, for a [`RetryConfig::classify`] hook.
#[derive(Debug)]
#[non_exhaustive]
pub enum AttemptOutcome<'a> {
    /// The server answered.
    Response {
        /// The response status.
        status: StatusCode,
        /// The response headers.
        headers: &'a HeaderMap,
    },
    /// The inner service failed.
    Error(&'a (dyn Error + 'static)),
}

type StatusPredicate = Arc<dyn Fn(StatusCode) -> bool + Send + Sync>;
type Classifier = Arc<dyn Fn(&RetryAttempt<'_>) -> RetryDecision + Send + Sync>;
pub(super) type ErrorClassifier = Arc<dyn Fn(&(dyn Error + 'static)) -> ErrorClass + Send + Sync>;

/// Which response statuses are retried (for idempotent methods, or all methods with
/// [`RetryConfig::retry_non_idempotent`]).
#[derive(Clone, Default)]
pub struct RetryStatuses {
    kind: StatusKind,
}

#[derive(Clone, Default)]
enum StatusKind {
    /// Every 5xx, and 429.
    #[default]
    Default,
    Never,
    List(Arc<[StatusCode]>),
    Predicate(StatusPredicate),
}

impl RetryStatuses {
    /// No status is retried: only errors are.
    pub fn none() -> Self {
        Self {
            kind: StatusKind::Never,
        }
    }

    /// Exactly these statuses are retried.
    pub fn list(statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        Self {
            kind: StatusKind::List(statuses.into_iter().collect()),
        }
    }

    /// The statuses for which `retry` returns `true` are retried.
    pub fn predicate(retry: impl Fn(StatusCode) -> bool + Send + Sync + 'static) -> Self {
        Self {
            kind: StatusKind::Predicate(Arc::new(retry)),
        }
    }

    /// Whether `status` is retried.
    pub fn contains(&self, status: StatusCode) -> bool {
        match &self.kind {
            StatusKind::Default => {
                status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
            }
            StatusKind::Never => false,
            StatusKind::List(list) => list.contains(&status),
            StatusKind::Predicate(retry) => retry(status),
        }
    }
}

impl fmt::Debug for RetryStatuses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            StatusKind::Default => f.write_str("RetryStatuses(5xx, 429)"),
            StatusKind::Never => f.write_str("RetryStatuses(none)"),
            StatusKind::List(list) => f.debug_tuple("RetryStatuses").field(list).finish(),
            StatusKind::Predicate(_) => f.write_str("RetryStatuses(predicate)"),
        }
    }
}

/// What the retry layer retries, how often, and how long it waits in between.
///
/// The layer holds a default configuration; a `RetryConfig` in a request's extensions
/// replaces it (all of it, budget included) for that request.
#[derive(Clone)]
pub struct RetryConfig {
    pub(super) max_retries: u32,
    initial_backoff: Duration,
    pub(super) max_backoff: Duration,
    multiplier: f64,
    jitter: Jitter,
    statuses: RetryStatuses,
    classify: Option<Classifier>,
    /// `None`: the layer's error classifier ([`RetryLayer::error_classifier`](super::RetryLayer::error_classifier)).
    classify_error: Option<ErrorClassifier>,
    pub(super) budget: Option<RetryBudget>,
    retry_non_idempotent: bool,
    pub(super) max_replay_bytes: usize,
    pub(super) attempt_timeout: Option<Duration>,
}

impl RetryConfig {
    /// The defaults: up to 3 retries; backoff 100 ms, doubling, at most 30 s, with full
    /// jitter; every 5xx and 429 retried; no budget; idempotent methods only; bodies up to
    /// [`DEFAULT_MAX_REPLAY_BYTES`] replayed; errors classified by [`default_error_class`].
    pub fn new() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: Jitter::Full,
            statuses: RetryStatuses::default(),
            classify: None,
            classify_error: None,
            budget: None,
            retry_non_idempotent: false,
            max_replay_bytes: DEFAULT_MAX_REPLAY_BYTES,
            attempt_timeout: None,
        }
    }

    /// A configuration that never retries: `new().max_retries(0)`. The layer then passes
    /// requests through untouched.
    pub fn disabled() -> Self {
        Self::new().max_retries(0)
    }

    /// The longest an attempt may wait for its response head (none by default): an attempt
    /// still waiting then is dropped and fails with [`AttemptElapsed`](super::AttemptElapsed),
    /// which the error classifiers call [`ErrorClass::MaybeSent`] (the request may have
    /// reached the server), so an idempotent request is sent again while retries, the budget
    /// and the request's deadline allow. Unlike the timeout layer's total timeout, which
    /// bounds the whole call, this gives each attempt its own share of it. The response body
    /// is not bounded by it. It applies even with `max_retries` 0, as a response-head
    /// timeout for the one attempt. An [`AttemptTimeout`](super::AttemptTimeout) in a
    /// request's extensions replaces it for that request.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// The per-attempt timeout, if one is set.
    pub fn get_attempt_timeout(&self) -> Option<Duration> {
        self.attempt_timeout
    }

    /// How many times a request may be sent again after its first attempt (3 by default).
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The wait before the first retry, before jitter (100 ms by default).
    pub fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The longest wait before any retry, `Retry-After` included (30 s by default).
    pub fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// By how much the backoff grows with each retry (2.0 by default).
    ///
    /// A backoff that shrinks makes no sense, so a value below 1.0, and NaN, are clamped to
    /// 1.0 (a constant backoff). Huge values are fine: the wait is capped by `max_backoff`.
    pub fn backoff_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = if multiplier >= 1.0 { multiplier } else { 1.0 };
        self
    }

    /// How the wait is randomised ([`Jitter::Full`] by default).
    pub fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// Which response statuses are retried (every 5xx and 429 by default).
    pub fn retry_on_status(mut self, statuses: RetryStatuses) -> Self {
        self.statuses = statuses;
        self
    }

    /// A hook that sees every attempt's outcome first and may override the rules; see
    /// [`RetryDecision`]. `max_retries`, the budget, the deadline and body replay still
    /// apply to a retry it asks for.
    pub fn classify(
        mut self,
        hook: impl Fn(&RetryAttempt<'_>) -> RetryDecision + Send + Sync + 'static,
    ) -> Self {
        self.classify = Some(Arc::new(hook));
        self
    }

    /// How errors of the inner service are classified. Without it, the layer's classifier
    /// decides ([`RetryLayer::error_classifier`](super::RetryLayer::error_classifier),
    /// [`default_error_class`] unless set there): a client that knows its transport's error
    /// types sets that once, and per-request configurations keep using it.
    pub fn classify_error(
        mut self,
        classify: impl Fn(&(dyn Error + 'static)) -> ErrorClass + Send + Sync + 'static,
    ) -> Self {
        self.classify_error = Some(Arc::new(classify));
        self
    }

    /// Limits retries with a shared [`RetryBudget`] (none by default).
    pub fn budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Also retries non-idempotent methods (POST, PATCH, …) on retryable statuses and on
    /// errors that may have reached the server. Off by default: the server may have acted on
    /// the first attempt.
    pub fn retry_non_idempotent(mut self, enabled: bool) -> Self {
        self.retry_non_idempotent = enabled;
        self
    }

    /// How many bytes of a request body are kept so that a retry can send it again
    /// ([`DEFAULT_MAX_REPLAY_BYTES`] by default). A larger body is sent once and not
    /// retried. A body that a re-sending layer above (a redirect layer) already records is
    /// not recorded again: that layer's cap applies instead (see [`resend`](crate::resend)).
    pub fn max_replay_bytes(mut self, max: usize) -> Self {
        self.max_replay_bytes = max;
        self
    }

    /// Decides about one attempt: `None` means no retry, `Some(wait)` a retry, after `wait`
    /// when the decision named one (otherwise the caller computes the backoff).
    pub(super) fn decide(
        &self,
        attempt: &RetryAttempt<'_>,
        layer_classifier: &ErrorClassifier,
    ) -> Option<Option<Duration>> {
        let decision = self
            .classify
            .as_ref()
            .map_or(RetryDecision::Default, |classify| classify(attempt));
        match decision {
            RetryDecision::Retry => return Some(None),
            RetryDecision::RetryAfter(wait) => return Some(Some(wait.min(self.max_backoff))),
            RetryDecision::DoNotRetry => return None,
            RetryDecision::Default => {}
        }
        let may_resend = self.retry_non_idempotent || is_idempotent(attempt.method);
        let retry = match attempt.outcome {
            AttemptOutcome::Response { status, .. } => may_resend && self.statuses.contains(status),
            // A body that cannot be sent again is never retried, whatever wraps the error and
            // whatever a classifier that does not know this crate's errors says.
            AttemptOutcome::Error(err) if find_cause::<ReplayError>(err).is_some() => false,
            AttemptOutcome::Error(err) => {
                match self.classify_error.as_ref().unwrap_or(layer_classifier)(err) {
                    ErrorClass::NotSent => true,
                    ErrorClass::MaybeSent => may_resend,
                    // Fatal, and any class added after this version: not retried.
                    _ => false,
                }
            }
        };
        retry.then_some(None)
    }

    /// The backoff before retry number `retry` (0 for the first retry), before jitter:
    /// `min(max_backoff, initial_backoff × multiplier^retry)`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exponent = i32::try_from(retry).unwrap_or(i32::MAX);
        let secs = self.initial_backoff.as_secs_f64() * self.multiplier.powi(exponent);
        Duration::try_from_secs_f64(secs)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }

    /// The backoff before retry number `retry`, with jitter applied.
    pub(super) fn jittered_backoff(&self, retry: u32) -> Duration {
        let backoff = self.backoff(retry);
        let nanos = u64::try_from(backoff.as_nanos()).unwrap_or(u64::MAX);
        match self.jitter {
            Jitter::None => backoff,
            Jitter::Full => Duration::from_nanos(fastrand::u64(0..=nanos)),
            Jitter::Equal => {
                let half = nanos / 2;
                Duration::from_nanos(half + fastrand::u64(0..=nanos - half))
            }
        }
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RetryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryConfig")
            .field("max_retries", &self.max_retries)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("backoff_multiplier", &self.multiplier)
            .field("jitter", &self.jitter)
            .field("retry_on_status", &self.statuses)
            .field("classify", &self.classify.is_some())
            .field("budget", &self.budget)
            .field("retry_non_idempotent", &self.retry_non_idempotent)
            .field("max_replay_bytes", &self.max_replay_bytes)
            .field("attempt_timeout", &self.attempt_timeout)
            .finish_non_exhaustive()
    }
}

/// Whether RFC 9110 calls `method` idempotent: GET, HEAD, PUT, DELETE, OPTIONS, TRACE.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// The error classifier the layer uses unless told otherwise; it knows only what this crate
/// and `std` can name, walking the error's `source()` chain:
///
/// - a [`ReplayError`] (the body could not be sent again): [`ErrorClass::Fatal`];
/// - a timeout ([`is_timeout`](crate::error::is_timeout): this crate's `timeout::Elapsed`,
///   an I/O or hyper timeout): [`ErrorClass::MaybeSent`] (checked before the I/O kinds
///   below, so a timeout is never taken for a refused connection);
/// - an [`io::Error`] whose kind says the connection never opened (`ConnectionRefused`,
///   `AddrNotAvailable`, `NetworkUnreachable`, `HostUnreachable`): [`ErrorClass::NotSent`];
/// - anything else: [`ErrorClass::MaybeSent`].
pub fn default_error_class(err: &(dyn Error + 'static)) -> ErrorClass {
    if find_cause::<ReplayError>(err).is_some() {
        return ErrorClass::Fatal;
    }
    if crate::error::is_timeout(err) {
        return ErrorClass::MaybeSent;
    }
    match find_cause::<io::Error>(err).map(io::Error::kind) {
        Some(
            io::ErrorKind::ConnectionRefused
            | io::ErrorKind::AddrNotAvailable
            | io::ErrorKind::NetworkUnreachable
            | io::ErrorKind::HostUnreachable,
        ) => ErrorClass::NotSent,
        _ => ErrorClass::MaybeSent,
    }
}
