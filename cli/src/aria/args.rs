//! The command line: aria2's spelling of the options towline-aria knows.

use std::time::Duration;

use clap::{ArgAction, Parser};

/// towline-aria's options, named as aria2 names them.
#[derive(Parser, Debug, Default)]
#[command(
    name = "towline-aria",
    version,
    about = "Downloads files over several connections each, resumably, with the towline client",
    max_term_width = 100
)]
pub(crate) struct Args {
    /// URIs to download
    #[arg(value_name = "URI")]
    pub(crate) uris: Vec<String>,

    /// A file of URIs, one a line ('-' for stdin; '#' starts a comment)
    #[arg(short = 'i', long = "input-file", value_name = "FILE")]
    pub(crate) input_file: Option<String>,

    /// The directory the files are saved in
    #[arg(short = 'd', long = "dir", value_name = "DIR", default_value = ".")]
    pub(crate) dir: String,

    /// The file name to save the download as (one URI only)
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    pub(crate) out: Option<String>,

    /// Connections per download
    #[arg(short = 's', long = "split", value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub(crate) split: u16,

    /// Connections to one server per download
    #[arg(short = 'x', long = "max-connection-per-server", value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub(crate) max_connection_per_server: u16,

    /// Downloads run at once
    #[arg(short = 'j', long = "max-concurrent-downloads", value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) max_concurrent_downloads: u16,

    /// Smallest range worth a connection of its own (K, M suffixes)
    #[arg(short = 'k', long = "min-split-size", value_name = "SIZE", default_value = "20M", value_parser = size)]
    pub(crate) min_split_size: u64,

    /// Continue an interrupted download from its state file
    #[arg(short = 'c', long = "continue", action = ArgAction::SetTrue)]
    pub(crate) continue_download: bool,

    /// Tries of a range that fails without progress (0: no limit)
    #[arg(long = "max-tries", value_name = "N", default_value_t = 5)]
    pub(crate) max_tries: u32,

    /// Seconds between two tries of a request
    #[arg(long = "retry-wait", value_name = "SECONDS", default_value_t = 0)]
    pub(crate) retry_wait: u64,

    /// Seconds without data after which a connection is given up
    #[arg(
        short = 't',
        long = "timeout",
        value_name = "SECONDS",
        default_value_t = 60
    )]
    pub(crate) timeout: u64,

    /// Seconds to connect
    #[arg(long = "connect-timeout", value_name = "SECONDS", default_value_t = 60)]
    pub(crate) connect_timeout: u64,

    /// Download speed of all downloads together (K, M suffixes; 0: no limit)
    #[arg(long = "max-overall-download-limit", value_name = "SPEED", default_value = "0", value_parser = size)]
    pub(crate) max_overall_download_limit: u64,

    /// Download speed of each download (K, M suffixes; 0: no limit)
    #[arg(long = "max-download-limit", value_name = "SPEED", default_value = "0", value_parser = size)]
    pub(crate) max_download_limit: u64,

    /// A header to send ("Name: value")
    #[arg(long = "header", value_name = "HEADER")]
    pub(crate) header: Vec<String>,

    /// Referer header
    #[arg(long = "referer", value_name = "URI")]
    pub(crate) referer: Option<String>,

    /// User-Agent header
    #[arg(short = 'U', long = "user-agent", value_name = "NAME")]
    pub(crate) user_agent: Option<String>,

    /// HTTP user (Basic authentication)
    #[arg(long = "http-user", value_name = "USER")]
    pub(crate) http_user: Option<String>,

    /// HTTP password
    #[arg(long = "http-passwd", value_name = "PASSWORD")]
    pub(crate) http_passwd: Option<String>,

    /// Proxy for every download ([http://][user:password@]host[:port], socks5h://...)
    #[arg(long = "all-proxy", value_name = "PROXY")]
    pub(crate) all_proxy: Option<String>,

    /// PEM file of certificate authorities to trust besides the built-in roots
    #[arg(long = "ca-certificate", value_name = "FILE")]
    pub(crate) ca_certificate: Option<String>,

    /// Digest the file must have (sha-256=HEX, sha-1=HEX, md5=HEX)
    #[arg(long = "checksum", value_name = "TYPE=DIGEST")]
    pub(crate) checksum: Option<String>,

    /// Save under a new name (file.1.ext, ...) when the file exists
    #[arg(long = "auto-file-renaming", value_name = "BOOL", default_value_t = true, action = ArgAction::Set, default_missing_value = "true", num_args = 0..=1, require_equals = true)]
    pub(crate) auto_file_renaming: bool,

    /// Replace a file that exists
    #[arg(long = "allow-overwrite", value_name = "BOOL", default_value_t = false, action = ArgAction::Set, default_missing_value = "true", num_args = 0..=1, require_equals = true)]
    pub(crate) allow_overwrite: bool,

    /// Check that each URI is there, and download nothing
    #[arg(long = "dry-run", value_name = "BOOL", default_value_t = false, action = ArgAction::Set, default_missing_value = "true", num_args = 0..=1, require_equals = true)]
    pub(crate) dry_run: bool,

    /// How the file is given its length: none (it grows as ranges land), trunc (its full
    /// length at once, a sparse file), prealloc or falloc (its full length with the disk
    /// space reserved, by fallocate(2) where the file system has it)
    #[arg(long = "file-allocation", value_name = "METHOD", default_value = "prealloc", value_parser = ["none", "prealloc", "falloc", "trunc"])]
    pub(crate) file_allocation: String,

    /// No output
    #[arg(short = 'q', long = "quiet")]
    pub(crate) quiet: bool,
}

