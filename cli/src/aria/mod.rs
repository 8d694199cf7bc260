//! towline-aria: aria2's command line for segmented, resumable downloads, over
//! [`Client::download`](towline::Client::download).
//!
//! [`main`] reads the URIs (arguments and `-i`), downloads up to `-j` of them at once, each
//! over up to `min(-s, -x)` connections of at least `-k` bytes, into `-d`, and prints aria2's
//! "Download Results" table. See the [crate documentation](crate) for the options and exit
//! codes.

mod args;
mod checksum;
mod display;
mod name;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use towline::header::{
    AUTHORIZATION, CONTENT_DISPOSITION, HeaderName, HeaderValue, REFERER, USER_AGENT,
};
use towline::towline_layers::bandwidth::{BandwidthLayer, BandwidthLimiter};
use towline::towline_services::rt::{Runtime, tokio::TokioRuntime};
use towline::{Certificate, Client, HeaderMap, Proxy, RetryConfig, Url};

use self::args::Args;
use self::checksum::Checksum;
use self::display::Display;

/// aria2's exit codes that towline-aria gives.
mod code {
    /// Every download finished.
    pub(super) const OK: u8 = 0;
    /// An error without a code of its own.
    pub(super) const UNKNOWN: u8 = 1;
    /// A timeout.
    pub(super) const TIMEOUT: u8 = 2;
    /// The server answered 404.
    pub(super) const NOT_FOUND: u8 = 3;
    /// No connection to the server.
    pub(super) const NETWORK: u8 = 6;
    /// Interrupted (Ctrl-C) with downloads unfinished.
    pub(super) const UNFINISHED: u8 = 7;
    /// The file exists, and neither renaming nor overwriting is allowed.
    pub(super) const FILE_EXISTS: u8 = 13;
    /// Writing the file failed.
    pub(super) const FILE_IO: u8 = 17;
    /// The download directory could not be created.
    pub(super) const DIR_CREATE: u8 = 18;
    /// The name did not resolve.
    pub(super) const NAME_RESOLUTION: u8 = 19;
    /// Another HTTP error status.
    pub(super) const HTTP_STATUS: u8 = 22;
    /// The server refused the credentials (401, 403).
    pub(super) const AUTH: u8 = 24;
    /// A bad option.
    pub(super) const BAD_OPTION: u8 = 28;
    /// The finished file does not have the `--checksum` digest.
    pub(super) const CHECKSUM: u8 = 32;
}

/// Runs towline-aria with the process's arguments and returns its exit status.
pub fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => {
            let status = if error.use_stderr() {
                code::BAD_OPTION
            } else {
                code::OK
            };
            // Nothing more can be said when stderr itself is gone.
            let _ = error.print();
            return ExitCode::from(status);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("towline-aria: cannot start the runtime: {error}");
            return ExitCode::from(code::UNKNOWN);
        }
    };
    ExitCode::from(runtime.block_on(run(args)))
}

/// One download's end, for the results table.
#[derive(Debug)]
struct Finished {
    gid: usize,
    uri: String,
    path: Option<PathBuf>,
    /// `Ok(bytes)`, or aria2's code and a message.
    result: Result<u64, (u8, String)>,
    /// The bytes an interrupted download had already written (`-c`).
    resumed: u64,
    elapsed: Duration,
}

