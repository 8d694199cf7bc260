//! `-v`: the heads of every request sent and response received, as curl prints them on
//! stderr (`>` for requests, `<` for responses).
//!
//! The heads come from the client's own verbose layer
//! ([`ClientBuilder::connection_verbose`](towline::ClientBuilder::connection_verbose)), which
//! sits right above the transport and logs each hop and each retry as a `tracing` event.
//! A small subscriber takes those events and rewrites them in curl's shape. The layer writes
//! credentials (`Authorization`, `Cookie`, `Set-Cookie`, ...) as `<redacted>`, and so does
//! `-v`.

use std::fmt;
use std::io::Write;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// The target of the verbose layer's events.
const TARGET: &str = "towline::connection";

/// Prints the verbose layer's heads on stderr; see the [module documentation](self).
pub(crate) struct HeadPrinter;

impl HeadPrinter {
    /// Makes it the process's subscriber. Returns false when another one was set first.
    pub(crate) fn install() -> bool {
        tracing::subscriber::set_global_default(Self).is_ok()
    }
}

impl Subscriber for HeadPrinter {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.enabled(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == TARGET && metadata.is_event()
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let text = curl_head(&message.0);
        // Verbose output is best effort: a closed stderr must not fail the transfer.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

/// Rewrites one head as the layer logs it (`> GET http://host/path HTTP/1.1` or
/// `< HTTP/1.1 200 OK`, then one `> name: value` line per header) in curl's shape: the
/// request target in origin form with a `Host` line, `HTTP/2` for `HTTP/2.0`, a closing line
/// with the prefix alone, and CRLF line ends.
pub(crate) fn curl_head(logged: &str) -> String {
    let mut lines = logged.lines();
    let Some(first) = lines.next() else {
        return String::new();
    };
    let headers: Vec<&str> = lines.filter(|line| !line.is_empty()).collect();
    let mut out = String::new();
    if let Some(request) = first.strip_prefix("> ") {
        let mut parts = request.split(' ');
        let method = parts.next().unwrap_or_default();
        let target = parts.next().unwrap_or_default();
        let version = version(parts.next().unwrap_or_default());
        let (authority, origin_form) = split_target(target);
        out.push_str(&format!("> {method} {origin_form} {version}\r\n"));
        let has_host = headers
            .iter()
            .any(|line| line.to_ascii_lowercase().starts_with("> host:"));
        if !has_host && !authority.is_empty() && version != "HTTP/2" {
            out.push_str(&format!("> Host: {authority}\r\n"));
        }
        for line in headers {
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.push_str("> \r\n");
    } else if let Some(response) = first.strip_prefix("< ") {
        let (version_text, status) = response.split_once(' ').unwrap_or((response, ""));
        out.push_str(&format!("< {} {status}\r\n", version(version_text)));
        for line in headers {
            out.push_str(line);
            out.push_str("\r\n");
        }
        out.push_str("< \r\n");
    } else {
        out.push_str(logged);
    }
    out
}

fn version(debug: &str) -> &str {
    match debug {
        "HTTP/2.0" => "HTTP/2",
        "HTTP/3.0" => "HTTP/3",
        other => other,
    }
}

/// An absolute URI's authority and its path and query.
fn split_target(target: &str) -> (&str, &str) {
    let Some((_, rest)) = target.split_once("://") else {
        return ("", target);
    };
    match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads_get_origin_form_and_host() {
        let logged =
            "> GET http://127.0.0.1:8080/a/b?c=d HTTP/1.1\n> accept: */*\n> cookie: <redacted>\n";
        assert_eq!(
            curl_head(logged),
            "> GET /a/b?c=d HTTP/1.1\r\n> Host: 127.0.0.1:8080\r\n> accept: */*\r\n> cookie: <redacted>\r\n> \r\n"
        );
    }

    #[test]
    fn response_heads_name_http2_as_curl_does() {
        let logged = "< HTTP/2.0 404 Not Found\n< content-length: 0\n";
        assert_eq!(
            curl_head(logged),
            "< HTTP/2 404 Not Found\r\n< content-length: 0\r\n< \r\n"
        );
    }
}
