//! [`RetryBudget`]: a token bucket that caps retries at a share of successful traffic.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use http::uri::Authority;

use crate::sync::lock;

/// Fixed-point scale of the bucket: one retry costs `SCALE` units, and a success deposits
/// `ratio * SCALE` units, so fractional percentages such as 0.5 % or 12.5 % are exact to
/// one part in a million (a float ratio turned into a whole "successes per retry" count
/// would round 30 % to one retry in 3).
const SCALE: i64 = 1_000_000;

/// The window is kept as this many slots; each expires as a whole once it is `ttl` old.
const SLOTS: usize = 10;

/// The default cap on the number of hosts a per-host budget keeps a bucket for.
pub const DEFAULT_MAX_HOSTS: usize = 1024;

/// Which requests share a bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BudgetScope {
    /// One bucket per request authority (`host:port`): a failing host cannot spend the
    /// retries of a healthy one. The default.
    PerHost,
    /// One bucket for every request.
    Global,
}

/// Limits retries to a share of successful requests, like Finagle's and tower's retry
/// budgets.
///
/// Every success (a response the retry policy did not retry) deposits `retry_ratio` of a
/// token; every retry withdraws one token and is refused when less than one is left. On top
/// of that, each bucket holds a reserve of `min_per_sec × ttl` tokens, so that a quiet
/// client can still retry a little. Deposits and withdrawals count for `ttl` and then
/// expire, so an exhausted budget recovers as time passes (time comes from the layer's
/// timer).
///
/// Unlike `tower::retry::budget::TpsBudget`, fractional ratios are not rounded: the bucket
/// counts in millionths of a token, so `0.005` (0.5 %) allows exactly one retry per 200
/// successes and `0.3` one per 3⅓.
///
/// A budget is scoped [per host](BudgetScope::PerHost) by default, keeping at most
/// [`DEFAULT_MAX_HOSTS`] buckets (the least recently used one is evicted to make room);
/// requests whose URI has no authority share one bucket. Clones share their buckets.
///
/// ```
/// use std::time::Duration;
///
/// use towline_layers::retry::{BudgetScope, RetryBudget, RetryConfig};
///
/// // Retries may add 10 % to the traffic, plus one retry per second in any case.
/// let budget = RetryBudget::new(Duration::from_secs(10), 1, 0.1).scope(BudgetScope::Global);
/// let config = RetryConfig::new().budget(budget);
/// # drop(config);
/// ```
#[derive(Clone)]
pub struct RetryBudget {
    shared: Arc<Shared>,
}

struct Shared {
    settings: Settings,
    buckets: Mutex<Buckets>,
}

#[derive(Clone, Copy, Debug)]
struct Settings {
    ttl: Duration,
    slot: Duration,
    reserve: i64,
    deposit: i64,
    scope: BudgetScope,
    max_hosts: usize,
}

#[derive(Default)]
struct Buckets {
    global: Option<Bucket>,
    hosts: HashMap<Option<Authority>, Bucket>,
}

struct Bucket {
    slots: [i64; SLOTS],
    current: usize,
    slot_start: Instant,
    last_used: Instant,
}

