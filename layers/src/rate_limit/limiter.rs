//! The [`RateLimiter`]: GCRA buckets shared by every clone.

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use http::uri::Authority;

use super::RateLimitConfigError;
use crate::{
    sync::lock,
    time::{SharedTimer, duration_from_nanos},
};

/// The most hosts a per-host limiter keeps a bucket for at once.
///
/// Buckets whose requests have all been released are dropped first (such a bucket is full
/// again, so forgetting it changes nothing); only when every tracked host still has requests
/// waiting is the bucket closest to full dropped.
pub const MAX_HOSTS: usize = 1024;

/// A limit of requests per period with a burst, shared by every clone.
///
/// See the [module documentation](super) for the algorithm and how waiting works.
#[derive(Clone)]
pub struct RateLimiter {
    shared: Arc<Shared>,
}

struct Shared {
    /// The emission interval: one request per `interval` in the long run.
    interval: Duration,
    /// How far ahead of its schedule a bucket may run: `(burst - 1) * interval`.
    tolerance: Duration,
    burst: u64,
    max_requests: u64,
    per: Duration,
    per_host: bool,
    /// The clock every arrival time is read from, and the timer waits sleep on.
    timer: SharedTimer,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The clock reading that offset zero stands for; set by the first reading.
    origin: Option<Instant>,
    global: Bucket,
    hosts: HashMap<Authority, Bucket>,
}

/// One GCRA bucket: its theoretical arrival time, as an offset from [`State::origin`].
///
/// Offsets are `Duration`s so that all arithmetic saturates instead of overflowing `Instant`.
#[derive(Debug, Default)]
struct Bucket {
    tat: Duration,
    /// Slots of cancelled requests that later reservations still sit behind, by the
    /// theoretical arrival time after each, with the time before it: once every request
    /// behind one is cancelled too, the whole run is given back.
    cancelled: BTreeMap<Duration, Duration>,
}

impl Bucket {
    /// Takes the next slot whatever its time, and returns when it may be used.
    fn reserve(&mut self, now: Duration, interval: Duration, tolerance: Duration) -> Duration {
        // Cancelled slots whose time has passed can no longer be given back.
        while let Some(entry) = self.cancelled.first_entry()
            && *entry.key() <= now
        {
            entry.remove();
        }
        let tat = self.tat.max(now);
        self.tat = tat.saturating_add(interval);
        tat.saturating_sub(tolerance).max(now)
    }

    /// How long until the next slot may be used.
    fn wait(&self, now: Duration, tolerance: Duration) -> Duration {
        self.tat.saturating_sub(tolerance).saturating_sub(now)
    }

    /// Gives back the slot that moved the arrival time from `before` to `after`, with every
    /// cancelled slot right before it; remembers it when later slots sit behind it.
    fn cancel(&mut self, before: Duration, after: Duration) {
        if self.tat != after {
            self.cancelled.insert(after, before);
            return;
        }
        self.tat = before;
        while let Some(before) = self.cancelled.remove(&self.tat) {
            self.tat = before;
        }
    }
}

impl RateLimiter {
    /// Allows `max_requests` requests per `per`, evenly spaced, with a burst of `max_requests`,
    /// reading time from `timer` (and, in a [`RateLimitLayer`](super::RateLimitLayer),
    /// sleeping on it).
    ///
    /// Fails when `max_requests` or `per` is zero, or when the two give more than one request
    /// per nanosecond.
    pub fn new(
        max_requests: u64,
        per: Duration,
        timer: SharedTimer,
    ) -> Result<Self, RateLimitConfigError> {
        if max_requests == 0 {
            return Err(RateLimitConfigError::ZeroRate);
        }
        if per.is_zero() {
            return Err(RateLimitConfigError::ZeroPeriod);
        }
        let nanos = per.as_nanos() / u128::from(max_requests);
        if nanos == 0 {
            return Err(RateLimitConfigError::RateTooHigh);
        }
        Ok(Self::build(Config {
            interval: duration_from_nanos(nanos),
            burst: max_requests,
            max_requests,
            per,
            per_host: false,
            timer,
        }))
    }

    /// Lets up to `burst` requests pass at once after an idle spell (at least 1: zero is
    /// taken as 1, since a bucket that holds nothing would never let anything through).
    ///
    /// Returns a new limiter with fresh buckets; clones of `self` are not affected.
    pub fn burst(self, burst: u64) -> Self {
        Self::build(Config {
            burst: burst.max(1),
            ..self.config()
        })
    }

    /// With `true`, keeps one bucket per request authority (`host:port`), each with the full
    /// rate, up to [`MAX_HOSTS`] hosts; requests without an authority share one bucket.
    ///
    /// Returns a new limiter with fresh buckets; clones of `self` are not affected.
    pub fn per_host(self, per_host: bool) -> Self {
        Self::build(Config {
            per_host,
            ..self.config()
        })
    }

    /// The timer the limiter reads time from and its layer sleeps on.
    pub fn timer(&self) -> &SharedTimer {
        &self.shared.timer
    }

