//! The command line: curl's spelling of the flags towline-curl knows.

use std::ffi::OsString;
use std::time::Duration;

use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser};

/// towline-curl's flags, named and read as curl names and reads them.
#[derive(Parser, Debug, Default)]
#[command(
    name = "towline-curl",
    version,
    about = "Transfers URLs over HTTP(S) with the towline client, as curl does",
    max_term_width = 100
)]
pub(crate) struct Args {
    /// URLs to fetch, in order (a URL without a scheme is http://)
    #[arg(value_name = "URL")]
    pub(crate) urls: Vec<String>,

    /// Another URL to fetch
    #[arg(long = "url", value_name = "URL")]
    pub(crate) url_flags: Vec<String>,

    /// Request method
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    pub(crate) request: Option<String>,

    /// Extra header ("Name: value"; "Name:" removes a header, "Name;" sends it empty)
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub(crate) headers: Vec<String>,

    /// POST data (@file reads a file without its newlines, @- stdin)
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    pub(crate) data: Vec<String>,

    /// POST data, as --data
    #[arg(long = "data-ascii", value_name = "DATA")]
    pub(crate) data_ascii: Vec<String>,

    /// POST data, with no special meaning for @
    #[arg(long = "data-raw", value_name = "DATA")]
    pub(crate) data_raw: Vec<String>,

    /// POST data, @file read as it is
    #[arg(long = "data-binary", value_name = "DATA")]
    pub(crate) data_binary: Vec<String>,

    /// POST data, URL-encoded (content, =content, name=content, @file, name@file)
    #[arg(long = "data-urlencode", value_name = "DATA")]
    pub(crate) data_urlencode: Vec<String>,

    /// JSON POST data (@file, @-), with JSON Content-Type and Accept
    #[arg(long = "json", value_name = "DATA")]
    pub(crate) json: Vec<String>,

    /// Multipart form field (name=value, name=@file, name=<file; ;type= ;filename=)
    #[arg(short = 'F', long = "form", value_name = "NAME=CONTENT")]
    pub(crate) form: Vec<String>,

    /// Multipart form field whose value is taken literally
    #[arg(long = "form-string", value_name = "NAME=STRING")]
    pub(crate) form_string: Vec<String>,

    /// Send the --data pieces in the query of a GET request
    #[arg(short = 'G', long = "get")]
    pub(crate) get: bool,

    /// User-Agent header
    #[arg(short = 'A', long = "user-agent", value_name = "NAME")]
    pub(crate) user_agent: Option<String>,

    /// Referer header
    #[arg(short = 'e', long = "referer", value_name = "URL")]
    pub(crate) referer: Option<String>,

    /// Server credentials (user:password)
    #[arg(short = 'u', long = "user", value_name = "USER:PASSWORD")]
    pub(crate) user: Option<String>,

    /// HTTP Basic authentication (the default)
    #[arg(long = "basic")]
    pub(crate) basic: bool,

    /// HTTP Digest authentication
    #[arg(long = "digest")]
    pub(crate) digest: bool,

    /// Credentials from ~/.netrc
    #[arg(short = 'n', long = "netrc")]
    pub(crate) netrc: bool,

    /// Credentials from this netrc file
    #[arg(long = "netrc-file", value_name = "FILE")]
    pub(crate) netrc_file: Option<String>,

    /// Credentials from ~/.netrc when it has them, or from the URL
    #[arg(long = "netrc-optional")]
    pub(crate) netrc_optional: bool,

    /// OAuth 2 bearer token
    #[arg(long = "oauth2-bearer", value_name = "TOKEN")]
    pub(crate) oauth2_bearer: Option<String>,

    /// Cookies to send ("name=value; ..."), or a Netscape cookie file to read
    #[arg(short = 'b', long = "cookie", value_name = "DATA|FILE")]
    pub(crate) cookie: Vec<String>,

    /// Write the cookies to this file (Netscape format) when done
    #[arg(short = 'c', long = "cookie-jar", value_name = "FILE")]
    pub(crate) cookie_jar: Option<String>,

    /// Follow redirects
    #[arg(short = 'L', long = "location")]
    pub(crate) location: bool,

