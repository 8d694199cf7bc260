//! towline on tokio and on smol, each against a bare hyper conn loop on the same runtime.
//!
//! The question is whether the facade keeps the same ratio to the floor on every runtime, so
//! each runtime gets its own floor: `bare_hyper` is `hyper::client::conn::{http1,http2}` with a
//! `SendRequest` held open, over that runtime's TCP stream (tokio's through hyper-util's
//! `TokioIo`; async-io's `Async<TcpStream>` through `towline_services::rt::smol::SmolIo`, the
//! adapter towline's smol transport uses, so both smol rows read through the same code), its
//! connection task and its HTTP/2 streams spawned on that runtime. `towline` is the facade
//! with its default stack built for that runtime. `smol_isahc` is the smol peer: isahc (libcurl
//! through curl's own thread, so it runs on any executor), polled from the `smol` runtime and
//! compared with that runtime's floor. surf (2.3) builds as well, but has no row: its default
//! backend is isahc 0.9 over the same libcurl (an older copy of the row above), and its
//! `h1-client` backend runs on async-std, not smol. Scenarios, by `clients.rs`'s names: h1 13 B,
//! h1 1 MiB, h2c 13 B and h2c 10 concurrent on one connection.
//!
//! The client runtimes, by the prefix of each row's name:
//!
//! - `tokio`: a current-thread tokio runtime run by the measuring thread (as `run.sh` runs
//!   `clients.rs`): the loop and the connection tasks share one thread;
//! - `smol`: one `smol::Executor` run by the measuring thread inside `smol::block_on` (the
//!   towline client built with `SmolRuntime::with_executor`): again one thread for the loop
//!   and the connection tasks, the like-for-like twin of the tokio rows;
//! - `smol_global`: what `SmolClient::builder()` gives inside `smol::block_on`: the loop on
//!   the measuring thread, connection tasks (and the 10 concurrent requests) on smol's global
//!   executor, which runs on a thread of its own, so every response crosses threads.
//!
//! The server (`BenchServer`) runs on a current-thread tokio runtime on a thread of its own,
//! the same for every row. Each measurement is a loop of `iters` requests run to completion
//! by the runtime under test (criterion `iter_custom`), timed inside it; every client is built
//! once per scenario and warmed before it is measured; every response's status, version and
//! body length is checked. As in `clients.rs`, criterion is given the CPU time of the whole
//! process (server included, `TOWLINE_BENCH_CLOCK=wall` for the wall clock) and
//! `TOWLINE_BENCH_SAMPLES` appends `<scenario> <runtime>_<client> <iters> <wall ns> <cpu ns>`
//! per timed call for the report. `TOWLINE_BENCH_PROFILE=<scenario>:<runtime>_<client>:<iters>`
//! runs one benchmark without criterion, for callgrind; `TOWLINE_BENCH_ONLY=a,b` runs only the
//! scenarios whose names contain a or b; `TOWLINE_BENCH_ROUND=r` rotates the row order.

