//! From flags to a configured [`Client`], the request headers, and the files kept across
//! transfers (cookie jar, HSTS cache, Alt-Svc cache).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use towline::cookie::CookieJar;
use towline::http::{HeaderName, HeaderValue, StatusCode};
use towline::redirect::Policy;
use towline::towline_layers::error::is_timeout;
use towline::towline_layers::hsts::HstsStore;
use towline::towline_layers::retry::{AttemptOutcome, RetryDecision, RetryStatuses};
use towline::towline_services::{ConnectError, ConnectErrorKind};
use towline::{
    Certificate, Client, ClientBuilder, Identity, Jitter, NoProxy, Proxy, RetryConfig, TlsVersion,
    Url,
};

use super::Plan;
use super::args::Args;
use super::exit::{COULDNT_CONNECT, FAILED_INIT, Failure, SSL_CACERT_BADFILE, SSL_CERTPROBLEM};
use super::hsts;

/// curl's default limit of redirects followed with `-L`.
const DEFAULT_MAX_REDIRS: usize = 50;

/// The statuses `--retry` takes as transient, as curl does.
const TRANSIENT: [u16; 6] = [408, 429, 500, 502, 503, 504];

/// The state kept across transfers, loaded from files before and saved after.
pub(super) struct State {
    /// The cookie engine, on with `-c` or a `-b` file.
    jar: Option<CookieJar>,
    /// The `-b name=value` cookies, sent as they are.
    pub(super) cookie_header: Option<String>,
    hsts: Option<HstsStore>,
    #[cfg(feature = "http3")]
    alt_svc: Option<towline::AltSvcCache>,
}