    /// Most redirects followed with -L (-1: no limit)
    #[arg(long = "max-redirs", value_name = "NUM", allow_negative_numbers = true)]
    pub(crate) max_redirs: Option<i64>,

    /// With -L, keep a POST a POST after a 301
    #[arg(long = "post301")]
    pub(crate) post301: bool,

    /// With -L, keep a POST a POST after a 302
    #[arg(long = "post302")]
    pub(crate) post302: bool,

    /// With -L, keep a POST a POST after a 303
    #[arg(long = "post303")]
    pub(crate) post303: bool,

    /// Fetch the headers only (HEAD)
    #[arg(short = 'I', long = "head")]
    pub(crate) head: bool,

    /// Include the response headers in the output
    #[arg(short = 'i', long = "include")]
    pub(crate) include: bool,

    /// Print request and response heads and connection facts on stderr
    #[arg(short = 'v', long = "verbose")]
    pub(crate) verbose: bool,

    /// No progress meter and no error messages
    #[arg(short = 's', long = "silent")]
    pub(crate) silent: bool,

    /// Show error messages even with -s
    #[arg(short = 'S', long = "show-error")]
    pub(crate) show_error: bool,

    /// Fail with exit code 22 on HTTP errors (400 and above), without the body
    #[arg(short = 'f', long = "fail")]
    pub(crate) fail: bool,

    /// Fail with exit code 22 on HTTP errors, after writing the body
    #[arg(long = "fail-with-body")]
    pub(crate) fail_with_body: bool,

    /// Write the body to this file ("-": stdout), one -o per URL
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub(crate) output: Vec<String>,

    /// Write the body to a file named like the URL's last path segment, one -O per URL
    #[arg(short = 'O', long = "remote-name", action = ArgAction::Count)]
    pub(crate) remote_name: u8,

    /// -O for every URL
    #[arg(long = "remote-name-all")]
    pub(crate) remote_name_all: bool,

    /// With -O, take the file name from Content-Disposition
    #[arg(short = 'J', long = "remote-header-name")]
    pub(crate) remote_header_name: bool,

    /// Write the response headers to this file ("-": stdout)
    #[arg(short = 'D', long = "dump-header", value_name = "FILE")]
    pub(crate) dump_header: Option<String>,

    /// What to print after the transfer (%{variable}s; @file, @- reads it)
    #[arg(short = 'w', long = "write-out", value_name = "FORMAT")]
    pub(crate) write_out: Option<String>,

    /// Ask for a compressed response and decompress it
    #[arg(long = "compressed")]
    pub(crate) compressed: bool,

    /// Leave content encodings as they came
    #[arg(long = "raw")]
    pub(crate) raw: bool,

    /// Longest time to connect, in seconds
    #[arg(long = "connect-timeout", value_name = "SECONDS", value_parser = seconds)]
    pub(crate) connect_timeout: Option<Duration>,

    /// Longest time for the whole transfer, body included, in seconds
    #[arg(short = 'm', long = "max-time", value_name = "SECONDS", value_parser = seconds)]
    pub(crate) max_time: Option<Duration>,

    /// Retry transient failures this many times
    #[arg(long = "retry", value_name = "NUM")]
    pub(crate) retry: Option<u32>,

    /// Fixed wait between retries, in seconds
    #[arg(long = "retry-delay", value_name = "SECONDS", value_parser = seconds)]
    pub(crate) retry_delay: Option<Duration>,

    /// Retry only within this many seconds
    #[arg(long = "retry-max-time", value_name = "SECONDS", value_parser = seconds)]
    pub(crate) retry_max_time: Option<Duration>,

    /// Retry on every error, not only transient ones
    #[arg(long = "retry-all-errors")]
    pub(crate) retry_all_errors: bool,

    /// Retry when the connection is refused, too
    #[arg(long = "retry-connrefused")]
    pub(crate) retry_connrefused: bool,

    /// Proxy ([scheme://]host[:port]; http, https, socks4, socks4a, socks5, socks5h)
    #[arg(short = 'x', long = "proxy", value_name = "URL")]
    pub(crate) proxy: Option<String>,