impl RetryBudget {
    /// Creates a budget whose deposits and withdrawals count for `ttl` (clamped to 1 s …
    /// 60 s, as in tower), which always allows `min_per_sec` retries per second, and beyond
    /// that allows `retry_ratio` retries per success (`0.2` = 20 %).
    ///
    /// `retry_ratio` is clamped to `0.0 ..= 1000.0`; NaN counts as `0.0`.
    pub fn new(ttl: Duration, min_per_sec: u32, retry_ratio: f64) -> Self {
        let ttl = ttl.clamp(Duration::from_secs(1), Duration::from_secs(60));
        let ratio = if retry_ratio.is_nan() {
            0.0
        } else {
            retry_ratio.clamp(0.0, 1000.0)
        };
        // Within range by the clamp above: at most 1000 * SCALE.
        #[allow(clippy::cast_possible_truncation)]
        let deposit = (ratio * SCALE as f64).round() as i64;
        let reserve = i64::from(min_per_sec)
            .saturating_mul(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX))
            .saturating_mul(SCALE);
        Self {
            shared: Arc::new(Shared {
                settings: Settings {
                    ttl,
                    slot: ttl / SLOTS as u32,
                    reserve,
                    deposit,
                    scope: BudgetScope::PerHost,
                    max_hosts: DEFAULT_MAX_HOSTS,
                },
                buckets: Mutex::new(Buckets::default()),
            }),
        }
    }

    /// Chooses which requests share a bucket; [`BudgetScope::PerHost`] by default.
    ///
    /// Returns a new budget: clones made before do not share its buckets.
    pub fn scope(self, scope: BudgetScope) -> Self {
        self.with_settings(|settings| settings.scope = scope)
    }

    /// Caps how many hosts a per-host budget keeps a bucket for (at least 1);
    /// [`DEFAULT_MAX_HOSTS`] by default.
    ///
    /// Returns a new budget: clones made before do not share its buckets.
    pub fn max_hosts(self, max_hosts: usize) -> Self {
        self.with_settings(|settings| settings.max_hosts = max_hosts.max(1))
    }

    fn with_settings(self, change: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.shared.settings;
        change(&mut settings);
        Self {
            shared: Arc::new(Shared {
                settings,
                buckets: Mutex::new(Buckets::default()),
            }),
        }
    }

    /// How many whole retries the bucket for `authority` allows at `now`.
    pub fn remaining(&self, authority: Option<&Authority>, now: Instant) -> u64 {
        let settings = &self.shared.settings;
        let mut buckets = lock(&self.shared.buckets);
        let balance = buckets.get(settings, authority, now).balance(settings);
        u64::try_from(balance / SCALE).unwrap_or(0)
    }

    /// Records a success for `authority` at `now`.
    pub(super) fn deposit(&self, authority: Option<&Authority>, now: Instant) {
        let settings = &self.shared.settings;
        let mut buckets = lock(&self.shared.buckets);
        let bucket = buckets.get(settings, authority, now);
        bucket.slots[bucket.current] =
            bucket.slots[bucket.current].saturating_add(settings.deposit);
    }

    /// Takes one retry from the bucket for `authority`; `false` when the budget is spent.
    pub(super) fn withdraw(&self, authority: Option<&Authority>, now: Instant) -> bool {
        let settings = &self.shared.settings;
        let mut buckets = lock(&self.shared.buckets);
        let bucket = buckets.get(settings, authority, now);
        if bucket.balance(settings) < SCALE {
            return false;
        }
        bucket.slots[bucket.current] = bucket.slots[bucket.current].saturating_sub(SCALE);
        true
    }

    /// The number of hosts with a bucket (always 0 for a global budget).
    pub fn hosts(&self) -> usize {
        lock(&self.shared.buckets).hosts.len()
    }
}

impl Buckets {
    fn get(
        &mut self,
        settings: &Settings,
        authority: Option<&Authority>,
        now: Instant,
    ) -> &mut Bucket {
        let bucket = match settings.scope {
            BudgetScope::Global => self.global.get_or_insert_with(|| Bucket::new(now)),
            BudgetScope::PerHost => {
                let key = authority.cloned();
                if !self.hosts.contains_key(&key) && self.hosts.len() >= settings.max_hosts {
                    let oldest = self
                        .hosts
                        .iter()
                        .min_by_key(|(_, bucket)| bucket.last_used)
                        .map(|(key, _)| key.clone());
                    if let Some(oldest) = oldest {
                        self.hosts.remove(&oldest);
                    }
                }
                self.hosts.entry(key).or_insert_with(|| Bucket::new(now))
            }
        };
        bucket.expire(settings, now);
        bucket
    }
}

impl Bucket {
    fn new(now: Instant) -> Self {
        Self {
            slots: [0; SLOTS],
            current: 0,
            slot_start: now,
            last_used: now,
        }
    }

    /// Moves the window to `now`, clearing the slots that are older than `ttl`.
    fn expire(&mut self, settings: &Settings, now: Instant) {
        self.last_used = self.last_used.max(now);
        let elapsed = now.saturating_duration_since(self.slot_start);
        if elapsed >= settings.ttl {
            self.slots = [0; SLOTS];
            self.slot_start = now;
            return;
        }
        let mut elapsed = elapsed;
        while elapsed >= settings.slot {
            elapsed -= settings.slot;
            self.slot_start += settings.slot;
            self.current = (self.current + 1) % SLOTS;
            self.slots[self.current] = 0;
        }
    }

    fn balance(&self, settings: &Settings) -> i64 {
        self.slots
            .iter()
            .fold(settings.reserve, |sum, slot| sum.saturating_add(*slot))
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.shared.settings;
        f.debug_struct("RetryBudget")
            .field("ttl", &settings.ttl)
            .field("scope", &settings.scope)
            .field("max_hosts", &settings.max_hosts)
            .finish_non_exhaustive()
    }
}
