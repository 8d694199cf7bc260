//! File names: from `Content-Disposition` (RFC 6266, `filename*` per RFC 8187) or the URI,
//! made safe to join to the download directory.
//!
//! A name from the network is reduced to one plain file name: the part after the last `/` or
//! `\`, without control characters, never empty, `.` or `..`, at most 255 bytes. So a
//! hostile server cannot write outside the directory the user chose.

use std::path::{Path, PathBuf};

use towline::url::Url;

/// The longest file name most file systems take, in bytes.
const MAX_NAME: usize = 255;

/// The file name a `Content-Disposition` value gives, `filename*` first, unsanitized.
pub(crate) fn from_disposition(value: &str) -> Option<String> {
    let params: Vec<(String, String)> = split_params(value)
        .into_iter()
        .skip(1)
        .filter_map(|param| {
            let (name, value) = param.split_once('=')?;
            Some((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        })
        .collect();
    let extended = params
        .iter()
        .find(|(name, _)| name == "filename*")
        .and_then(|(_, value)| decode_extended(value));
    extended.or_else(|| {
        params
            .iter()
            .find(|(name, _)| name == "filename")
            .map(|(_, value)| unquote(value))
    })
}

/// `;`-separated parts, a `;` inside double quotes not counting.
fn split_params(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        match c {
            _ if escaped => {
                current.push(c);
                escaped = false;
            }
            '\\' if quoted => {
                current.push(c);
                escaped = true;
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    parts
}

fn unquote(value: &str) -> String {
    match value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
    {
        Some(inner) => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => value.to_owned(),
    }
}

/// RFC 8187's `charset'language'percent-encoded`, for UTF-8 and ISO-8859-1.
fn decode_extended(value: &str) -> Option<String> {
    let mut parts = value.splitn(3, '\'');
    let charset = parts.next()?.to_ascii_lowercase();
    let _language = parts.next()?;
    let bytes = percent_decode(parts.next()?)?;
    match charset.as_str() {
        "utf-8" => String::from_utf8(bytes).ok(),
        "iso-8859-1" => Some(bytes.into_iter().map(char::from).collect()),
        _ => None,
    }
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The last segment of the URI's path, percent-decoded.
pub(crate) fn from_uri(url: &Url) -> Option<String> {
    let segment = url.path_segments()?.next_back()?;
    let bytes = percent_decode(segment)?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// `name` as one safe file name, or `None` when nothing usable is left.
pub(crate) fn sanitize(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect();
    let cleaned = cleaned.trim();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return None;
    }
    let mut end = cleaned.len().min(MAX_NAME);
    while !cleaned.is_char_boundary(end) {
        end -= 1;
    }
    Some(cleaned[..end].to_owned())
}

/// `dir/name`, or with `--auto-file-renaming` the first of `dir/stem.1.ext`,
/// `dir/stem.2.ext`, ... that does not exist yet.
pub(crate) fn free_path(dir: &Path, name: &str) -> Option<PathBuf> {
    let path = dir.join(name);
    if !path.exists() {
        return Some(path);
    }
    let (stem, extension) = match name.rsplit_once('.') {
        Some((stem, extension)) if !stem.is_empty() => (stem, Some(extension)),
        _ => (name, None),
    };
    (1..10_000)
        .map(|n| match extension {
            Some(extension) => dir.join(format!("{stem}.{n}.{extension}")),
            None => dir.join(format!("{name}.{n}")),
        })
        .find(|candidate| !candidate.exists() && !part_of(candidate).exists())
}

/// Where a download is written until it is complete and checked.
pub(crate) fn part_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_names_extended_first() {
        assert_eq!(
            from_disposition("attachment; filename=\"a b.txt\"").as_deref(),
            Some("a b.txt")
        );
        assert_eq!(
            from_disposition("attachment; filename=plain.bin").as_deref(),
            Some("plain.bin")
        );
        assert_eq!(
            from_disposition(
                "attachment; filename=\"fallback.txt\"; filename*=UTF-8''%E2%82%AC%20rates.txt"
            )
            .as_deref(),
            Some("€ rates.txt")
        );
        assert_eq!(
            from_disposition("attachment; filename*=iso-8859-1'en'%A3.txt").as_deref(),
            Some("£.txt")
        );
        assert_eq!(
            from_disposition("attachment; filename=\"semi;colon\\\".txt\"").as_deref(),
            Some("semi;colon\".txt")
        );
        assert_eq!(from_disposition("inline"), None);
    }

    #[test]
    fn hostile_names_are_reduced_to_a_plain_name() {
        assert_eq!(sanitize("../../etc/passwd").as_deref(), Some("passwd"));
        assert_eq!(sanitize("/absolute/path.txt").as_deref(), Some("path.txt"));
        assert_eq!(
            sanitize("..\\..\\windows\\evil.dll").as_deref(),
            Some("evil.dll")
        );
        assert_eq!(
            sanitize("bell\u{7}\nname.txt").as_deref(),
            Some("bellname.txt")
        );
        assert_eq!(sanitize(".."), None);
        assert_eq!(sanitize("dir/"), None);
        assert_eq!(sanitize("   "), None);
        let long = "é".repeat(200);
        let cut = sanitize(&long).unwrap();
        assert!(cut.len() <= MAX_NAME && cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn uri_names_are_decoded() {
        let url = Url::parse("http://h/dir/some%20file.iso?x=1").unwrap();
        assert_eq!(from_uri(&url).as_deref(), Some("some file.iso"));
        let root = Url::parse("http://h/").unwrap();
        assert_eq!(from_uri(&root).as_deref(), Some(""));
    }
}
