//! Content codings: their names, the `Accept-Encoding` value the layer sends and the plan for
//! decoding a response's `Content-Encoding`. Plain functions over plain data.

use std::fmt;

use http::{HeaderMap, HeaderValue, header::CONTENT_ENCODING};

/// The most codings one response may stack; a response with more is passed through as is.
pub const MAX_CODINGS: usize = 4;

/// A content coding the layer can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// `gzip` (RFC 1952), also sent as `x-gzip`.
    Gzip,
    /// `deflate`: a zlib stream (RFC 1950), or a raw deflate stream (RFC 1951) from servers
    /// that leave the zlib wrapper out.
    Deflate,
    /// `br`: Brotli (RFC 7932).
    Br,
    /// `zstd`: Zstandard (RFC 8878, RFC 9659).
    Zstd,
}

impl Encoding {
    /// Every coding, in the order they are listed in `Accept-Encoding`.
    pub(super) const ALL: [Self; 4] = [Self::Gzip, Self::Deflate, Self::Br, Self::Zstd];

    /// The coding's name in `Content-Encoding` and `Accept-Encoding`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
            Self::Br => "br",
            Self::Zstd => "zstd",
        }
    }

    /// Parses one coding name, ignoring ASCII case; `x-gzip` is `gzip` (RFC 9110 §8.4.1.3).
    pub(super) fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|coding| name.eq_ignore_ascii_case(coding.as_str()))
            .or_else(|| name.eq_ignore_ascii_case("x-gzip").then_some(Self::Gzip))
    }

    /// Whether this build of the crate has the coding's decoder.
    pub(super) fn is_compiled(self) -> bool {
        match self {
            Self::Gzip => cfg!(feature = "decompression-gzip"),
            Self::Deflate => cfg!(feature = "decompression-deflate"),
            Self::Br => cfg!(feature = "decompression-br"),
            Self::Zstd => cfg!(feature = "decompression-zstd"),
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::Gzip => 1,
            Self::Deflate => 2,
            Self::Br => 4,
            Self::Zstd => 8,
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of codings: the ones a layer decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Codecs(u8);

impl Codecs {
    /// Every coding this build can decode.
    pub(super) fn compiled() -> Self {
        Self::ALL_BITS.filter_compiled()
    }

    /// No coding at all.
    pub(super) const NONE: Self = Self(0);

    const ALL_BITS: Self = Self(1 | 2 | 4 | 8);

    fn filter_compiled(self) -> Self {
        let mut set = Self::NONE;
        for coding in Encoding::ALL {
            if self.contains(coding) && coding.is_compiled() {
                set.0 |= coding.bit();
            }
        }
        set
    }

    /// Adds or removes `coding`; a coding this build cannot decode is never added.
    pub(super) fn set(self, coding: Encoding, enabled: bool) -> Self {
        if enabled && coding.is_compiled() {
            Self(self.0 | coding.bit())
        } else {
            Self(self.0 & !coding.bit())
        }
    }

    pub(super) fn contains(self, coding: Encoding) -> bool {
        self.0 & coding.bit() != 0
    }

    pub(super) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The `Accept-Encoding` value that offers these codings, or `None` for the empty set.
    pub(super) fn accept_encoding(self) -> Option<HeaderValue> {
        let names: Vec<&str> = Encoding::ALL
            .into_iter()
            .filter(|coding| self.contains(*coding))
            .map(Encoding::as_str)
            .collect();
        if names.is_empty() {
            return None;
        }
        HeaderValue::from_str(&names.join(", ")).ok()
    }
}

/// The codings to undo for a response with these headers, in the order they were applied
/// (the order `Content-Encoding` lists them), or `None` when the body must pass through as
/// it is.
///
/// Every `Content-Encoding` field line counts, in order; names are matched without regard
/// to ASCII case, `x-gzip` is `gzip`, and `identity` and empty list elements are skipped. The
/// body passes through (`None`) when nothing is left to undo, when a coding is unknown, not
/// enabled in `codecs` or the header is not visible ASCII, or when more than
/// [`MAX_CODINGS`] are stacked: a body is decoded completely or not at all.
pub(super) fn decoding_plan(headers: &HeaderMap, codecs: Codecs) -> Option<Vec<Encoding>> {
    let mut plan = Vec::new();
    for value in headers.get_all(CONTENT_ENCODING) {
        let value = value.to_str().ok()?;
        for name in value.split(',') {
            let name = name.trim_matches([' ', '\t']);
            if name.is_empty() || name.eq_ignore_ascii_case("identity") {
                continue;
            }
            let coding = Encoding::from_name(name).filter(|coding| codecs.contains(*coding))?;
            if plan.len() == MAX_CODINGS {
                return None;
            }
            plan.push(coding);
        }
    }
    (!plan.is_empty()).then_some(plan)
}

#[cfg(all(
    test,
    feature = "decompression-gzip",
    feature = "decompression-deflate",
    feature = "decompression-br",
    feature = "decompression-zstd"
))]
mod tests {
    use super::*;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(CONTENT_ENCODING, HeaderValue::from_static(value));
        }
        headers
    }

    fn all() -> Codecs {
        Codecs::compiled()
    }

    #[test]
    fn names_ignore_case_and_accept_x_gzip() {
        for (name, coding) in [
            ("gzip", Encoding::Gzip),
            ("GZIP", Encoding::Gzip),
            ("x-gzip", Encoding::Gzip),
            ("X-GZip", Encoding::Gzip),
            ("Deflate", Encoding::Deflate),
            ("BR", Encoding::Br),
            ("ZStd", Encoding::Zstd),
        ] {
            assert_eq!(Encoding::from_name(name), Some(coding), "{name}");
        }
        for name in ["compress", "x-compress", "gzip2", "", "identity", "g zip"] {
            assert_eq!(Encoding::from_name(name), None, "{name}");
        }
    }

    #[test]
    fn plan_lists_codings_in_applied_order() {
        assert_eq!(
            decoding_plan(&headers(&["gzip"]), all()),
            Some(vec![Encoding::Gzip])
        );
        assert_eq!(
            decoding_plan(&headers(&["gzip, br"]), all()),
            Some(vec![Encoding::Gzip, Encoding::Br])
        );
        // Several field lines are one list, in order.
        assert_eq!(
            decoding_plan(&headers(&["deflate", "ZSTD ,\tx-gzip"]), all()),
            Some(vec![Encoding::Deflate, Encoding::Zstd, Encoding::Gzip])
        );
        // identity and empty elements are skipped.
        assert_eq!(
            decoding_plan(&headers(&[" , identity, gzip,"]), all()),
            Some(vec![Encoding::Gzip])
        );
    }

    #[test]
    fn plan_passes_through_what_it_cannot_fully_decode() {
        for values in [
            &[][..],
            &["identity"],
            &[""],
            &["compress"],
            &["gzip, compress"],
            &["compress", "gzip"],
            &["gzip, gzip, gzip, gzip, gzip"],
        ] {
            assert_eq!(decoding_plan(&headers(values), all()), None, "{values:?}");
        }
        // Not visible ASCII.
        let mut odd = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_bytes(b"gzip\xff") {
            odd.insert(CONTENT_ENCODING, value);
        }
        assert_eq!(odd.len(), 1, "obs-text is a valid header value");
        assert_eq!(decoding_plan(&odd, all()), None);
        // Exactly the maximum is fine.
        assert_eq!(
            decoding_plan(&headers(&["gzip, gzip, gzip, gzip"]), all()).map(|plan| plan.len()),
            Some(MAX_CODINGS)
        );
    }

    #[test]
    fn plan_respects_enabled_codecs() {
        let gzip_only = Codecs::NONE.set(Encoding::Gzip, true);
        assert_eq!(
            decoding_plan(&headers(&["gzip"]), gzip_only),
            Some(vec![Encoding::Gzip])
        );
        assert_eq!(decoding_plan(&headers(&["gzip, br"]), gzip_only), None);
        assert_eq!(decoding_plan(&headers(&["gzip"]), Codecs::NONE), None);
    }

    #[test]
    fn accept_encoding_lists_enabled_codecs() {
        assert_eq!(
            all().accept_encoding(),
            Some(HeaderValue::from_static("gzip, deflate, br, zstd"))
        );
        assert_eq!(
            all().set(Encoding::Deflate, false).accept_encoding(),
            Some(HeaderValue::from_static("gzip, br, zstd"))
        );
        assert_eq!(Codecs::NONE.accept_encoding(), None);
        assert!(
            Codecs::NONE
                .set(Encoding::Br, true)
                .set(Encoding::Br, false)
                .is_empty()
        );
    }
}
