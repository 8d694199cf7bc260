//! The connection pool.
//!
//! Connections are keyed by [`Target`] — scheme, authority and protocol, the things that
//! make two connections interchangeable. HTTP/1 connections are exclusive: a request checks
//! one out, and its response body puts it back once read to the end; idle ones are reused
//! last-in first-out. HTTP/2 and HTTP/3 connections are shared by every request to their
//! target (a target's protocol is part of its key, so an HTTP/3 connection is never handed to
//! a request for HTTP/2, and the other way round).
//!
//! When a connection might turn out to be HTTP/2 (ALPN over TLS, or prior knowledge) or is
//! HTTP/3, only
//! the first request connects; the ones arriving meanwhile wait for it and share it if it
//! is HTTP/2, or connect on their own if ALPN chose HTTP/1.1 (which is then remembered).
//! Idle connections expire after the idle timeout; a background reaper driven by the
//! runtime's timer closes them even when no request comes.
//!
//! With [`PoolConfig::max_connections_per_host`], each connection open or being opened holds
//! a `Slot` of its target's `Limit`; requests finding every slot taken queue, and each
//! connection coming back or slot freed goes to the oldest of them.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use http::HeaderValue;
use hyper::client::conn::{http1, http2};
use rustc_hash::{FxHashMapSeed, FxSeededState};

use towline_core::{PoolStats, TargetStats};

use crate::connect::{Connected, Target};
use crate::error::ConnectError;
use crate::rt::{BoxFuture, SharedTimer};

/// Pool settings.
///
/// ```
/// use std::num::NonZeroUsize;
/// use std::time::Duration;
/// use towline_services::pool::PoolConfig;
///
/// let config = PoolConfig::default()
///     .with_idle_timeout(Some(Duration::from_secs(30)))
///     .with_max_connections_per_host(NonZeroUsize::new(4));
/// assert_eq!(config.max_connections_per_host, NonZeroUsize::new(4));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PoolConfig {
    /// How long an unused connection is kept; `None` keeps it until the server closes it.
    pub idle_timeout: Option<Duration>,
    /// Most idle HTTP/1 connections kept per target; 0 disables pooling, HTTP/2 sharing
    /// included (every request then opens its own connection).
    pub max_idle_per_host: usize,
    /// Most connections open (or being opened) per target at once; `None`, the default,
    /// is unlimited. Requests beyond it wait, first come first served, for a connection
    /// to come back or close; the wait counts against the transport's pool acquire
    /// timeout. A shared HTTP/2 connection counts once.
    pub max_connections_per_host: Option<NonZeroUsize>,
}

impl PoolConfig {
    /// Sets [`idle_timeout`](Self::idle_timeout).
    pub fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`max_idle_per_host`](Self::max_idle_per_host).
    pub fn with_max_idle_per_host(mut self, max: usize) -> Self {
        self.max_idle_per_host = max;
        self
    }

    /// Sets [`max_connections_per_host`](Self::max_connections_per_host); with
    /// `NonZeroUsize::new(n)`, 0 means unlimited.
    pub fn with_max_connections_per_host(mut self, max: Option<NonZeroUsize>) -> Self {
        self.max_connections_per_host = max;
        self
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Some(Duration::from_secs(90)),
            max_idle_per_host: 256,
            max_connections_per_host: None,
        }
    }
}

/// A connection handle as the transport sends on it.
pub(crate) enum Sender<B> {
    Http1(http1::SendRequest<B>),
    Http2(http2::SendRequest<B>),
    /// Boxed: h3's handle is several times the size of hyper's, and every waiter and
    /// checkout moves a `Sender`.
    #[cfg(feature = "http3")]
    Http3(Box<crate::transport::http3::Http3Sender>),
}

impl<B> Sender<B> {
    /// Whether the connection can take a request now.
    fn is_ready(&self) -> bool {
        match self {
            Self::Http1(sender) => sender.is_ready(),
            Self::Http2(sender) => sender.is_ready(),
            #[cfg(feature = "http3")]
            Self::Http3(sender) => sender.is_open(),
        }
    }

