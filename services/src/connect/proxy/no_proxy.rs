//! `NO_PROXY` matching: which hosts go direct although a proxy is configured.

use std::net::IpAddr;

use ipnet::IpNet;

/// Hosts that bypass the proxy, as curl and reqwest read `NO_PROXY`: a comma-separated list
/// where
///
/// - `*` matches every host;
/// - a bare domain (`example.com`) matches itself and its subdomains; a leading dot
///   (`.example.com`) matches subdomains only;
/// - an IPv4 or IPv6 literal matches that address (brackets around IPv6 optional), and a
///   CIDR block (`10.0.0.0/8`, `::1/128`) every address in it — for IP-literal URLs only:
///   names are not resolved to check them;
/// - `host:port` (`example.com:8080`, `[::1]:8080`) matches that host on that port only;
/// - matching ignores ASCII case; whitespace around entries and empty entries are ignored.
///
/// Loopback is not implied: `localhost` and `127.0.0.1` go through the proxy unless listed,
/// as with curl.
///
/// ```
/// use towline_services::connect::proxy::NoProxy;
///
/// let no_proxy = NoProxy::parse("internal.example, .corp, 10.0.0.0/8, api.test:8443");
/// assert!(no_proxy.matches("internal.example", 443));
/// assert!(no_proxy.matches("db.internal.example", 443));
/// assert!(!no_proxy.matches("corp", 80));
/// assert!(no_proxy.matches("www.corp", 80));
/// assert!(no_proxy.matches("10.1.2.3", 80));
/// assert!(no_proxy.matches("api.test", 8443));
/// assert!(!no_proxy.matches("api.test", 443));
/// assert!(!no_proxy.matches("example.com", 80));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    host: HostPattern,
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    /// The domain and its subdomains (lowercase, no leading dot).
    Domain(String),
    /// Subdomains of the domain only.
    Subdomains(String),
    Net(IpNet),
}

impl NoProxy {
    /// Parses a `NO_PROXY` value (see the type's docs). Entries that are not understood are
    /// kept as domain names, which match nothing that is not spelled like them.
    pub fn parse(list: &str) -> Self {
        let mut no_proxy = Self::default();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if entry == "*" {
                no_proxy.all = true;
                continue;
            }
            no_proxy.entries.push(parse_entry(entry));
        }
        no_proxy
    }

    /// reqwest's spelling of [`parse`](Self::parse): `None` for a list with no entry.
    pub fn from_string(list: &str) -> Option<Self> {
        Some(Self::parse(list)).filter(|no_proxy| !no_proxy.is_empty())
    }

    /// Whether nothing is exempt.
    pub fn is_empty(&self) -> bool {
        !self.all && self.entries.is_empty()
    }

    /// Whether `host` (a name, or an IP literal with or without brackets) on `port` goes
    /// direct.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        if self.all {
            return true;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = host.strip_suffix('.').unwrap_or(host);
        let ip = host.parse::<IpAddr>().ok();
        self.entries.iter().any(|entry| {
            entry.port.is_none_or(|p| p == port)
                && match (&entry.host, ip) {
                    (HostPattern::Net(net), Some(ip)) => net.contains(&ip),
                    (HostPattern::Net(_), None) => false,
                    (HostPattern::Domain(domain), _) => {
                        domain.eq_ignore_ascii_case(host) || is_subdomain(host, domain)
                    }
                    (HostPattern::Subdomains(domain), _) => is_subdomain(host, domain),
                }
        })
    }
}

fn parse_entry(entry: &str) -> Entry {
    if let Ok(net) = entry.parse::<IpNet>() {
        return Entry {
            host: HostPattern::Net(net),
            port: None,
        };
    }
    let unbracketed = entry.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = unbracketed.parse::<IpAddr>() {
        return Entry {
            host: HostPattern::Net(IpNet::from(ip)),
            port: None,
        };
    }
    // `host:port` or `[v6]:port`; a bare IPv6 address was handled above.
    let (host, port) = match entry.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            match port.parse::<u16>() {
                Ok(port) => (host, Some(port)),
                Err(_) => (entry, None),
            }
        }
        _ => (entry, None),
    };
    let host_unbracketed = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host_unbracketed.parse::<IpAddr>() {
        return Entry {
            host: HostPattern::Net(IpNet::from(ip)),
            port,
        };
    }
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let pattern = match host.strip_prefix('.') {
        Some(domain) => HostPattern::Subdomains(domain.to_owned()),
        // `*.example.com` is read as `.example.com`, as curl does.
        None => match host.strip_prefix("*.") {
            Some(domain) => HostPattern::Subdomains(domain.to_owned()),
            None => HostPattern::Domain(host),
        },
    };
    Entry {
        host: pattern,
        port,
    }
}

/// Whether `host` is a proper subdomain of `domain` (`a.example.com` of `example.com`).
fn is_subdomain(host: &str, domain: &str) -> bool {
    host.len() > domain.len() + 1
        && host
            .get(host.len() - domain.len()..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(domain))
        && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_table() {
        let cases: &[(&str, &str, u16, bool)] = &[
            ("*", "anything.example", 80, true),
            ("*", "10.0.0.1", 443, true),
            ("", "example.com", 80, false),
            (" , ,", "example.com", 80, false),
            ("example.com", "example.com", 80, true),
            ("example.com", "EXAMPLE.com", 80, true),
            ("Example.COM", "example.com", 80, true),
            ("example.com", "www.example.com", 80, true),
            ("example.com", "a.b.example.com", 443, true),
            ("example.com", "notexample.com", 80, false),
            ("example.com", "example.com.evil", 80, false),
            (".example.com", "example.com", 80, false),
            (".example.com", "www.example.com", 80, true),
            ("*.example.com", "www.example.com", 80, true),
            ("*.example.com", "example.com", 80, false),
            ("example.com.", "example.com", 80, true),
            ("example.com", "example.com.", 80, true),
            (" example.com , other.test ", "other.test", 80, true),
            ("example.com:8080", "example.com", 8080, true),
            ("example.com:8080", "example.com", 80, false),
            ("10.0.0.1", "10.0.0.1", 80, true),
            ("10.0.0.1", "10.0.0.2", 80, false),
            ("10.0.0.0/8", "10.255.1.2", 80, true),
            ("10.0.0.0/8", "11.0.0.1", 80, false),
            ("192.168.0.0/16", "192.168.7.7", 443, true),
            ("::1", "::1", 80, true),
            ("::1", "[::1]", 80, true),
            ("[::1]", "::1", 80, true),
            ("::1/128", "::1", 80, true),
            ("fd00::/8", "[fd12:3456::1]", 80, true),
            ("fd00::/8", "fe80::1", 80, false),
            ("[::1]:8080", "::1", 8080, true),
            ("[::1]:8080", "::1", 80, false),
            ("10.0.0.0/8", "ten.example", 80, false),
            ("localhost", "127.0.0.1", 80, false),
            ("", "localhost", 80, false),
            ("localhost", "localhost", 80, true),
            ("127.0.0.1", "127.0.0.1", 8080, true),
        ];
        for &(list, host, port, expected) in cases {
            assert_eq!(
                NoProxy::parse(list).matches(host, port),
                expected,
                "NO_PROXY={list:?} host={host} port={port}"
            );
        }
    }
}
