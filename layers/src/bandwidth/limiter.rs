//! The [`BandwidthLimiter`]: a token bucket of bytes shared by every clone.

use std::{
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::BandwidthConfigError;
use crate::{
    sync::lock,
    time::{SharedTimer, duration_from_nanos},
};

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// A limit of bytes per second, shared by every clone and every body that draws from it.
///
/// See the [module documentation](super) for the bucket's rules.
#[derive(Clone)]
pub struct BandwidthLimiter {
    shared: Arc<Shared>,
}

struct Shared {
    bytes_per_sec: u64,
    burst: u64,
    /// The clock the bucket fills by, and the timer bodies sleep on.
    timer: SharedTimer,
    state: Mutex<State>,
}

/// The bucket. Tokens are counted in byte-nanoseconds (bytes × 10⁹) so that refills over
/// any interval are exact: no fraction of a byte is lost to rounding between two readings.
struct State {
    /// The clock reading that offset zero stands for: when the (empty) bucket was made.
    origin: Instant,
    /// When the bucket was last refilled, as an offset from `origin`.
    refilled: Duration,
    tokens: u128,
}

impl BandwidthLimiter {
    /// Allows `bytes_per_sec` bytes per second, with a burst of one second's worth, reading
    /// time from `timer` (and, in a [`BandwidthLayer`](super::BandwidthLayer), sleeping on
    /// it). The bucket starts empty now.
    ///
    /// Fails when `bytes_per_sec` is zero.
    pub fn new(bytes_per_sec: u64, timer: SharedTimer) -> Result<Self, BandwidthConfigError> {
        if bytes_per_sec == 0 {
            return Err(BandwidthConfigError::ZeroRate);
        }
        Ok(Self::build(bytes_per_sec, bytes_per_sec, timer))
    }

    /// Lets the bucket hold up to `bytes` (at least 1: zero is taken as 1), which is both the
    /// most that accumulates while nobody reads and the largest piece released at once.
    ///
    /// Returns a new limiter with a fresh bucket; clones of `self` are not affected.
    pub fn burst(self, bytes: u64) -> Self {
        Self::build(
            self.shared.bytes_per_sec,
            bytes.max(1),
            Arc::clone(&self.shared.timer),
        )
    }

    /// The timer the limiter reads time from and its bodies sleep on.
    pub fn timer(&self) -> &SharedTimer {
        &self.shared.timer
    }

    /// The configured rate, in bytes per second.
    pub fn bytes_per_sec(&self) -> u64 {
        self.shared.bytes_per_sec
    }

    /// The bucket's size, in bytes.
    pub fn burst_size(&self) -> u64 {
        self.shared.burst
    }

    /// Takes up to `n` bytes' worth of tokens and returns how many it took (zero when the
    /// bucket is empty).
    pub fn try_consume(&self, n: u64) -> u64 {
        let mut state = lock(&self.shared.state);
        self.refill(&mut state, self.shared.timer.now());
        let available = u64::try_from(state.tokens / NANOS_PER_SEC).unwrap_or(u64::MAX);
        let taken = n.min(available);
        state.tokens -= u128::from(taken) * NANOS_PER_SEC;
        taken
    }

    /// How long until `n` bytes can be taken at once; zero when they can now.
    ///
    /// No more than the burst size is ever available at once, so a larger `n` is answered
    /// for the burst size: take such amounts in pieces. Takes nothing.
    pub fn wait_duration(&self, n: u64) -> Duration {
        let mut state = lock(&self.shared.state);
        self.refill(&mut state, self.shared.timer.now());
        let wanted = u128::from(n.min(self.shared.burst)) * NANOS_PER_SEC;
        let deficit = wanted.saturating_sub(state.tokens);
        // Round up: waking a nanosecond early would find the bucket a fraction short.
        duration_from_nanos(deficit.div_ceil(u128::from(self.shared.bytes_per_sec)))
    }

    fn refill(&self, state: &mut State, now: Instant) {
        let now = now.saturating_duration_since(state.origin);
        let elapsed = now.saturating_sub(state.refilled);
        state.refilled = state.refilled.max(now);
        let capacity = u128::from(self.shared.burst) * NANOS_PER_SEC;
        let added = elapsed
            .as_nanos()
            .saturating_mul(u128::from(self.shared.bytes_per_sec));
        state.tokens = state.tokens.saturating_add(added).min(capacity);
    }

    fn build(bytes_per_sec: u64, burst: u64, timer: SharedTimer) -> Self {
        let state = State {
            origin: timer.now(),
            refilled: Duration::ZERO,
            tokens: 0,
        };
        Self {
            shared: Arc::new(Shared {
                bytes_per_sec,
                burst,
                timer,
                state: Mutex::new(state),
            }),
        }
    }
}

impl fmt::Debug for BandwidthLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BandwidthLimiter")
            .field("bytes_per_sec", &self.shared.bytes_per_sec)
            .field("burst", &self.shared.burst)
            .finish_non_exhaustive()
    }
}