    /// Whether the connection is gone for good.
    fn is_closed(&self) -> bool {
        match self {
            Self::Http1(sender) => sender.is_closed(),
            Self::Http2(sender) => sender.is_closed(),
            #[cfg(feature = "http3")]
            Self::Http3(sender) => !sender.is_open(),
        }
    }

    /// Another handle to a connection that concurrent requests share (HTTP/2, HTTP/3);
    /// `None` for an exclusive HTTP/1 connection.
    pub(crate) fn share(&self) -> Option<Self> {
        match self {
            Self::Http1(_) => None,
            Self::Http2(sender) => Some(Self::Http2(sender.clone())),
            #[cfg(feature = "http3")]
            Self::Http3(sender) => Some(Self::Http3(sender.clone())),
        }
    }
}

/// A connection taken from the pool (or just made), with its facts.
pub(crate) struct PooledConn<B> {
    pub(crate) sender: Sender<B>,
    pub(crate) connected: Arc<Connected>,
    /// Whether a previous request already used this connection.
    pub(crate) reused: bool,
    /// The `Host` header for HTTP/1 requests to this connection's target, computed once per
    /// pooled target rather than per request; `None` when not known yet.
    pub(crate) host_header: Option<HeaderValue>,
    /// The connection's place under the per-target cap; `None` without a cap, and for the
    /// clones of a shared HTTP/2 connection (the pool's entry holds its slot).
    pub(crate) slot: Option<Slot<B>>,
}

impl<B> PooledConn<B> {
    /// Waits until the connection can take a request, and says whether it can; an HTTP/1
    /// connection returned right as its previous response ended may need its task to run
    /// once more.
    pub(crate) async fn ready(&mut self) -> bool {
        match &mut self.sender {
            Sender::Http1(sender) => sender.ready().await.is_ok(),
            Sender::Http2(sender) => sender.ready().await.is_ok(),
            #[cfg(feature = "http3")]
            Sender::Http3(sender) => sender.is_open(),
        }
    }
}

struct Idle<B> {
    sender: http1::SendRequest<B>,
    connected: Arc<Connected>,
    since: Instant,
    slot: Option<Slot<B>>,
}

/// The HTTP/2 or HTTP/3 connection the pool shares for a target.
struct Shared<B> {
    /// Never `Sender::Http1`.
    sender: Sender<B>,
    connected: Arc<Connected>,
    last_used: Instant,
    /// Held for as long as the pool shares the connection.
    _slot: Option<Slot<B>>,
}

/// What a waiting request learns.
pub(crate) enum Waited<B> {
    /// A connection: the HTTP/2 one another request made, or an HTTP/1 one handed over
    /// under the per-target cap.
    Conn(PooledConn<B>),
    /// A slot freed under the per-target cap: connect with it.
    Slot(Slot<B>),
    /// Connect on your own (ALPN chose HTTP/1.1, or the connecting request went away).
    Retry,
    /// The connect failed.
    Failed(ConnectError),
}

/// The per-target connection cap.
struct Limit<B> {
    max: usize,
    state: Mutex<LimitState<B>>,
}

struct LimitState<B> {
    /// Connections open or being opened, each holding a [`Slot`].
    open: usize,
    /// Requests waiting for a connection or a slot, oldest first.
    queue: VecDeque<oneshot::Sender<Waited<B>>>,
}

impl<B> Limit<B> {
    fn new(max: NonZeroUsize) -> Self {
        Self {
            max: max.get(),
            state: Mutex::new(LimitState {
                open: 0,
                queue: VecDeque::new(),
            }),
        }
    }
}

fn lock_limit<B>(limit: &Limit<B>) -> MutexGuard<'_, LimitState<B>> {
    // Every update is a counter step or a queue push or pop: nothing half-done to find.
    limit.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Gives `waited` to the oldest request still waiting, or hands it back when none is.
fn offer<B>(state: &mut LimitState<B>, mut waited: Waited<B>) -> Result<(), Waited<B>> {
    while let Some(waiter) = state.queue.pop_front() {
        match waiter.send(waited) {
            Ok(()) => return Ok(()),
            // That request gave up waiting (its acquire timed out, or it was dropped).
            Err(back) => waited = back,
        }
    }
    Err(waited)
}

