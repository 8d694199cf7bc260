//! URI redaction for `url.full` and other recorded URIs: userinfo always removed, the query
//! handled by a [`QueryRedaction`]. Shared by the `tracing` and OpenTelemetry layers.

use std::fmt;

use http::Uri;

/// What `url.full` and redirect events show of a URI's query.
///
/// Userinfo is removed whatever this says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QueryRedaction {
    /// Keep the parameter names and replace every value with `REDACTED`:
    /// `?q=rust&token=secret&flag` becomes `?q=REDACTED&token=REDACTED&REDACTED` (a parameter
    /// without `=` may itself be a secret, so all of it goes). The default.
    #[default]
    RedactValues,
    /// Drop the query, `?` included.
    Remove,
    /// Keep the query as sent. Opt in only when no query of this client carries secrets.
    Keep,
}

/// The text that replaces a redacted value.
const REDACTED: &str = "REDACTED";

/// Displays a URI without its userinfo and with its query redacted.
///
/// Formatting writes straight into the formatter: no string is built unless the caller
/// builds one.
///
/// ```
/// use towline_layers::redact::{QueryRedaction, RedactedUri};
///
/// let uri: http::Uri = "https://user:pass@example.com:8443/a?id=7&token=secret".parse()?;
/// assert_eq!(
///     RedactedUri::new(&uri, QueryRedaction::default()).to_string(),
///     "https://example.com:8443/a?id=REDACTED&token=REDACTED"
/// );
/// assert_eq!(
///     RedactedUri::new(&uri, QueryRedaction::Remove).to_string(),
///     "https://example.com:8443/a"
/// );
/// # Ok::<_, http::uri::InvalidUri>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RedactedUri<'a> {
    uri: &'a Uri,
    query: QueryRedaction,
}

impl<'a> RedactedUri<'a> {
    /// Wraps `uri`, to be shown with its query handled by `query`.
    pub fn new(uri: &'a Uri, query: QueryRedaction) -> Self {
        Self { uri, query }
    }
}

impl fmt::Display for RedactedUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(scheme) = self.uri.scheme_str() {
            write!(f, "{scheme}://")?;
        }
        if let Some(authority) = self.uri.authority() {
            f.write_str(without_userinfo(authority.as_str()))?;
        }
        f.write_str(self.uri.path())?;
        if let Some(query) = self.uri.query() {
            match self.query {
                QueryRedaction::RedactValues => {
                    f.write_str("?")?;
                    write_redacted_query(f, query)?;
                }
                QueryRedaction::Remove => {}
                QueryRedaction::Keep => write!(f, "?{query}")?,
            }
        }
        Ok(())
    }
}

/// `host[:port]` of an authority, without anything up to its last `@`.
pub(crate) fn without_userinfo(authority: &str) -> &str {
    authority
        .rsplit_once('@')
        .map_or(authority, |(_userinfo, host)| host)
}

/// Writes `query` with each value replaced by [`REDACTED`]; `&`-separated pairs keep their
/// name, a pair without `=` is replaced whole.
fn write_redacted_query(f: &mut fmt::Formatter<'_>, query: &str) -> fmt::Result {
    for (index, pair) in query.split('&').enumerate() {
        if index > 0 {
            f.write_str("&")?;
        }
        if pair.is_empty() {
            continue;
        }
        match pair.split_once('=') {
            Some((name, _value)) => write!(f, "{name}={REDACTED}")?,
            None => f.write_str(REDACTED)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(uri: &str, query: QueryRedaction) -> String {
        match uri.parse::<Uri>() {
            Ok(uri) => RedactedUri::new(&uri, query).to_string(),
            Err(err) => format!("invalid test URI {uri}: {err}"),
        }
    }

    #[test]
    fn userinfo_is_removed_in_every_mode() {
        for mode in [
            QueryRedaction::RedactValues,
            QueryRedaction::Remove,
            QueryRedaction::Keep,
        ] {
            assert_eq!(
                show("http://user:pass@example.com/p", mode),
                "http://example.com/p"
            );
            assert_eq!(
                show("http://user@example.com:8080/", mode),
                "http://example.com:8080/"
            );
        }
    }

    #[test]
    fn values_are_redacted_names_kept() {
        let mode = QueryRedaction::RedactValues;
        assert_eq!(
            show("https://example.com/s?q=rust&token=secret", mode),
            "https://example.com/s?q=REDACTED&token=REDACTED"
        );
        assert_eq!(
            show("https://example.com/s?bare&=v&a=&&b=1=2", mode),
            "https://example.com/s?REDACTED&=REDACTED&a=REDACTED&&b=REDACTED"
        );
        assert_eq!(
            show("https://example.com/s?", mode),
            "https://example.com/s?"
        );
        assert_eq!(show("https://example.com/s", mode), "https://example.com/s");
    }

    #[test]
    fn the_query_can_be_removed_or_kept() {
        let uri = "https://u:p@example.com/s?token=secret";
        assert_eq!(show(uri, QueryRedaction::Remove), "https://example.com/s");
        assert_eq!(
            show(uri, QueryRedaction::Keep),
            "https://example.com/s?token=secret"
        );
    }

    #[test]
    fn ipv6_origin_form_and_authority_form() {
        let mode = QueryRedaction::RedactValues;
        assert_eq!(
            show("http://[::1]:8080/x?k=v", mode),
            "http://[::1]:8080/x?k=REDACTED"
        );
        assert_eq!(show("/path?k=v", mode), "/path?k=REDACTED");
        assert_eq!(show("example.com:443", mode), "example.com:443");
        assert_eq!(show("http://example.com", mode), "http://example.com/");
    }
}
