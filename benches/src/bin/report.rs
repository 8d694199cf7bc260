//! Writes `benches/RESULTS.md` from a bench run; `benches/run.sh` calls it.
//!
//! ```text
//! towline-bench-report --samples FILE --sample-size N --meta FILE --connections FILE \
//!     --memory FILE --lock Cargo.lock --out benches/RESULTS.md
//! ```
//!
//! - `--samples`: the `<scenario> <client> <iters> <wall ns> <cpu ns>` lines the bench appends
//!   for every timed call, over all rounds; the last `--sample-size` calls of each benchmark in
//!   each round are criterion's samples (the earlier ones are its warm-up);
//! - `--instructions`: `<scenario> <client> <instructions per iteration>` lines from
//!   callgrind (optional);
//! - `--runtimes` (optional): the same kind of lines from `benches/runtimes.rs`, whose clients
//!   are `<runtime>_<client>` (see [`RUNTIME_ROWS`]); their instruction counts, if any, are in
//!   the `--instructions` file under the same names;
//! - `--meta`: `key=value` lines about the run (date, machine, load, settings);
//! - `--connections`: the bench's output; its `CONNECTIONS <scenario> <client> <new> <requests>`
//!   lines count the connections the server accepted during the measurement;
//! - `--memory`: `<client> <peak RSS KiB> <seconds>` lines from the 1 GiB streaming check;
//! - `--download` (optional): `<connections> <peak RSS KiB> <seconds>` lines from the 100 MiB
//!   range-download check;
//! - `--lock`: the workspace `Cargo.lock`, for the exact versions measured.
//!
//! Per benchmark, the samples (time per iteration) of every round are pooled; the report
//! gives their median and a 95% bootstrap confidence interval of that median, for CPU time
//! and wall-clock time alike.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The clients, in table order.
const CLIENTS: [&str; 7] = [
    "bare_hyper",
    "hyper_util",
    "reqwest",
    "aioduct",
    "towline",
    "towline_all_layers",
    "towline_transport",
];

/// The scenarios, in run order, with what each measures.
const SCENARIOS: [(&str, &str); 15] = [
    ("h1_get_13b", "HTTP/1.1 GET, 13-byte body"),
    (
        "h1_get_json",
        "HTTP/1.1 GET, small JSON object, deserialized",
    ),
    ("h1_get_64k", "HTTP/1.1 GET, 64 KiB body"),
    ("h1_get_1m", "HTTP/1.1 GET, 1 MiB body"),
    ("h1_post_4k_echo", "HTTP/1.1 POST 4 KiB, echoed back"),
    ("h2c_get_13b", "h2c GET, 13-byte body"),
    ("h2c_get_64k", "h2c GET, 64 KiB body"),
    ("h2c_get_1m", "h2c GET, 1 MiB body"),
    (
        "h2c_concurrent_10",
        "h2c, 10 concurrent GETs (13 B) on one connection; time per round of 10",
    ),
    (
        "h3_get_13b",
        "HTTP/3 GET, 13-byte body (TLS 1.3 over QUIC; `bare_hyper` is a bare `h3` + `h3-quinn` client, and clients without HTTP/3 have no row)",
    ),
    ("h3_get_1m", "HTTP/3 GET, 1 MiB body (as above)"),
    (
        "h3_concurrent_10",
        "HTTP/3, 10 concurrent GETs (13 B) on one connection; time per round of 10 (as above)",
    ),
    (
        "h1_concurrent_50",
        "HTTP/1.1, 50 concurrent GETs (13 B), spawned and all awaited; time per round of 50",
    ),
    (
        "h1_fresh_connection",
        "HTTP/1.1 GET 13 B on a new connection per request (pool off)",
    ),
    (
        "h2c_fresh_connection",
        "h2c GET 13 B on a new connection per request (pool off)",
    ),
];

/// The rows of `benches/runtimes.rs`: `<runtime>_<client>`, in table order.
const RUNTIME_ROWS: [&str; 7] = [
    "tokio_bare_hyper",
    "tokio_towline",
    "smol_bare_hyper",
    "smol_towline",
    "smol_global_bare_hyper",
    "smol_global_towline",
    "smol_isahc",
];

/// The scenarios of `benches/runtimes.rs` (a subset of [`SCENARIOS`]).
const RUNTIME_SCENARIOS: [&str; 4] = [
    "h1_get_13b",
    "h1_get_1m",
    "h2c_get_13b",
    "h2c_concurrent_10",
];

