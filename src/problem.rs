//! Problem Details for HTTP APIs (RFC 9457): [`Response::problem`] reads an
//! `application/problem+json` body into a [`ProblemDetails`], keeping extension members.
//!
//! As RFC 9457 §3.1 asks, a standard member of the wrong type is ignored (a `status` of
//! `"404"`, say, or out of 100..=599), and `type` defaults to `about:blank`. The body read is bounded by
//! [`MAX_PROBLEM_LEN`] (and by the client's maximum body size).
//!
//! ```
//! use towline::problem::ProblemDetails;
//!
//! let body = br#"{"type": "https://example.com/probs/out-of-credit", "title": "You do not have enough credit.",
//!     "status": 403, "detail": "Your current balance is 30, but that costs 50.",
//!     "instance": "/account/12345/msgs/abc", "balance": 30}"#;
//! let problem = ProblemDetails::from_json(body)?;
//! assert_eq!(problem.status, Some(403));
//! assert_eq!(problem.problem_type, "https://example.com/probs/out-of-credit");
//! assert_eq!(problem.extensions["balance"], 30);
//! # Ok::<_, towline::Error>(())
//! ```

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::response::Response;

/// The longest problem document read.
pub const MAX_PROBLEM_LEN: usize = 64 * 1024;

/// The media type of a JSON problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem document (RFC 9457 §3).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ProblemDetails {
    /// `type`: a URI reference naming the problem type; `about:blank` when absent.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// `status`: the HTTP status the origin generated, when given as a number in 100..=599.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// `title`: a short summary of the problem type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// `detail`: an explanation of this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// `instance`: a URI reference naming this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Every other member, as sent.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
}

impl ProblemDetails {
    /// Reads a problem document from JSON bytes.
    ///
    /// # Errors
    ///
    /// A decode error when the bytes are longer than [`MAX_PROBLEM_LEN`], are not JSON, or
    /// are not a JSON object.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_PROBLEM_LEN {
            return Err(Error::decode(format!(
                "problem document longer than {MAX_PROBLEM_LEN} bytes"
            )));
        }
        let mut members = match serde_json::from_slice::<Value>(bytes).map_err(Error::decode)? {
            Value::Object(members) => members,
            _ => return Err(Error::decode("a problem document is not a JSON object")),
        };
        let mut string = |name: &str| match members.remove(name) {
            Some(Value::String(value)) => Some(value),
            _ => None,
        };
        let problem_type = string("type");
        let title = string("title");
        let detail = string("detail");
        let instance = string("instance");
        let status = match members.remove("status") {
            Some(Value::Number(n)) => n
                .as_u64()
                .filter(|s| (100..=599).contains(s))
                .and_then(|s| u16::try_from(s).ok()),
            _ => None,
        };
        Ok(Self {
            problem_type: problem_type.unwrap_or_else(|| "about:blank".to_owned()),
            status,
            title,
            detail,
            instance,
            extensions: members,
        })
    }
}

/// Problem Details.
impl Response {
    /// Reads the body as a problem document (RFC 9457), when it is `application/problem+json`.
    ///
    /// # Errors
    ///
    /// A decode error when the response is not `application/problem+json` or the document is
    /// malformed or longer than [`MAX_PROBLEM_LEN`]; a body error when reading it fails.
    pub async fn problem(mut self) -> Result<ProblemDetails> {
        let media_type = self
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim)
            .unwrap_or_default();
        if !media_type.eq_ignore_ascii_case(PROBLEM_JSON) {
            return Err(Error::decode(format!(
                "not a problem document: content-type {media_type:?}"
            ))
            .with_url(self.url().clone()));
        }
        let url = self.url().clone();
        let mut body = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            if body.len().saturating_add(chunk.len()) > MAX_PROBLEM_LEN {
                return Err(Error::decode(format!(
                    "problem document longer than {MAX_PROBLEM_LEN} bytes"
                ))
                .with_url(url));
            }
            body.extend_from_slice(&chunk);
        }
        ProblemDetails::from_json(&body).map_err(|e| e.with_url(url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_of_the_wrong_type_are_ignored() {
        let problem =
            ProblemDetails::from_json(br#"{"status": "404", "title": 7, "detail": "d", "x": [1]}"#)
                .unwrap();
        assert_eq!(problem.problem_type, "about:blank");
        assert_eq!(problem.status, None);
        assert_eq!(problem.title, None);
        assert_eq!(problem.detail.as_deref(), Some("d"));
        assert_eq!(problem.extensions.len(), 1);
        assert_eq!(problem.extensions["x"], serde_json::json!([1]));
        let out_of_range = ProblemDetails::from_json(br#"{"status": 99999}"#).unwrap();
        assert_eq!(out_of_range.status, None);
    }

    #[test]
    fn only_objects_within_the_bound_are_problems() {
        assert!(ProblemDetails::from_json(b"[1]").unwrap_err().is_decode());
        assert!(ProblemDetails::from_json(b"{").unwrap_err().is_decode());
        let long = format!("{{\"x\": \"{}\"}}", "a".repeat(MAX_PROBLEM_LEN));
        assert!(
            ProblemDetails::from_json(long.as_bytes())
                .unwrap_err()
                .is_decode()
        );
    }

    #[test]
    fn serializes_back_to_the_same_document() {
        let body = br#"{"type":"urn:p","status":400,"title":"t","detail":"d","instance":"/i","balance":30}"#;
        let problem = ProblemDetails::from_json(body).unwrap();
        let written = serde_json::to_vec(&problem).unwrap();
        assert_eq!(ProblemDetails::from_json(&written).unwrap(), problem);
    }
}