impl State {
    pub(super) fn load(args: &Args) -> Result<Self, Failure> {
        let (literal, files): (Vec<&String>, Vec<&String>) =
            args.cookie.iter().partition(|value| value.contains('='));
        let cookie_header = (!literal.is_empty()).then(|| {
            literal
                .iter()
                .map(|value| value.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        });
        let jar = (args.cookie_jar.is_some() || !files.is_empty()).then(CookieJar::new);
        if let Some(jar) = &jar {
            for path in files {
                // curl starts the cookie engine with an unreadable -b file and no cookies.
                if let Ok(file) = std::fs::File::open(path) {
                    jar.load_netscape(std::io::BufReader::new(file))
                        .map_err(|error| {
                            Failure::new(FAILED_INIT, format!("cookie file {path}: {error}"))
                        })?;
                }
            }
        }
        let hsts = args.hsts.as_ref().map(|path| {
            let store = HstsStore::new();
            if let Ok(text) = std::fs::read_to_string(path) {
                hsts::load(&store, &text, SystemTime::now());
            }
            store
        });
        #[cfg(feature = "http3")]
        let alt_svc = args.alt_svc.as_ref().map(|path| {
            use towline::towline_services::rt::Runtime as _;
            let cache = towline::AltSvcCache::new(
                towline::towline_services::rt::tokio::TokioRuntime.timer(),
            );
            if let Ok(text) = std::fs::read_to_string(path) {
                super::alt_svc::load(&cache, &text, SystemTime::now());
            }
            cache
        });
        Ok(Self {
            jar,
            cookie_header,
            hsts,
            #[cfg(feature = "http3")]
            alt_svc,
        })
    }

    /// Writes the cookie jar (`-c`), the HSTS cache (`--hsts`) and the Alt-Svc cache
    /// (`--alt-svc`).
    pub(super) fn save(&self, args: &Args) -> Result<(), Failure> {
        if let (Some(jar), Some(path)) = (&self.jar, &args.cookie_jar) {
            let mut text = Vec::new();
            let written = jar
                .save_netscape(&mut text)
                .and_then(|()| write_file_or_stdout(path, &text));
            if let Err(error) = written {
                return Err(Failure::new(
                    super::exit::WRITE_ERROR,
                    format!("failed to save cookies in {path}: {error}"),
                ));
            }
        }
        if let (Some(store), Some(path)) = (&self.hsts, &args.hsts) {
            std::fs::write(path, hsts::save(store)).map_err(|error| {
                Failure::new(
                    super::exit::WRITE_ERROR,
                    format!("failed to save HSTS cache in {path}: {error}"),
                )
            })?;
        }
        #[cfg(feature = "http3")]
        if let (Some(cache), Some(path)) = (&self.alt_svc, &args.alt_svc) {
            std::fs::write(path, super::alt_svc::save(cache, SystemTime::now())).map_err(
                |error| {
                    Failure::new(
                        super::exit::WRITE_ERROR,
                        format!("failed to save Alt-Svc cache in {path}: {error}"),
                    )
                },
            )?;
        }
        Ok(())
    }
}

fn write_file_or_stdout(path: &str, bytes: &[u8]) -> std::io::Result<()> {
    if path == "-" {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(bytes)?;
        stdout.flush()
    } else {
        std::fs::write(path, bytes)
    }
}

/// The client every URL is fetched with.
pub(super) fn client(args: &Args, state: &State) -> Result<Client, Failure> {
    let redirects = if args.location {
        let max = match args.max_redirs {
            Some(max) if max < 0 => usize::MAX,
            Some(max) => usize::try_from(max).unwrap_or(usize::MAX),
            None => DEFAULT_MAX_REDIRS,
        };
        Policy::limited(max)
    } else {
        Policy::none()
    };
    // The request sets every header itself, so `-H "Accept:"` can take the default away.
    let mut builder = Client::builder()
        .no_default_headers()
        .timings(true)
        .referer(false)
        .redirect(redirects);
    for (keep, status) in [
        (args.post301, StatusCode::MOVED_PERMANENTLY),
        (args.post302, StatusCode::FOUND),
        (args.post303, StatusCode::SEE_OTHER),
    ] {
        if keep {
            builder = builder.redirect_keep_post(status);
        }
    }
    if !args.compressed || args.raw {
        builder = builder.no_decompression();
    }
    if args.verbose {
        builder = builder.connection_verbose(true);
    }
    if let Some(timeout) = args.connect_timeout {
        builder = builder.connect_timeout(timeout);
    }
    if let Some(timeout) = args.max_time {
        builder = builder.timeout(timeout);
    }
    if let Some(retry) = retry(args) {
        builder = builder.retry(retry);
    }
    builder = proxy(args, builder)?;
    builder = tls(args, builder)?;
    builder = versions(args, builder)?;
    if let Some(rate) = args.limit_rate {
        builder = builder.max_download_speed(rate);
    }
    for entry in &args.resolve {
        let (host, addr) = parse_resolve(entry).ok_or_else(|| {
            Failure::new(
                FAILED_INIT,
                format!("Couldn't parse --resolve entry {entry:?}"),
            )
        })?;
        builder = builder.resolve(&host, addr);
    }
    if let Some(jar) = &state.jar {
        builder = builder.cookie_jar(jar.clone());
    }
    if let Some(store) = &state.hsts {
        builder = builder.hsts_store(store.clone());
    }
    #[cfg(feature = "http3")]
    if let Some(cache) = &state.alt_svc {
        builder = builder.alt_svc_cache(cache.clone());
    }
    if args.netrc || args.netrc_optional {
        builder = builder.netrc(true);
    }
    if let Some(path) = &args.netrc_file {
        builder = builder.netrc_path(path);
    }
    builder
        .build()
        .map_err(|error| Failure::new(FAILED_INIT, error.to_string()))
}

/// `--retry`: curl's transient failures (timeouts, 408, 429, 500, 502, 503, 504), refused
/// connections with `--retry-connrefused`, everything with `--retry-all-errors`; any method.
fn retry(args: &Args) -> Option<RetryConfig> {
    let retries = args.retry.filter(|retries| *retries > 0)?;
    let statuses = TRANSIENT
        .iter()
        .filter_map(|code| StatusCode::from_u16(*code).ok());
    let config = RetryConfig::new()
        .max_retries(retries)
        .retry_non_idempotent(true)
        .jitter(Jitter::None)
        .retry_on_status(RetryStatuses::list(statuses));
    // curl waits one second, doubling up to ten minutes, unless told a fixed delay.
    let config = match args.retry_delay {
        Some(delay) => config
            .initial_backoff(delay)
            .max_backoff(delay)
            .backoff_multiplier(1.0),
        None => config
            .initial_backoff(Duration::from_secs(1))
            .max_backoff(Duration::from_secs(600))
            .backoff_multiplier(2.0),
    };
    let all = args.retry_all_errors;
    let refused = args.retry_connrefused;
    let fail = args.fail || args.fail_with_body;
    let deadline = args
        .retry_max_time
        .filter(|max| !max.is_zero())
        .and_then(|max| Instant::now().checked_add(max));
    Some(config.classify(move |attempt| {
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return RetryDecision::DoNotRetry;
        }
        let retry = match &attempt.outcome {
            AttemptOutcome::Response { status, .. } => {
                TRANSIENT.contains(&status.as_u16()) || (all && fail && status.as_u16() >= 400)
            }
            AttemptOutcome::Error(error) => {
                all || is_timeout(*error) || (refused && connection_refused(*error))
            }
            _ => false,
        };
        if retry {
            RetryDecision::Retry
        } else {
            RetryDecision::DoNotRetry
        }
    }))
}

