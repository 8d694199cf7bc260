//! [`Netrc`]: the netrc file format, as curl and inetutils read it.

use std::{
    error::Error,
    fmt, io,
    path::{Path, PathBuf},
    sync::Arc,
};

use base64::Engine as _;
use http::HeaderValue;

use crate::auth::Credentials;

/// The largest netrc file read: 1 MiB.
pub const MAX_NETRC_LEN: u64 = 1024 * 1024;

/// The credentials of one `machine` (or the `default`) entry.
#[derive(Clone, Debug)]
pub struct NetrcEntry {
    credentials: Arc<Credentials>,
    account: Option<String>,
    /// `Basic base64(login:password)`, built once.
    basic: HeaderValue,
}

impl NetrcEntry {
    fn new(login: String, password: Option<String>, account: Option<String>) -> Self {
        let password = password.unwrap_or_default();
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{login}:{password}"));
        let mut basic = HeaderValue::from_str(&format!("Basic {encoded}"))
            .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
        basic.set_sensitive(true);
        Self {
            credentials: Arc::new(Credentials::new(login, password)),
            account,
            basic,
        }
    }

    /// The login and password (an entry without `password` has an empty one).
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The `account` token, if any (not used for HTTP).
    pub fn account(&self) -> Option<&str> {
        self.account.as_deref()
    }

    pub(super) fn shared_credentials(&self) -> &Arc<Credentials> {
        &self.credentials
    }

    pub(super) fn basic(&self) -> &HeaderValue {
        &self.basic
    }
}

/// A parsed netrc file: `machine` entries and an optional `default` entry.
///
/// ```
/// use towline_layers::auth::netrc::Netrc;
///
/// let netrc = Netrc::parse(
///     "# comment\nmachine api.example.com login alice password \"p a\\\"ss\"\n\
///      default login anonymous password guest\n",
/// )?;
/// let alice = netrc.machine("API.example.com").unwrap();
/// assert_eq!(alice.credentials().password(), "p a\"ss");
/// assert_eq!(netrc.default_entry().unwrap().credentials().username(), "anonymous");
/// # Ok::<(), towline_layers::auth::netrc::NetrcError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Netrc {
    machines: Vec<(String, NetrcEntry)>,
    default: Option<NetrcEntry>,
}

/// Why a netrc file could not be read.
#[derive(Debug)]
#[non_exhaustive]
pub enum NetrcError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The file is larger than [`MAX_NETRC_LEN`].
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The file does not follow the netrc syntax.
    Syntax {
        /// The 1-based line of the offending token.
        line: usize,
        /// What is wrong there.
        message: String,
    },
}

impl fmt::Display for NetrcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => {
                write!(f, "cannot read netrc file {}: {source}", path.display())
            }
            Self::TooLarge { path } => write!(
                f,
                "netrc file {} is larger than {MAX_NETRC_LEN} bytes",
                path.display()
            ),
            Self::Syntax { line, message } => write!(f, "netrc line {line}: {message}"),
        }
    }
}

impl Error for NetrcError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Splits a netrc file into tokens, tracking lines.
struct Tokens<'a> {
    input: &'a str,
    pos: usize,
    line: usize,
}

impl Tokens<'_> {
    fn error(&self, message: impl Into<String>) -> NetrcError {
        NetrcError::Syntax {
            line: self.line,
            message: message.into(),
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.input.get(self.pos..)?.chars().next()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn peek(&self) -> Option<char> {
        self.input.get(self.pos..)?.chars().next()
    }

    /// The next token, with its line; `None` at the end.
    fn next_token(&mut self) -> Result<Option<(String, usize)>, NetrcError> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                // A comment runs to the end of its line.
                Some('#') => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                Some(_) => break,
                None => return Ok(None),
            }
        }
        let line = self.line;
        let mut token = String::new();
        if self.peek() == Some('"') {
            self.bump();
            loop {
                match self.bump() {
                    None => return Err(self.error("unterminated quoted token")),
                    Some('"') => break,
                    Some('\\') => match self.bump() {
                        Some('n') => token.push('\n'),
                        Some('r') => token.push('\r'),
                        Some('t') => token.push('\t'),
                        Some(c) => token.push(c),
                        None => return Err(self.error("unterminated quoted token")),
                    },
                    Some(c) => token.push(c),
                }
            }
        } else {
            while let Some(c) = self.peek().filter(|c| !c.is_whitespace()) {
                self.bump();
                token.push(c);
            }
        }
        Ok(Some((token, line)))
    }

    /// Skips a `macdef` body: the rest of the current line, then every line up to an empty
    /// one (or the end of the file).
    fn skip_macro(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
        loop {
            let rest = self.input.get(self.pos..).unwrap_or_default();
            let line_end = rest.find('\n');
            let line = &rest[..line_end.unwrap_or(rest.len())];
            let blank = line.trim_end_matches('\r').is_empty();
            match line_end {
                Some(end) => {
                    self.pos += end + 1;
                    self.line += 1;
                }
                None => self.pos += rest.len(),
            }
            if blank || line_end.is_none() {
                return;
            }
        }
    }
}

