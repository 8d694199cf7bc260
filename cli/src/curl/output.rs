//! Where the output goes: the body (stdout, `-o`, `-O`, `-J`), the response head (`-i`,
//! `-I`, `-D`), and messages on stderr (`-s`, `-S`, `-v`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use towline::{HeaderMap, Response, StatusCode, Version};

use super::args::Args;
use super::exit::{Failure, WRITE_ERROR};

/// Writes errors, warnings and `-v` connection lines on stderr, as `-s` and `-S` allow.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reporter {
    errors: bool,
    warnings: bool,
}

impl Reporter {
    pub(crate) fn new(args: &Args) -> Self {
        Self {
            errors: !args.silent || args.show_error,
            warnings: !args.silent,
        }
    }

    pub(crate) fn error(&self, failure: &Failure) {
        if self.errors {
            eprintln!("towline-curl: {failure}");
        }
    }

    pub(crate) fn warn(&self, message: &str) {
        if self.warnings {
            eprintln!("towline-curl: {message}");
        }
    }

    /// `-v`'s `*` lines about the connection that answered.
    pub(crate) fn connection(&self, response: &Response) {
        let url = response.url();
        let host = url.host_str().unwrap_or_default();
        match response.remote_addr() {
            Some(addr) => eprintln!("* Connected to {host} ({}) port {}", addr.ip(), addr.port()),
            None => eprintln!("* Connected to {host}"),
        }
        eprintln!("* Using {}", version_text(response.version()));
        if let Some(timings) = response.timings()
            && let Some(tls) = timings.tls
        {
            eprintln!("* TLS handshake in {} ms", tls.as_millis());
        }
    }
}

/// Where a body goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Stdout,
    File(String),
}

/// The body's destination, opened when the response arrives.
#[derive(Debug)]
pub(crate) struct Sink {
    file: Option<(String, BufWriter<File>)>,
}

impl Sink {
    pub(crate) fn stdout() -> Self {
        Self { file: None }
    }

    /// Opens `target`: a file is created (or truncated) now, as curl creates it even for an
    /// empty body.
    pub(crate) fn open(&mut self, target: Target) -> Result<(), Failure> {
        if let Target::File(path) = target {
            let file = File::create(&path).map_err(|error| {
                Failure::new(
                    WRITE_ERROR,
                    format!("Failed to open the file {path}: {error}"),
                )
            })?;
            self.file = Some((path, BufWriter::new(file)));
        }
        Ok(())
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        match &mut self.file {
            Some((path, file)) => file.write_all(bytes).map_err(|error| {
                Failure::new(
                    WRITE_ERROR,
                    format!("Failure writing output to {path}: {error}"),
                )
            }),
            None => write_stdout(bytes),
        }
    }

    pub(crate) fn finish(&mut self) -> Result<(), Failure> {
        if let Some((path, file)) = &mut self.file {
            file.flush().map_err(|error| {
                Failure::new(
                    WRITE_ERROR,
                    format!("Failure writing output to {path}: {error}"),
                )
            })?;
        }
        Ok(())
    }
}

/// Writes to stdout; a failure (a closed pipe, a full disk) is curl's write error.
pub(crate) fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|error| {
            Failure::new(
                WRITE_ERROR,
                format!("Failure writing output to destination: {error}"),
            )
        })
}

/// The response head as curl writes it for `-i` and `-D`: status line, headers, empty line,
/// each ending in CRLF.
pub(crate) fn head(response: &Response) -> Vec<u8> {
    let reason = response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|reason| String::from_utf8_lossy(reason.as_bytes()).into_owned());
    head_of(
        response.version(),
        response.status(),
        reason,
        response.headers(),
    )
}

