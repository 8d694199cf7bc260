//! [`DigestServer`]: an RFC 7616 Digest authentication checker for tests, written apart
//! from the client's implementation so that each checks the other.

use std::{
    collections::HashMap,
    fmt::Write as _,
    sync::{Arc, Mutex, PoisonError},
};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use md5::Md5;
use sha2::{Digest, Sha256, Sha512_256};

use crate::body::{BoxBody, full};

/// Challenges requests and checks Digest answers with its own implementation of the RFC
/// 7616 formulas. Clones share their state.
///
/// A request whose answer checks out gets `200` with body `ok`; any other gets `401`
/// (or `407` in proxy mode) with a fresh challenge. Every answer that fails a check is
/// recorded in [`failures`](Self::failures), so a test can tell a wrong answer from none.
#[derive(Clone, Debug)]
pub struct DigestServer {
    config: Arc<Config>,
    state: Arc<Mutex<State>>,
}

#[derive(Clone, Debug)]
struct Config {
    username: String,
    password: String,
    realm: String,
    algorithms: Vec<String>,
    qop: Option<String>,
    opaque: Option<String>,
    userhash: bool,
    charset: bool,
    domain: Option<String>,
    proxy: bool,
    basic_first: bool,
    nonce_uses: Option<u32>,
    session_cookie: bool,
}