impl Netrc {
    /// Parses the text of a netrc file.
    ///
    /// Tokens are separated by any whitespace, newlines included, so an entry may span
    /// lines; `"…"` quotes a token, with `\"`, `\\`, `\n`, `\r` and `\t` escapes; `#` starts a
    /// comment up to the end of the line; a `macdef` body is skipped up to the next empty
    /// line. An unknown keyword, a keyword without its value, or `login`/`password`/`account`
    /// outside an entry is a [`NetrcError::Syntax`] naming the line.
    pub fn parse(input: &str) -> Result<Self, NetrcError> {
        #[derive(Default)]
        struct Pending {
            host: Option<String>,
            login: Option<String>,
            password: Option<String>,
            account: Option<String>,
        }
        let mut netrc = Self::default();
        let mut tokens = Tokens {
            input,
            pos: 0,
            line: 1,
        };
        let mut current: Option<Pending> = None;
        let finish = |pending: Option<Pending>, netrc: &mut Self| {
            let Some(pending) = pending else { return };
            let entry = NetrcEntry::new(
                pending.login.unwrap_or_default(),
                pending.password,
                pending.account,
            );
            match pending.host {
                Some(host) => netrc.machines.push((host, entry)),
                None => {
                    netrc.default.get_or_insert(entry);
                }
            }
        };
        while let Some((token, line)) = tokens.next_token()? {
            let value = |tokens: &mut Tokens<'_>, what: &str| {
                tokens
                    .next_token()?
                    .map(|(value, _)| value)
                    .ok_or_else(|| NetrcError::Syntax {
                        line,
                        message: format!("`{what}` without a value"),
                    })
            };
            match token.as_str() {
                "machine" => {
                    let host = value(&mut tokens, "machine")?;
                    finish(current.take(), &mut netrc);
                    current = Some(Pending {
                        host: Some(host),
                        ..Pending::default()
                    });
                }
                "default" => {
                    finish(current.take(), &mut netrc);
                    current = Some(Pending::default());
                }
                "login" | "password" | "account" => {
                    let v = value(&mut tokens, &token)?;
                    let Some(entry) = current.as_mut() else {
                        return Err(NetrcError::Syntax {
                            line,
                            message: format!("`{token}` outside a machine or default entry"),
                        });
                    };
                    let field = match token.as_str() {
                        "login" => &mut entry.login,
                        "password" => &mut entry.password,
                        _ => &mut entry.account,
                    };
                    *field = Some(v);
                }
                "macdef" => {
                    value(&mut tokens, "macdef")?;
                    // A macro ends the entry before it.
                    finish(current.take(), &mut netrc);
                    tokens.skip_macro();
                }
                other => {
                    return Err(NetrcError::Syntax {
                        line,
                        message: format!("unexpected token `{other}`"),
                    });
                }
            }
        }
        finish(current.take(), &mut netrc);
        Ok(netrc)
    }

    /// Reads and parses the netrc file at `path`.
    ///
    /// On Unix, a file that others than its owner may read or write (looser than `0600`)
    /// is read all the same, with a warning through `tracing` (feature `tracing`), as curl
    /// does.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, NetrcError> {
        let path = path.as_ref();
        let io = |source| NetrcError::Io {
            path: path.to_owned(),
            source,
        };
        let metadata = std::fs::metadata(path).map_err(io)?;
        if metadata.len() > MAX_NETRC_LEN {
            return Err(NetrcError::TooLarge {
                path: path.to_owned(),
            });
        }
        warn_if_loose(path, &metadata);
        let text = std::fs::read_to_string(path).map_err(io)?;
        Self::parse(&text)
    }

    /// The netrc file's location: `$NETRC`, else `~/.netrc` (`%USERPROFILE%\_netrc` on
    /// Windows); `None` without a home directory.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(path) = std::env::var_os("NETRC").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(path));
        }
        if cfg!(windows) {
            std::env::var_os("USERPROFILE").map(|home| PathBuf::from(home).join("_netrc"))
        } else {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".netrc"))
        }
    }

    /// The `machine` entry for `host` (ASCII case ignored; a port is not part of it). The
    /// first matching entry wins.
    pub fn machine(&self, host: &str) -> Option<&NetrcEntry> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.machines
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(host))
            .map(|(_, entry)| entry)
    }

    /// The `default` entry.
    pub fn default_entry(&self) -> Option<&NetrcEntry> {
        self.default.as_ref()
    }

    /// Whether the file has no entry at all.
    pub fn is_empty(&self) -> bool {
        self.machines.is_empty() && self.default.is_none()
    }
}

#[cfg(unix)]
fn warn_if_loose(path: &Path, metadata: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = metadata.permissions().mode();
    if mode & 0o077 != 0 {
        #[cfg(feature = "tracing")]
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{:o}", mode & 0o777),
            "netrc file is readable or writable by others than its owner; use mode 0600"
        );
        #[cfg(not(feature = "tracing"))]
        let _ = path;
    }
}

#[cfg(not(unix))]
fn warn_if_loose(_path: &Path, _metadata: &std::fs::Metadata) {}
