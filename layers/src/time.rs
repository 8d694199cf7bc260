//! Time for layers that wait, through hyper's runtime seam.
//!
//! Layers never call a runtime's timer directly: they take a [`SharedTimer`] — any
//! [`hyper::rt::Timer`] behind an `Arc` — and read the current time with
//! [`Timer::now`], so the same code runs on tokio, smol or compio, and under test on a
//! virtual clock.
//!
//! [`ManualTimer`] is that virtual clock. Time stands still until the test moves it with
//! [`ManualTimer::advance`]; a sleep completes exactly when virtual time reaches its
//! deadline, and [`ManualTimer::pending_sleeps`] / [`ManualTimer::wait_for_sleeps`] let a
//! test wait until the code under test is really sleeping before it moves the clock. Tests
//! of time-based layers are therefore deterministic: no real sleeping, no racing the clock.
//!
//! Layers that keep state with a calendar lifetime (cookie expiry, HSTS `max-age`) read the
//! time of day from a [`WallClock`] instead: [`SystemClock`] by default, or a [`TimerClock`]
//! that starts at a chosen date and then follows a timer — under test, a [`ManualTimer`], so
//! the date can be frozen and moved by hand.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use hyper::rt::Timer;
//! use towline_layers::time::ManualTimer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tokio::task::JoinError> {
//! let timer = ManualTimer::new();
//! let start = timer.now();
//!
//! let sleeper = tokio::spawn({
//!     let timer = timer.clone();
//!     async move { timer.sleep(Duration::from_secs(5)).await }
//! });
//!
//! // Wait until the task is asleep, then move virtual time past its deadline.
//! timer.wait_for_sleeps(1).await;
//! timer.advance(Duration::from_secs(4));
//! assert_eq!(timer.pending_sleeps(), 1);
//! timer.advance(Duration::from_secs(1));
//! sleeper.await?;
//!
//! assert_eq!(timer.now() - start, Duration::from_secs(5));
//! # Ok(())
//! # }
//! ```

use std::{
    collections::BTreeMap,
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll, Waker},
    time::{Duration, Instant, SystemTime},
};

use hyper::rt::{Sleep, Timer};

use crate::sync::lock;

/// A timer shared by every clone of a layer: any [`hyper::rt::Timer`] behind an `Arc`.
///
/// Build one from a runtime adapter (for example `Arc::new(hyper_util::rt::TokioTimer::new())`)
/// or, in tests, with [`ManualTimer::shared`].
pub type SharedTimer = Arc<dyn Timer + Send + Sync>;

/// A deterministic, manually driven clock implementing [`hyper::rt::Timer`].
///
/// [`ManualTimer::new`] captures the current `Instant` once; from then on [`Timer::now`]
/// returns that instant plus whatever the test added with [`advance`](Self::advance).
/// Sleeps created by [`Timer::sleep`] and [`Timer::sleep_until`] complete only when virtual
/// time reaches their deadline, and [`Timer::reset`] moves a pending sleep's deadline in place.
///
/// Clones share one clock. The clock is thread-safe, and sleeping tasks are woken by
/// [`advance`](Self::advance) — nothing polls in a loop.
#[derive(Clone)]
pub struct ManualTimer {
    clock: Arc<Mutex<Clock>>,
}

#[derive(Debug)]
struct Clock {
    now: Instant,
    next_id: u64,
    sleeps: BTreeMap<u64, SleepEntry>,
    /// Tasks waiting in [`WaitForSleeps`] for a sleep to start.
    watchers: Vec<Waker>,
}

#[derive(Debug)]
struct SleepEntry {
    /// `None` when the deadline lies beyond what `Instant` can represent: it never fires.
    deadline: Option<Instant>,
    waker: Option<Waker>,
}

impl Clock {
    fn is_due(&self, deadline: Option<Instant>) -> bool {
        deadline.is_some_and(|deadline| deadline <= self.now)
    }

    fn pending(&self) -> usize {
        self.sleeps
            .values()
            .filter(|entry| !self.is_due(entry.deadline))
            .count()
    }
}

