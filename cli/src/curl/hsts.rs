//! `--hsts FILE`: curl's HSTS cache file, read into the client's HSTS store before the
//! transfers and written back from it after them.
//!
//! One host a line, then its expiry in double quotes, UTC:
//!
//! ```text
//! # HSTS cache
//! example.com "20301231 23:59:59"
//! .example.org "unlimited"
//! ```
//!
//! A leading `.` means the policy covers subdomains (`includeSubDomains`).

use std::time::{Duration, SystemTime};

use towline::towline_layers::hsts::HstsStore;

use super::date::{format_date, parse_date};

const HEADER: &str = "# Your HSTS cache.\n# Written by towline-curl.\n";

/// How long an "unlimited" entry lasts: longer than any run of the program.
const UNLIMITED: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Adds the entries of `text` that have not expired at `now` to `store`; returns how many.
pub(crate) fn load(store: &HstsStore, text: &str, now: SystemTime) -> usize {
    let mut added = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((host, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let expiry = rest.trim().trim_matches('"');
        let max_age = if expiry == "unlimited" {
            UNLIMITED
        } else {
            match parse_date(expiry).and_then(|at| at.duration_since(now).ok()) {
                Some(left) => left,
                None => continue,
            }
        };
        let (host, subdomains) = match host.strip_prefix('.') {
            Some(host) => (host, true),
            None => (host, false),
        };
        if store.add(host, max_age, subdomains) {
            added += 1;
        }
    }
    added
}

/// The store's entries in the file format.
pub(crate) fn save(store: &HstsStore) -> String {
    let mut text = String::from(HEADER);
    for entry in store.entries() {
        let dot = if entry.include_subdomains { "." } else { "" };
        text.push_str(&format!(
            "{dot}{} \"{}\"\n",
            entry.host,
            format_date(entry.expires)
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    #[test]
    fn loads_live_entries_and_saves_them() {
        let now = UNIX_EPOCH + Duration::from_secs(946_684_800);
        let store = HstsStore::new();
        let text = "# comment\n\
                    example.com \"20301231 23:59:59\"\n\
                    .example.org \"unlimited\"\n\
                    old.example \"19990101 00:00:00\"\n\
                    garbage\n";
        assert_eq!(load(&store, text, now), 2);
        assert!(store.is_known("example.com"));
        assert!(store.is_known("www.example.org"));
        assert!(!store.is_known("old.example"));
        let saved = save(&store);
        assert!(saved.contains(".example.org \""), "{saved}");
        assert!(
            saved.lines().any(|line| line.starts_with("example.com \"")),
            "{saved}"
        );
    }
}