/// One connection's place under its target's cap; dropping it (the connection closed, or
/// its connect failed) passes the place to the oldest waiting request, or frees it.
///
/// A slot's drop takes only its limit's lock, never the pool's, so it may be dropped with
/// the pool locked.
pub(crate) struct Slot<B> {
    limit: Option<Arc<Limit<B>>>,
}

impl<B> Drop for Slot<B> {
    fn drop(&mut self) {
        let Some(limit) = self.limit.take() else {
            return;
        };
        let mut state = lock_limit(&limit);
        let passed = Slot {
            limit: Some(limit.clone()),
        };
        let Err(unwanted) = offer(&mut state, Waited::Slot(passed)) else {
            return;
        };
        state.open = state.open.saturating_sub(1);
        drop(state);
        // Nobody wanted the place: it is freed above, so the slot offered must not free it
        // again. (`offer` hands back what it was given: always this slot.)
        if let Waited::Slot(mut unwanted) = unwanted {
            unwanted.limit = None;
        }
    }
}

struct Host<B> {
    idle: Vec<Idle<B>>,
    shared: Option<Shared<B>>,
    waiters: Option<Vec<oneshot::Sender<Waited<B>>>>,
    http1_negotiated: bool,
    host_header: Option<HeaderValue>,
    /// Present once a request went to this target under a per-target cap.
    limit: Option<Arc<Limit<B>>>,
    /// Connects in flight (each a [`ConnectGuard`]), for [`Pool::stats`].
    connecting: usize,
    /// Every connection made to this target that may still be open, and whether it is
    /// HTTP/2, for [`Pool::stats`]: a connection is open while anything holds its
    /// `Connected` (the pool's entry, a request, a response body). Pruned as connections
    /// are added.
    opened: Vec<(Weak<Connected>, bool)>,
}

impl<B> Default for Host<B> {
    fn default() -> Self {
        Self {
            idle: Vec::new(),
            shared: None,
            waiters: None,
            http1_negotiated: false,
            host_header: None,
            limit: None,
            connecting: 0,
            opened: Vec::new(),
        }
    }
}

impl<B> Host<B> {
    fn is_empty(&self) -> bool {
        // A limit some slot still points to must outlive this entry's idle and shared
        // connections: a fresh entry would count from zero. Slots are only made with the
        // pool locked, so a count of one (this entry's) cannot grow behind our back.
        self.idle.is_empty()
            && self.shared.is_none()
            && self.waiters.is_none()
            && self.connecting == 0
            && self.opened.iter().all(|(conn, _)| conn.strong_count() == 0)
            && self
                .limit
                .as_ref()
                .is_none_or(|limit| Arc::strong_count(limit) == 1)
    }

    fn expire(&mut self, now: Instant, idle_timeout: Option<Duration>) {
        let fresh =
            |since: Instant| idle_timeout.is_none_or(|t| now.saturating_duration_since(since) < t);
        self.idle
            .retain(|idle| fresh(idle.since) && !idle.sender.is_closed());
        if self
            .shared
            .as_ref()
            .is_some_and(|shared| shared.sender.is_closed() || !fresh(shared.last_used))
        {
            self.shared = None;
        }
    }
}

struct State<B> {
    /// FxHash: every request hashes its target at checkout and again when an HTTP/1
    /// connection returns; std's SipHash, which `Authority`'s case-insensitive `Hash` feeds
    /// one byte at a time, cost more than the rest of the checkout. Seeded at random per pool,
    /// so which authorities collide cannot be known in advance. (foldhash, tried in its
    /// place, cost more: it folds a full multiply per byte that `Authority` feeds it.)
    hosts: FxHashMapSeed<Target, Host<B>>,
    reaper_running: bool,
}

fn random_seed() -> FxSeededState {
    use std::hash::BuildHasher as _;
    let seed = std::hash::RandomState::new().hash_one(0x0074_6f77_6c69_6e65_u64);
    // Only the bits that fit matter: any seed will do, as long as it is not known.
    FxSeededState::with_seed(seed as usize)
}

