//! `-w`/`--write-out`: curl's `%{variable}` format, filled from one transfer.

use std::net::SocketAddr;
use std::time::Duration;

use towline::{HeaderMap, Version};

/// What `-w` can show of a finished (or failed) transfer.
#[derive(Debug, Default)]
pub(crate) struct Transfer {
    /// The URL as given.
    pub(crate) url: String,
    /// The last URL fetched (after redirects).
    pub(crate) url_effective: String,
    pub(crate) method: String,
    pub(crate) status: Option<u16>,
    pub(crate) version: Option<Version>,
    pub(crate) headers: HeaderMap,
    pub(crate) size_download: u64,
    pub(crate) size_header: u64,
    pub(crate) num_redirects: usize,
    pub(crate) remote: Option<SocketAddr>,
    /// Cumulative from the start, as curl reports them.
    pub(crate) time_namelookup: Duration,
    pub(crate) time_connect: Duration,
    pub(crate) time_appconnect: Duration,
    pub(crate) time_starttransfer: Duration,
    pub(crate) time_total: Duration,
    pub(crate) exitcode: u8,
    pub(crate) errormsg: String,
}

/// Expands `format` for `transfer`. Unknown variables expand to nothing and are named in the
/// returned warnings.
pub(crate) fn render(format: &str, transfer: &Transfer) -> (Vec<u8>, Vec<String>) {
    let mut out = String::new();
    let mut warnings = Vec::new();
    let mut rest = format;
    while let Some(at) = rest.find(['%', '\\']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("%{")
            && let Some(end) = after.find('}')
        {
            let name = &after[..end];
            match variable(name, transfer) {
                Some(value) => out.push_str(&value),
                None => warnings.push(format!("unknown --write-out variable: '{name}'")),
            }
            rest = &after[end + 1..];
        } else if let Some(after) = tail.strip_prefix("%header{")
            && let Some(end) = after.find('}')
        {
            out.push_str(&header(&after[..end], transfer));
            rest = &after[end + 1..];
        } else if let Some(after) = tail.strip_prefix("%%") {
            out.push('%');
            rest = after;
        } else if let Some(after) = tail.strip_prefix('\\')
            && let Some(escaped) = after.chars().next()
            && let Some(replacement) = match escaped {
                'n' => Some('\n'),
                'r' => Some('\r'),
                't' => Some('\t'),
                '\\' => Some('\\'),
                _ => None,
            }
        {
            out.push(replacement);
            rest = &after[1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    (out.into_bytes(), warnings)
}

/// `%header{name}`: the response header's values, joined by `, `.
fn header(name: &str, t: &Transfer) -> String {
    let values: Vec<String> = t
        .headers
        .get_all(name)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect();
    values.join(", ")
}

fn variable(name: &str, t: &Transfer) -> Option<String> {
    let seconds = |d: Duration| format!("{:.6}", d.as_secs_f64());
    Some(match name {
        "http_code" | "response_code" => format!("{:03}", t.status.unwrap_or(0)),
        "size_download" => t.size_download.to_string(),
        "size_header" => t.size_header.to_string(),
        "time_namelookup" => seconds(t.time_namelookup),
        "time_connect" => seconds(t.time_connect),
        "time_appconnect" => seconds(t.time_appconnect),
        "time_starttransfer" => seconds(t.time_starttransfer),
        "time_total" => seconds(t.time_total),
        "url" => t.url.clone(),
        "url_effective" => t.url_effective.clone(),
        "method" => t.method.clone(),
        "num_redirects" => t.num_redirects.to_string(),
        "content_type" => t
            .headers
            .get(towline::header::CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .unwrap_or_default(),
        "http_version" => version_number(t.version).to_owned(),
        "remote_ip" => t
            .remote
            .map(|addr| addr.ip().to_string())
            .unwrap_or_default(),
        "remote_port" => t.remote.map_or(0, |addr| addr.port()).to_string(),
        "exitcode" => t.exitcode.to_string(),
        "errormsg" => t.errormsg.clone(),
        "scheme" => t
            .url_effective
            .split_once("://")
            .map(|(scheme, _)| scheme.to_ascii_uppercase())
            .unwrap_or_default(),
        _ => return None,
    })
}

/// The version as `%{http_version}` writes it: `1.1`, `2`, `3`; `0` when there was no
/// response.
pub(crate) fn version_number(version: Option<Version>) -> &'static str {
    match version {
        Some(Version::HTTP_09) => "0.9",
        Some(Version::HTTP_10) => "1.0",
        Some(Version::HTTP_11) => "1.1",
        Some(Version::HTTP_2) => "2",
        Some(Version::HTTP_3) => "3",
        _ => "0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(format: &str, transfer: &Transfer) -> String {
        String::from_utf8(render(format, transfer).0).unwrap()
    }

    #[test]
    fn variables_escapes_and_percent() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "text/plain".parse().unwrap());
        let transfer = Transfer {
            status: Some(204),
            version: Some(Version::HTTP_2),
            size_download: 12,
            num_redirects: 2,
            headers,
            remote: Some("127.0.0.1:8080".parse().unwrap()),
            time_total: Duration::from_millis(1500),
            url_effective: "https://h/x".into(),
            ..Transfer::default()
        };
        assert_eq!(
            text(
                "%{http_code} %{http_version} %{size_download} %{num_redirects}\\n",
                &transfer
            ),
            "204 2 12 2\n"
        );
        assert_eq!(
            text(
                "%{content_type}|%{remote_ip}:%{remote_port}|%{time_total}|100%%|%{scheme}",
                &transfer
            ),
            "text/plain|127.0.0.1:8080|1.500000|100%|HTTPS"
        );
        assert_eq!(text("%header{Content-Type}!", &transfer), "text/plain!");
    }

    #[test]
    fn no_response_and_unknown_variables() {
        let transfer = Transfer {
            exitcode: 7,
            ..Transfer::default()
        };
        let (out, warnings) = render(
            "%{http_code}:%{nope}:%{exitcode}:%{http_version}\\q",
            &transfer,
        );
        assert_eq!(out, b"000::7:0\\q");
        assert_eq!(warnings, ["unknown --write-out variable: 'nope'"]);
    }
}