async fn run(args: Args) -> u8 {
    let uris = match uris(&args) {
        Ok(uris) => uris,
        Err((status, message)) => {
            eprintln!("towline-aria: {message}");
            return status;
        }
    };
    let checksum = match args.checksum.as_deref().map(Checksum::parse).transpose() {
        Ok(checksum) => checksum,
        Err(message) => {
            eprintln!("towline-aria: {message}");
            return code::BAD_OPTION;
        }
    };
    if args
        .out
        .as_deref()
        .is_some_and(|out| out.is_empty() || out.ends_with('/'))
    {
        eprintln!("towline-aria: -o names a file: it cannot be empty or end in /");
        return code::BAD_OPTION;
    }
    if uris.len() > 1 && (args.out.is_some() || checksum.is_some()) {
        eprintln!("towline-aria: -o and --checksum name one file: give one URI with them");
        return code::BAD_OPTION;
    }
    let clients = match Clients::new(&args) {
        Ok(clients) => Arc::new(clients),
        Err(message) => {
            eprintln!("towline-aria: {message}");
            return code::BAD_OPTION;
        }
    };

    let display = Display::for_stdout(args.quiet, uris.len());
    let args = Arc::new(args);
    let checksum = Arc::new(checksum);
    let permits = Arc::new(Semaphore::new(usize::from(args.max_concurrent_downloads)));
    let mut tasks = JoinSet::new();
    for (index, uri) in uris.iter().enumerate() {
        let (args, checksum, permits) = (
            Arc::clone(&args),
            Arc::clone(&checksum),
            Arc::clone(&permits),
        );
        let clients = Arc::clone(&clients);
        let uri = uri.clone();
        let display = display.clone();
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let start = Instant::now();
            let gid = index + 1;
            let job = Job {
                gid,
                uri: &uri,
                checksum: checksum.as_ref().as_ref(),
                display: &display,
            };
            let (path, result) = download(&args, &clients, job).await;
            display.finished();
            let (result, resumed) = match result {
                Ok((length, resumed)) => (Ok(length), resumed),
                Err(failure) => (Err(failure), 0),
            };
            Finished {
                gid,
                uri,
                path,
                result,
                resumed,
                elapsed: start.elapsed(),
            }
        });
    }

    let mut finished = Vec::new();
    let mut lost = false;
    let interrupted = loop {
        tokio::select! {
            next = tasks.join_next() => match next {
                Some(Ok(done)) => {
                    display.suspend(|| report(&args, &done));
                    finished.push(done);
                }
                Some(Err(error)) => {
                    eprintln!("towline-aria: a download stopped: {error}");
                    lost = true;
                }
                None => break false,
            },
            _ = tokio::signal::ctrl_c() => {
                // Dropping the downloads stops their connections; each keeps its state file,
                // so `-c` continues it.
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                break true;
            }
        }
    };
    finished.sort_by_key(|done| done.gid);
    display.clear();
    if !args.quiet {
        print!("{}", results_table(&finished, uris.len(), interrupted));
    }
    if interrupted {
        if !args.quiet {
            eprintln!("towline-aria: interrupted; run again with -c to continue");
        }
        return code::UNFINISHED;
    }
    let last_failure = finished
        .iter()
        .rev()
        .find_map(|done| done.result.as_ref().err().map(|(status, _)| *status));
    match last_failure {
        Some(status) => status,
        None if lost => code::UNKNOWN,
        None => code::OK,
    }
}

/// The URIs of the arguments and of `-i`.
fn uris(args: &Args) -> Result<Vec<String>, (u8, String)> {
    let mut uris = args.uris.clone();
    if let Some(file) = &args.input_file {
        let text = if file == "-" {
            std::io::read_to_string(std::io::stdin())
        } else {
            std::fs::read_to_string(file)
        }
        .map_err(|error| (code::UNKNOWN, format!("cannot read {file}: {error}")))?;
        uris.extend(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_owned),
        );
    }
    if uris.is_empty() {
        return Err((
            code::BAD_OPTION,
            "no URI to download (give URIs or -i FILE)".to_owned(),
        ));
    }
    Ok(uris)
}

/// The clients downloads are made with: one for all, unless each download has a speed limit
/// of its own; the overall limit is one limiter, shared by every client.
struct Clients {
    shared: Option<Client>,
    overall: Option<BandwidthLimiter>,
}

impl Clients {
    fn new(args: &Args) -> Result<Self, String> {
        let overall = match args.max_overall_download_limit {
            0 => None,
            limit => Some(limiter(limit)?),
        };
        let shared = match args.max_download_limit {
            0 => Some(client(args, overall.as_ref(), None)?),
            _ => None,
        };
        Ok(Self { shared, overall })
    }

