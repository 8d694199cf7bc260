//! curl's exit codes for towline's errors; the table is in the crate documentation.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use towline::towline_layers::error::find_cause;
use towline::towline_layers::redirect::{RedirectError, RedirectErrorKind};
use towline::towline_services::connect::proxy::{ProxyError, ProxyErrorKind};

/// Unsupported protocol: a URL scheme other than http or https, or an answer that is not
/// HTTP/1.x or HTTP/2 (curl: "HTTP/0.9 not allowed").
pub(crate) const UNSUPPORTED_PROTOCOL: u8 = 1;
/// A bad command line, or a client that could not be set up.
pub(crate) const FAILED_INIT: u8 = 2;
/// A URL that does not parse.
pub(crate) const URL_MALFORMAT: u8 = 3;
/// The proxy's name did not resolve.
pub(crate) const COULDNT_RESOLVE_PROXY: u8 = 5;
/// The host's name did not resolve.
pub(crate) const COULDNT_RESOLVE_HOST: u8 = 6;
/// No connection to the host or proxy.
pub(crate) const COULDNT_CONNECT: u8 = 7;
/// The body ended before its announced length.
pub(crate) const PARTIAL_FILE: u8 = 18;
/// `--fail`: the server answered 400 or more.
pub(crate) const HTTP_RETURNED_ERROR: u8 = 22;
/// Writing the output failed.
pub(crate) const WRITE_ERROR: u8 = 23;
/// Reading a local file (`-d @file`, `-F name=@file`, `-T`) failed.
pub(crate) const READ_ERROR: u8 = 26;
/// A timeout elapsed.
pub(crate) const OPERATION_TIMEDOUT: u8 = 28;
/// The TLS handshake failed.
pub(crate) const SSL_CONNECT_ERROR: u8 = 35;
/// Too many redirects.
pub(crate) const TOO_MANY_REDIRECTS: u8 = 47;
/// The server closed the connection without answering.
pub(crate) const GOT_NOTHING: u8 = 52;
/// The connection failed while the response was read.
pub(crate) const RECV_ERROR: u8 = 56;
/// The local client certificate or key could not be used.
pub(crate) const SSL_CERTPROBLEM: u8 = 58;
/// The server's certificate did not verify.
pub(crate) const PEER_FAILED_VERIFICATION: u8 = 60;
/// The response's content encoding could not be decoded.
pub(crate) const BAD_CONTENT_ENCODING: u8 = 61;
/// The CA certificate file could not be read.
pub(crate) const SSL_CACERT_BADFILE: u8 = 77;
/// The SOCKS proxy handshake failed.
pub(crate) const PROXY: u8 = 97;

/// A failed transfer: curl's exit code and a message for stderr and `%{errormsg}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}) {}", self.code, self.message)
    }
}

/// When an error happened: before the response head, or while its body was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Request,
    Body,
}

/// The transfer's circumstances that decide between codes curl tells apart.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context {
    pub(crate) stage: Stage,
    /// The request went through a proxy: a name that did not resolve is the proxy's.
    pub(crate) proxied: bool,
}

/// curl's exit code for an error of the client, with its message.
pub(crate) fn classify(error: &towline::Error, context: Context) -> Failure {
    Failure::new(code(error, context), describe(error))
}

fn code(error: &towline::Error, context: Context) -> u8 {
    if error.is_builder() {
        return URL_MALFORMAT;
    }
    if let Some(redirect) = find_cause::<RedirectError>(error) {
        return match redirect.kind() {
            RedirectErrorKind::TooManyRedirects => TOO_MANY_REDIRECTS,
            RedirectErrorKind::InvalidLocation => URL_MALFORMAT,
            _ => UNSUPPORTED_PROTOCOL,
        };
    }
    if error.is_timeout() {
        return OPERATION_TIMEDOUT;
    }
    if let Some(proxy) = find_cause::<ProxyError>(error) {
        return match proxy.kind() {
            ProxyErrorKind::Socks | ProxyErrorKind::Malformed => PROXY,
            ProxyErrorKind::Tls => tls_code(error),
            ProxyErrorKind::Io => COULDNT_CONNECT,
            ProxyErrorKind::InvalidUrl | ProxyErrorKind::UnsupportedScheme => COULDNT_CONNECT,
            // curl reports a CONNECT refused by status (407, 403, ...) as a receive error.
            _ => RECV_ERROR,
        };
    }
    if error.is_dns() {
        return if context.proxied {
            COULDNT_RESOLVE_PROXY
        } else {
            COULDNT_RESOLVE_HOST
        };
    }
    if error.is_tls() {
        return tls_code(error);
    }
    if error.is_connect() {
        return COULDNT_CONNECT;
    }
    if error.is_decode() {
        return BAD_CONTENT_ENCODING;
    }
    if let Some(hyper) = find_cause::<hyper::Error>(error) {
        if hyper.is_parse() || hyper.is_parse_status() {
            return UNSUPPORTED_PROTOCOL;
        }
        if hyper.is_incomplete_message() {
            return match context.stage {
                Stage::Request => GOT_NOTHING,
                Stage::Body => PARTIAL_FILE,
            };
        }
    }
    // hyper reports a body cut short of its Content-Length as an unexpected end of file.
    let cut_short = causes(error).any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::UnexpectedEof)
    });
    if context.stage == Stage::Body && cut_short {
        return PARTIAL_FILE;
    }
    RECV_ERROR
}

/// 60 when the server's certificate did not verify, 35 for any other TLS failure.
fn tls_code(error: &towline::Error) -> u8 {
    let certificate = causes(error).any(|cause| {
        matches!(
            cause.downcast_ref::<rustls::Error>(),
            Some(
                rustls::Error::InvalidCertificate(_)
                    | rustls::Error::NoCertificatesPresented
                    | rustls::Error::UnsupportedNameType
            )
        )
    });
    if certificate {
        PEER_FAILED_VERIFICATION
    } else {
        SSL_CONNECT_ERROR
    }
}

/// `error` and its causes, looking inside `io::Error`s too (their `source` skips the error
/// they wrap, which is where rustls' errors sit).
fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    let mut next = Some(error);
    std::iter::from_fn(move || {
        let current = next?;
        next = match current
            .downcast_ref::<io::Error>()
            .and_then(io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => current.source(),
        };
        Some(current)
    })
}

/// The error and its causes on one line, each once.
fn describe(error: &towline::Error) -> String {
    let mut message = String::new();
    for cause in causes(error) {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_look_inside_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = io::Error::other(tls);
        let found: Vec<bool> = causes(&io)
            .map(|cause| cause.is::<rustls::Error>())
            .collect();
        assert_eq!(found, [false, true]);
    }

    #[test]
    fn failure_display_has_the_code() {
        let failure = Failure::new(COULDNT_CONNECT, "Connection refused");
        assert_eq!(failure.to_string(), "(7) Connection refused");
    }
}