/// The runtimes of `benches/runtimes.rs`, each with the towline row and its floor.
const RUNTIMES: [(&str, &str, &str); 3] = [
    ("tokio", "tokio_towline", "tokio_bare_hyper"),
    ("smol", "smol_towline", "smol_bare_hyper"),
    (
        "smol_global",
        "smol_global_towline",
        "smol_global_bare_hyper",
    ),
];

/// Crates whose exact versions the report quotes.
const CRATES: [&str; 14] = [
    "hyper",
    "hyper-util",
    "h2",
    "http",
    "tokio",
    "bytes",
    "reqwest",
    "aioduct",
    "criterion",
    "tower",
    "serde_json",
    "towline",
    "smol",
    "isahc",
];

/// Target: towline / bare hyper in every row.
const TARGET_ALL: f64 = 1.10;
/// Target: towline / bare hyper on the 1 MiB rows.
const TARGET_1M: f64 = 1.03;
/// Target: peak RSS of the 1 GiB download through towline.
const TARGET_RSS_KIB: u64 = 32 * 1024;

#[derive(Clone, Copy, Debug)]
struct Estimate {
    median: f64,
    lower: f64,
    upper: f64,
}

/// A benchmark: (scenario, client).
type Key = (&'static str, &'static str);
/// One round's samples of a benchmark: (wall ns, CPU ns) per iteration, in call order.
type Round = Vec<(f64, f64)>;
type Estimates = BTreeMap<Key, Estimate>;

/// Median of `values` (sorted in place).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The median of `values` with a 95% percentile-bootstrap interval (deterministic).
fn estimate(values: &[f64]) -> Estimate {
    const RESAMPLES: usize = 2000;
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let n = values.len();
    let mut resample = vec![0.0; n];
    let mut medians: Vec<f64> = (0..RESAMPLES)
        .map(|_| {
            for slot in resample.iter_mut() {
                *slot = values[(next() % n as u64) as usize];
            }
            median(&mut resample)
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    let mut sorted = values.to_vec();
    Estimate {
        median: median(&mut sorted),
        lower: medians[RESAMPLES * 25 / 1000],
        upper: medians[RESAMPLES * 975 / 1000 - 1],
    }
}

/// Pools each benchmark's samples over the rounds: (CPU time, wall time) estimates. Lines
/// whose scenario or client is not in `scenarios`/`clients` are skipped.
fn load(
    samples: &Path,
    sample_size: usize,
    scenarios: &[&'static str],
    clients: &[&'static str],
) -> (Estimates, Estimates, usize) {
    // (scenario, client) -> one Vec of (wall, cpu) per round, in call order. A benchmark's
    // calls in one round are contiguous; a new round starts when its calls start again.
    let mut calls: BTreeMap<Key, Vec<Round>> = BTreeMap::new();
    let mut last: Option<(&'static str, &'static str)> = None;
    for line in std::fs::read_to_string(samples).unwrap_or_default().lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [scenario, client, iters, wall, cpu] = fields[..] else {
            continue;
        };
        let (Some(scenario), Some(client)) = (
            scenarios.iter().find(|s| **s == scenario),
            clients.iter().find(|c| **c == client),
        ) else {
            continue;
        };
        let (Ok(iters), Ok(wall), Ok(cpu)) = (
            iters.parse::<f64>(),
            wall.parse::<f64>(),
            cpu.parse::<f64>(),
        ) else {
            continue;
        };
        let key = (*scenario, *client);
        let rounds = calls.entry(key).or_default();
        if last != Some(key) || rounds.is_empty() {
            rounds.push(Vec::new());
        }
        last = Some(key);
        if let Some(round) = rounds.last_mut() {
            round.push((wall / iters, cpu / iters));
        }
    }
    let mut cpu = Estimates::new();
    let mut wall = Estimates::new();
    let mut most_rounds = 0;
    for (key, rounds) in calls {
        most_rounds = most_rounds.max(rounds.len());
        let pooled: Vec<(f64, f64)> = rounds
            .iter()
            .flat_map(|round| {
                round[round.len().saturating_sub(sample_size)..]
                    .iter()
                    .copied()
            })
            .collect();
        if pooled.is_empty() {
            continue;
        }
        let walls: Vec<f64> = pooled.iter().map(|(w, _)| *w).collect();
        let cpus: Vec<f64> = pooled.iter().map(|(_, c)| *c).collect();
        wall.insert(key, estimate(&walls));
        cpu.insert(key, estimate(&cpus));
    }
    (cpu, wall, most_rounds)
}

/// Formats nanoseconds with three significant digits.
fn time(ns: f64) -> String {
    let (value, unit) = if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    let decimals = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.decimals$} {unit}")
}

fn versions(lock: &Path) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(lock).unwrap_or_default();
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut name = None;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("name = ") {
            name = Some(value.trim_matches('"').to_owned());
        } else if let Some(value) = line.strip_prefix("version = ")
            && let Some(name) = name.take()
            && CRATES.contains(&name.as_str())
        {
            found
                .entry(name)
                .or_default()
                .push(value.trim_matches('"').to_owned());
        }
    }
    found
}