#[derive(Debug, Default)]
struct State {
    next_nonce: u32,
    /// nonce → (last nc seen, uses)
    nonces: HashMap<String, (u32, u32)>,
    requests: usize,
    authorizations: Vec<String>,
    failures: Vec<String>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn hex_digest<D: Digest>(data: &[u8]) -> String {
    let mut out = String::new();
    for byte in D::digest(data) {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// `H(data)` for the algorithm named `algorithm` (`-sess` ignored).
pub fn digest_hash(algorithm: &str, data: &[u8]) -> String {
    let base = algorithm
        .trim_end_matches("-sess")
        .trim_end_matches("-SESS");
    match base.to_ascii_uppercase().as_str() {
        "SHA-256" => hex_digest::<Sha256>(data),
        "SHA-512-256" => hex_digest::<Sha512_256>(data),
        _ => hex_digest::<Md5>(data),
    }
}

/// The parameters of a `Digest` credentials header, unquoted (a simple split that
/// respects quoted strings).
pub fn digest_params(value: &str) -> Option<HashMap<String, String>> {
    let rest = value.strip_prefix("Digest ")?;
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == ',') {
            chars.next();
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            name.push(c);
            chars.next();
        }
        if name.is_empty() {
            return Some(params);
        }
        chars.next()?;
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' => value.push(chars.next()?),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
        }
        params.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl DigestServer {
    /// A server accepting `username` / `password` in `realm`, offering MD5 with
    /// `qop="auth"`.
    pub fn new(username: &str, password: &str, realm: &str) -> Self {
        Self {
            config: Arc::new(Config {
                username: username.into(),
                password: password.into(),
                realm: realm.into(),
                algorithms: vec!["MD5".into()],
                qop: Some("auth".into()),
                opaque: None,
                userhash: false,
                charset: false,
                domain: None,
                proxy: false,
                basic_first: false,
                nonce_uses: None,
                session_cookie: false,
            }),
            state: Arc::default(),
        }
    }

    fn with(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(Arc::make_mut(&mut self.config));
        self
    }

    /// Offers one Digest challenge per algorithm name, in this order (`""` for a challenge
    /// without `algorithm`).
    pub fn algorithms(self, names: &[&str]) -> Self {
        self.with(|c| c.algorithms = names.iter().map(|n| (*n).to_owned()).collect())
    }

    /// The `qop` offered (`None`: an RFC 2069 challenge).
    pub fn qop(self, qop: Option<&str>) -> Self {
        self.with(|c| c.qop = qop.map(str::to_owned))
    }

    /// Sends `opaque`, which answers must echo.
    pub fn opaque(self, opaque: &str) -> Self {
        self.with(|c| c.opaque = Some(opaque.into()))
    }

    /// Asks for `userhash=true`.
    pub fn userhash(self) -> Self {
        self.with(|c| c.userhash = true)
    }

    /// Sends `charset=UTF-8`.
    pub fn charset_utf8(self) -> Self {
        self.with(|c| c.charset = true)
    }

    /// Sends `domain="…"`.
    pub fn domain(self, domain: &str) -> Self {
        self.with(|c| c.domain = Some(domain.into()))
    }

    /// Answers as a proxy: `407`, `Proxy-Authenticate`, `Proxy-Authorization`.
    pub fn proxy(self) -> Self {
        self.with(|c| c.proxy = true)
    }

    /// Puts a Basic challenge before the Digest ones.
    pub fn basic_first(self) -> Self {
        self.with(|c| c.basic_first = true)
    }

    /// A nonce is good for `uses` answers; the next one gets `stale=true` and a new nonce.
    pub fn nonce_uses(self, uses: u32) -> Self {
        self.with(|c| c.nonce_uses = Some(uses))
    }

    /// Sets a `session` cookie with each challenge and refuses answers that do not send
    /// it back (as servers that tie the nonce to a session do).
    pub fn session_cookie(self) -> Self {
        self.with(|c| c.session_cookie = true)
    }

    /// Requests seen.
    pub fn requests(&self) -> usize {
        lock(&self.state).requests
    }

    /// Every credentials header received, in order.
    pub fn authorizations(&self) -> Vec<String> {
        lock(&self.state).authorizations.clone()
    }

    /// Why answers were refused, in order.
    pub fn failures(&self) -> Vec<String> {
        lock(&self.state).failures.clone()
    }

    fn challenge(&self, state: &mut State, stale: bool) -> Response<BoxBody> {
        let c = &self.config;
        state.next_nonce += 1;
        let nonce = format!("nonce-{}/+=", state.next_nonce);
        state.nonces.insert(nonce.clone(), (0, 0));
        let (status, name) = if c.proxy {
            (
                StatusCode::PROXY_AUTHENTICATION_REQUIRED,
                header::PROXY_AUTHENTICATE,
            )
        } else {
            (StatusCode::UNAUTHORIZED, header::WWW_AUTHENTICATE)
        };
        let mut builder = Response::builder().status(status);
        if c.basic_first {
            builder = builder.header(&name, format!("Basic realm=\"{}\"", c.realm));
        }
        for algorithm in &c.algorithms {
            let mut value = format!("Digest realm=\"{}\", nonce=\"{nonce}\"", c.realm);
            if let Some(qop) = &c.qop {
                let _ = write!(value, ", qop=\"{qop}\"");
            }
            if !algorithm.is_empty() {
                let _ = write!(value, ", algorithm={algorithm}");
            }
            if let Some(opaque) = &c.opaque {
                let _ = write!(value, ", opaque=\"{opaque}\"");
            }
            if let Some(domain) = &c.domain {
                let _ = write!(value, ", domain=\"{domain}\"");
            }
            if c.userhash {
                value.push_str(", userhash=true");
            }
            if c.charset {
                value.push_str(", charset=UTF-8");
            }
            if stale {
                value.push_str(", stale=true");
            }
            builder = builder.header(&name, value);
        }
        if c.session_cookie {
            builder = builder.header(header::SET_COOKIE, "session=s1; Path=/");
        }
        builder
            .body(full("challenge body"))
            .unwrap_or_else(|_| Response::new(full("")))
    }

    /// Answers `request`: `200 ok` when its Digest answer checks out, else a challenge.
    pub fn respond(&self, request: &Request<Bytes>) -> Response<BoxBody> {
        let mut state = lock(&self.state);
        state.requests += 1;
        let name = if self.config.proxy {
            header::PROXY_AUTHORIZATION
        } else {
            header::AUTHORIZATION
        };
        let Some(value) = request.headers().get(&name) else {
            return self.challenge(&mut state, false);
        };
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        state.authorizations.push(value.clone());
        match self.check(&mut state, request, &value) {
            Ok(()) => Response::new(full("ok")),
            Err(Refusal::Stale) => self.challenge(&mut state, true),
            Err(Refusal::Wrong(why)) => {
                state.failures.push(why);
                self.challenge(&mut state, false)
            }
        }
    }

    fn check(
        &self,
        state: &mut State,
        request: &Request<Bytes>,
        value: &str,
    ) -> Result<(), Refusal> {
        let wrong = |why: &str| Refusal::Wrong(why.to_owned());
        let c = &self.config;
        let p = digest_params(value).ok_or_else(|| wrong("not a Digest answer"))?;
        if c.session_cookie
            && !request
                .headers()
                .get_all(header::COOKIE)
                .iter()
                .any(|v| v.as_bytes().windows(10).any(|w| w == b"session=s1"))
        {
            return Err(wrong("no session cookie"));
        }
        let get = |k: &str| p.get(k).map(String::as_str);
        let algorithm = get("algorithm").unwrap_or("MD5").to_owned();
        if !c
            .algorithms
            .iter()
            .any(|a| a.eq_ignore_ascii_case(&algorithm) || (a.is_empty() && algorithm == "MD5"))
        {
            return Err(wrong("algorithm not offered"));
        }
        if get("realm") != Some(c.realm.as_str()) {
            return Err(wrong("realm"));
        }
        // A CONNECT's request target is its authority (`host:port`).
        let expected_uri = if request.method() == http::Method::CONNECT {
            request
                .uri()
                .authority()
                .map_or("", |authority| authority.as_str())
        } else {
            request.uri().path_and_query().map_or("/", |pq| pq.as_str())
        };
        if get("uri") != Some(expected_uri) {
            return Err(wrong("uri"));
        }
        if get("opaque") != c.opaque.as_deref() {
            return Err(wrong("opaque"));
        }
        let h = |data: &str| digest_hash(&algorithm, data.as_bytes());
        let username_ok = if c.userhash {
            get("userhash") == Some("true")
                && get("username") == Some(h(&format!("{}:{}", c.username, c.realm)).as_str())
        } else if let Some(ext) = get("username*") {
            ext.strip_prefix("UTF-8''")
                .and_then(percent_decode)
                .as_deref()
                == Some(c.username.as_str())
        } else {
            get("username") == Some(c.username.as_str())
        };
        if !username_ok {
            return Err(wrong("username"));
        }
        let nonce = get("nonce").ok_or_else(|| wrong("no nonce"))?.to_owned();
        let Some(&(last_nc, uses)) = state.nonces.get(&nonce) else {
            return Err(wrong("unknown nonce"));
        };
        let qop = get("qop");
        let cnonce = get("cnonce").unwrap_or("");
        let mut ha1 = h(&format!("{}:{}:{}", c.username, c.realm, c.password));
        if algorithm.to_ascii_lowercase().ends_with("-sess") {
            ha1 = h(&format!("{ha1}:{nonce}:{cnonce}"));
        }
        let ha2 = match qop {
            Some("auth-int") => {
                let body = digest_hash(&algorithm, request.body());
                h(&format!("{}:{expected_uri}:{body}", request.method()))
            }
            _ => h(&format!("{}:{expected_uri}", request.method())),
        };
        let (expected, nc) = match qop {
            Some(qop) => {
                if !c
                    .qop
                    .as_deref()
                    .unwrap_or("")
                    .split(',')
                    .any(|q| q.trim() == qop)
                {
                    return Err(wrong("qop not offered"));
                }
                if cnonce.len() < 16 {
                    return Err(wrong("short cnonce"));
                }
                let nc_text = get("nc").ok_or_else(|| wrong("no nc"))?;
                if nc_text.len() != 8 {
                    return Err(wrong("nc is not 8 hex digits"));
                }
                let nc = u32::from_str_radix(nc_text, 16).map_err(|_| wrong("nc"))?;
                (
                    h(&format!("{ha1}:{nonce}:{nc_text}:{cnonce}:{qop}:{ha2}")),
                    nc,
                )
            }
            None => {
                if c.qop.is_some() {
                    return Err(wrong("qop missing"));
                }
                (h(&format!("{ha1}:{nonce}:{ha2}")), last_nc + 1)
            }
        };
        if get("response") != Some(expected.as_str()) {
            return Err(wrong("response"));
        }
        if nc <= last_nc {
            return Err(wrong("nc not increasing"));
        }
        if c.nonce_uses.is_some_and(|max| uses >= max) {
            return Err(Refusal::Stale);
        }
        state.nonces.insert(nonce, (nc, uses + 1));
        Ok(())
    }
}

enum Refusal {
    Stale,
    Wrong(String),
}
