//! The RFC 7616 computation: algorithms, a parsed Digest challenge, and the
//! `Authorization` value that answers it. Plain functions over plain data.

use std::fmt::Write as _;

use md5::Md5;
use sha2::{Sha256, Sha512_256};

use super::super::{Challenge, Credentials};

/// A Digest hash algorithm (RFC 7616 §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `MD5`, the default when a challenge names none.
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
    /// `SHA-512-256` (SHA-512/256).
    Sha512_256,
    /// `SHA-512-256-sess`.
    Sha512_256Sess,
}

impl Algorithm {
    /// The algorithm named `name` (ignoring ASCII case); `None` for an unsupported one.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::Md5,
            Self::Md5Sess,
            Self::Sha256,
            Self::Sha256Sess,
            Self::Sha512_256,
            Self::Sha512_256Sess,
        ]
        .into_iter()
        .find(|alg| alg.name().eq_ignore_ascii_case(name))
    }

    /// The algorithm's name as sent in `algorithm=`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
            Self::Sha512_256 => "SHA-512-256",
            Self::Sha512_256Sess => "SHA-512-256-sess",
        }
    }

    /// Whether this is a `-sess` variant.
    pub fn is_session(self) -> bool {
        matches!(
            self,
            Self::Md5Sess | Self::Sha256Sess | Self::Sha512_256Sess
        )
    }

    /// Higher is stronger: SHA-512-256 > SHA-256 > MD5.
    pub(crate) fn strength(self) -> u8 {
        match self {
            Self::Md5 | Self::Md5Sess => 0,
            Self::Sha256 | Self::Sha256Sess => 1,
            Self::Sha512_256 | Self::Sha512_256Sess => 2,
        }
    }

    /// The lower-case hex digest of the concatenation of `parts`.
    pub(crate) fn hash(self, parts: &[&[u8]]) -> String {
        fn hex<D: sha2::Digest>(parts: &[&[u8]]) -> String {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            let digest = hasher.finalize();
            let mut out = String::with_capacity(digest.len() * 2);
            for byte in digest {
                // Writing to a String cannot fail.
                let _ = write!(out, "{byte:02x}");
            }
            out
        }
        match self {
            Self::Md5 | Self::Md5Sess => hex::<Md5>(parts),
            Self::Sha256 | Self::Sha256Sess => hex::<Sha256>(parts),
            Self::Sha512_256 | Self::Sha512_256Sess => hex::<Sha512_256>(parts),
        }
    }
}

/// The quality of protection an answer uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qop {
    /// `qop=auth`: method and URI are protected.
    Auth,
    /// `qop=auth-int`: the request body too.
    AuthInt,
}

/// A Digest challenge this crate can answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestChallenge {
    pub(crate) realm: String,
    pub(crate) nonce: String,
    pub(crate) opaque: Option<String>,
    pub(crate) algorithm: Algorithm,
    /// Whether the algorithm was named in the challenge (RFC 2069 servers name none).
    pub(crate) algorithm_named: bool,
    pub(crate) qop_auth: bool,
    pub(crate) qop_auth_int: bool,
    pub(crate) stale: bool,
    pub(crate) userhash: bool,
    pub(crate) utf8: bool,
    pub(crate) domain: Vec<String>,
}