    /// Proxy credentials (user:password)
    #[arg(short = 'U', long = "proxy-user", value_name = "USER:PASSWORD")]
    pub(crate) proxy_user: Option<String>,

    /// Hosts reached without the proxy (comma-separated; "*" for all)
    #[arg(long = "noproxy", value_name = "LIST")]
    pub(crate) noproxy: Option<String>,

    /// SOCKS5 proxy that resolves names itself (host[:port])
    #[arg(long = "socks5-hostname", value_name = "HOST:PORT")]
    pub(crate) socks5_hostname: Option<String>,

    /// SOCKS5 proxy, names resolved here (host[:port])
    #[arg(long = "socks5", value_name = "HOST:PORT")]
    pub(crate) socks5: Option<String>,

    /// Accept any server certificate
    #[arg(short = 'k', long = "insecure")]
    pub(crate) insecure: bool,

    /// Trust only the CA certificates of this PEM file
    #[arg(long = "cacert", value_name = "FILE")]
    pub(crate) cacert: Option<String>,

    /// Client certificate (PEM; with its key unless --key names another file)
    #[arg(short = 'E', long = "cert", value_name = "FILE")]
    pub(crate) cert: Option<String>,

    /// Private key of the client certificate (PEM)
    #[arg(long = "key", value_name = "FILE")]
    pub(crate) key: Option<String>,

    /// TLS 1.2 or later
    #[arg(long = "tlsv1.2")]
    pub(crate) tlsv1_2: bool,

    /// TLS 1.3 only
    #[arg(long = "tlsv1.3")]
    pub(crate) tlsv1_3: bool,

    /// Highest TLS version (1.2 or 1.3)
    #[arg(long = "tls-max", value_name = "VERSION")]
    pub(crate) tls_max: Option<String>,

    /// HTTP/1.1 only
    #[arg(long = "http1.1")]
    pub(crate) http1_1: bool,

    /// HTTP/2 where the server agrees (ALPN over TLS)
    #[arg(long = "http2")]
    pub(crate) http2: bool,

    /// HTTP/2 without negotiation
    #[arg(long = "http2-prior-knowledge")]
    pub(crate) http2_prior_knowledge: bool,

    /// HTTP/3 (needs the http3 build)
    #[arg(long = "http3")]
    pub(crate) http3: bool,

    /// HTTP/3 only (needs the http3 build)
    #[arg(long = "http3-only")]
    pub(crate) http3_only: bool,

    /// Largest download speed (bytes per second; k, m, g suffixes)
    #[arg(long = "limit-rate", value_name = "SPEED", value_parser = speed)]
    pub(crate) limit_rate: Option<u64>,

    /// Connect to ADDR for HOST:PORT (HOST:PORT:ADDR)
    #[arg(long = "resolve", value_name = "HOST:PORT:ADDR")]
    pub(crate) resolve: Vec<String>,

    /// HSTS cache file, read before and written after
    #[arg(long = "hsts", value_name = "FILE")]
    pub(crate) hsts: Option<String>,

    /// Alt-Svc cache file, read before and written after (HTTP/3 alternatives)
    #[cfg(feature = "http3")]
    #[arg(long = "alt-svc", value_name = "FILE")]
    pub(crate) alt_svc: Option<String>,
}

/// Where a piece of request data came from; curl joins the pieces with `&` in command-line
/// order, whatever flag each came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataKind {
    /// `-d`, `--data`, `--data-ascii`: `@file` without its CR and LF bytes.
    Ascii,
    /// `--data-raw`: taken literally.
    Raw,
    /// `--data-binary`: `@file` as it is.
    Binary,
    /// `--data-urlencode`.
    UrlEncode,
    /// `--json`: as `--data-binary`.
    Json,
}

/// The parsed command line, with the data pieces in the order they were given.
#[derive(Debug)]
pub(crate) struct CommandLine {
    pub(crate) args: Args,
    pub(crate) data: Vec<(DataKind, String)>,
    /// `-F` (false) and `--form-string` (true) fields, in order.
    pub(crate) form: Vec<(bool, String)>,
}

