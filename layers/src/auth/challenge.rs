//! The one parser of `WWW-Authenticate` and `Proxy-Authenticate` (RFC 9110 §11.6.1).
//!
//! ```text
//! WWW-Authenticate = #challenge
//! challenge        = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//! auth-param       = token BWS "=" BWS ( token / quoted-string )
//! token68          = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//! ```
//!
//! The list syntax makes a comma ambiguous (it separates both parameters and challenges): a
//! token followed by `=` after a comma is a parameter of the current challenge, any other
//! token starts a new challenge. The parser is a plain function over bytes, bounded in the
//! header's length, the number of challenges and the number of parameters, and never panics:
//! malformed input is a [`ChallengeError`].

use std::{error::Error, fmt};

/// The longest header value parsed, in bytes: 16 KiB.
pub const MAX_HEADER_LEN: usize = 16 * 1024;
/// The most challenges one header value may hold.
pub const MAX_CHALLENGES: usize = 16;
/// The most parameters one challenge may hold.
pub const MAX_PARAMS: usize = 32;

/// One challenge of a `WWW-Authenticate` or `Proxy-Authenticate` header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Challenge {
    scheme: String,
    token68: Option<String>,
    params: Vec<(String, String)>,
}

impl Challenge {
    /// The authentication scheme as sent (compare it case-insensitively, or use
    /// [`is_scheme`](Self::is_scheme)).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Whether the scheme is `scheme`, ignoring ASCII case.
    pub fn is_scheme(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The token68 the challenge carries instead of parameters, if any.
    pub fn token68(&self) -> Option<&str> {
        self.token68.as_deref()
    }

    /// The value of the parameter `name` (matched ignoring ASCII case), with a quoted
    /// string's quotes and escapes removed. The first occurrence wins.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every parameter in the order received: names lower-cased, values unquoted.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Why a challenge header could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeError {
    /// The header value is longer than [`MAX_HEADER_LEN`].
    TooLong,
    /// More than [`MAX_CHALLENGES`] challenges, or more than [`MAX_PARAMS`] parameters in one.
    TooMany,
    /// A byte that the syntax does not allow at this offset.
    Unexpected(usize),
    /// A quoted string that is not closed.
    Unterminated,
}

impl fmt::Display for ChallengeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(f, "challenge header longer than {MAX_HEADER_LEN} bytes"),
            Self::TooMany => f.write_str("too many challenges or challenge parameters"),
            Self::Unexpected(at) => write!(f, "malformed challenge header at byte {at}"),
            Self::Unterminated => f.write_str("unterminated quoted string in challenge header"),
        }
    }
}

impl Error for ChallengeError {}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn skip_ows_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    /// The token at the cursor (possibly empty), consumed.
    fn token(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        // tchars are ASCII, so the slice is UTF-8.
        std::str::from_utf8(self.input.get(start..self.pos).unwrap_or_default()).unwrap_or_default()
    }

    fn at_end_of_element(&self) -> bool {
        matches!(self.peek(), None | Some(b','))
    }

    /// Whether a parameter (`token BWS "="` not followed by the end of the element) starts
    /// at the cursor; the cursor does not move.
    fn param_ahead(&self) -> bool {
        let mut probe = Cursor {
            input: self.input,
            pos: self.pos,
        };
        if probe.token().is_empty() {
            return false;
        }
        probe.skip_ows();
        if probe.peek() != Some(b'=') {
            return false;
        }
        probe.pos += 1;
        probe.skip_ows();
        // `abc=` and `abc==` followed by the element's end are a token68.
        !probe.at_end_of_element() && probe.peek() != Some(b'=')
    }

    /// A token68 at the cursor followed by the element's end, consumed.
    fn token68(&mut self) -> Option<String> {
        let start = self.pos;
        let mut end = start;
        while self.input.get(end).copied().is_some_and(is_token68_char) {
            end += 1;
        }
        if end == start {
            return None;
        }
        while self.input.get(end) == Some(&b'=') {
            end += 1;
        }
        let mut after = Cursor {
            input: self.input,
            pos: end,
        };
        after.skip_ows();
        if !after.at_end_of_element() {
            return None;
        }
        let value = String::from_utf8_lossy(self.input.get(start..end)?).into_owned();
        self.pos = after.pos;
        Some(value)
    }

    /// A parameter value: a token or a quoted string, unescaped.
    fn value(&mut self) -> Result<String, ChallengeError> {
        if self.peek() != Some(b'"') {
            let token = self.token();
            if token.is_empty() {
                return Err(ChallengeError::Unexpected(self.pos));
            }
            return Ok(token.to_owned());
        }
        self.pos += 1;
        let mut bytes = Vec::new();
        loop {
            match self.peek() {
                None => return Err(ChallengeError::Unterminated),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let escaped = self.peek().ok_or(ChallengeError::Unterminated)?;
                    bytes.push(escaped);
                    self.pos += 1;
                }
                Some(b) => {
                    bytes.push(b);
                    self.pos += 1;
                }
            }
        }
        // obs-text is allowed in quoted strings; keep it readable rather than failing.
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned()))
    }
}

