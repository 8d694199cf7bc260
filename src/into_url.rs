//! [`IntoUrl`]: what the facade accepts as a request URL, and the request target it is sent as.

use http::Uri;

use crate::error::{Error, Result};

/// Something that parses into a request URL.
pub trait IntoUrl {
    /// Parses the URL; only `http` and `https` URLs with a host are accepted.
    fn into_url(self) -> Result<url::Url>;

    /// The URL and the request target it is sent as, each parsed once.
    #[doc(hidden)]
    fn into_url_and_uri(self) -> Result<(url::Url, Uri)>
    where
        Self: Sized,
    {
        let url = self.into_url()?;
        let uri = request_uri(&url)?;
        Ok((url, uri))
    }

    /// As [`into_url_and_uri`](Self::into_url_and_uri), a relative reference resolved
    /// against `base` (a client's base URL) when there is one.
    #[doc(hidden)]
    fn into_url_and_uri_on(self, base: Option<&url::Url>) -> Result<(url::Url, Uri)>
    where
        Self: Sized,
    {
        let _ = base;
        self.into_url_and_uri()
    }
}

/// The request target `url` is sent as. The URL standard allows characters in a host (`"`,
/// `{`) that an HTTP request target cannot carry; such URLs are refused here rather than
/// when sending.
pub(crate) fn request_uri(url: &url::Url) -> Result<Uri> {
    Uri::try_from(url.as_str()).map_err(|e| Error::builder(format!("URL cannot be sent: {e}")))
}

impl IntoUrl for url::Url {
    fn into_url(self) -> Result<url::Url> {
        self.into_url_and_uri().map(|(url, _)| url)
    }

    fn into_url_and_uri(self) -> Result<(url::Url, Uri)> {
        if !matches!(self.scheme(), "http" | "https") {
            return Err(Error::builder(format!(
                "URL scheme {:?} is not http or https",
                self.scheme()
            )));
        }
        if !self.has_host() || self.host_str() == Some("") {
            return Err(Error::builder("URL has no host"));
        }
        let uri = request_uri(&self)?;
        Ok((self, uri))
    }
}

impl IntoUrl for &str {
    fn into_url(self) -> Result<url::Url> {
        self.into_url_and_uri().map(|(url, _)| url)
    }

    fn into_url_and_uri_on(self, base: Option<&url::Url>) -> Result<(url::Url, Uri)> {
        if let Some(base) = base
            && url::Url::parse(self) == Err(url::ParseError::RelativeUrlWithoutBase)
        {
            // Error messages never quote the input: it may carry credentials.
            return base
                .join(self)
                .map_err(|e| Error::builder(format!("invalid URL: {e}")))?
                .into_url_and_uri();
        }
        self.into_url_and_uri()
    }

    fn into_url_and_uri(self) -> Result<(url::Url, Uri)> {
        // The URL standard skips extra slashes (`http:///host` parses as `http://host/`);
        // a client must not guess which host was meant, so the authority must be explicit.
        let after_scheme = self.split_once(':').map_or("", |(_, rest)| rest);
        let authority_start = after_scheme
            .strip_prefix("//")
            .and_then(|rest| rest.chars().next());
        // Error messages never quote the input: it may carry credentials.
        if matches!(authority_start, None | Some('/' | '\\' | '?' | '#')) {
            return Err(Error::builder("invalid URL: no host after the scheme"));
        }
        url::Url::parse(self)
            .map_err(|e| Error::builder(format!("invalid URL: {e}")))?
            .into_url_and_uri()
    }
}

impl IntoUrl for String {
    fn into_url(self) -> Result<url::Url> {
        self.as_str().into_url()
    }

    fn into_url_and_uri(self) -> Result<(url::Url, Uri)> {
        self.as_str().into_url_and_uri()
    }

    fn into_url_and_uri_on(self, base: Option<&url::Url>) -> Result<(url::Url, Uri)> {
        self.as_str().into_url_and_uri_on(base)
    }
}

impl IntoUrl for &String {
    fn into_url(self) -> Result<url::Url> {
        self.as_str().into_url()
    }

    fn into_url_and_uri(self) -> Result<(url::Url, Uri)> {
        self.as_str().into_url_and_uri()
    }

    fn into_url_and_uri_on(self, base: Option<&url::Url>) -> Result<(url::Url, Uri)> {
        self.as_str().into_url_and_uri_on(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_errors_never_quote_credentials_and_unsendable_hosts_fail_early() {
        let error = "http://user:S3CRET@exa mple.com/".into_url().unwrap_err();
        assert!(error.is_builder());
        assert!(!error.to_string().contains("S3CRET"), "{error}");
        for url in ["http://a\"b/", "http://a{b/"] {
            let error = url.into_url().unwrap_err();
            assert!(error.is_builder(), "{url}: {error}");
        }
    }

    #[test]
    fn url_without_explicit_host_is_rejected() {
        for url in [
            "http:///example.com/",
            "https:/example.com",
            "http://",
            "http:?q",
        ] {
            let error = url.into_url().unwrap_err();
            assert!(error.is_builder(), "{url}: {error}");
        }
        assert_eq!(
            "http://example.com/a b".into_url().unwrap().as_str(),
            "http://example.com/a%20b"
        );
    }
}
