//! Proxies from the environment, read once, through a source tests can replace.

use super::{NoProxy, Proxy, ProxyConfig};

impl ProxyConfig {
    /// The proxies the process environment names (see [`from_env_source`](Self::from_env_source)).
    pub fn from_env() -> Self {
        Self::from_env_source(|name| std::env::var(name).ok())
    }

    /// The proxies named by the variables `get` returns, read as curl and reqwest read them:
    ///
    /// - `http_proxy` for `http` requests, `https_proxy` for `https` ones, `all_proxy` for
    ///   both (the scheme-specific one wins); each name is looked up in lower case first, then
    ///   in upper case;
    /// - upper-case `HTTP_PROXY` is ignored when `REQUEST_METHOD` is set: in a CGI program
    ///   the request's `Proxy:` header arrives as `HTTP_PROXY` (the "httpoxy" attack);
    /// - `no_proxy` (or `NO_PROXY`) lists the hosts that go direct ([`NoProxy`]);
    /// - empty values and values that are not valid proxy URLs are ignored, as reqwest does:
    ///   a stray variable does not stop a client from being built.
    ///
    /// ```
    /// use towline_services::connect::proxy::ProxyConfig;
    ///
    /// let env = |name: &str| match name {
    ///     "HTTPS_PROXY" => Some("http://proxy.corp:3128".to_owned()),
    ///     "no_proxy" => Some("internal.corp".to_owned()),
    ///     _ => None,
    /// };
    /// let proxies = ProxyConfig::from_env_source(env);
    /// assert!(proxies.route(&"https://example.com/".parse().unwrap()).is_some());
    /// assert!(proxies.route(&"https://api.internal.corp/".parse().unwrap()).is_none());
    /// assert!(proxies.route(&"http://example.com/".parse().unwrap()).is_none());
    /// ```
    pub fn from_env_source(get: impl Fn(&str) -> Option<String>) -> Self {
        let cgi = get("REQUEST_METHOD").is_some();
        let read = |lower: &str, upper: &str, guarded: bool| {
            get(lower)
                .filter(|value| !value.trim().is_empty())
                .or_else(|| {
                    (!guarded)
                        .then(|| get(upper))
                        .flatten()
                        .filter(|value| !value.trim().is_empty())
                })
        };
        let no_proxy = read("no_proxy", "NO_PROXY", false).map(|list| NoProxy::parse(&list));
        let mut config = ProxyConfig::new();
        let mut add = |proxy: Option<Proxy>| {
            if let Some(proxy) = proxy {
                config.push(proxy.no_proxy(no_proxy.clone()));
            }
        };
        add(read("http_proxy", "HTTP_PROXY", cgi).and_then(|url| Proxy::http(url).ok()));
        add(read("https_proxy", "HTTPS_PROXY", false).and_then(|url| Proxy::https(url).ok()));
        add(read("all_proxy", "ALL_PROXY", false).and_then(|url| Proxy::all(url).ok()));
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_of(vars: &[(&str, &str)], uri: &str) -> Option<String> {
        let config = ProxyConfig::from_env_source(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        });
        config
            .route(&uri.parse().unwrap())
            .map(|route| route.hops()[0].to_string())
    }

    #[test]
    fn lower_case_wins_then_upper_case() {
        let vars = [
            ("http_proxy", "http://lower:1"),
            ("HTTP_PROXY", "http://upper:1"),
        ];
        assert_eq!(
            route_of(&vars, "http://a/").as_deref(),
            Some("http://lower:1")
        );
        let vars = [("HTTP_PROXY", "http://upper:1")];
        assert_eq!(
            route_of(&vars, "http://a/").as_deref(),
            Some("http://upper:1")
        );
        let vars = [("http_proxy", ""), ("HTTP_PROXY", "http://upper:1")];
        assert_eq!(
            route_of(&vars, "http://a/").as_deref(),
            Some("http://upper:1")
        );
    }

    #[test]
    fn upper_case_http_proxy_is_ignored_under_cgi() {
        let vars = [("HTTP_PROXY", "http://evil:1"), ("REQUEST_METHOD", "GET")];
        assert_eq!(route_of(&vars, "http://a/"), None);
        let vars = [("http_proxy", "http://ok:1"), ("REQUEST_METHOD", "GET")];
        assert_eq!(route_of(&vars, "http://a/").as_deref(), Some("http://ok:1"));
        let vars = [("HTTPS_PROXY", "http://ok:1"), ("REQUEST_METHOD", "GET")];
        assert_eq!(
            route_of(&vars, "https://a/").as_deref(),
            Some("http://ok:1")
        );
    }

    #[test]
    fn scheme_specific_proxies_win_over_all_proxy_and_no_proxy_applies() {
        let vars = [
            ("all_proxy", "socks5h://all:1080"),
            ("https_proxy", "http://secure:1"),
            ("NO_PROXY", "direct.test, 10.0.0.0/8"),
        ];
        assert_eq!(
            route_of(&vars, "https://a/").as_deref(),
            Some("http://secure:1")
        );
        assert_eq!(
            route_of(&vars, "http://a/").as_deref(),
            Some("socks5h://all:1080")
        );
        assert_eq!(route_of(&vars, "http://direct.test/"), None);
        assert_eq!(route_of(&vars, "https://10.1.1.1/"), None);
    }

    #[test]
    fn invalid_values_are_ignored() {
        let vars = [
            ("http_proxy", "ftp://nope"),
            ("all_proxy", "http://fallback:1"),
        ];
        assert_eq!(
            route_of(&vars, "http://a/").as_deref(),
            Some("http://fallback:1")
        );
        assert_eq!(route_of(&[], "http://a/"), None);
    }
}