struct Args {
    instructions: Option<PathBuf>,
    runtimes: Option<PathBuf>,
    samples: PathBuf,
    sample_size: usize,
    meta: PathBuf,
    connections: PathBuf,
    memory: PathBuf,
    download: Option<PathBuf>,
    lock: PathBuf,
    out: PathBuf,
}

fn args() -> Args {
    let mut map = BTreeMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        map.insert(
            flag.trim_start_matches('-').to_owned(),
            PathBuf::from(value),
        );
    }
    let instructions = map.remove("instructions");
    let runtimes = map.remove("runtimes");
    let download = map.remove("download");
    let mut take = |key: &str| {
        map.remove(key)
            .unwrap_or_else(|| panic!("missing --{key} (see the module docs)"))
    };
    Args {
        instructions,
        runtimes,
        samples: take("samples"),
        sample_size: take("sample-size")
            .to_str()
            .and_then(|n| n.parse().ok())
            .expect("--sample-size takes a number"),
        meta: take("meta"),
        connections: take("connections"),
        memory: take("memory"),
        download,
        lock: take("lock"),
        out: take("out"),
    }
}

fn main() {
    let args = args();
    let meta: Vec<(String, String)> = std::fs::read_to_string(&args.meta)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let meta_get = |key: &str| {
        meta.iter()
            .find(|(k, _)| k == key)
            .map_or("?", |(_, v)| v.as_str())
    };
    // scenario -> client -> (new connections, requests)
    let mut connections: BTreeMap<String, BTreeMap<String, (u64, u64)>> = BTreeMap::new();
    for line in std::fs::read_to_string(&args.connections)
        .unwrap_or_default()
        .lines()
    {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let ["CONNECTIONS", scenario, client, new, requests] = fields[..] {
            // Summed over the rounds.
            let counted = connections
                .entry(scenario.to_owned())
                .or_default()
                .entry(client.to_owned())
                .or_default();
            counted.0 += new.parse::<u64>().unwrap_or(0);
            counted.1 += requests.parse::<u64>().unwrap_or(0);
        }
    }
    let peaks = |path: &PathBuf| -> Vec<(String, u64, String)> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace();
                let name = fields.next()?.to_owned();
                let kib = fields.next()?.parse().ok()?;
                let seconds = fields.next().unwrap_or("?").to_owned();
                Some((name, kib, seconds))
            })
            .collect()
    };
    let memory = peaks(&args.memory);
    let download = args.download.as_ref().map(peaks).unwrap_or_default();

    let scenario_names = SCENARIOS.map(|(name, _)| name);
    let (estimates, wall, rounds) =
        load(&args.samples, args.sample_size, &scenario_names, &CLIENTS);
    let ratio = |scenario: &str, client: &str, base: &str| -> Option<f64> {
        let value = estimates.get(&(scenario, client))?.median;
        let base = estimates.get(&(scenario, base))?.median;
        Some(value / base)
    };
    let wall_ratio = |scenario: &str, client: &str, base: &str| -> Option<f64> {
        let value = wall.get(&(scenario, client))?.median;
        let base = wall.get(&(scenario, base))?.median;
        Some(value / base)
    };
    let fmt_ratio = |r: Option<f64>| r.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×"));
    // (scenario, client) -> instructions per iteration
    let mut counts: BTreeMap<(String, String), f64> = BTreeMap::new();
    if let Some(path) = &args.instructions {
        for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if let [scenario, client, count] = fields[..]
                && let Ok(count) = count.parse::<f64>()
            {
                counts.insert((scenario.to_owned(), client.to_owned()), count);
            }
        }
    }
    let count_ratio = |scenario: &str, client: &str, base: &str| -> Option<f64> {
        let value = counts.get(&(scenario.to_owned(), client.to_owned()))?;
        let base = counts.get(&(scenario.to_owned(), base.to_owned()))?;
        Some(value / base)
    };

    let mut out = String::new();
    let o = &mut out;
    writeln!(o, "# Benchmark results").unwrap();
    writeln!(o).unwrap();
    writeln!(
        o,
        "Written by `benches/run.sh` on {} — do not edit by hand; rerun the script.",
        meta_get("date")
    )
    .unwrap();
    writeln!(o).unwrap();
    writeln!(
        o,
        "Ratios are what to compare: absolute times drift on these shared machines. `× bare` \
         divides a client's median by `bare_hyper`'s (a `hyper::client::conn` `SendRequest` \
         held open: the floor), `× towline` by `towline`'s. The suite runs {rounds} times \
         (rounds, each a fresh process measuring the clients in a rotated order), and each \
         benchmark's samples from all rounds are pooled, so a burst of load from other \
         processes moves a median little. Every sample is timed on two clocks at once: \
         **CPU time** of the whole process (server and client together) per iteration — what \
         the targets are judged by, because wall time on a shared 2-core machine also counts \
         the time our threads waited for a core while other builds ran — and **wall-clock** \
         time, shown as a cross-check. Times on this shared machine still move by tens of \
         percent between runs, so every benchmark is also counted in instructions under \
         callgrind, which gives the same number on every run for the small-body rows (the \
         h2c 64 KiB and 1 MiB rows depend on how reads and flow-control updates interleave \
         and move by up to ±15% between runs): where time and instructions disagree, the \
         instructions are the reproducible part."
    )
    .unwrap();
    writeln!(o).unwrap();

    // ---- targets ----
    writeln!(o, "## Targets").unwrap();
    writeln!(o).unwrap();
    writeln!(
        o,
        "| target | CPU time (judged) | wall clock | instructions (callgrind) | met |"
    )
    .unwrap();
    writeln!(o, "|---|---|---|---|---|").unwrap();
    let worst = |ratio: &dyn Fn(&str, &str, &str) -> Option<f64>, only_1m: bool| {
        let mut worst: Option<(f64, &str)> = None;
        for (scenario, _) in SCENARIOS {
            if only_1m && !scenario.ends_with("_1m") {
                continue;
            }
            if let Some(r) = ratio(scenario, "towline", "bare_hyper")
                && worst.is_none_or(|(w, _)| r > w)
            {
                worst = Some((r, scenario));
            }
        }
        worst
    };
    let describe = |w: Option<(f64, &str)>| {
        w.map_or_else(
            || "–".to_owned(),
            |(r, scenario)| format!("worst {r:.2}× ({scenario})"),
        )
    };
    let mark = |ok: bool| if ok { "yes" } else { "**no**" };
    for (only_1m, target, label) in [
        (false, TARGET_ALL, "in every row"),
        (true, TARGET_1M, "on the 1 MiB rows"),
    ] {
        let judged = worst(&ratio, only_1m);
        if let Some((w, _)) = judged {
            writeln!(
                o,
                "| `towline` ≤ {target:.2}× `bare_hyper` {label} | {} | {} | {} | {} |",
                describe(judged),
                describe(worst(&wall_ratio, only_1m)),
                describe(worst(&count_ratio, only_1m)),
                mark(w <= target)
            )
            .unwrap();
        }
    }
    let slower = |ratio: &dyn Fn(&str, &str, &str) -> Option<f64>| {
        let rows: Vec<String> = SCENARIOS
            .iter()
            .filter_map(|(scenario, _)| {
                let vs = ratio(scenario, "towline", "hyper_util")?;
                (vs > 1.0).then(|| format!("{scenario} ({vs:.2}×)"))
            })
            .collect();
        rows
    };
    let slower_cpu = slower(&ratio);
    let slower_wall = slower(&wall_ratio);
    let list = |rows: &[String]| {
        if rows.is_empty() {
            "none slower".to_owned()
        } else {
            format!("slower in {}", rows.join(", "))
        }
    };
    writeln!(
        o,
        "| no row slower than `hyper_util` | {} | {} | {} | {} |",
        list(&slower_cpu),
        list(&slower_wall),
        list(&slower(&count_ratio)),
        mark(slower_cpu.is_empty())
    )
    .unwrap();
    if let Some((new, requests)) = connections
        .get("h1_concurrent_50")
        .and_then(|c| c.get("towline"))
    {
        writeln!(
            o,
            "| h1 50-concurrent without connection churn | {new} new connections over {requests} requests | | | {} |",
            mark(*new == 0)
        )
        .unwrap();
    }
    if let Some((_, kib, _)) = memory.iter().find(|(c, _, _)| c == "towline") {
        writeln!(
            o,
            "| 1 GiB streamed download, peak RSS ≤ 32 MiB | {:.1} MiB | | | {} |",
            *kib as f64 / 1024.0,
            mark(*kib <= TARGET_RSS_KIB)
        )
        .unwrap();
    }
    writeln!(o).unwrap();
    writeln!(
        o,
        "Where a target is missed, [`PROFILE.md`](PROFILE.md) gives the instruction profile that \
         explains it. `towline_transport` (towline's transport and pool alone, called like \
         `hyper_util`) is the like-for-like peer of `hyper_util`; the gap from it to `towline` \
         is what the facade and its default layers cost."
    )
    .unwrap();
    writeln!(o).unwrap();

    // ---- summaries ----
    let measured = |scenario: &str| {
        CLIENTS
            .iter()
            .any(|c| estimates.contains_key(&(scenario, *c)))
    };
    for (title, ratio) in [
        (
            "CPU time relative to `bare_hyper`",
            &ratio as &dyn Fn(&str, &str, &str) -> Option<f64>,
        ),
        (
            "Wall-clock time relative to `bare_hyper` (cross-check)",
            &wall_ratio,
        ),
        (
            "instructions per iteration relative to `bare_hyper` (callgrind)",
            &count_ratio,
        ),
    ] {
        writeln!(o, "## Summary: {title}").unwrap();
        writeln!(o).unwrap();
        write!(o, "| scenario |").unwrap();
        for client in CLIENTS {
            write!(o, " {client} |").unwrap();
        }
        writeln!(o).unwrap();
        write!(o, "|---|").unwrap();
        for _ in CLIENTS {
            write!(o, "---:|").unwrap();
        }
        writeln!(o).unwrap();
        for (scenario, _) in SCENARIOS {
            if !measured(scenario) {
                continue;
            }
            write!(o, "| {scenario} |").unwrap();
            for client in CLIENTS {
                let cell = fmt_ratio(ratio(scenario, client, "bare_hyper"));
                if client == "towline" {
                    write!(o, " **{cell}** |").unwrap();
                } else {
                    write!(o, " {cell} |").unwrap();
                }
            }
            writeln!(o).unwrap();
        }
        writeln!(o).unwrap();
    }

    // ---- per scenario ----
    writeln!(o, "## Per scenario").unwrap();
    writeln!(o).unwrap();
    writeln!(
        o,
        "Per iteration: the CPU-time median of the samples of all rounds pooled, with a 95% \
         bootstrap confidence interval of that median, its ratios, then the wall-clock median \
         of the same samples and its ratio, then callgrind's instruction count per iteration \
         (whole process, server included) and its ratio. The counted rows give the connections the server \
         accepted while the client was measured (criterion's warm-up included), over all \
         rounds."
    )
    .unwrap();
    for (scenario, what) in SCENARIOS {
        if !measured(scenario) {
            continue;
        }
        writeln!(o).unwrap();
        writeln!(o, "### {scenario}").unwrap();
        writeln!(o).unwrap();
        writeln!(o, "{what}.").unwrap();
        writeln!(o).unwrap();
        let counted = connections.get(scenario);
        write!(
            o,
            "| client | CPU median | 95% CI | × bare | × towline | wall median | wall × bare | instructions | instr. × bare |"
        )
        .unwrap();
        if counted.is_some() {
            write!(o, " new connections / requests |").unwrap();
        }
        writeln!(o).unwrap();
        write!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---:|").unwrap();
        if counted.is_some() {
            write!(o, "---:|").unwrap();
        }
        writeln!(o).unwrap();
        for client in CLIENTS {
            let Some(e) = estimates.get(&(scenario, client)) else {
                writeln!(o, "| {client} | not measured | | | | | | | |").unwrap();
                continue;
            };
            write!(
                o,
                "| {client} | {} | {} – {} | {} | {} | {} | {} | {} | {} |",
                time(e.median),
                time(e.lower),
                time(e.upper),
                fmt_ratio(ratio(scenario, client, "bare_hyper")),
                fmt_ratio(ratio(scenario, client, "towline")),
                wall.get(&(scenario, client))
                    .map_or_else(|| "–".to_owned(), |w| time(w.median)),
                fmt_ratio(wall_ratio(scenario, client, "bare_hyper")),
                counts
                    .get(&(scenario.to_owned(), client.to_owned()))
                    .map_or_else(|| "–".to_owned(), |c| format!("{:.1} k", c / 1000.0)),
                fmt_ratio(count_ratio(scenario, client, "bare_hyper")),
            )
            .unwrap();
            if let Some(counted) = counted {
                let cell = counted
                    .get(client)
                    .map_or_else(|| "–".to_owned(), |(n, r)| format!("{n} / {r}"));
                write!(o, " {cell} |").unwrap();
            }
            writeln!(o).unwrap();
        }
    }
    writeln!(o).unwrap();

    if let Some(path) = &args.runtimes {
        runtimes_section(o, path, args.sample_size, &counts);
    }

    // ---- pooled vs fresh ----
    // ---- HTTP/3 against h2c ----
    let h3_pairs = [
        ("h3_get_13b", "h2c_get_13b"),
        ("h3_get_1m", "h2c_get_1m"),
        ("h3_concurrent_10", "h2c_concurrent_10"),
    ];
    if h3_pairs
        .iter()
        .any(|(h3, _)| estimates.contains_key(&(*h3, "towline")))
    {
        writeln!(o, "## HTTP/3 against h2c").unwrap();
        writeln!(o).unwrap();
        writeln!(
            o,
            "CPU time of the same payload over HTTP/3 divided by its time over h2c, per client \
             (the HTTP/3 rows also pay for TLS 1.3 and QUIC's packet protection, which h2c, \
             cleartext, does not)."
        )
        .unwrap();
        writeln!(o).unwrap();
        writeln!(o, "| payload | bare (h3 / h2c) | towline (h3 / h2c) |").unwrap();
        writeln!(o, "|---|---:|---:|").unwrap();
        for (h3, h2) in h3_pairs {
            let over = |client: &'static str| match (
                estimates.get(&(h3, client)),
                estimates.get(&(h2, client)),
            ) {
                (Some(a), Some(b)) => fmt_ratio(Some(a.median / b.median)),
                _ => "–".to_owned(),
            };
            writeln!(
                o,
                "| {h3} vs {h2} | {} | {} |",
                over("bare_hyper"),
                over("towline")
            )
            .unwrap();
        }
        writeln!(o).unwrap();
    }

    writeln!(o, "## Pooled vs fresh connection").unwrap();
    writeln!(o).unwrap();
    writeln!(
        o,
        "Cost of a new connection per request relative to the pooled row of the same request \
         (`*_fresh_connection` / `*_get_13b`)."
    )
    .unwrap();
    writeln!(o).unwrap();
    writeln!(
        o,
        "| client | HTTP/1.1 fresh / pooled | h2c fresh / pooled |"
    )
    .unwrap();
    writeln!(o, "|---|---:|---:|").unwrap();
    for client in CLIENTS {
        let pair = |fresh: &str, pooled: &str| {
            let fresh = estimates.get(&(fresh, client))?.median;
            let pooled = estimates.get(&(pooled, client))?.median;
            Some(fresh / pooled)
        };
        writeln!(
            o,
            "| {client} | {} | {} |",
            fmt_ratio(pair("h1_fresh_connection", "h1_get_13b")),
            fmt_ratio(pair("h2c_fresh_connection", "h2c_get_13b")),
        )
        .unwrap();
    }
    writeln!(o).unwrap();

    // ---- memory ----
    writeln!(o, "## Memory: 1 GiB streamed download").unwrap();
    writeln!(o).unwrap();
    writeln!(
        o,
        "`benches/stream_1gib.rs`: the bench server runs in its own process; each client, in \
         another process under `/usr/bin/time -v`, streams `GET /stream/1073741824` (HTTP/1.1, \
         64 KiB chunks) into a sink that only counts the bytes. Default glibc malloc settings \
         (no `GLIBC_TUNABLES`)."
    )
    .unwrap();
    writeln!(o).unwrap();
    writeln!(o, "| client | peak RSS | wall time |").unwrap();
    writeln!(o, "|---|---:|---:|").unwrap();
    for (client, kib, seconds) in &memory {
        writeln!(
            o,
            "| {client} | {:.1} MiB ({kib} KiB) | {seconds} |",
            *kib as f64 / 1024.0
        )
        .unwrap();
    }
    writeln!(o).unwrap();
    if !download.is_empty() {
        writeln!(o, "## Memory: 100 MiB parallel range download to a file").unwrap();
        writeln!(o).unwrap();
        writeln!(
            o,
            "`stream_1gib download <addr> <n>`: towline's `Client::download` fetches \
             `GET /stream/104857600` from the same server in `n` ranged requests (`If-Range`, each \
             `206` checked) and writes them at their offsets in a temporary file, which is then \
             checked byte for byte; one process per run under `/usr/bin/time -v`."
        )
        .unwrap();
        writeln!(o).unwrap();
        writeln!(o, "| connections | peak RSS | wall time |").unwrap();
        writeln!(o, "|---:|---:|---:|").unwrap();
        for (connections, kib, seconds) in &download {
            writeln!(
                o,
                "| {connections} | {:.1} MiB ({kib} KiB) | {seconds} |",
                *kib as f64 / 1024.0
            )
            .unwrap();
        }
        writeln!(o).unwrap();
    }

    // ---- setup ----
    writeln!(o, "## Clients").unwrap();
    writeln!(o).unwrap();
    for line in [
        "- `bare_hyper`: `hyper::client::conn::{http1,http2}` with a `SendRequest` held open (50 of them for the 50-concurrent row; a clone of one for the h2c rows); no pool, no features. Bodies are collected into one `Bytes` (`collect().to_bytes()`). Fresh rows: TCP connect + handshake per request.",
        "- `hyper_util`: `hyper_util::client::legacy::Client` over `HttpConnector` (`set_nodelay(true)`), `http2_only` for the h2c rows; fresh rows: `pool_max_idle_per_host(0)`.",
        "- `reqwest`: `default-features = false, features = [\"http2\", \"json\"]`, `tcp_nodelay(true)`, `http1_only()` or `http2_prior_knowledge()`, the URL parsed once (`reqwest::Url`); fresh rows: `pool_max_idle_per_host(0)`.",
        "- `aioduct`: features `tokio`, `json`; TCP_NODELAY is always on in its tokio connector; h2c through the request builder's `h2c_prior_knowledge()`; fresh rows: `no_connection_reuse()`.",
        "- `towline`: `TokioClient::builder()` with its default stack (redirect policy, decompression, the timeout layer), `tcp_nodelay(true)` (the default), `http2_prior_knowledge()` for the h2c rows; fresh rows: `pool_max_idle_per_host(0)`. Like `reqwest`, it is handed the URL parsed once (`url::Url`, cloned per request), the cheapest form its API takes, as the hyper rows get a parsed `Uri`; `aioduct` takes only a string. Parsing a string per request costs both about 6 k instructions (the `url` crate)",
        "- `towline_transport`: towline's transport and pool alone (`towline_services::transport::Transport` over its `HttpConnector`, TCP_NODELAY on), called as a tower `Service` with the same parsed `Uri` the `hyper_util` row gets: no facade, no layers, no default headers. It is the like-for-like peer of `hyper_util`; the gap between it and `towline` is what the facade and its default layers cost.",
    ] {
        writeln!(o, "{line}").unwrap();
    }
    writeln!(
        o,
        "- `towline_all_layers`: the facade with every layer that exists configured but idle: {}.",
        meta_get("all_layers")
    )
    .unwrap();
    writeln!(o).unwrap();
    writeln!(
        o,
        "Every client is built once per scenario and warmed before it is measured; each \
         measurement is a loop of requests inside a task spawned on the one tokio runtime that \
         also runs the server (criterion `iter_custom`; the runtime is named under Run below: \
         the current-thread one by default, because with the 2-worker scheduler where the \
         loop, client-connection and server-connection tasks land changed from one client \
         build to the next and made the same client measure 30 µs or 80 µs per h2c request); every response's status, version \
         and body length is checked inside the loop (the JSON row deserializes and checks the \
         object). The server (`benches/src/lib.rs`) is hyper's, HTTP/1.1 and h2c prior \
         knowledge on two loopback ports, TCP_NODELAY, h2 windows of 16 MiB (stream) and \
         64 MiB (connection)."
    )
    .unwrap();
    writeln!(o).unwrap();

    // ---- machine ----
    writeln!(o, "## Run").unwrap();
    writeln!(o).unwrap();
    writeln!(o, "| | |").unwrap();
    writeln!(o, "|---|---|").unwrap();
    for (key, value) in &meta {
        if key == "all_layers" {
            continue;
        }
        writeln!(o, "| {key} | {value} |").unwrap();
    }
    writeln!(o).unwrap();
    writeln!(o, "Crate versions (from `Cargo.lock`):").unwrap();
    writeln!(o).unwrap();
    writeln!(o, "| crate | version |").unwrap();
    writeln!(o, "|---|---|").unwrap();
    let found = versions(&args.lock);
    for name in CRATES {
        if let Some(list) = found.get(name) {
            writeln!(o, "| {name} | {} |", list.join(", ")).unwrap();
        }
    }

    std::fs::write(&args.out, out).unwrap();
    println!("wrote {}", args.out.display());
}

