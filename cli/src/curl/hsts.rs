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

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use towline::towline_layers::hsts::HstsStore;

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

/// `YYYYMMDD HH:MM:SS` (UTC) as a time.
fn parse_date(text: &str) -> Option<SystemTime> {
    let (date, time) = text.split_once(' ')?;
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i64 = date[..4].parse().ok()?;
    let month: i64 = date[4..6].parse().ok()?;
    let day: i64 = date[6..].parse().ok()?;
    let mut clock = time.split(':').map(|part| part.parse::<i64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    if clock.next().is_some()
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || !(0..24).contains(&hour)
        || !(0..60).contains(&minute)
        || !(0..61).contains(&second)
    {
        return None;
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(seconds).ok()?))
}

/// A time as `YYYYMMDD HH:MM:SS` (UTC); times before 1970 are written as its start.
fn format_date(at: SystemTime) -> String {
    let seconds = at.duration_since(UNIX_EPOCH).map_or(0, |since| {
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2)
    });
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let in_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}{month:02}{day:02} {:02}:{:02}:{:02}",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        for text in [
            "19700101 00:00:00",
            "20000229 12:34:56",
            "20301231 23:59:59",
        ] {
            let at = parse_date(text).unwrap();
            assert_eq!(format_date(at), text);
        }
        assert_eq!(
            parse_date("20000101 00:00:00"),
            UNIX_EPOCH.checked_add(Duration::from_secs(946_684_800))
        );
        for bad in [
            "2000011 00:00:00",
            "20001301 00:00:00",
            "20000101 24:00:00",
            "x",
        ] {
            assert!(parse_date(bad).is_none(), "{bad}");
        }
    }

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