struct Inner<B> {
    state: Mutex<State<B>>,
    config: PoolConfig,
    timer: SharedTimer,
    spawn: Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>,
}

/// The pool, shared by every clone of a transport.
pub struct Pool<B> {
    inner: Arc<Inner<B>>,
}

impl<B> Clone for Pool<B> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<B> std::fmt::Debug for Pool<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// The outcome of a checkout.
pub(crate) enum Checkout<B> {
    Ready(PooledConn<B>),
    Connect(ConnectGuard<B>),
    Wait(oneshot::Receiver<Waited<B>>),
}

fn lock<B>(inner: &Inner<B>) -> MutexGuard<'_, State<B>> {
    // A panic while holding the lock cannot leave the maps half-updated in a way that
    // matters: every update is a single insert or remove.
    inner.state.lock().unwrap_or_else(|e| e.into_inner())
}

impl<B: Send + 'static> Pool<B> {
    /// A pool spawning its reaper with `spawn` and sleeping on `timer`.
    pub fn new(
        config: PoolConfig,
        timer: SharedTimer,
        spawn: Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    hosts: FxHashMapSeed::with_hasher(random_seed()),
                    reaper_running: false,
                }),
                config,
                timer,
                spawn,
            }),
        }
    }

    /// Number of idle HTTP/1 plus shared HTTP/2 or HTTP/3 connections for `target`.
    pub fn idle_count(&self, target: &Target) -> usize {
        let state = lock(&self.inner);
        state.hosts.get(target).map_or(0, |host| {
            host.idle.len() + usize::from(host.shared.is_some())
        })
    }

    /// Takes a ready connection for `target`, or says how to get one. `may_be_http2` gates
    /// concurrent connects so an HTTP/2 (or HTTP/3) connection is made once and shared.
    pub(crate) fn checkout(&self, target: &Target, may_be_http2: bool) -> Checkout<B> {
        if self.inner.config.max_idle_per_host == 0 {
            return self.ungated(target);
        }
        let now = self.inner.timer.now();
        let mut state = lock(&self.inner);
        let gate = may_be_http2;
        let Some(host) = state.hosts.get_mut(target) else {
            return self.connect_or_wait(&mut state, target, gate);
        };
        if let Some(shared) = &mut host.shared {
            if let Some(sender) = shared.sender.share().filter(Sender::is_ready) {
                shared.last_used = now;
                return Checkout::Ready(PooledConn {
                    sender,
                    connected: shared.connected.clone(),
                    reused: true,
                    host_header: None,
                    slot: None,
                });
            }
            host.shared = None;
        }
        while let Some(idle) = host.idle.pop() {
            let expired = self
                .inner
                .config
                .idle_timeout
                .is_some_and(|t| now.saturating_duration_since(idle.since) >= t);
            if !expired && !idle.sender.is_closed() {
                return Checkout::Ready(PooledConn {
                    sender: Sender::Http1(idle.sender),
                    connected: idle.connected,
                    reused: true,
                    host_header: host.host_header.clone(),
                    slot: idle.slot,
                });
            }
        }
        self.connect_or_wait(&mut state, target, gate)
    }

    /// A connect that neither waits for nor holds back anyone (plain HTTP/1, or a replay on
    /// a fresh connection); an HTTP/2 connection it makes is still shared. Under a
    /// per-target cap it may have to wait for a slot.
    pub(crate) fn ungated(&self, target: &Target) -> Checkout<B> {
        self.ungated_locked(&mut lock(&self.inner), target)
    }

    fn ungated_locked(&self, state: &mut State<B>, target: &Target) -> Checkout<B> {
        match self.slot_or_queue(state, target) {
            Ok(slot) => self.guard(state, target, false, slot),
            Err(queued) => Checkout::Wait(queued),
        }
    }

    /// An ungated connect holding `slot`.
    pub(crate) fn connect_with(&self, target: &Target, slot: Option<Slot<B>>) -> Checkout<B> {
        self.guard(&mut lock(&self.inner), target, false, slot)
    }

    /// A connect to `target`, counted among its connects in flight until the guard drops.
    fn guard(
        &self,
        state: &mut State<B>,
        target: &Target,
        gated: bool,
        slot: Option<Slot<B>>,
    ) -> Checkout<B> {
        state.hosts.entry(target.clone()).or_default().connecting += 1;
        Checkout::Connect(ConnectGuard {
            pool: Arc::downgrade(&self.inner),
            target: Some(target.clone()),
            counted: Some(target.clone()),
            opened: None,
            gated,
            slot,
        })
    }

    /// A snapshot of the pool's connections: idle and active per target and HTTP version, and
    /// the connects in flight. It takes the pool's lock once and walks every target, so it
    /// costs in proportion to the targets and connections; meant for a metrics reader's
    /// collection, not for every request.
    pub fn stats(&self) -> PoolStats {
        let state = lock(&self.inner);
        let targets = state
            .hosts
            .iter()
            .map(|(target, host)| {
                let mut stats = TargetStats::new(target.scheme.clone(), target.authority.clone());
                stats.connecting = host.connecting;
                stats.http1_idle = host
                    .idle
                    .iter()
                    .filter(|idle| !idle.sender.is_closed())
                    .count();
                let mut http1_open: usize = 0;
                for (conn, http2) in &host.opened {
                    match (conn.strong_count(), http2) {
                        (0, _) => {}
                        (_, false) => http1_open += 1,
                        // The pool's entry holds one reference; each request waiting for its
                        // head on it, another.
                        (1, true) if shared_h2(host, conn) => stats.http2_idle += 1,
                        (_, true) => stats.http2_active += 1,
                    }
                }
                stats.http1_active = http1_open.saturating_sub(stats.http1_idle);
                stats
            })
            .collect();
        PoolStats::new(targets)
    }

    /// A source of [`stats`](Self::stats) that does not keep the pool alive: once every clone
    /// of the pool (every transport using it) is gone, it reports an empty pool.
    pub fn stats_source(&self) -> impl Fn() -> PoolStats + Send + Sync + 'static
    where
        B: 'static,
    {
        let pool = Arc::downgrade(&self.inner);
        move || {
            pool.upgrade()
                .map(|inner| Pool { inner }.stats())
                .unwrap_or_default()
        }
    }

    /// A slot for a new connection to `target` (`None` when there is no cap), or a place in
    /// its queue when every slot is taken.
    fn slot_or_queue(
        &self,
        state: &mut State<B>,
        target: &Target,
    ) -> Result<Option<Slot<B>>, oneshot::Receiver<Waited<B>>> {
        let Some(max) = self.inner.config.max_connections_per_host else {
            return Ok(None);
        };
        let host = state.hosts.entry(target.clone()).or_default();
        let limit = host.limit.get_or_insert_with(|| Arc::new(Limit::new(max)));
        let mut limit_state = lock_limit(limit);
        if limit_state.open < limit.max {
            limit_state.open += 1;
            return Ok(Some(Slot {
                limit: Some(limit.clone()),
            }));
        }
        let (tx, rx) = oneshot::channel();
        limit_state.queue.push_back(tx);
        Err(rx)
    }

    fn connect_or_wait(&self, state: &mut State<B>, target: &Target, gate: bool) -> Checkout<B> {
        if !gate {
            if state.hosts.get(target).is_some_and(Host::is_empty) {
                state.hosts.remove(target);
            }
            return self.ungated_locked(state, target);
        }
        let host = state.hosts.entry(target.clone()).or_default();
        if host.http1_negotiated {
            return self.ungated_locked(state, target);
        }
        if let Some(waiters) = &mut host.waiters {
            let (tx, rx) = oneshot::channel();
            waiters.push(tx);
            return Checkout::Wait(rx);
        }
        let slot = match self.slot_or_queue(state, target) {
            Ok(slot) => slot,
            Err(queued) => return Checkout::Wait(queued),
        };
        if let Some(host) = state.hosts.get_mut(target) {
            host.waiters = Some(Vec::new());
        }
        self.guard(state, target, true, slot)
    }

    /// Returns an HTTP/1 connection whose response finished; `request_sent` says whether
    /// its request body had been sent to its end.
    pub(crate) fn put_http1(&self, target: Target, conn: PooledConn<B>, request_sent: bool) {
        let Sender::Http1(sender) = &conn.sender else {
            return;
        };
        if self.inner.config.max_idle_per_host == 0 || sender.is_closed() {
            return;
        }
        if sender.is_ready() || request_sent {
            // The body has been read to its end, but the connection task may not have
            // noticed yet; rather than spawn a task to wait, the connection goes back as it
            // is and the next checkout waits for readiness (`PooledConn::ready`), which is
            // then immediate.
            self.insert_idle(target, conn);
            return;
        }
        // The server answered before the request body was sent to its end (an early
        // response to an upload): the connection stays busy until the upload ends, which may
        // be never. Put in the pool now, it would make the next request wait for the
        // upload; so it goes back only once ready, and the next request connects meanwhile.
        let pool = Arc::downgrade(&self.inner);
        let mut conn = conn;
        (self.inner.spawn)(Box::pin(async move {
            if conn.ready().await
                && let Some(inner) = pool.upgrade()
            {
                Pool { inner }.insert_idle(target, conn);
            }
        }));
    }

    /// Puts an HTTP/1 connection back: to the oldest request queued under the target's cap,
    /// or with the idle ones.
    fn insert_idle(&self, target: Target, conn: PooledConn<B>) {
        let since = self.inner.timer.now();
        let mut state = lock(&self.inner);
        let host = state.hosts.entry(target).or_default();
        let conn = match &host.limit {
            Some(limit) => {
                let offered = offer(&mut lock_limit(limit), Waited::Conn(conn));
                match offered {
                    Ok(()) => return,
                    Err(Waited::Conn(conn)) => conn,
                    // `offer` hands back what it was given.
                    Err(_) => return,
                }
            }
            None => conn,
        };
        let Sender::Http1(sender) = conn.sender else {
            return;
        };
        if host.idle.len() >= self.inner.config.max_idle_per_host {
            return;
        }
        if host.host_header.is_none() {
            host.host_header = conn.host_header;
        }
        host.idle.push(Idle {
            sender,
            connected: conn.connected,
            since,
            slot: conn.slot,
        });
        self.ensure_reaper(&mut state);
    }

    fn ensure_reaper(&self, state: &mut State<B>) {
        let Some(idle_timeout) = self.inner.config.idle_timeout else {
            return;
        };
        if state.reaper_running {
            return;
        }
        state.reaper_running = true;
        let pool = Arc::downgrade(&self.inner);
        let timer = self.inner.timer.clone();
        let period = (idle_timeout / 2).max(Duration::from_millis(10));
        (self.inner.spawn)(Box::pin(async move {
            loop {
                timer.sleep(period).await;
                let Some(inner) = pool.upgrade() else { return };
                let now = inner.timer.now();
                let mut state = lock(&inner);
                state.hosts.retain(|_, host| {
                    host.expire(now, Some(idle_timeout));
                    !host.is_empty()
                });
                if state.hosts.is_empty() {
                    state.reaper_running = false;
                    return;
                }
            }
        }));
    }
}