impl Args {
    /// Whether the file gets its full length at once (`--file-allocation` other than `none`).
    pub(crate) fn preallocate(&self) -> bool {
        self.file_allocation != "none"
    }

    /// Whether the file's disk space is reserved up front (`prealloc` or `falloc`).
    pub(crate) fn reserve_space(&self) -> bool {
        matches!(self.file_allocation.as_str(), "prealloc" | "falloc")
    }

    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout)
    }

    /// How many times a failed request or range is tried again: `--max-tries` less the first
    /// try, and no limit for 0.
    pub(crate) fn retries(&self) -> u32 {
        match self.max_tries {
            0 => u32::MAX,
            tries => tries - 1,
        }
    }
}

/// A size as aria2 takes it: bytes, with an optional K or M (powers of 1024).
fn size(value: &str) -> Result<u64, String> {
    let bad = || format!("{value:?} is not a size (a number, K or M after it)");
    let (number, multiplier) = match value.chars().last() {
        Some('k' | 'K') => (&value[..value.len() - 1], 1024),
        Some('m' | 'M') => (&value[..value.len() - 1], 1024 * 1024),
        _ => (value, 1),
    };
    let number: u64 = number.parse().map_err(|_| bad())?;
    number.checked_mul(multiplier).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size("20M"), Ok(20 * 1024 * 1024));
        assert_eq!(size("1k"), Ok(1024));
        assert_eq!(size("300"), Ok(300));
        assert!(size("fast").is_err());
        assert!(size("99999999999999999999M").is_err());
    }

    #[test]
    fn aria2_spellings() {
        let args = Args::try_parse_from([
            "towline-aria",
            "-s4",
            "-x",
            "4",
            "-k",
            "1M",
            "-c",
            "--allow-overwrite",
            "--auto-file-renaming=false",
            "--checksum=sha-256=00",
            "http://h/f",
        ])
        .unwrap();
        assert_eq!((args.split, args.max_connection_per_server), (4, 4));
        assert!(args.continue_download && args.allow_overwrite && !args.auto_file_renaming);
        assert_eq!(args.checksum.as_deref(), Some("sha-256=00"));
        assert_eq!(args.retries(), 4, "five tries by default");
        let unlimited = Args::try_parse_from(["towline-aria", "--max-tries", "0", "u"]).unwrap();
        assert_eq!(unlimited.retries(), u32::MAX);
    }
}