impl CommandLine {
    /// Parses `argv` (program name first).
    pub(crate) fn parse(argv: impl IntoIterator<Item = OsString>) -> Result<Self, clap::Error> {
        let matches = Args::command().try_get_matches_from(argv)?;
        let args = Args::from_arg_matches(&matches)?;
        let mut data = Vec::new();
        for (id, kind) in [
            ("data", DataKind::Ascii),
            ("data_ascii", DataKind::Ascii),
            ("data_raw", DataKind::Raw),
            ("data_binary", DataKind::Binary),
            ("data_urlencode", DataKind::UrlEncode),
            ("json", DataKind::Json),
        ] {
            data.extend(ordered(&matches, id).map(|(index, value)| (index, kind, value)));
        }
        data.sort_by_key(|(index, _, _)| *index);
        let mut form: Vec<(usize, bool, String)> = ordered(&matches, "form")
            .map(|(index, value)| (index, false, value))
            .chain(ordered(&matches, "form_string").map(|(index, value)| (index, true, value)))
            .collect();
        form.sort_by_key(|(index, _, _)| *index);
        Ok(Self {
            args,
            data: data
                .into_iter()
                .map(|(_, kind, value)| (kind, value))
                .collect(),
            form: form
                .into_iter()
                .map(|(_, literal, value)| (literal, value))
                .collect(),
        })
    }
}

/// The values of argument `id` with their positions on the command line.
fn ordered<'a>(matches: &'a ArgMatches, id: &str) -> impl Iterator<Item = (usize, String)> + 'a {
    let indices = matches.indices_of(id).into_iter().flatten();
    let values = matches
        .get_many::<String>(id)
        .into_iter()
        .flatten()
        .cloned();
    indices.zip(values)
}

/// Seconds as curl takes them: a decimal number, fractions allowed.
fn seconds(value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| format!("expected a proper numerical parameter, not {value:?}"))
}

/// A speed as `--limit-rate` takes it: bytes per second, with an optional k, m or g
/// (powers of 1024).
fn speed(value: &str) -> Result<u64, String> {
    let bad = || format!("unsupported rate {value:?}");
    let (number, unit) = match value.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((at, _)) => value.split_at(at),
        None => (value, ""),
    };
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(bad()),
    };
    let number: f64 = number.parse().map_err(|_| bad())?;
    if !number.is_finite() || number < 1.0 {
        return Err(bad());
    }
    // Truncation is what curl does with a fractional rate.
    let rate = (number * multiplier as f64) as u64;
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> CommandLine {
        let argv = std::iter::once("towline-curl")
            .chain(args.iter().copied())
            .map(OsString::from);
        CommandLine::parse(argv).unwrap()
    }

    #[test]
    fn data_pieces_keep_command_line_order_across_flags() {
        let line = parse(&[
            "--data-raw",
            "a=1",
            "-d",
            "b=2",
            "http://h/",
            "--data-urlencode",
            "c=3 4",
            "-d",
            "e=5",
        ]);
        let kinds: Vec<_> = line
            .data
            .iter()
            .map(|(kind, value)| (*kind, value.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (DataKind::Raw, "a=1"),
                (DataKind::Ascii, "b=2"),
                (DataKind::UrlEncode, "c=3 4"),
                (DataKind::Ascii, "e=5"),
            ]
        );
        assert_eq!(line.args.urls, ["http://h/"]);
    }

    #[test]
    fn combined_short_flags_and_curl_spellings() {
        let line = parse(&["-sSfL", "--http1.1", "--tlsv1.2", "-OO", "u1", "u2"]);
        let args = line.args;
        assert!(args.silent && args.show_error && args.fail && args.location);
        assert!(args.http1_1 && args.tlsv1_2);
        assert_eq!(args.remote_name, 2);
    }

    #[test]
    fn speeds_and_seconds() {
        assert_eq!(speed("100"), Ok(100));
        assert_eq!(speed("2k"), Ok(2048));
        assert_eq!(speed("1.5M"), Ok(1_572_864));
        assert!(speed("fast").is_err());
        assert!(speed("0").is_err());
        assert_eq!(seconds("0.25"), Ok(Duration::from_millis(250)));
        assert!(seconds("-1").is_err());
        assert!(seconds("soon").is_err());
    }
}