    /// The client for one download.
    fn for_download(&self, args: &Args) -> Result<Client, String> {
        match &self.shared {
            Some(client) => Ok(client.clone()),
            None => {
                let own = limiter(args.max_download_limit)?;
                client(args, self.overall.as_ref(), Some(own))
            }
        }
    }
}

fn limiter(bytes_per_sec: u64) -> Result<BandwidthLimiter, String> {
    BandwidthLimiter::new(bytes_per_sec, TokioRuntime.timer()).map_err(|error| error.to_string())
}

/// A client with the options' headers, credentials, timeouts, retries and proxy, the overall
/// speed limiter and a download's own.
fn client(
    args: &Args,
    overall: Option<&BandwidthLimiter>,
    own: Option<BandwidthLimiter>,
) -> Result<Client, String> {
    let mut headers = HeaderMap::new();
    let agent = args
        .user_agent
        .clone()
        .unwrap_or_else(|| concat!("towline-aria/", env!("CARGO_PKG_VERSION")).to_owned());
    headers.insert(USER_AGENT, value(&agent)?);
    if let Some(referer) = &args.referer {
        headers.insert(REFERER, value(referer)?);
    }
    if let Some(user) = &args.http_user {
        let password = args.http_passwd.as_deref().unwrap_or_default();
        headers.insert(AUTHORIZATION, value(&basic(user, password))?);
    }
    for header in &args.header {
        let (name, text) = header
            .split_once(':')
            .ok_or_else(|| format!("--header {header:?}: expected \"Name: value\""))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| format!("--header {header:?}: bad name"))?;
        headers.append(name, value(text.trim())?);
    }
    let wait = Duration::from_secs(args.retry_wait);
    let retries = RetryConfig::new()
        .max_retries(args.retries())
        .initial_backoff(wait)
        .max_backoff(wait)
        .backoff_multiplier(1.0);
    let mut builder = Client::builder()
        .default_headers(headers)
        .connect_timeout(Duration::from_secs(args.connect_timeout))
        .read_timeout(args.timeout())
        .retry(retries)
        // Byte positions must be the file's, so nothing is decoded.
        .no_decompression();
    if let Some(overall) = overall {
        builder = builder.bandwidth_limiter(overall.clone());
    }
    if let Some(own) = own {
        // A second pace on the same bodies: the client holds one limiter of its own.
        builder = builder.layer(BandwidthLayer::new(own));
    }
    if let Some(path) = &args.ca_certificate {
        let pem =
            std::fs::read(path).map_err(|error| format!("--ca-certificate {path}: {error}"))?;
        for certificate in Certificate::from_pem_bundle(&pem)
            .map_err(|error| format!("--ca-certificate {path}: {error}"))?
        {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if let Some(proxy) = &args.all_proxy {
        let url = if proxy.contains("://") {
            proxy.clone()
        } else {
            format!("http://{proxy}")
        };
        builder = builder
            .proxy(Proxy::all(&url).map_err(|error| format!("--all-proxy {proxy}: {error}"))?);
    }
    builder.build().map_err(|error| error.to_string())
}

fn value(text: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(text).map_err(|_| format!("{text:?} cannot be a header value"))
}

/// `Basic base64(user:password)`.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// One URI to download, and where its progress is shown.
struct Job<'a> {
    gid: usize,
    uri: &'a str,
    checksum: Option<&'a Checksum>,
    display: &'a Display,
}