/// The section on `benches/runtimes.rs`: towline's ratio to the floor on each runtime.
fn runtimes_section(
    o: &mut String,
    path: &Path,
    sample_size: usize,
    counts: &BTreeMap<(String, String), f64>,
) {
    let (cpu, wall, rounds) = load(path, sample_size, &RUNTIME_SCENARIOS, &RUNTIME_ROWS);
    if cpu.is_empty() {
        return;
    }
    let ratio = |estimates: &Estimates, scenario: &'static str, row, base| -> Option<f64> {
        Some(estimates.get(&(scenario, row))?.median / estimates.get(&(scenario, base))?.median)
    };
    let cell = |r: Option<f64>| r.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}×"));
    writeln!(o, "## Runtimes: towline against each runtime's floor").unwrap();
    writeln!(o).unwrap();
    writeln!(
        o,
        "`benches/runtimes.rs`, {rounds} rounds pooled as above. The server runs on a tokio \
         runtime on a thread of its own; each client loop runs on the runtime under test from \
         the measuring thread: `tokio` is a current-thread runtime; `smol` is one \
         `smol::Executor` run inside `smol::block_on` (towline built with \
         `SmolRuntime::with_executor`), so loop and connection tasks share a thread as on \
         tokio; `smol_global` is `SmolClient::builder()`'s default, connection tasks on smol's \
         global executor thread. Each runtime's floor (`bare_hyper`) is a \
         `hyper::client::conn` `SendRequest` over that runtime's TCP stream (smol: async-io's \
         through `SmolIo`, towline's own adapter), its tasks on that runtime. `isahc` (libcurl \
         on curl's own thread) is polled from the `smol` runtime and divided by the `smol` \
         floor. The goal: `towline` has the same ratio to the floor on smol as on tokio (the \
         last two columns: each smol ratio divided by the tokio ratio; 1.00× is the goal met)."
    )
    .unwrap();
    for (title, estimates) in [
        ("CPU time (judged)", &cpu),
        ("wall clock (cross-check)", &wall),
    ] {
        writeln!(o).unwrap();
        writeln!(
            o,
            "### {title}: `towline` / `bare_hyper` on the same runtime"
        )
        .unwrap();
        writeln!(o).unwrap();
        write!(o, "| scenario |").unwrap();
        for (runtime, _, _) in RUNTIMES {
            write!(o, " {runtime} floor | {runtime} towline |").unwrap();
        }
        writeln!(o, " smol isahc | smol ÷ tokio | smol_global ÷ tokio |").unwrap();
        write!(o, "|---|").unwrap();
        for _ in RUNTIMES {
            write!(o, "---:|---:|").unwrap();
        }
        writeln!(o, "---:|---:|---:|").unwrap();
        for scenario in RUNTIME_SCENARIOS {
            if !RUNTIME_ROWS
                .iter()
                .any(|row| estimates.contains_key(&(scenario, *row)))
            {
                continue;
            }
            write!(o, "| {scenario} |").unwrap();
            for (_, row, base) in RUNTIMES {
                let floor = estimates
                    .get(&(scenario, base))
                    .map_or_else(|| "–".to_owned(), |e| time(e.median));
                write!(
                    o,
                    " {floor} | **{}** |",
                    cell(ratio(estimates, scenario, row, base))
                )
                .unwrap();
            }
            let tokio = ratio(estimates, scenario, "tokio_towline", "tokio_bare_hyper");
            let against_tokio = |row, base| {
                ratio(estimates, scenario, row, base)
                    .zip(tokio)
                    .map(|(smol, tokio)| smol / tokio)
            };
            writeln!(
                o,
                " {} | {} | {} |",
                cell(ratio(estimates, scenario, "smol_isahc", "smol_bare_hyper")),
                cell(against_tokio("smol_towline", "smol_bare_hyper")),
                cell(against_tokio(
                    "smol_global_towline",
                    "smol_global_bare_hyper"
                )),
            )
            .unwrap();
        }
    }
    let counted: Vec<(&str, &str, f64)> = RUNTIME_SCENARIOS
        .iter()
        .flat_map(|scenario| RUNTIME_ROWS.iter().map(move |row| (*scenario, *row)))
        .filter_map(|(scenario, row)| {
            let count = counts.get(&(scenario.to_owned(), row.to_owned()))?;
            Some((scenario, row, *count))
        })
        .collect();
    if !counted.is_empty() {
        writeln!(o).unwrap();
        writeln!(o, "### Instructions per request (callgrind, whole process)").unwrap();
        writeln!(o).unwrap();
        writeln!(
            o,
            "| scenario | row | instructions | × its runtime's floor |"
        )
        .unwrap();
        writeln!(o, "|---|---|---:|---:|").unwrap();
        for (scenario, row, count) in counted {
            let floor = if row.starts_with("smol_global_") {
                "smol_global_bare_hyper"
            } else if row.starts_with("smol_") {
                "smol_bare_hyper"
            } else {
                "tokio_bare_hyper"
            };
            let times = counts
                .get(&(scenario.to_owned(), floor.to_owned()))
                .map(|base| count / base);
            writeln!(
                o,
                "| {scenario} | {row} | {:.1} k | {} |",
                count / 1000.0,
                cell(times)
            )
            .unwrap();
        }
    }
    writeln!(o).unwrap();
}