impl ManualTimer {
    /// Creates a clock whose virtual time starts at the current `Instant`.
    pub fn new() -> Self {
        Self {
            clock: Arc::new(Mutex::new(Clock {
                now: Instant::now(),
                next_id: 0,
                sleeps: BTreeMap::new(),
                watchers: Vec::new(),
            })),
        }
    }

    /// Returns this clock as a [`SharedTimer`] for a layer; it shares time with `self`.
    pub fn shared(&self) -> SharedTimer {
        Arc::new(self.clone())
    }

    /// Moves virtual time forward by `by` and wakes every sleep whose deadline has passed.
    ///
    /// A step that would overflow `Instant` stops short of the overflow instead.
    pub fn advance(&self, by: Duration) {
        let woken: Vec<Waker> = {
            let mut clock = lock(&self.clock);
            clock.now = saturating_add(clock.now, by);
            let now = clock.now;
            clock
                .sleeps
                .values_mut()
                .filter(|entry| entry.deadline.is_some_and(|deadline| deadline <= now))
                .filter_map(|entry| entry.waker.take())
                .collect()
        };
        woken.into_iter().for_each(Waker::wake);
    }

    /// The number of live sleeps whose deadline virtual time has not reached yet.
    ///
    /// A sleep counts from its creation until it is dropped or its deadline passes.
    pub fn pending_sleeps(&self) -> usize {
        lock(&self.clock).pending()
    }

    /// Returns a future that completes once at least `count` sleeps are pending.
    ///
    /// Tests await it before calling [`advance`](Self::advance), so that they move the clock
    /// only after the code under test has started waiting.
    pub fn wait_for_sleeps(&self, count: usize) -> WaitForSleeps {
        WaitForSleeps {
            clock: Arc::clone(&self.clock),
            count,
        }
    }

    fn register(&self, deadline: Option<Instant>) -> Pin<Box<dyn Sleep>> {
        let (id, watchers) = {
            let mut clock = lock(&self.clock);
            let id = clock.next_id;
            clock.next_id += 1;
            clock.sleeps.insert(
                id,
                SleepEntry {
                    deadline,
                    waker: None,
                },
            );
            let watchers = if clock.is_due(deadline) {
                Vec::new()
            } else {
                std::mem::take(&mut clock.watchers)
            };
            (id, watchers)
        };
        watchers.into_iter().for_each(Waker::wake);
        Box::pin(ManualSleep {
            clock: Arc::clone(&self.clock),
            id,
        })
    }
}

impl Default for ManualTimer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ManualTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let clock = lock(&self.clock);
        f.debug_struct("ManualTimer")
            .field("now", &clock.now)
            .field("sleeps", &clock.sleeps.len())
            .finish()
    }
}