/// Held by a request that connects. A gated guard is the one request allowed to connect while
/// others wait; finishing it settles them, and dropping it unfinished tells them to connect
/// on their own.
pub(crate) struct ConnectGuard<B> {
    pool: Weak<Inner<B>>,
    /// Taken once the guard is settled.
    target: Option<Target>,
    /// The target whose connects in flight count this one; taken when the guard drops.
    counted: Option<Target>,
    /// The connection made, once finished: registered with the target when the guard drops.
    opened: Option<(Weak<Connected>, bool)>,
    gated: bool,
    /// The new connection's place under the per-target cap; freed if the connect fails.
    slot: Option<Slot<B>>,
}

impl<B: Send + 'static> ConnectGuard<B> {
    /// Applies `update` to the target's entry and takes the waiters (gated guards only).
    fn settle(&mut self, update: impl FnOnce(&mut Host<B>)) -> Vec<oneshot::Sender<Waited<B>>> {
        let (Some(inner), Some(target)) = (self.pool.upgrade(), self.target.take()) else {
            return Vec::new();
        };
        let mut state = lock(&inner);
        let host = state.hosts.entry(target.clone()).or_default();
        update(host);
        let waiters = if self.gated {
            host.waiters.take().unwrap_or_default()
        } else {
            Vec::new()
        };
        if host.shared.is_some() {
            Pool {
                inner: inner.clone(),
            }
            .ensure_reaper(&mut state);
        } else if host.is_empty() {
            state.hosts.remove(&target);
        }
        waiters
    }

    /// The new connection `conn` is HTTP/2 or HTTP/3: share it with the pool (unless the
    /// target already has a working one, in which case `conn` keeps its own slot) and with
    /// every waiter.
    pub(crate) fn finish_shared(mut self, conn: &mut PooledConn<B>, now: Instant) {
        let Some(sender) = conn.sender.share() else {
            return;
        };
        self.opened = Some((Arc::downgrade(&conn.connected), true));
        let pooling = self
            .pool
            .upgrade()
            .is_some_and(|inner| inner.config.max_idle_per_host > 0);
        let mut slot = self.slot.take();
        let waiters = self.settle(|host| {
            if pooling && !host.shared.as_ref().is_some_and(|s| s.sender.is_ready()) {
                host.shared = Some(Shared {
                    sender,
                    connected: conn.connected.clone(),
                    last_used: now,
                    _slot: slot.take(),
                });
            }
        });
        for waiter in waiters {
            let Some(sender) = conn.sender.share() else {
                return;
            };
            let _ = waiter.send(Waited::Conn(PooledConn {
                sender,
                connected: conn.connected.clone(),
                reused: false,
                host_header: None,
                slot: None,
            }));
        }
        conn.slot = slot;
    }

    /// ALPN chose HTTP/1.1 for `conn`: waiters connect on their own, and later requests
    /// need no gate.
    pub(crate) fn finish_http1(mut self, conn: &mut PooledConn<B>) {
        conn.slot = self.slot.take();
        self.opened = Some((Arc::downgrade(&conn.connected), false));
        if !self.gated {
            self.target = None;
            return;
        }
        for waiter in self.settle(|host| host.http1_negotiated = true) {
            let _ = waiter.send(Waited::Retry);
        }
    }

    /// The connect failed: every waiter gets the same error.
    pub(crate) fn fail(mut self, error: &ConnectError) {
        if !self.gated {
            self.target = None;
            return;
        }
        for waiter in self.settle(|_| ()) {
            let _ = waiter.send(Waited::Failed(error.duplicate()));
        }
    }
}