fn connection_refused(error: &(dyn std::error::Error + 'static)) -> bool {
    towline::towline_layers::error::find_cause::<ConnectError>(error)
        .is_some_and(|connect| connect.kind() == ConnectErrorKind::Tcp)
}

/// `-x`, `--socks5-hostname`, `--socks5`, `--proxy-user`, `--noproxy`; without them the
/// environment's proxies (the client's default).
fn proxy(args: &Args, builder: ClientBuilder) -> Result<ClientBuilder, Failure> {
    if args.noproxy.as_deref().map(str::trim) == Some("*") {
        return Ok(builder.no_proxy());
    }
    let url = if let Some(host) = &args.socks5_hostname {
        format!("socks5h://{host}")
    } else if let Some(host) = &args.socks5 {
        format!("socks5://{host}")
    } else if let Some(url) = &args.proxy {
        if url.contains("://") {
            url.clone()
        } else {
            format!("http://{url}")
        }
    } else {
        return Ok(builder);
    };
    let url = with_default_port(&url);
    let mut proxy = Proxy::all(&url)
        .map_err(|error| Failure::new(COULDNT_CONNECT, format!("proxy {url}: {error}")))?;
    if let Some(user) = &args.proxy_user {
        let (name, password) = user.split_once(':').unwrap_or((user, ""));
        proxy = proxy.basic_auth(name, password);
    }
    if let Some(list) = &args.noproxy {
        proxy = proxy.no_proxy(NoProxy::from_string(list));
    }
    Ok(builder.proxy(proxy))
}

/// curl's default proxy port is 1080 (443 for an https proxy), not the scheme's.
fn with_default_port(url: &str) -> String {
    let Ok(mut parsed) = Url::parse(url) else {
        return url.to_owned();
    };
    if parsed.port().is_none() {
        let port = if parsed.scheme() == "https" {
            443
        } else {
            1080
        };
        // An https URL drops 443 as its default; the result is the same proxy.
        if parsed.set_port(Some(port)).is_ok() {
            return parsed.as_str().trim_end_matches('/').to_owned();
        }
    }
    url.to_owned()
}

/// Whether a request to `url` goes through a proxy (the flags' or the environment's).
pub(super) fn proxied(args: &Args, url: &Url) -> bool {
    if args.proxy.is_some() || args.socks5.is_some() || args.socks5_hostname.is_some() {
        return args.noproxy.as_deref().map(str::trim) != Some("*");
    }
    let names: &[&str] = if url.scheme() == "https" {
        &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]
    } else {
        &["http_proxy", "all_proxy", "ALL_PROXY"]
    };
    names
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

fn tls(args: &Args, mut builder: ClientBuilder) -> Result<ClientBuilder, Failure> {
    if args.insecure {
        builder = builder.danger_accept_invalid_certs(true);
    }
    if let Some(path) = &args.cacert {
        let bad = |message: String| {
            Failure::new(
                SSL_CACERT_BADFILE,
                format!("error setting certificate file: {path}: {message}"),
            )
        };
        let pem = std::fs::read(path).map_err(|error| bad(error.to_string()))?;
        let certificates =
            Certificate::from_pem_bundle(&pem).map_err(|error| bad(error.to_string()))?;
        if certificates.is_empty() {
            return Err(bad("no certificate in it".to_owned()));
        }
        builder = builder.tls_built_in_root_certs(false);
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if let Some(path) = &args.cert {
        let bad = |path: &str, message: String| {
            Failure::new(
                SSL_CERTPROBLEM,
                format!("could not load client certificate {path}: {message}"),
            )
        };
        let pem = std::fs::read(path).map_err(|error| bad(path, error.to_string()))?;
        let identity = match &args.key {
            Some(key_path) => {
                let key =
                    std::fs::read(key_path).map_err(|error| bad(key_path, error.to_string()))?;
                Identity::from_pkcs8_pem(&pem, &key)
            }
            None => Identity::from_pem(&pem),
        }
        .map_err(|error| bad(path, error.to_string()))?;
        builder = builder.identity(identity);
    }
    if args.tlsv1_3 {
        builder = builder.min_tls_version(TlsVersion::Tls13);
    } else if args.tlsv1_2 {
        builder = builder.min_tls_version(TlsVersion::Tls12);
    }
    match args.tls_max.as_deref() {
        None => {}
        Some("1.2") => builder = builder.max_tls_version(TlsVersion::Tls12),
        Some("1.3" | "default") => builder = builder.max_tls_version(TlsVersion::Tls13),
        Some(other) => {
            return Err(Failure::new(
                FAILED_INIT,
                format!("--tls-max {other:?}: 1.2 and 1.3 are the versions spoken"),
            ));
        }
    }
    Ok(builder)
}

fn versions(args: &Args, mut builder: ClientBuilder) -> Result<ClientBuilder, Failure> {
    if args.http1_1 {
        builder = builder.http1_only();
    }
    if args.http2_prior_knowledge {
        builder = builder.http2_prior_knowledge();
    }
    if args.http3 || args.http3_only {
        builder = http3(builder)?;
    }
    Ok(builder)
}

#[cfg(feature = "http3")]
fn http3(builder: ClientBuilder) -> Result<ClientBuilder, Failure> {
    Ok(builder.http3_prior_knowledge())
}

#[cfg(not(feature = "http3"))]
fn http3(_builder: ClientBuilder) -> Result<ClientBuilder, Failure> {
    // curl without HTTP/3 refuses the flag as a bad option.
    Err(Failure::new(
        FAILED_INIT,
        "option --http3: this build does not support HTTP/3 (build towline-cli with the http3 feature)",
    ))
}

/// `HOST:PORT:ADDR` (an IPv6 address in brackets or not).
fn parse_resolve(entry: &str) -> Option<(String, SocketAddr)> {
    let (host, rest) = entry.split_once(':')?;
    let (port, addr) = rest.split_once(':')?;
    let port: u16 = port.parse().ok()?;
    // curl takes a list of addresses; the first is used.
    let addr = addr.split(',').next()?;
    let addr = addr
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(addr);
    let ip: IpAddr = addr.parse().ok()?;
    Some((host.to_owned(), SocketAddr::new(ip, port)))
}

/// The request headers in curl's order: the ones curl sends itself (`User-Agent`, `Accept`,
/// `Referer`, `Cookie`) unless `-H` replaces or removes them, the `-H` headers, then the
/// body's `Content-Type` unless `-H` set one.
pub(super) fn headers(args: &Args, plan: &Plan) -> Result<Vec<(HeaderName, HeaderValue)>, Failure> {
    let json = plan.data.is_some() && plan.json;
    let user_agent = args
        .user_agent
        .clone()
        .unwrap_or_else(|| concat!("towline-curl/", env!("CARGO_PKG_VERSION")).to_owned());
    let mut internal: Vec<(String, String)> = vec![
        ("User-Agent".into(), user_agent),
        (
            "Accept".into(),
            if json { "application/json" } else { "*/*" }.into(),
        ),
    ];
    if args.compressed && args.raw {
        // The client decodes nothing then, so the request says what curl says.
        internal.push(("Accept-Encoding".into(), "deflate, gzip, br, zstd".into()));
    }
    if let Some(referer) = &args.referer {
        internal.push(("Referer".into(), referer.clone()));
    }
    if let Some(cookie) = &plan.cookie_header {
        internal.push(("Cookie".into(), cookie.clone()));
    }
    // curl sends the body's headers after the `-H` ones.
    let mut body_headers: Vec<(String, String)> = Vec::new();
    if plan.data.is_some() && !args.get && plan.form_fields.is_empty() {
        let content_type = if json {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        body_headers.push(("Content-Type".into(), content_type.into()));
    }
    let custom: Vec<(String, Option<String>)> = args
        .headers
        .iter()
        .filter_map(|header| custom_header(header))
        .collect();
    let overridden = |name: &str| {
        custom
            .iter()
            .any(|(custom, _)| custom.eq_ignore_ascii_case(name))
    };
    let mut headers = Vec::new();
    let pairs = internal
        .into_iter()
        .filter(|(name, _)| !overridden(name))
        .chain(
            custom
                .iter()
                .filter_map(|(name, value)| value.clone().map(|value| (name.clone(), value))),
        )
        .chain(
            body_headers
                .into_iter()
                .filter(|(name, _)| !overridden(name)),
        );
    for (name, value) in pairs {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Failure::new(FAILED_INIT, format!("bad header name {name:?}")))?;
        let header_value = HeaderValue::from_str(&value)
            .map_err(|_| Failure::new(FAILED_INIT, format!("bad value for header {name}")))?;
        headers.push((header_name, header_value));
    }
    Ok(headers)
}

/// One `-H`: `Name: value` (`Some`), `Name:` (`None`: remove), `Name;` (`Some("")`).
/// Anything else is ignored, as curl ignores it.
fn custom_header(header: &str) -> Option<(String, Option<String>)> {
    if let Some((name, value)) = header.split_once(':') {
        let name = name.trim();
        let value = value.trim();
        if name.is_empty() {
            return None;
        }
        return Some((
            name.to_owned(),
            (!value.is_empty()).then(|| value.to_owned()),
        ));
    }
    let name = header.strip_suffix(';')?.trim();
    (!name.is_empty()).then(|| (name.to_owned(), Some(String::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_headers_set_remove_and_send_empty() {
        assert_eq!(
            custom_header("X-A: 1"),
            Some(("X-A".into(), Some("1".into())))
        );
        assert_eq!(custom_header("Accept:"), Some(("Accept".into(), None)));
        assert_eq!(
            custom_header("X-Empty;"),
            Some(("X-Empty".into(), Some(String::new())))
        );
        assert_eq!(custom_header("nonsense"), None);
    }

    #[test]
    fn resolve_entries() {
        assert_eq!(
            parse_resolve("example.test:443:127.0.0.1"),
            Some(("example.test".into(), "127.0.0.1:443".parse().unwrap()))
        );
        assert_eq!(
            parse_resolve("h:80:[::1],127.0.0.1"),
            Some(("h".into(), "[::1]:80".parse().unwrap()))
        );
        assert_eq!(parse_resolve("h:port:127.0.0.1"), None);
    }

    #[test]
    fn proxies_default_to_port_1080() {
        assert_eq!(
            with_default_port("http://proxy.test"),
            "http://proxy.test:1080"
        );
        assert_eq!(with_default_port("socks5h://p:9"), "socks5h://p:9");
        assert_eq!(with_default_port("https://p"), "https://p");
    }
}