#![allow(
    missing_docs,
    unreachable_pub,
    // A benchmark fails loudly: a wrong response must stop it, not be measured.
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::Criterion;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use http::header::{HOST, HeaderValue};
use http::{Request, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::TokioIo;
use towline::towline_services::rt::Runtime;
use towline::towline_services::rt::smol::{SmolIo, SmolRuntime};
use towline_bench::{BenchServer, MIB_1, SMALL_BODY};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Res<T> = Result<T, BoxError>;
type Req = Full<Bytes>;

/// CPU time used so far by the whole process (every thread: server, clients, runtimes).
#[allow(unsafe_code)]
fn process_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec` through a pointer to a live local.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed");
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// What criterion is given: the process's CPU time (default) or wall-clock time, as in
/// `clients.rs`. The loop itself times both and hands criterion its pick through
/// `iter_custom`; this type only tells criterion how to format and add the values.
struct Clock {
    wall: WallTime,
}

impl Measurement for Clock {
    type Intermediate = Instant;
    type Value = Duration;

    fn start(&self) -> Instant {
        Instant::now()
    }

    fn end(&self, start: Instant) -> Duration {
        start.elapsed()
    }

    fn add(&self, v1: &Duration, v2: &Duration) -> Duration {
        *v1 + *v2
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        self.wall.formatter()
    }
}

/// Whether criterion gets CPU time (`TOWLINE_BENCH_CLOCK=cpu`, the default) or wall time.
fn cpu_clock() -> bool {
    match std::env::var("TOWLINE_BENCH_CLOCK").as_deref() {
        Ok("wall") => false,
        Ok("cpu") | Err(_) => true,
        Ok(other) => panic!("TOWLINE_BENCH_CLOCK must be cpu or wall, not {other:?}"),
    }
}

/// A client runtime under test (see the module docs).
#[derive(Clone)]
enum Rt {
    Tokio(Arc<tokio::runtime::Runtime>),
    Smol(Arc<smol::Executor<'static>>),
    SmolGlobal,
}

impl Rt {
    fn name(&self) -> &'static str {
        match self {
            Self::Tokio(_) => "tokio",
            Self::Smol(_) => "smol",
            Self::SmolGlobal => "smol_global",
        }
    }

    /// Runs `future` to completion on this runtime, from the calling thread.
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self {
            Self::Tokio(rt) => rt.block_on(future),
            Self::Smol(executor) => smol::block_on(executor.run(future)),
            Self::SmolGlobal => smol::block_on(future),
        }
    }

    /// Spawns a task; `join` awaits its output.
    fn spawn<F>(&self, future: F) -> Task<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Self::Tokio(_) => Task::Tokio(tokio::spawn(future)),
            Self::Smol(executor) => Task::Smol(executor.spawn(future)),
            Self::SmolGlobal => Task::Smol(smol::spawn(future)),
        }
    }
}

/// hyper's executor for HTTP/2 (its connection's stream tasks), on the runtime under test.
impl<F> hyper::rt::Executor<F> for Rt
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        self.spawn(future).detach_or_drop();
    }
}

enum Task<T> {
    Tokio(tokio::task::JoinHandle<T>),
    Smol(smol::Task<T>),
}

impl<T> Task<T> {
    async fn join(self) -> T {
        match self {
            Self::Tokio(handle) => handle.await.unwrap(),
            Self::Smol(task) => task.await,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Proto {
    H1,
    H2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    BareHyper,
    Towline,
    Isahc,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::BareHyper => "bare_hyper",
            Self::Towline => "towline",
            Self::Isahc => "isahc",
        }
    }
}

/// A scenario: a GET of a body of `len` bytes, `concurrency` at once.
struct Scenario {
    name: &'static str,
    proto: Proto,
    path: &'static str,
    len: usize,
    concurrency: usize,
}

fn scenarios() -> [Scenario; 4] {
    let one = |name, proto, path, len| Scenario {
        name,
        proto,
        path,
        len,
        concurrency: 1,
    };
    [
        one("h1_get_13b", Proto::H1, "/small", SMALL_BODY.len()),
        one("h1_get_1m", Proto::H1, "/1m", MIB_1),
        one("h2c_get_13b", Proto::H2, "/small", SMALL_BODY.len()),
        Scenario {
            name: "h2c_concurrent_10",
            proto: Proto::H2,
            path: "/small",
            len: SMALL_BODY.len(),
            concurrency: 10,
        },
    ]
}

/// Where a request goes, in the forms the clients take it.
struct Endpoint {
    proto: Proto,
    addr: SocketAddr,
    len: usize,
    /// For towline: the URL parsed once, cloned per request (as in `clients.rs`).
    url: towline::Url,
    /// For bare HTTP/2: absolute-form URI.
    absolute: Uri,
    /// For bare HTTP/1: origin-form URI plus Host.
    origin: Uri,
    host: HeaderValue,
}

impl Endpoint {
    fn new(server: &BenchServer, scenario: &Scenario) -> Self {
        let (addr, url) = match scenario.proto {
            Proto::H1 => (server.h1_addr(), server.h1_url(scenario.path)),
            Proto::H2 => (server.h2_addr(), server.h2_url(scenario.path)),
        };
        Self {
            proto: scenario.proto,
            addr,
            len: scenario.len,
            url: towline::Url::parse(&url).unwrap(),
            absolute: url.parse().unwrap(),
            origin: scenario.path.parse().unwrap(),
            host: HeaderValue::from_str(&addr.to_string()).unwrap(),
        }
    }

    fn check(&self, status: StatusCode, version: Version, len: usize) -> Res<()> {
        let expected = match self.proto {
            Proto::H1 => Version::HTTP_11,
            Proto::H2 => Version::HTTP_2,
        };
        if status != StatusCode::OK || version != expected || len != self.len {
            return Err(format!(
                "{status} {version:?} with {len} bytes, expected 200 {expected:?} with {}",
                self.len
            )
            .into());
        }
        Ok(())
    }
}

/// One client handle as a measuring task holds it.
enum Conn {
    BareH1(http1::SendRequest<Req>),
    BareH2(http2::SendRequest<Req>),
    Towline(towline::Client),
    Isahc(isahc::HttpClient),
}

impl Conn {
    /// A handle for one more concurrent task (a bare HTTP/1 connection cannot be shared).
    fn share(&self) -> Self {
        match self {
            Self::BareH1(_) => panic!("a bare HTTP/1 connection is exclusive"),
            Self::BareH2(sender) => Self::BareH2(sender.clone()),
            Self::Towline(client) => Self::Towline(client.clone()),
            Self::Isahc(client) => Self::Isahc(client.clone()),
        }
    }

    async fn once(&mut self, ep: &Endpoint) -> Res<()> {
        let response = match self {
            Self::BareH1(sender) => {
                sender.ready().await?;
                let mut request = Request::new(Full::new(Bytes::new()));
                *request.uri_mut() = ep.origin.clone();
                request.headers_mut().insert(HOST, ep.host.clone());
                sender.send_request(request).await?
            }
            Self::BareH2(sender) => {
                sender.ready().await?;
                let mut request = Request::new(Full::new(Bytes::new()));
                *request.uri_mut() = ep.absolute.clone();
                sender.send_request(request).await?
            }
            Self::Towline(client) => {
                let response = client.get(ep.url.clone()).send().await?;
                let (status, version) = (response.status(), response.version());
                return ep.check(status, version, response.bytes().await?.len());
            }
            Self::Isahc(client) => {
                use isahc::AsyncReadResponseExt as _;
                let mut response = client.get_async(ep.url.as_str()).await?;
                // isahc speaks the `http` 0.2 types: compared by number and by name.
                let status = StatusCode::from_u16(response.status().as_u16())?;
                let version = match response.version() {
                    isahc::http::Version::HTTP_11 => Version::HTTP_11,
                    isahc::http::Version::HTTP_2 => Version::HTTP_2,
                    other => return Err(format!("isahc answered in {other:?}").into()),
                };
                return ep.check(status, version, response.bytes().await?.len());
            }
        };
        let (status, version) = (response.status(), response.version());
        let body = response.into_body().collect().await?.to_bytes();
        ep.check(status, version, body.len())
    }
}

/// A bare hyper connection over the runtime's TCP stream, its driver spawned on the runtime.
async fn bare_connection(rt: &Rt, proto: Proto, addr: SocketAddr) -> Conn {
    macro_rules! handshake {
        ($io:expr) => {
            match proto {
                Proto::H1 => {
                    let (sender, connection) = http1::handshake($io).await.unwrap();
                    rt.spawn(connection).detach_or_drop();
                    Conn::BareH1(sender)
                }
                Proto::H2 => {
                    let (sender, connection) = http2::handshake(rt.clone(), $io).await.unwrap();
                    rt.spawn(connection).detach_or_drop();
                    Conn::BareH2(sender)
                }
            }
        };
    }
    match rt {
        Rt::Tokio(_) => {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            handshake!(TokioIo::new(stream))
        }
        Rt::Smol(_) | Rt::SmolGlobal => {
            let stream = smol::Async::<std::net::TcpStream>::connect(addr)
                .await
                .unwrap();
            stream.get_ref().set_nodelay(true).unwrap();
            handshake!(SmolIo::new(stream))
        }
    }
}

impl<T> Task<T> {
    /// Lets a background task run on without anyone awaiting it.
    fn detach_or_drop(self) {
        match self {
            // A dropped tokio `JoinHandle` detaches its task.
            Self::Tokio(_) => {}
            Self::Smol(task) => task.detach(),
        }
    }
}

/// towline's facade on the runtime under test, with its default stack (TCP_NODELAY is on by
/// default; set anyway, as in `clients.rs`).
fn towline_client(rt: &Rt, proto: Proto) -> Conn {
    let client = match rt {
        Rt::Tokio(_) => configure(towline::TokioClient::builder(), proto).build(),
        Rt::Smol(executor) => configure(
            towline::ClientBuilder::with_runtime(SmolRuntime::with_executor(executor.clone())),
            proto,
        )
        .build(),
        Rt::SmolGlobal => configure(towline::SmolClient::builder(), proto).build(),
    };
    Conn::Towline(client.unwrap())
}

fn configure<R: Runtime>(
    builder: towline::ClientBuilder<R>,
    proto: Proto,
) -> towline::ClientBuilder<R> {
    let builder = builder.tcp_nodelay(true);
    match proto {
        Proto::H1 => builder,
        Proto::H2 => builder.http2_prior_knowledge(),
    }
}

/// isahc: one `HttpClient` (curl's connection cache and its agent thread), HTTP/1.1 only or
/// HTTP/2 with prior knowledge, TCP_NODELAY on.
fn isahc_client(proto: Proto) -> Conn {
    use isahc::config::{Configurable as _, VersionNegotiation};
    let version = match proto {
        Proto::H1 => VersionNegotiation::http11(),
        Proto::H2 => VersionNegotiation::http2(),
    };
    let client = isahc::HttpClient::builder()
        .version_negotiation(version)
        .tcp_nodelay()
        .build()
        .unwrap();
    Conn::Isahc(client)
}

/// Builds `concurrency` handles for one client (one bare HTTP/1 connection each; clones of
/// the first otherwise).
async fn make_conns(rt: &Rt, kind: Kind, scenario: &Scenario, ep: &Endpoint) -> Vec<Conn> {
    let mut conns = Vec::with_capacity(scenario.concurrency);
    while conns.len() < scenario.concurrency {
        let next = match (kind, conns.first()) {
            (Kind::BareHyper, None) | (Kind::BareHyper, Some(Conn::BareH1(_))) => {
                bare_connection(rt, ep.proto, ep.addr).await
            }
            (Kind::Towline, None) => towline_client(rt, ep.proto),
            (Kind::Isahc, None) => isahc_client(ep.proto),
            (_, Some(first)) => first.share(),
        };
        conns.push(next);
    }
    conns
}

/// `iters` rounds of the scenario on `rt`; returns (wall, CPU) time they took.
async fn measure(
    rt: &Rt,
    conns: &mut Vec<Conn>,
    ep: &Arc<Endpoint>,
    iters: u64,
) -> (Duration, Duration) {
    let (wall, cpu) = (Instant::now(), process_cpu_time());
    if conns.len() == 1 {
        for _ in 0..iters {
            conns[0].once(ep).await.unwrap();
        }
    } else {
        let mut tasks = Vec::with_capacity(conns.len());
        for _ in 0..iters {
            for mut conn in conns.drain(..) {
                let ep = ep.clone();
                tasks.push(rt.spawn(async move {
                    conn.once(&ep).await.unwrap();
                    conn
                }));
            }
            for task in tasks.drain(..) {
                conns.push(task.join().await);
            }
        }
    }
    (wall.elapsed(), process_cpu_time().saturating_sub(cpu))
}

/// The runtimes under test, in the order of `TOWLINE_BENCH_ROUND` rotation.
fn runtimes() -> Vec<Rt> {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    vec![
        Rt::Tokio(Arc::new(tokio)),
        Rt::Smol(Arc::new(smol::Executor::new())),
        Rt::SmolGlobal,
    ]
}

/// Starts the bench server on a current-thread tokio runtime on a thread of its own.
fn start_server() -> BenchServer {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("bench-server".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                tx.send(BenchServer::start().await.unwrap()).unwrap();
                std::future::pending::<()>().await;
            });
        })
        .unwrap();
    rx.recv().unwrap()
}

/// Where `TOWLINE_BENCH_SAMPLES` lines go.
type Samples = Mutex<Option<std::io::BufWriter<std::fs::File>>>;

fn record(samples: &Samples, scenario: &str, row: &str, iters: u64, wall: Duration, cpu: Duration) {
    use std::io::Write as _;
    if let Some(out) = samples.lock().unwrap().as_mut() {
        writeln!(
            out,
            "{scenario} {row} {iters} {} {}",
            wall.as_nanos(),
            cpu.as_nanos()
        )
        .unwrap();
    }
}

fn main() {
    let cpu = cpu_clock();
    let server = start_server();
    let round: usize = std::env::var("TOWLINE_BENCH_ROUND")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    // Every (runtime, client) pair, rotated by the round so no row is always measured first.
    // isahc, whose transfers run on curl's thread whatever the executor, is measured once,
    // polled from the `smol` runtime.
    let mut rows: Vec<(Rt, Kind)> = runtimes()
        .into_iter()
        .flat_map(|rt| {
            let isahc = matches!(rt, Rt::Smol(_)).then(|| (rt.clone(), Kind::Isahc));
            [(rt.clone(), Kind::BareHyper), (rt, Kind::Towline)]
                .into_iter()
                .chain(isahc)
        })
        .collect();
    let len = rows.len();
    rows.rotate_left(round % len);
    if let Ok(spec) = std::env::var("TOWLINE_BENCH_PROFILE") {
        profile(&server, &rows, &spec);
        return;
    }
    let samples: Samples = Mutex::new(std::env::var_os("TOWLINE_BENCH_SAMPLES").map(|path| {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        std::io::BufWriter::new(file)
    }));
    let mut criterion = Criterion::default()
        .with_measurement(Clock { wall: WallTime })
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(40)
        .configure_from_args();
    let only = std::env::var("TOWLINE_BENCH_ONLY").unwrap_or_default();
    for scenario in scenarios() {
        if !only.is_empty() && !only.split(',').any(|part| scenario.name.contains(part)) {
            continue;
        }
        let ep = Arc::new(Endpoint::new(&server, &scenario));
        let mut group = criterion.benchmark_group(scenario.name);
        for (rt, kind) in &rows {
            let row = format!("{}_{}", rt.name(), kind.name());
            // Built and warmed outside the measurement.
            let mut conns = rt.block_on(async {
                let mut conns = make_conns(rt, *kind, &scenario, &ep).await;
                measure(rt, &mut conns, &ep, 2).await;
                conns
            });
            group.bench_function(&row, |b| {
                b.iter_custom(|iters| {
                    let (wall, cpu_time) = rt.block_on(measure(rt, &mut conns, &ep, iters));
                    record(&samples, scenario.name, &row, iters, wall, cpu_time);
                    if cpu { cpu_time } else { wall }
                });
            });
            // The connections close before the next row's are opened.
            drop(conns);
        }
        group.finish();
        if let Some(out) = samples.lock().unwrap().as_mut() {
            use std::io::Write as _;
            out.flush().unwrap();
        }
    }
    criterion.final_summary();
}

/// `TOWLINE_BENCH_PROFILE=<scenario>:<runtime>_<client>:<iters>`: that one benchmark for
/// `iters` iterations after a warm-up of as many, no criterion (for callgrind).
fn profile(server: &BenchServer, rows: &[(Rt, Kind)], spec: &str) {
    let [name, row, iters] = spec.split(':').collect::<Vec<_>>()[..] else {
        panic!("TOWLINE_BENCH_PROFILE=<scenario>:<runtime>_<client>:<iters>, not {spec:?}");
    };
    let scenario = scenarios()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name:?}"));
    let (rt, kind) = rows
        .iter()
        .find(|(rt, kind)| format!("{}_{}", rt.name(), kind.name()) == row)
        .unwrap_or_else(|| panic!("no row {row:?}"));
    let iters: u64 = iters.parse().unwrap();
    let ep = Arc::new(Endpoint::new(server, &scenario));
    let (wall, cpu) = rt.block_on(async {
        let mut conns = make_conns(rt, *kind, &scenario, &ep).await;
        measure(rt, &mut conns, &ep, iters).await;
        measure(rt, &mut conns, &ep, iters).await
    });
    println!(
        "{name}/{row}: {iters} iterations, wall {:?}/iter, cpu {:?}/iter",
        wall / u32::try_from(iters).unwrap_or(u32::MAX),
        cpu / u32::try_from(iters).unwrap_or(u32::MAX),
    );
}