/// Parses every challenge of one `WWW-Authenticate` or `Proxy-Authenticate` header value.
///
/// Parameter names are lower-cased; values keep their case, with quotes and escapes
/// removed. Empty list elements are skipped, as RFC 9110 §5.6.1 asks of recipients.
///
/// ```
/// use towline_layers::auth::parse_challenges;
///
/// let challenges = parse_challenges(
///     br#"Basic realm="x", Digest realm="a \"b\"", nonce=abc, QOP="auth,auth-int""#,
/// )?;
/// assert_eq!(challenges.len(), 2);
/// assert!(challenges[1].is_scheme("digest"));
/// assert_eq!(challenges[1].param("realm"), Some(r#"a "b""#));
/// assert_eq!(challenges[1].param("qop"), Some("auth,auth-int"));
/// # Ok::<(), towline_layers::auth::ChallengeError>(())
/// ```
pub fn parse_challenges(input: &[u8]) -> Result<Vec<Challenge>, ChallengeError> {
    if input.len() > MAX_HEADER_LEN {
        return Err(ChallengeError::TooLong);
    }
    let mut cursor = Cursor { input, pos: 0 };
    let mut challenges: Vec<Challenge> = Vec::new();
    loop {
        cursor.skip_ows_and_commas();
        if cursor.peek().is_none() {
            return Ok(challenges);
        }
        if challenges.len() >= MAX_CHALLENGES {
            return Err(ChallengeError::TooMany);
        }
        let scheme = cursor.token().to_owned();
        if scheme.is_empty() {
            return Err(ChallengeError::Unexpected(cursor.pos));
        }
        let mut challenge = Challenge {
            scheme,
            ..Challenge::default()
        };
        if cursor.at_end_of_element() {
            challenges.push(challenge);
            continue;
        }
        if !matches!(cursor.peek(), Some(b' ' | b'\t')) {
            return Err(ChallengeError::Unexpected(cursor.pos));
        }
        cursor.skip_ows();
        if cursor.at_end_of_element() {
            challenges.push(challenge);
            continue;
        }
        if !cursor.param_ahead() {
            challenge.token68 = Some(
                cursor
                    .token68()
                    .ok_or(ChallengeError::Unexpected(cursor.pos))?,
            );
            challenges.push(challenge);
            continue;
        }
        // Parameters, until a list element that is not one.
        loop {
            if challenge.params.len() >= MAX_PARAMS {
                return Err(ChallengeError::TooMany);
            }
            let name = cursor.token().to_ascii_lowercase();
            cursor.skip_ows();
            // param_ahead checked the `=`.
            cursor.pos += 1;
            cursor.skip_ows();
            let value = cursor.value()?;
            challenge.params.push((name, value));
            cursor.skip_ows();
            if !cursor.at_end_of_element() {
                return Err(ChallengeError::Unexpected(cursor.pos));
            }
            cursor.skip_ows_and_commas();
            if !cursor.param_ahead() {
                break;
            }
        }
        challenges.push(challenge);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<Challenge> {
        parse_challenges(s.as_bytes()).unwrap()
    }

    #[test]
    fn several_challenges_in_one_header() {
        let c = parse(
            r#"Basic realm="simple", Newauth realm="apps", type=1, title="Login to \"apps\"", Digest nonce=abc"#,
        );
        assert_eq!(c.len(), 3);
        assert!(c[0].is_scheme("basic"));
        assert_eq!(c[0].param("realm"), Some("simple"));
        assert_eq!(c[1].scheme(), "Newauth");
        assert_eq!(c[1].param("type"), Some("1"));
        assert_eq!(c[1].param("title"), Some(r#"Login to "apps""#));
        assert_eq!(c[2].param("NONCE"), Some("abc"));
    }

    #[test]
    fn token68_and_bare_schemes() {
        let c = parse("Negotiate, Bearer abc-._~+/==, Basic realm=x");
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].scheme(), "Negotiate");
        assert_eq!(c[0].token68(), None);
        assert_eq!(c[1].token68(), Some("abc-._~+/=="));
        assert_eq!(c[2].param("realm"), Some("x"));
        assert_eq!(parse("Foo abc=")[0].token68(), Some("abc="));
    }

    #[test]
    fn params_in_any_order_and_case_with_whitespace_around_equals() {
        let c = parse("DIGEST Nonce = \"n\" ,, REALM=r ,\tqop=\"auth\"");
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].params().collect::<Vec<_>>(),
            [("nonce", "n"), ("realm", "r"), ("qop", "auth")]
        );
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert_eq!(
            parse_challenges(b"Digest realm=\"open"),
            Err(ChallengeError::Unterminated)
        );
        assert_eq!(
            parse_challenges(b"Digest realm=\"a\\"),
            Err(ChallengeError::Unterminated)
        );
        assert!(matches!(
            parse_challenges(b"Digest realm=a b"),
            Err(ChallengeError::Unexpected(_))
        ));
        assert!(matches!(
            parse_challenges(b"=x"),
            Err(ChallengeError::Unexpected(0))
        ));
        assert!(matches!(
            parse_challenges(b"Digest realm=\"a\" x"),
            Err(ChallengeError::Unexpected(_))
        ));
        assert!(matches!(
            parse_challenges(b"Basic@x"),
            Err(ChallengeError::Unexpected(5))
        ));
    }

    /// The challenges written back in canonical form: values quoted and escaped.
    fn canonical(challenges: &[Challenge]) -> String {
        let mut out = String::new();
        for challenge in challenges {
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(challenge.scheme());
            if let Some(token68) = challenge.token68() {
                out.push(' ');
                out.push_str(token68);
            }
            for (i, (name, value)) in challenge.params().enumerate() {
                out.push_str(if i == 0 { " " } else { ", " });
                out.push_str(name);
                out.push_str("=\"");
                for c in value.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
        out
    }

    #[test]
    fn generated_inputs_never_panic_and_round_trip() {
        // A deterministic xorshift over the bytes the grammar cares about.
        let alphabet = b"aZ9=,\" \t\\/+-._~!Bd\xc3\xa9";
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut parsed = 0;
        for _ in 0..20_000 {
            let mut input = Vec::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 24) as usize;
            for _ in 0..len {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                input.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            let Ok(challenges) = parse_challenges(&input) else {
                continue;
            };
            parsed += 1;
            let text = canonical(&challenges);
            assert_eq!(
                parse_challenges(text.as_bytes()).as_ref(),
                Ok(&challenges),
                "{:?} -> {text}",
                String::from_utf8_lossy(&input)
            );
        }
        assert!(parsed > 1000, "{parsed}");
    }

    #[test]
    fn bounds() {
        assert_eq!(
            parse_challenges(&vec![b'a'; MAX_HEADER_LEN + 1]),
            Err(ChallengeError::TooLong)
        );
        let many = vec!["A"; MAX_CHALLENGES + 1].join(", ");
        assert_eq!(
            parse_challenges(many.as_bytes()),
            Err(ChallengeError::TooMany)
        );
        let params = (0..=MAX_PARAMS)
            .map(|i| format!("p{i}=v"))
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(
            parse_challenges(format!("Digest {params}").as_bytes()),
            Err(ChallengeError::TooMany)
        );
        assert_eq!(parse_challenges(b" , ,"), Ok(Vec::new()));
    }
}