/// Downloads one URI; returns the file it went to and the outcome: its length and the bytes
/// an interrupted run had written, or aria2's code and a message.
async fn download(
    args: &Args,
    clients: &Clients,
    job: Job<'_>,
) -> (Option<PathBuf>, Result<(u64, u64), (u8, String)>) {
    let Job {
        gid,
        uri,
        checksum,
        display,
    } = job;
    let url = match Url::parse(uri) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        Ok(url) => {
            return (
                None,
                Err((
                    code::UNKNOWN,
                    format!("{}: not an http or https URI", url.scheme()),
                )),
            );
        }
        Err(error) => return (None, Err((code::UNKNOWN, format!("{uri}: {error}")))),
    };
    let client = match clients.for_download(args) {
        Ok(client) => client,
        Err(message) => return (None, Err((code::BAD_OPTION, message))),
    };
    let dir = Path::new(&args.dir);
    if let Err(error) = std::fs::create_dir_all(dir) {
        return (
            None,
            Err((code::DIR_CREATE, format!("{}: {error}", dir.display()))),
        );
    }

    // A HEAD first: whether the file is there (--dry-run), and the server's name for it.
    let head = client.head(url.clone()).send().await;
    if args.dry_run {
        return match head {
            Ok(response) if response.status().is_success() => {
                (None, Ok((response.content_length().unwrap_or(0), 0)))
            }
            Ok(response) => (None, Err(status_failure(response.status().as_u16()))),
            Err(error) => (None, Err(failure(&error))),
        };
    }
    let head = head.ok().filter(|response| response.status().is_success());
    let announced = head.as_ref().and_then(towline::Response::content_length);
    let offered = head.and_then(|response| {
        let value = response
            .headers()
            .get(CONTENT_DISPOSITION)?
            .to_str()
            .ok()?
            .to_owned();
        name::from_disposition(&value)
    });
    let path = match target(args, dir, &url, offered) {
        Ok(path) => path,
        Err(failure) => return (None, Err(failure)),
    };
    let part = name::part_of(&path);

    let connections = usize::from(args.split.min(args.max_connection_per_server));
    let shown = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let line = display.download(gid, &shown, connections);
    if let Some(length) = announced {
        line.set_length(length);
    }
    let progress = line.clone();
    let result = client
        .download(url)
        .connections(connections)
        .min_segment_size(args.min_split_size.max(1))
        .segment_retries(args.retries())
        .to_file(&part)
        .resume(args.continue_download)
        .preallocate(args.preallocate())
        .reserve_space(args.reserve_space())
        .progress(move |report| {
            if let Some(total) = report.total {
                progress.set_length(total);
            }
            progress.set_position(report.transferred);
        })
        .send()
        .await;
    line.finish();
    let downloaded = match result {
        Ok(downloaded) => downloaded,
        Err(error) => return (Some(part), Err(failure(&error))),
    };
    if let Some(checksum) = checksum {
        let verified = {
            let (checksum, part) = (checksum.clone(), part.clone());
            tokio::task::spawn_blocking(move || checksum.verify(&part)).await
        };
        match verified {
            Ok(Ok((_, true))) => {}
            Ok(Ok((digest, false))) => {
                return (
                    Some(part),
                    Err((
                        code::CHECKSUM,
                        format!(
                            "checksum mismatch: the file's digest is {digest}; kept as the .part file"
                        ),
                    )),
                );
            }
            Ok(Err(error)) => return (Some(part), Err((code::FILE_IO, error.to_string()))),
            Err(error) => return (Some(part), Err((code::UNKNOWN, error.to_string()))),
        }
    }
    if let Err(error) = std::fs::rename(&part, &path) {
        return (
            Some(part),
            Err((
                code::FILE_IO,
                format!("cannot rename to {}: {error}", path.display()),
            )),
        );
    }
    (Some(path), Ok((downloaded.length, downloaded.resumed)))
}

/// Where the download goes: `-o`, else the server's or the URI's name made safe, in `-d`;
/// an existing file is replaced (`--allow-overwrite`), renamed around
/// (`--auto-file-renaming`), or an error. With `-c`, a file being downloaded is continued.
fn target(
    args: &Args,
    dir: &Path,
    url: &Url,
    offered: Option<String>,
) -> Result<PathBuf, (u8, String)> {
    let name = match &args.out {
        Some(out) => out.clone(),
        None => offered
            .as_deref()
            .and_then(name::sanitize)
            .or_else(|| name::from_uri(url).as_deref().and_then(name::sanitize))
            .unwrap_or_else(|| "index.html".to_owned()),
    };
    let path = dir.join(&name);
    if args.continue_download && name::part_of(&path).exists() {
        return Ok(path);
    }
    if !path.exists() || args.allow_overwrite {
        return Ok(path);
    }
    if args.auto_file_renaming {
        return name::free_path(dir, &name).ok_or_else(|| {
            (
                code::FILE_EXISTS,
                format!("{}: no free name left", path.display()),
            )
        });
    }
    Err((
        code::FILE_EXISTS,
        format!(
            "{} exists (--allow-overwrite or --auto-file-renaming)",
            path.display()
        ),
    ))
}

