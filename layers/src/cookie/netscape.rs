//! The Netscape cookie file format, as curl, wget and browser exports write it: one cookie a
//! line, seven fields separated by tabs (shown as `→` here):
//!
//! ```text
//! # Netscape HTTP Cookie File
//! example.com→FALSE→/→FALSE→0→session→abc
//! .example.com→TRUE→/app→TRUE→1893456000→id→42
//! #HttpOnly_example.com→FALSE→/→FALSE→0→token→xyz
//! ```
//!
//! The fields are the domain (a leading `.` marks a domain cookie), whether subdomains match
//! (`TRUE`/`FALSE`), the path, whether the cookie is `Secure`, the expiry in seconds since the
//! epoch (`0` for a session cookie), the name and the value. A `#HttpOnly_` prefix on the
//! domain marks an `HttpOnly` cookie; other lines starting with `#`, and blank lines, are
//! comments.

use std::time::UNIX_EPOCH;

use cookie::Cookie as RawCookie;
use cookie_store::Cookie as StoreCookie;
use time::OffsetDateTime;
use url::Url;

use super::StoredCookie;

/// Longest line read as a cookie: a cookie's name and value are at most 4096 bytes, and the
/// other fields are short. Longer lines are skipped.
pub(super) const MAX_LINE_LEN: usize = 8192;

const HTTP_ONLY_PREFIX: &str = "#HttpOnly_";

/// The first lines of a file written by [`CookieJar::save_netscape`](super::CookieJar::save_netscape).
pub(super) const HEADER: &str = "# Netscape HTTP Cookie File\n\n";

/// The cookie on one line of a Netscape cookie file, or `None` for a comment, a blank line or
/// a line that is not a cookie.
pub(super) fn parse_line(line: &str) -> Option<StoreCookie<'static>> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.len() > MAX_LINE_LEN {
        return None;
    }
    let (line, http_only) = match line.strip_prefix(HTTP_ONLY_PREFIX) {
        Some(rest) => (rest, true),
        None if line.starts_with('#') => return None,
        None => (line, false),
    };
    let mut fields = line.split('\t');
    let domain = fields.next()?;
    let subdomains = flag(fields.next()?)?;
    let path = fields.next()?;
    let secure = flag(fields.next()?)?;
    let expires: i64 = fields.next()?.trim().parse().ok()?;
    let name = fields.next()?;
    // curl writes a cookie with an empty value as six fields.
    let value = fields.next().unwrap_or("");
    if fields.next().is_some() {
        return None;
    }
    let host = domain.strip_prefix('.').unwrap_or(domain);
    if host.is_empty() || name.is_empty() || !path.starts_with('/') {
        return None;
    }
    let scheme = if secure { "https" } else { "http" };
    let url = Url::parse(&format!("{scheme}://{host}{path}")).ok()?;
    let mut raw = RawCookie::build((name.to_owned(), value.to_owned()))
        .path(path.to_owned())
        .secure(secure)
        .http_only(http_only);
    if subdomains || domain.starts_with('.') {
        raw = raw.domain(host.to_owned());
    }
    if expires != 0 {
        raw = raw.expires(OffsetDateTime::from_unix_timestamp(expires).ok()?);
    }
    StoreCookie::try_from_raw_cookie(&raw.build(), &url)
        .ok()
        .map(StoreCookie::into_owned)
}

fn flag(field: &str) -> Option<bool> {
    match field {
        "TRUE" => Some(true),
        "FALSE" => Some(false),
        _ => None,
    }
}

/// One cookie as a line of a Netscape cookie file, newline included.
pub(super) fn write_line(cookie: &StoredCookie) -> String {
    let expires = cookie
        .expiry
        .map_or(0, |at| match at.duration_since(UNIX_EPOCH) {
            Ok(after) => after.as_secs().max(1),
            // The format cannot say "before 1970" and 0 means a session cookie.
            Err(_) => 1,
        });
    let prefix = if cookie.http_only {
        HTTP_ONLY_PREFIX
    } else {
        ""
    };
    let dot = if cookie.host_only { "" } else { "." };
    format!(
        "{prefix}{dot}{domain}\t{subdomains}\t{path}\t{secure}\t{expires}\t{name}\t{value}\n",
        domain = cookie.domain,
        subdomains = upper(!cookie.host_only),
        path = cookie.path,
        secure = upper(cookie.secure),
        name = cookie.name,
        value = cookie.value,
    )
}

fn upper(flag: bool) -> &'static str {
    if flag { "TRUE" } else { "FALSE" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_only_domain_and_http_only_lines() {
        let host = parse_line("example.com\tFALSE\t/\tFALSE\t0\tsid\tabc\n").unwrap();
        assert_eq!(host.name_value(), ("sid", "abc"));
        assert!(
            matches!(host.domain, cookie_store::CookieDomain::HostOnly(ref d) if d == "example.com")
        );
        assert!(matches!(
            host.expires,
            cookie_store::CookieExpiration::SessionEnd
        ));

        let domain = parse_line(".example.com\tTRUE\t/app\tTRUE\t1893456000\tid\t42").unwrap();
        assert!(
            matches!(domain.domain, cookie_store::CookieDomain::Suffix(ref d) if d == "example.com")
        );
        assert_eq!(domain.secure(), Some(true));
        assert!(
            matches!(domain.expires, cookie_store::CookieExpiration::AtUtc(at) if at.unix_timestamp() == 1_893_456_000)
        );

        let http_only = parse_line("#HttpOnly_example.com\tFALSE\t/\tFALSE\t0\ttok\tx").unwrap();
        assert_eq!(http_only.http_only(), Some(true));
    }

    #[test]
    fn skips_comments_and_malformed_lines() {
        for line in [
            "# Netscape HTTP Cookie File",
            "",
            "example.com\tMAYBE\t/\tFALSE\t0\ta\tb",
            "example.com\tFALSE\tnoslash\tFALSE\t0\ta\tb",
            "example.com\tFALSE\t/\tFALSE\tsoon\ta\tb",
            "example.com\tFALSE\t/\tFALSE\t0\t\tb",
            "example.com\tFALSE\t/\tFALSE\t0\ta\tb\textra",
            "\tFALSE\t/\tFALSE\t0\ta\tb",
        ] {
            assert!(parse_line(line).is_none(), "{line:?}");
        }
        let long = format!(
            "example.com\tFALSE\t/\tFALSE\t0\ta\t{}",
            "v".repeat(MAX_LINE_LEN)
        );
        assert!(parse_line(&long).is_none());
    }

    #[test]
    fn a_six_field_line_is_an_empty_value() {
        let cookie = parse_line("example.com\tFALSE\t/\tFALSE\t0\tempty").unwrap();
        assert_eq!(cookie.name_value(), ("empty", ""));
    }

    #[test]
    fn writes_what_it_parses() {
        let cookie = StoredCookie {
            name: "id".into(),
            value: "42".into(),
            domain: "example.com".into(),
            host_only: false,
            path: "/app".into(),
            secure: true,
            http_only: true,
            same_site: None,
            expiry: UNIX_EPOCH.checked_add(std::time::Duration::from_secs(1_893_456_000)),
        };
        let line = write_line(&cookie);
        assert_eq!(
            line,
            "#HttpOnly_.example.com\tTRUE\t/app\tTRUE\t1893456000\tid\t42\n"
        );
        let back = parse_line(&line).unwrap();
        assert_eq!(back.name_value(), ("id", "42"));
        assert_eq!(back.http_only(), Some(true));
    }
}
