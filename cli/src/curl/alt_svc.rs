//! `--alt-svc FILE`: curl's Alt-Svc cache file, read into the client's
//! [`AltSvcCache`](towline::AltSvcCache) before the transfers and written back from it after
//! them, so a later run goes to the HTTP/3 alternative an earlier one learned.
//!
//! One alternative a line: the origin's ALPN, host and port, the alternative's ALPN, host
//! and port, its expiry in double quotes (UTC), `persist`, and a priority curl does not use:
//!
//! ```text
//! # Your alt-svc cache.
//! h2 example.com 443 h3 example.com 8443 "20301231 23:59:59" 0 0
//! ```
//!
//! Only `h3` alternatives are kept (the only ones the client can use). The origin's ALPN is
//! written as `h2`: the cache does not know which protocol taught it, and curl reads entries
//! of either TCP ALPN.

use std::time::SystemTime;

use towline::{AltEndpoint, AltSvcCache};

use super::date::{format_date, parse_date};

const HEADER: &str = "# Your alt-svc cache.\n# Written by towline-curl.\n";

/// Adds the live `h3` entries of `text` at `now` to `cache`; returns how many.
pub(crate) fn load(cache: &AltSvcCache, text: &str, now: SystemTime) -> usize {
    let mut added = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The date is one field in quotes with a space inside.
        let Some((before, rest)) = line.split_once('"') else {
            continue;
        };
        let Some((date, after)) = rest.split_once('"') else {
            continue;
        };
        let fields: Vec<&str> = before.split_whitespace().collect();
        let [_, host, port, "h3", alt_host, alt_port] = fields[..] else {
            continue;
        };
        let (Ok(port), Ok(alt_port)) = (port.parse::<u16>(), alt_port.parse::<u16>()) else {
            continue;
        };
        let Some(left) = parse_date(date).and_then(|at| at.duration_since(now).ok()) else {
            continue;
        };
        let persist = after.split_whitespace().next() == Some("1");
        let alt_host = (!alt_host.eq_ignore_ascii_case(host)).then_some(alt_host);
        cache.insert(
            host,
            port,
            AltEndpoint::new(alt_host, alt_port),
            left,
            persist,
        );
        added += 1;
    }
    added
}

/// The cache's entries in the file format, their expiry counted from `now`.
pub(crate) fn save(cache: &AltSvcCache, now: SystemTime) -> String {
    let mut text = String::from(HEADER);
    for entry in cache.entries() {
        let expires = now.checked_add(entry.expires_in).unwrap_or(now);
        text.push_str(&format!(
            "h2 {host} {port} h3 {alt_host} {alt_port} \"{date}\" {persist} 0\n",
            host = entry.host,
            port = entry.port,
            alt_host = entry.endpoint.host().unwrap_or(&entry.host),
            alt_port = entry.endpoint.port(),
            date = format_date(expires),
            persist = u8::from(entry.persist),
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use towline::towline_services::rt::Runtime as _;
    use towline::towline_services::rt::tokio::TokioRuntime;

    use super::*;

    #[test]
    fn loads_live_h3_entries_and_saves_them() {
        let now = UNIX_EPOCH + Duration::from_secs(946_684_800);
        let cache = AltSvcCache::new(TokioRuntime.timer());
        let text = "# comment\n\
                    h2 example.com 443 h3 example.com 8443 \"20301231 23:59:59\" 0 0\n\
                    h1 example.org 443 h3 alt.example.org 443 \"20301231 23:59:59\" 1 0\n\
                    h2 old.example 443 h3 old.example 443 \"19990101 00:00:00\" 0 0\n\
                    h2 h2only.example 443 h2 h2only.example 8443 \"20301231 23:59:59\" 0 0\n\
                    garbage\n";
        assert_eq!(load(&cache, text, now), 2);
        assert_eq!(
            cache.lookup("example.com", 443),
            Some(AltEndpoint::new(None, 8443))
        );
        assert_eq!(
            cache.lookup("example.org", 443),
            Some(AltEndpoint::new(Some("alt.example.org"), 443))
        );
        assert_eq!(cache.lookup("old.example", 443), None);
        let saved = save(&cache, now);
        assert!(
            saved.contains("h2 example.com 443 h3 example.com 8443 \"2030"),
            "{saved}"
        );
        assert!(
            saved.contains("h2 example.org 443 h3 alt.example.org 443 \"2030"),
            "{saved}"
        );
        assert!(
            saved.lines().any(|line| line.ends_with("\" 1 0")),
            "{saved}"
        );
    }
}
