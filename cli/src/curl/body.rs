//! Request bodies: `-d` and its siblings, `--json`, and `-F` multipart forms.

use std::io::Read;
use std::path::Path;

use towline::multipart::{Form, Part};

use super::args::DataKind;
use super::exit::{Failure, READ_ERROR};

/// Reads `@file` arguments; `-` is stdin, read once and shared by every `@-`.
#[derive(Debug, Default)]
pub(crate) struct Files {
    stdin: Option<Vec<u8>>,
}

impl Files {
    pub(crate) fn read(&mut self, name: &str) -> std::io::Result<Vec<u8>> {
        if name == "-" {
            if self.stdin.is_none() {
                let mut input = Vec::new();
                std::io::stdin().lock().read_to_end(&mut input)?;
                self.stdin = Some(input);
            }
            return Ok(self.stdin.clone().unwrap_or_default());
        }
        std::fs::read(name)
    }
}

/// The data of `-d`, `--data-*` and `--json`, joined as curl joins it: `&` between pieces,
/// nothing between consecutive `--json` pieces. Warnings (unreadable `-d @file`, which curl
/// sends as empty data) go to `warn`.
pub(crate) fn data(
    pieces: &[(DataKind, String)],
    files: &mut Files,
    warn: &mut dyn FnMut(String),
) -> Vec<u8> {
    let mut body = Vec::new();
    let mut previous = None;
    for (kind, piece) in pieces {
        if previous.is_some() && !(previous == Some(DataKind::Json) && *kind == DataKind::Json) {
            body.push(b'&');
        }
        previous = Some(*kind);
        let mut read = |name: &str| match files.read(name) {
            Ok(bytes) => bytes,
            Err(error) => {
                warn(format!(
                    "Couldn't read data from file \"{name}\", this makes an empty POST. ({error})"
                ));
                Vec::new()
            }
        };
        match kind {
            DataKind::Raw => body.extend_from_slice(piece.as_bytes()),
            DataKind::Ascii => match piece.strip_prefix('@') {
                Some(name) => body.extend(
                    read(name)
                        .into_iter()
                        .filter(|b| *b != b'\r' && *b != b'\n'),
                ),
                None => body.extend_from_slice(piece.as_bytes()),
            },
            DataKind::Binary | DataKind::Json => match piece.strip_prefix('@') {
                Some(name) => body.extend(read(name)),
                None => body.extend_from_slice(piece.as_bytes()),
            },
            DataKind::UrlEncode => body.extend(url_encoded(piece, &mut read).into_bytes()),
        }
    }
    body
}

/// One `--data-urlencode` piece: `content`, `=content`, `name=content`, `@file` or
/// `name@file`, the content percent-encoded as a form value.
fn url_encoded(piece: &str, read: &mut dyn FnMut(&str) -> Vec<u8>) -> String {
    let at = piece.find('@');
    let equals = piece.find('=');
    let (name, content) = match (equals, at) {
        (Some(eq), Some(at)) if at < eq => (&piece[..at], read(&piece[at + 1..])),
        (Some(eq), _) => (&piece[..eq], piece.as_bytes()[eq + 1..].to_vec()),
        (None, Some(at)) => (&piece[..at], read(&piece[at + 1..])),
        (None, None) => ("", piece.as_bytes().to_vec()),
    };
    let encoded: String = towline::url::form_urlencoded::byte_serialize(&content).collect();
    if name.is_empty() {
        encoded
    } else {
        format!("{name}={encoded}")
    }
}

