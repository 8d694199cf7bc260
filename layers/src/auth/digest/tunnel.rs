//! Digest answers to a proxy's `407` to `CONNECT`.
//!
//! A tunnel is asked for by the connector, below every layer: the digest layer never sees a
//! `CONNECT` or its `407`. [`tunnel_authorization`] is the same computation as the layer's,
//! offered as a plain function for the connector to call (the `towline` client hands it to
//! its proxy connector), so a tunnel through a Digest-only proxy works without the connector
//! knowing Digest.

use http::HeaderValue;

use super::{
    Qop,
    algorithm::{Answer, cnonce},
    future::best_challenge,
};
use crate::auth::Credentials;

/// The `Proxy-Authorization` value answering the strongest Digest challenge among
/// `challenges` (the `Proxy-Authenticate` values of a `407` to `CONNECT authority`), for
/// `credentials`; `None` when none is a Digest challenge this crate can answer.
///
/// Each tunnel is its own exchange: the answer counts `nc=00000001` with a fresh `cnonce`.
/// A `CONNECT` has no body, so `qop=auth` is preferred and `auth-int` hashes the empty body.
///
/// ```
/// use http::HeaderValue;
/// use towline_layers::auth::{Credentials, digest::tunnel_authorization};
///
/// let challenges = [
///     HeaderValue::from_static(r#"Basic realm="corp""#),
///     HeaderValue::from_static(r#"Digest realm="corp", nonce="abc", qop="auth""#),
/// ];
/// let answer = tunnel_authorization(&challenges, &Credentials::new("u", "p"), "example.com:443")
///     .unwrap();
/// let answer = answer.to_str().unwrap();
/// assert!(answer.starts_with("Digest username=\"u\""));
/// assert!(answer.contains("uri=\"example.com:443\"") && answer.contains("nc=00000001"));
/// assert!(tunnel_authorization(&challenges[..1], &Credentials::new("u", "p"), "a:1").is_none());
/// ```
pub fn tunnel_authorization(
    challenges: &[HeaderValue],
    credentials: &Credentials,
    authority: &str,
) -> Option<HeaderValue> {
    let challenge = best_challenge(challenges)?;
    let qop = challenge.choose_qop(false);
    let body_hash = match qop {
        Some(Qop::AuthInt) => Some(challenge.algorithm.hash(&[b""])),
        _ => None,
    };
    let cnonce = cnonce()?;
    let value = challenge.authorization(&Answer {
        credentials,
        method: "CONNECT",
        uri: authority,
        qop,
        body_hash: body_hash.as_deref(),
        nc: 1,
        cnonce: &cnonce,
    });
    let mut value = HeaderValue::from_bytes(value.as_bytes()).ok()?;
    value.set_sensitive(true);
    Some(value)
}