impl<B> Drop for ConnectGuard<B> {
    fn drop(&mut self) {
        let Some(inner) = self.pool.upgrade() else {
            return;
        };
        let mut state = lock(&inner);
        // An unsettled gated guard: its waiters connect on their own.
        let waiters = match self.target.take() {
            Some(target) if self.gated => state
                .hosts
                .get_mut(&target)
                .and_then(|host| host.waiters.take())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        if let Some(counted) = self.counted.take()
            && let Some(host) = state.hosts.get_mut(&counted)
        {
            host.connecting = host.connecting.saturating_sub(1);
            if let Some(opened) = self.opened.take() {
                host.opened.retain(|(conn, _)| conn.strong_count() > 0);
                host.opened.push(opened);
            }
            if host.is_empty() {
                state.hosts.remove(&counted);
            }
        }
        drop(state);
        for waiter in waiters {
            let _ = waiter.send(Waited::Retry);
        }
    }
}

/// Whether `conn` is the HTTP/2 or HTTP/3 connection the pool shares for `host`.
fn shared_h2<B>(host: &Host<B>, conn: &Weak<Connected>) -> bool {
    host.shared
        .as_ref()
        .is_some_and(|shared| std::ptr::eq(Arc::as_ptr(&shared.connected), conn.as_ptr()))
}