impl Timer for ManualTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        let deadline = lock(&self.clock).now.checked_add(duration);
        self.register(deadline)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        self.register(Some(deadline))
    }

    fn now(&self) -> Instant {
        lock(&self.clock).now
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<ManualSleep>() {
            Some(manual) if Arc::ptr_eq(&manual.clock, &self.clock) => {
                manual.get_mut().reset(new_deadline);
            }
            _ => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// A sleep on a [`ManualTimer`]; its entry in the clock lives as long as it does.
struct ManualSleep {
    clock: Arc<Mutex<Clock>>,
    id: u64,
}

impl ManualSleep {
    fn reset(&mut self, deadline: Instant) {
        let woken: Vec<Waker> = {
            let mut guard = lock(&self.clock);
            let clock = &mut *guard;
            let due = deadline <= clock.now;
            let entry = clock.sleeps.entry(self.id).or_insert(SleepEntry {
                deadline: None,
                waker: None,
            });
            entry.deadline = Some(deadline);
            if due {
                entry.waker.take().into_iter().collect()
            } else {
                std::mem::take(&mut clock.watchers)
            }
        };
        woken.into_iter().for_each(Waker::wake);
    }
}

impl Future for ManualSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut guard = lock(&self.clock);
        let clock = &mut *guard;
        let now = clock.now;
        let entry = clock.sleeps.entry(self.id).or_insert(SleepEntry {
            deadline: None,
            waker: None,
        });
        if entry.deadline.is_some_and(|deadline| deadline <= now) {
            entry.waker = None;
            Poll::Ready(())
        } else {
            entry.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Sleep for ManualSleep {}

impl Drop for ManualSleep {
    fn drop(&mut self) {
        lock(&self.clock).sleeps.remove(&self.id);
    }
}

/// Future returned by [`ManualTimer::wait_for_sleeps`].
#[must_use = "futures do nothing unless polled"]
pub struct WaitForSleeps {
    clock: Arc<Mutex<Clock>>,
    count: usize,
}

impl fmt::Debug for WaitForSleeps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForSleeps")
            .field("count", &self.count)
            .finish()
    }
}

impl Future for WaitForSleeps {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut clock = lock(&self.clock);
        if clock.pending() >= self.count {
            return Poll::Ready(());
        }
        if !clock.watchers.iter().any(|w| w.will_wake(cx.waker())) {
            clock.watchers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The time of day, for state with a calendar lifetime (cookie expiry, HSTS `max-age`).
///
/// Layers that need it take a [`SharedWallClock`]. Closures `Fn() -> SystemTime` are clocks
/// too, which makes a frozen clock a one-liner:
///
/// ```
/// use std::{sync::Arc, time::{Duration, SystemTime, UNIX_EPOCH}};
///
/// use towline_layers::time::{SharedWallClock, WallClock};
///
/// let at = UNIX_EPOCH + Duration::from_secs(1_340_000_000); // June 2012
/// let frozen: SharedWallClock = Arc::new(move || at);
/// assert_eq!(frozen.now(), at);
/// ```
pub trait WallClock: Send + Sync {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// A [`WallClock`] shared by every clone of a layer or store.
pub type SharedWallClock = Arc<dyn WallClock>;

impl<F: Fn() -> SystemTime + Send + Sync> WallClock for F {
    fn now(&self) -> SystemTime {
        self()
    }
}

/// The operating system's clock, [`SystemTime::now`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl SystemClock {
    /// Returns the system clock as a [`SharedWallClock`].
    pub fn shared() -> SharedWallClock {
        Arc::new(SystemClock)
    }
}

impl WallClock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A [`WallClock`] driven by a [`SharedTimer`]: it starts at a given wall time and moves
/// forward exactly as the timer's [`Timer::now`] does.
///
/// Over a [`ManualTimer`] it is a frozen calendar that tests move with
/// [`ManualTimer::advance`]:
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
///
/// use towline_layers::time::{ManualTimer, TimerClock, WallClock};
///
/// let timer = ManualTimer::new();
/// let start = UNIX_EPOCH + Duration::from_secs(1_340_000_000);
/// let clock = TimerClock::starting_at(timer.shared(), start);
/// assert_eq!(clock.now(), start);
/// timer.advance(Duration::from_secs(60));
/// assert_eq!(clock.now(), start + Duration::from_secs(60));
/// ```
#[derive(Clone)]
pub struct TimerClock {
    timer: SharedTimer,
    start: Instant,
    wall: SystemTime,
}

impl TimerClock {
    /// A clock that reads the system time once, now, and then follows `timer`.
    pub fn new(timer: SharedTimer) -> Self {
        Self::starting_at(timer, SystemTime::now())
    }

    /// A clock that shows `wall` now and then follows `timer`.
    pub fn starting_at(timer: SharedTimer, wall: SystemTime) -> Self {
        let start = timer.now();
        Self { timer, start, wall }
    }

    /// Returns this clock as a [`SharedWallClock`].
    pub fn shared(self) -> SharedWallClock {
        Arc::new(self)
    }
}

impl WallClock for TimerClock {
    fn now(&self) -> SystemTime {
        let elapsed = self.timer.now().saturating_duration_since(self.start);
        saturating_add_wall(self.wall, elapsed)
    }
}

impl fmt::Debug for TimerClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerClock")
            .field("start", &self.wall)
            .finish_non_exhaustive()
    }
}

/// `time + by`, or the latest time short of overflowing.
pub(crate) fn saturating_add_wall(time: SystemTime, by: Duration) -> SystemTime {
    let mut step = by;
    loop {
        if let Some(later) = time.checked_add(step) {
            return later;
        }
        step /= 2;
    }
}

/// `instant + by`, or the latest instant short of overflowing.
fn saturating_add(instant: Instant, by: Duration) -> Instant {
    let mut step = by;
    loop {
        if let Some(later) = instant.checked_add(step) {
            return later;
        }
        step /= 2;
    }
}

/// Converts a count of nanoseconds to a `Duration`, saturating at `Duration::MAX`.
#[cfg(any(feature = "rate-limit", feature = "bandwidth"))]
pub(crate) fn duration_from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    match u64::try_from(nanos / NANOS_PER_SEC) {
        // The remainder is below one billion, so it fits a `u32`.
        Ok(secs) => Duration::new(secs, (nanos % NANOS_PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}

#[cfg(test)]
mod tests {
    use std::task::Poll;

    use super::*;
    use crate::test_util::{Probe, poll_once};

    #[test]
    fn now_starts_fixed_and_moves_only_on_advance() {
        let timer = ManualTimer::new();
        let start = timer.now();
        assert_eq!(timer.now(), start);
        timer.advance(Duration::from_millis(1500));
        assert_eq!(timer.now() - start, Duration::from_millis(1500));
        assert_eq!(timer.clone().now() - start, Duration::from_millis(1500));
    }

    #[test]
    fn sleep_completes_only_when_deadline_reached_and_wakes_task() {
        let timer = ManualTimer::new();
        let probe = Probe::new();
        let mut sleep = timer.sleep(Duration::from_secs(10));
        assert_eq!(timer.pending_sleeps(), 1);

        assert_eq!(probe.poll(sleep.as_mut()), Poll::Pending);
        timer.advance(Duration::from_secs(9));
        assert_eq!(probe.wakes(), 0);
        assert_eq!(probe.poll(sleep.as_mut()), Poll::Pending);

        timer.advance(Duration::from_secs(1));
        assert_eq!(probe.wakes(), 1);
        assert_eq!(timer.pending_sleeps(), 0);
        assert_eq!(probe.poll(sleep.as_mut()), Poll::Ready(()));
    }

    #[test]
    fn advance_wakes_only_due_sleeps() {
        let timer = ManualTimer::new();
        let (short, long) = (Probe::new(), Probe::new());
        let mut short_sleep = timer.sleep(Duration::from_secs(1));
        let mut long_sleep = timer.sleep(Duration::from_secs(3));
        assert_eq!(short.poll(short_sleep.as_mut()), Poll::Pending);
        assert_eq!(long.poll(long_sleep.as_mut()), Poll::Pending);

        timer.advance(Duration::from_secs(2));
        assert_eq!((short.wakes(), long.wakes()), (1, 0));
        assert_eq!(timer.pending_sleeps(), 1);
        assert_eq!(short.poll(short_sleep.as_mut()), Poll::Ready(()));
        assert_eq!(long.poll(long_sleep.as_mut()), Poll::Pending);
    }

    #[test]
    fn sleep_until_past_deadline_is_ready_at_once() {
        let timer = ManualTimer::new();
        let start = timer.now();
        timer.advance(Duration::from_secs(1));
        let mut sleep = timer.sleep_until(start);
        assert_eq!(timer.pending_sleeps(), 0);
        assert_eq!(poll_once(sleep.as_mut()), Poll::Ready(()));
    }

    #[test]
    fn reset_moves_deadline_in_place() {
        let timer = ManualTimer::new();
        let probe = Probe::new();
        let mut sleep = timer.sleep(Duration::from_secs(1));
        assert_eq!(probe.poll(sleep.as_mut()), Poll::Pending);

        timer.reset(&mut sleep, timer.now() + Duration::from_secs(5));
        timer.advance(Duration::from_secs(2));
        assert_eq!(probe.wakes(), 0);
        assert_eq!(probe.poll(sleep.as_mut()), Poll::Pending);

        timer.advance(Duration::from_secs(3));
        assert_eq!(probe.wakes(), 1);
        assert_eq!(probe.poll(sleep.as_mut()), Poll::Ready(()));

        // A completed sleep can be re-armed, and a past deadline wakes the waiter at once.
        timer.reset(&mut sleep, timer.now() + Duration::from_secs(1));
        assert_eq!(timer.pending_sleeps(), 1);
        assert_eq!(probe.poll(sleep.as_mut()), Poll::Pending);
        timer.reset(&mut sleep, timer.now());
        assert_eq!(probe.wakes(), 2);
        assert_eq!(probe.poll(sleep.as_mut()), Poll::Ready(()));
        assert_eq!(timer.pending_sleeps(), 0);
    }

    #[test]
    fn reset_of_a_foreign_sleep_replaces_it() {
        let ours = ManualTimer::new();
        let theirs = ManualTimer::new();
        let mut sleep = theirs.sleep(Duration::from_secs(1));
        ours.reset(&mut sleep, ours.now() + Duration::from_secs(2));
        assert_eq!((ours.pending_sleeps(), theirs.pending_sleeps()), (1, 0));
        ours.advance(Duration::from_secs(2));
        assert_eq!(poll_once(sleep.as_mut()), Poll::Ready(()));
    }

    #[test]
    fn dropped_sleeps_are_not_pending() {
        let timer = ManualTimer::new();
        let sleep = timer.sleep(Duration::from_secs(1));
        let forever = timer.sleep(Duration::MAX);
        assert_eq!(timer.pending_sleeps(), 2);
        drop(sleep);
        assert_eq!(timer.pending_sleeps(), 1);
        timer.advance(Duration::from_secs(3600));
        assert_eq!(timer.pending_sleeps(), 1);
        drop(forever);
        assert_eq!(timer.pending_sleeps(), 0);
    }

    #[test]
    fn advance_saturates_instead_of_overflowing() {
        let timer = ManualTimer::new();
        let mut forever = timer.sleep(Duration::MAX);
        timer.advance(Duration::MAX);
        timer.advance(Duration::MAX);
        assert!(timer.now() > Instant::now());
        assert_eq!(poll_once(forever.as_mut()), Poll::Pending);
    }

    #[test]
    fn wait_for_sleeps_wakes_when_a_sleep_starts() {
        let timer = ManualTimer::new();
        let probe = Probe::new();
        let mut wait = timer.wait_for_sleeps(1);
        assert_eq!(probe.poll(Pin::new(&mut wait)), Poll::Pending);
        assert_eq!(probe.poll(Pin::new(&mut wait)), Poll::Pending);

        // An already-due sleep is not "sleeping" and wakes nobody.
        let _due = timer.sleep(Duration::ZERO);
        assert_eq!(probe.wakes(), 0);

        let _sleep = timer.sleep(Duration::from_secs(1));
        assert_eq!(probe.wakes(), 1);
        assert_eq!(probe.poll(Pin::new(&mut wait)), Poll::Ready(()));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sleeps_across_threads() -> Result<(), crate::BoxError> {
        let timer = ManualTimer::new();
        let tasks: Vec<_> = (1..=4u64)
            .map(|secs| {
                let timer = timer.clone();
                tokio::spawn(async move { timer.sleep(Duration::from_secs(secs)).await })
            })
            .collect();
        timer.wait_for_sleeps(4).await;
        timer.advance(Duration::from_secs(2));
        assert_eq!(timer.pending_sleeps(), 2);
        timer.advance(Duration::from_secs(2));
        for task in tasks {
            task.await?;
        }
        assert_eq!(timer.pending_sleeps(), 0);
        Ok(())
    }
}