/// aria2's code for a client error.
fn failure(error: &towline::Error) -> (u8, String) {
    let status = if let Some(status) = error.status() {
        status_failure(status.as_u16()).0
    } else if error.is_timeout() {
        code::TIMEOUT
    } else if error.is_dns() {
        code::NAME_RESOLUTION
    } else if error.is_connect() || error.is_request() {
        code::NETWORK
    } else {
        // The answers did not fit together (a changed file, a wrong range), or the file
        // could not be written.
        code::UNKNOWN
    };
    (status, error.to_string())
}

fn status_failure(status: u16) -> (u8, String) {
    let code = match status {
        404 => code::NOT_FOUND,
        401 | 403 => code::AUTH,
        _ => code::HTTP_STATUS,
    };
    (code, format!("the server answered {status}"))
}

fn report(args: &Args, done: &Finished) {
    if args.quiet {
        return;
    }
    match (&done.result, &done.path) {
        (Ok(_), Some(path)) if done.resumed > 0 => println!(
            "Download complete: {} (continued after {} bytes)",
            path.display(),
            done.resumed
        ),
        (Ok(_), Some(path)) => println!("Download complete: {}", path.display()),
        (Ok(length), None) => println!("Available: {} ({length} bytes)", done.uri),
        (Err((status, message)), _) => {
            eprintln!("towline-aria: [{status}] {}: {message}", done.uri)
        }
    }
}

/// aria2's "Download Results" table.
fn results_table(finished: &[Finished], total: usize, interrupted: bool) -> String {
    let mut table = String::from(
        "\nDownload Results:\ngid   |stat|avg speed  |path/URI\n======+====+===========+=======================================================\n",
    );
    for done in finished {
        let (stat, bytes) = match &done.result {
            Ok(bytes) => ("OK", *bytes),
            Err(_) => ("ERR", 0),
        };
        let seconds = done.elapsed.as_secs_f64().max(0.001);
        // Speeds are shown rounded, so a fractional byte does not matter.
        let speed = bytes as f64 / seconds;
        let shown = done
            .path
            .as_ref()
            .filter(|_| done.result.is_ok())
            .map_or_else(|| done.uri.clone(), |path| path.display().to_string());
        table.push_str(&format!(
            "{:<6}|{stat:<4}|{:>11}|{shown}\n",
            done.gid,
            speed_text(speed)
        ));
    }
    let unfinished = total.saturating_sub(finished.len());
    table.push_str("\nStatus Legend:\n(OK):download completed.(ERR):error occurred.");
    if interrupted || unfinished > 0 {
        table.push_str(&format!(
            "(INPR):download in-progress ({unfinished} unfinished)."
        ));
    }
    table.push('\n');
    table
}

fn speed_text(bytes_per_sec: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes_per_sec;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0}B/s")
    } else {
        format!("{value:.1}{}/s", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_base64() {
        assert_eq!(basic("user", "pass"), "Basic dXNlcjpwYXNz");
        assert_eq!(basic("a", ""), "Basic YTo=");
        assert_eq!(basic("ab", "c"), "Basic YWI6Yw==");
    }

    #[test]
    fn speeds_and_statuses() {
        assert_eq!(speed_text(512.0), "512B/s");
        assert_eq!(speed_text(1536.0), "1.5KiB/s");
        assert_eq!(status_failure(404).0, code::NOT_FOUND);
        assert_eq!(status_failure(401).0, code::AUTH);
        assert_eq!(status_failure(500).0, code::HTTP_STATUS);
    }
}