/// A multipart form from `-F` (`literal` false) and `--form-string` (true) fields, in
/// command-line order.
pub(crate) fn form(fields: &[(bool, String)], files: &mut Files) -> Result<Form, Failure> {
    let mut form = Form::new();
    for (literal, field) in fields {
        let Some((name, spec)) = field.split_once('=') else {
            return Err(Failure::new(
                super::exit::FAILED_INIT,
                format!("Illegally formatted input field: {field:?}"),
            ));
        };
        let name = name.to_owned();
        if *literal {
            form = form.text(name, spec.to_owned());
            continue;
        }
        let (content, params) = split_params(spec);
        let mut mime = None;
        let mut filename = None;
        for param in params {
            if let Some(value) = param.strip_prefix("type=") {
                mime = Some(value.to_owned());
            } else if let Some(value) = param.strip_prefix("filename=") {
                filename = Some(unquote(value));
            }
        }
        let read_failed = |path: &str, error: std::io::Error| {
            Failure::new(
                READ_ERROR,
                format!("Failed to open/read local data from file/application: {path}: {error}"),
            )
        };
        let mut part = if let Some(path) = content.strip_prefix('@') {
            let bytes = files.read(path).map_err(|error| read_failed(path, error))?;
            let base = Path::new(path)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.to_owned());
            if mime.is_none() {
                mime = Some(content_type_for(filename.as_deref().unwrap_or(&base)).to_owned());
            }
            Part::bytes(bytes).file_name(filename.take().unwrap_or(base))
        } else if let Some(path) = content.strip_prefix('<') {
            Part::bytes(files.read(path).map_err(|error| read_failed(path, error))?)
        } else {
            Part::text(content.to_owned())
        };
        if let Some(filename) = filename {
            part = part.file_name(filename);
        }
        if let Some(mime) = mime {
            part = part.mime_str(&mime).map_err(|error| {
                Failure::new(
                    super::exit::FAILED_INIT,
                    format!("bad type {mime:?}: {error}"),
                )
            })?;
        }
        form = form.part(name, part);
    }
    Ok(form)
}

/// The `Content-Type` curl gives an uploaded file: from its extension for a few common
/// types, `application/octet-stream` for the rest.
fn content_type_for(filename: &str) -> &'static str {
    let extension = filename
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "gif" => "image/gif",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "txt" => "text/plain",
        "htm" | "html" => "text/html",
        "pdf" => "application/pdf",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
}

/// A field's content and its `;name=value` parameters. A `;` inside double quotes belongs to
/// the content or value.
fn split_params(spec: &str) -> (&str, Vec<&str>) {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (at, c) in spec.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                pieces.push(&spec[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    pieces.push(&spec[start..]);
    let content = pieces.remove(0);
    (content, pieces)
}

fn unquote(value: &str) -> String {
    value
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(value)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(pieces: &[(DataKind, &str)]) -> String {
        let pieces: Vec<(DataKind, String)> = pieces
            .iter()
            .map(|(kind, piece)| (*kind, (*piece).to_owned()))
            .collect();
        let mut warnings = Vec::new();
        let body = data(&pieces, &mut Files::default(), &mut |w| warnings.push(w));
        String::from_utf8(body).unwrap()
    }

    #[test]
    fn pieces_join_with_ampersands_and_json_concatenates() {
        assert_eq!(
            joined(&[
                (DataKind::Ascii, "a=1"),
                (DataKind::Raw, "@b"),
                (DataKind::UrlEncode, "c=d e&f")
            ]),
            "a=1&@b&c=d+e%26f"
        );
        assert_eq!(
            joined(&[(DataKind::Json, "{\"a\":"), (DataKind::Json, "1}")]),
            "{\"a\":1}"
        );
    }

    #[test]
    fn url_encode_forms() {
        let mut never = |_: &str| -> Vec<u8> { unreachable!() };
        assert_eq!(url_encoded("a b", &mut never), "a+b");
        assert_eq!(url_encoded("=a=b", &mut never), "a%3Db");
        assert_eq!(url_encoded("n=x/y", &mut never), "n=x%2Fy");
        let mut file = |name: &str| -> Vec<u8> { format!("<{name}>").into_bytes() };
        assert_eq!(url_encoded("n@f", &mut file), "n=%3Cf%3E");
        assert_eq!(url_encoded("@f", &mut file), "%3Cf%3E");
    }

    #[test]
    fn unreadable_data_file_is_an_empty_piece_with_a_warning() {
        let mut warnings = Vec::new();
        let pieces = [(DataKind::Ascii, "@/nonexistent/towline".to_owned())];
        let body = data(&pieces, &mut Files::default(), &mut |w| warnings.push(w));
        assert!(body.is_empty());
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn file_types_by_extension_as_curl() {
        assert_eq!(content_type_for("notes.TXT"), "text/plain");
        assert_eq!(content_type_for("photo.jpeg"), "image/jpeg");
        assert_eq!(
            content_type_for("archive.tar.gz"),
            "application/octet-stream"
        );
        assert_eq!(content_type_for("noextension"), "application/octet-stream");
    }

    #[test]
    fn params_split_outside_quotes() {
        assert_eq!(
            split_params("@f;type=text/plain;filename=\"a;b\""),
            ("@f", vec!["type=text/plain", "filename=\"a;b\""])
        );
        assert_eq!(split_params("plain"), ("plain", vec![]));
    }
}
