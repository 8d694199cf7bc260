//! HTTP authentication: Digest ([`digest`], feature `digest-auth`) and credentials from a
//! netrc file ([`netrc`], feature `netrc`), and what they share — the one parser of
//! `WWW-Authenticate` / `Proxy-Authenticate` ([`parse_challenges`]), [`Credentials`] and the
//! [`Origin`] credentials are bound to.
//!
//! The two layers live in one module because they work together: in a stack, the netrc
//! layer sits above the digest layer and hands it the credentials of the request's host in
//! the request's extensions ([`NetrcCredentials`]), so that a Digest challenge is answered
//! with them; Basic it answers itself. See [`netrc`] for the whole interaction.

mod challenge;
#[cfg(feature = "digest-auth")]
pub mod digest;
#[cfg(feature = "netrc")]
pub mod netrc;

use std::{fmt, sync::Arc};

use http::{Uri, uri::Scheme};

pub use self::challenge::{
    Challenge, ChallengeError, MAX_CHALLENGES, MAX_HEADER_LEN, MAX_PARAMS, parse_challenges,
};

/// A user name and a password.
///
/// Its `Debug` output never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    /// Credentials of `username` with `password`.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password.
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A web origin (RFC 6454): scheme, lower-cased host and port (the scheme's default when
/// the URI has none).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: Scheme,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of an absolute URI; `None` for a URI without scheme or host.
    pub fn of(uri: &Uri) -> Option<Self> {
        let scheme = uri.scheme()?.clone();
        let host = uri.host()?.to_ascii_lowercase();
        let port = uri.port_u16().or(if scheme == Scheme::HTTPS {
            Some(443)
        } else if scheme == Scheme::HTTP {
            Some(80)
        } else {
            None
        })?;
        Some(Self { scheme, host, port })
    }

    /// Whether `uri` has this origin, without building an `Origin` (no allocation).
    pub fn matches(&self, uri: &Uri) -> bool {
        uri.scheme() == Some(&self.scheme)
            && uri
                .host()
                .is_some_and(|host| host.eq_ignore_ascii_case(&self.host))
            && uri.port_u16().or(if self.scheme == Scheme::HTTPS {
                Some(443)
            } else {
                Some(80)
            }) == Some(self.port)
    }

    /// The host, lower-cased.
    pub fn host(&self) -> &str {
        &self.host
    }
}

/// Credentials the netrc layer found for a request's host, which it leaves in the request's
/// extensions for a digest layer below to answer a Digest challenge with.
///
/// They are bound to the origin of the request they were found for: a digest layer uses
/// them for that origin only, so a redirect to another host never carries them.
#[derive(Clone, Debug)]
pub struct NetrcCredentials {
    pub(crate) credentials: Arc<Credentials>,
    pub(crate) origin: Origin,
}

impl NetrcCredentials {
    /// The credentials, if they were found for `uri`'s origin.
    pub fn for_uri(&self, uri: &Uri) -> Option<&Credentials> {
        self.origin.matches(uri).then_some(&*self.credentials)
    }
}

/// Marks an `Authorization` header that the netrc layer added (a preemptive Basic one), so
/// that a digest layer below may replace it when the server asks for Digest: only a header
/// the caller set wins over the digest layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NetrcAuthorization;

#[cfg(feature = "netrc")]
/// Whether `host` is a loopback name or address, where credentials may be sent in the clear.
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_compare_scheme_host_and_default_port() {
        let origin = Origin::of(&Uri::from_static("http://Example.COM/a")).unwrap();
        assert!(origin.matches(&Uri::from_static("http://example.com:80/b")));
        assert!(!origin.matches(&Uri::from_static("https://example.com/b")));
        assert!(!origin.matches(&Uri::from_static("http://example.com:8080/b")));
        assert!(!origin.matches(&Uri::from_static("http://other.example/")));
        assert!(Origin::of(&Uri::from_static("/relative")).is_none());
    }

    #[cfg(feature = "netrc")]
    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("localhost"));
        assert!(is_loopback("127.0.0.2"));
        assert!(is_loopback("[::1]"));
        assert!(!is_loopback("example.com"));
        assert!(!is_loopback("10.0.0.1"));
    }

    #[test]
    fn debug_hides_the_password() {
        let debug = format!("{:?}", Credentials::new("u", "secret"));
        assert!(debug.contains('u') && !debug.contains("secret"));
    }
}