impl DigestChallenge {
    /// The Digest challenge in `challenge`; `None` when it is not Digest, lacks a realm or
    /// nonce, names an algorithm this crate does not support, or offers only unknown qops.
    pub fn from_challenge(challenge: &Challenge) -> Option<Self> {
        if !challenge.is_scheme("Digest") {
            return None;
        }
        let (algorithm, algorithm_named) = match challenge.param("algorithm") {
            Some(name) => (Algorithm::from_name(name)?, true),
            None => (Algorithm::Md5, false),
        };
        let (mut qop_auth, mut qop_auth_int) = (false, false);
        let qop = challenge.param("qop");
        for option in qop.into_iter().flat_map(|qop| qop.split(',')) {
            match option.trim() {
                o if o.eq_ignore_ascii_case("auth") => qop_auth = true,
                o if o.eq_ignore_ascii_case("auth-int") => qop_auth_int = true,
                _ => {}
            }
        }
        if qop.is_some() && !qop_auth && !qop_auth_int {
            return None;
        }
        let flag = |name| {
            challenge
                .param(name)
                .is_some_and(|v: &str| v.eq_ignore_ascii_case("true"))
        };
        Some(Self {
            realm: challenge.param("realm")?.to_owned(),
            nonce: challenge.param("nonce")?.to_owned(),
            opaque: challenge.param("opaque").map(str::to_owned),
            algorithm,
            algorithm_named,
            qop_auth,
            qop_auth_int,
            stale: flag("stale"),
            userhash: flag("userhash"),
            utf8: challenge
                .param("charset")
                .is_some_and(|v| v.eq_ignore_ascii_case("UTF-8")),
            domain: challenge
                .param("domain")
                .map(|d| d.split_ascii_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
        })
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Whether the server said the nonce of the previous answer was stale.
    pub fn stale(&self) -> bool {
        self.stale
    }

    /// The qop to answer with: `auth` unless only `auth-int` is offered, or both are and
    /// `body_buffered`; `None` for an RFC 2069 challenge (no qop).
    pub fn choose_qop(&self, body_buffered: bool) -> Option<Qop> {
        match (self.qop_auth, self.qop_auth_int) {
            (false, false) => None,
            (true, true) if body_buffered => Some(Qop::AuthInt),
            (true, _) => Some(Qop::Auth),
            (false, true) => Some(Qop::AuthInt),
        }
    }
}

/// The inputs of one answer that are not in the challenge.
pub(crate) struct Answer<'a> {
    pub(crate) credentials: &'a Credentials,
    pub(crate) method: &'a str,
    pub(crate) uri: &'a str,
    pub(crate) qop: Option<Qop>,
    /// `H(entity-body)`, for `auth-int`.
    pub(crate) body_hash: Option<&'a str>,
    pub(crate) nc: u32,
    pub(crate) cnonce: &'a str,
}

/// Appends `value` as a quoted string.
fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// `value` percent-encoded as an RFC 8187 `ext-value` (`attr-char` kept).
fn ext_value(value: &str) -> String {
    let mut out = String::from("UTF-8''");
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

impl DigestChallenge {
    /// The `response` hash of `answer`.
    pub(crate) fn response(&self, answer: &Answer<'_>) -> String {
        let alg = self.algorithm;
        let creds = answer.credentials;
        let mut ha1 = alg.hash(&[
            creds.username().as_bytes(),
            b":",
            self.realm.as_bytes(),
            b":",
            creds.password().as_bytes(),
        ]);
        if alg.is_session() {
            ha1 = alg.hash(&[
                ha1.as_bytes(),
                b":",
                self.nonce.as_bytes(),
                b":",
                answer.cnonce.as_bytes(),
            ]);
        }
        let ha2 = match (answer.qop, answer.body_hash) {
            (Some(Qop::AuthInt), Some(body)) => alg.hash(&[
                answer.method.as_bytes(),
                b":",
                answer.uri.as_bytes(),
                b":",
                body.as_bytes(),
            ]),
            _ => alg.hash(&[answer.method.as_bytes(), b":", answer.uri.as_bytes()]),
        };
        match answer.qop {
            Some(qop) => {
                let nc = format!("{:08x}", answer.nc);
                let qop = match qop {
                    Qop::Auth => "auth",
                    Qop::AuthInt => "auth-int",
                };
                alg.hash(&[
                    ha1.as_bytes(),
                    b":",
                    self.nonce.as_bytes(),
                    b":",
                    nc.as_bytes(),
                    b":",
                    answer.cnonce.as_bytes(),
                    b":",
                    qop.as_bytes(),
                    b":",
                    ha2.as_bytes(),
                ])
            }
            None => alg.hash(&[
                ha1.as_bytes(),
                b":",
                self.nonce.as_bytes(),
                b":",
                ha2.as_bytes(),
            ]),
        }
    }

    /// The `Authorization` (or `Proxy-Authorization`) value answering this challenge, its
    /// fields in curl's order: username, realm, nonce, uri, cnonce, nc, qop, response,
    /// opaque, algorithm, userhash.
    pub(crate) fn authorization(&self, answer: &Answer<'_>) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("Digest ");
        let username = answer.credentials.username();
        if self.userhash {
            out.push_str("username=");
            let hashed = self
                .algorithm
                .hash(&[username.as_bytes(), b":", self.realm.as_bytes()]);
            push_quoted(&mut out, &hashed);
        } else if self.utf8 && !username.is_ascii() {
            out.push_str("username*=");
            out.push_str(&ext_value(username));
        } else {
            out.push_str("username=");
            push_quoted(&mut out, username);
        }
        out.push_str(", realm=");
        push_quoted(&mut out, &self.realm);
        out.push_str(", nonce=");
        push_quoted(&mut out, &self.nonce);
        out.push_str(", uri=");
        push_quoted(&mut out, answer.uri);
        if answer.qop.is_some() || self.algorithm.is_session() {
            out.push_str(", cnonce=");
            push_quoted(&mut out, answer.cnonce);
        }
        if let Some(qop) = answer.qop {
            let _ = write!(out, ", nc={:08x}", answer.nc);
            out.push_str(match qop {
                Qop::Auth => ", qop=auth",
                Qop::AuthInt => ", qop=auth-int",
            });
        }
        out.push_str(", response=");
        push_quoted(&mut out, &self.response(answer));
        if let Some(opaque) = &self.opaque {
            out.push_str(", opaque=");
            push_quoted(&mut out, opaque);
        }
        if self.algorithm_named {
            out.push_str(", algorithm=");
            out.push_str(self.algorithm.name());
        }
        if self.userhash {
            out.push_str(", userhash=true");
        }
        out
    }
}

/// A fresh client nonce: 16 bytes from the operating system's CSPRNG, hex-encoded.
pub(crate) fn cnonce() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).ok()?;
    let mut out = String::with_capacity(32);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    Some(out)
}