    /// Takes a slot if one is free now, and says whether it did.
    ///
    /// Uses the shared bucket (never a per-host one).
    pub fn try_acquire(&self) -> bool {
        let mut state = lock(&self.shared.state);
        let now = state.offset(self.shared.timer.now());
        let bucket = &mut state.global;
        if bucket.wait(now, self.shared.tolerance).is_zero() {
            bucket.reserve(now, self.shared.interval, self.shared.tolerance);
            true
        } else {
            false
        }
    }

    /// How long until [`try_acquire`](Self::try_acquire) would succeed; zero when it would now.
    ///
    /// Takes nothing. Uses the shared bucket.
    pub fn wait_duration(&self) -> Duration {
        let mut state = lock(&self.shared.state);
        let now = state.offset(self.shared.timer.now());
        state.global.wait(now, self.shared.tolerance)
    }

    /// Reserves the next slot of `host`'s bucket (or the shared one) for a request arriving
    /// now. Returns `None` when the slot is free now, or else how long the request
    /// must wait for it and the reservation to hold meanwhile.
    ///
    /// Slots are handed out in order of arrival, so waiters are released first come, first
    /// served.
    pub(super) fn reserve(&self, host: Option<&Authority>) -> Option<(Duration, Reservation)> {
        let shared = &*self.shared;
        let mut state = lock(&shared.state);
        let now = state.offset(shared.timer.now());
        let key = host.filter(|_| shared.per_host).cloned();
        let bucket = match &key {
            Some(key) => state.host_bucket(key, now),
            None => &mut state.global,
        };
        let before = bucket.tat;
        let release = bucket.reserve(now, shared.interval, shared.tolerance);
        if release <= now {
            return None;
        }
        let reservation = Reservation {
            shared: Arc::clone(&self.shared),
            key,
            before,
            tat: bucket.tat,
            release,
            armed: true,
        };
        Some((release - now, reservation))
    }

    fn config(&self) -> Config {
        let shared = &*self.shared;
        Config {
            interval: shared.interval,
            burst: shared.burst,
            max_requests: shared.max_requests,
            per: shared.per,
            per_host: shared.per_host,
            timer: Arc::clone(&shared.timer),
        }
    }

    fn build(config: Config) -> Self {
        let tolerance = duration_from_nanos(
            config
                .interval
                .as_nanos()
                .saturating_mul(u128::from(config.burst - 1)),
        );
        Self {
            shared: Arc::new(Shared {
                interval: config.interval,
                tolerance,
                burst: config.burst,
                max_requests: config.max_requests,
                per: config.per,
                per_host: config.per_host,
                timer: config.timer,
                state: Mutex::new(State::default()),
            }),
        }
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &*self.shared;
        f.debug_struct("RateLimiter")
            .field("max_requests", &shared.max_requests)
            .field("per", &shared.per)
            .field("burst", &shared.burst)
            .field("per_host", &shared.per_host)
            .finish_non_exhaustive()
    }
}

struct Config {
    interval: Duration,
    burst: u64,
    max_requests: u64,
    per: Duration,
    per_host: bool,
    timer: SharedTimer,
}

impl State {
    fn offset(&mut self, now: Instant) -> Duration {
        now.saturating_duration_since(*self.origin.get_or_insert(now))
    }

    fn host_bucket(&mut self, key: &Authority, now: Duration) -> &mut Bucket {
        if self.hosts.len() >= MAX_HOSTS && !self.hosts.contains_key(key) {
            // A bucket whose slots have all passed is as good as new: forgetting it is free.
            self.hosts.retain(|_, bucket| bucket.tat > now);
            if self.hosts.len() >= MAX_HOSTS
                && let Some(fullest) = self
                    .hosts
                    .iter()
                    .min_by_key(|(_, bucket)| bucket.tat)
                    .map(|(host, _)| host.clone())
            {
                self.hosts.remove(&fullest);
            }
        }
        self.hosts.entry(key.clone()).or_default()
    }

    #[cfg(test)]
    fn hosts(&self) -> usize {
        self.hosts.len()
    }
}

/// A slot taken by a waiting request. Dropped before its release time (the request was
/// cancelled), it gives the slot back — at once when no later request has reserved one
/// since, or else as soon as every request behind it is cancelled too; a slot with live
/// requests behind it expires unused when its time passes.
pub(super) struct Reservation {
    shared: Arc<Shared>,
    key: Option<Authority>,
    /// The bucket's theoretical arrival time right before this reservation.
    before: Duration,
    /// The bucket's theoretical arrival time right after this reservation.
    tat: Duration,
    release: Duration,
    /// Cleared once the request went out with the slot.
    armed: bool,
}

impl Reservation {
    /// Marks the slot as used: the request goes out, and nothing is given back.
    pub(super) fn consume(mut self) {
        self.armed = false;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let mut state = lock(&self.shared.state);
        let now = state.offset(self.shared.timer.now());
        if now >= self.release {
            // The slot's time has come and gone: giving it back would hand out time past.
            return;
        }
        let bucket = match &self.key {
            Some(key) => state.hosts.get_mut(key),
            None => Some(&mut state.global),
        };
        if let Some(bucket) = bucket {
            bucket.cancel(self.before, self.tat);
        }
    }
}

#[cfg(test)]
impl RateLimiter {
    pub(super) fn tracked_hosts(&self) -> usize {
        lock(&self.shared.state).hosts()
    }
}