/// A head from its parts; without a reason phrase, the status's usual one.
pub(crate) fn head_of(
    version: Version,
    status: StatusCode,
    reason: Option<String>,
    headers: &HeaderMap,
) -> Vec<u8> {
    let mut head = match version {
        // HTTP/2 and HTTP/3 have no reason phrase; curl leaves a space where it would be.
        Version::HTTP_2 | Version::HTTP_3 => {
            format!("{} {} \r\n", version_text(version), status.as_u16()).into_bytes()
        }
        _ => {
            let reason = reason
                .or_else(|| status.canonical_reason().map(str::to_owned))
                .unwrap_or_default();
            format!("{} {} {reason}\r\n", version_text(version), status.as_u16()).into_bytes()
        }
    };
    for (name, value) in headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

fn version_text(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// `-D FILE`: the head to a file, or to stdout for `-`.
pub(crate) fn dump_header(path: &str, head: &[u8]) -> Result<(), Failure> {
    if path == "-" {
        return write_stdout(head);
    }
    std::fs::write(path, head).map_err(|error| {
        Failure::new(
            WRITE_ERROR,
            format!("Failed to write the headers to {path}: {error}"),
        )
    })
}

/// Where the body of the `index`th URL goes: its `-o`, else a remote name under `-O` (from
/// `Content-Disposition` with `-J`), else stdout.
pub(crate) fn target(
    args: &Args,
    index: usize,
    url: &str,
    response: &Response,
) -> Result<Target, Failure> {
    if let Some(output) = args.output.get(index) {
        return Ok(if output == "-" {
            Target::Stdout
        } else {
            Target::File(output.clone())
        });
    }
    let remote = args.remote_name_all || index < usize::from(args.remote_name);
    if !remote {
        return Ok(Target::Stdout);
    }
    if args.remote_header_name
        && let Some(name) = disposition_filename(response)
    {
        if Path::new(&name).exists() {
            return Err(Failure::new(
                WRITE_ERROR,
                format!("Refusing to overwrite {name}: File exists"),
            ));
        }
        return Ok(Target::File(name));
    }
    let name = remote_name(url);
    if name.is_empty() {
        return Err(Failure::new(WRITE_ERROR, "Remote file name has no length!"));
    }
    Ok(Target::File(name))
}

/// Fails as curl does, before sending, when `-O` applies to the `index`th URL and it has no
/// name to give the file (`-J` may name it later, but curl checks the URL first).
pub(crate) fn check_remote_name(args: &Args, index: usize, url: &str) -> Result<(), Failure> {
    let remote = index >= args.output.len()
        && (args.remote_name_all || index < usize::from(args.remote_name));
    if remote && remote_name(url).is_empty() {
        return Err(Failure::new(WRITE_ERROR, "Remote file name has no length!"));
    }
    Ok(())
}

/// The last segment of the URL's path, as curl names `-O` files (not percent-decoded).
fn remote_name(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    let path = without_query
        .split_once("://")
        .map_or(without_query, |(_, rest)| rest);
    match path.split_once('/') {
        Some((_, path)) => path.rsplit('/').next().unwrap_or_default().to_owned(),
        None => String::new(),
    }
}

/// The file name of a `Content-Disposition` header, without any directory part.
fn disposition_filename(response: &Response) -> Option<String> {
    let value = response
        .headers()
        .get(towline::header::CONTENT_DISPOSITION)?
        .to_str()
        .ok()?;
    let at = value.to_ascii_lowercase().find("filename=")?;
    let raw = value[at + "filename=".len()..].trim_start();
    let name = match raw.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next().unwrap_or_default(),
        None => raw.split(';').next().unwrap_or_default().trim(),
    };
    // Only the base name: a server must not pick the directory.
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    (!base.is_empty() && base != "." && base != "..").then(|| base.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_names_are_the_last_path_segment() {
        assert_eq!(remote_name("http://h/a/b.txt?x=1"), "b.txt");
        assert_eq!(remote_name("http://h/a/"), "");
        assert_eq!(remote_name("http://h"), "");
        assert_eq!(remote_name("h/file"), "file");
    }
}
