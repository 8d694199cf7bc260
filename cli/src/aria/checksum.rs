//! `--checksum=TYPE=DIGEST`: the digest a finished download must have.

use std::fmt::Write as _;
use std::io::{self, Read};
use std::path::Path;

use sha2::Digest as _;

/// A digest to check a file against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checksum {
    kind: Kind,
    /// Lower-case hex.
    expected: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sha256,
    Sha1,
    Md5,
}

impl Checksum {
    /// Parses `sha-256=HEX`, `sha-1=HEX` or `md5=HEX`.
    pub(crate) fn parse(value: &str) -> Result<Self, String> {
        let (kind, digest) = value
            .split_once('=')
            .ok_or_else(|| format!("--checksum {value:?}: expected TYPE=DIGEST"))?;
        let (kind, length) = match kind.to_ascii_lowercase().as_str() {
            "sha-256" => (Kind::Sha256, 64),
            "sha-1" => (Kind::Sha1, 40),
            "md5" => (Kind::Md5, 32),
            other => {
                return Err(format!(
                    "--checksum: {other:?} is not sha-256, sha-1 or md5"
                ));
            }
        };
        let expected = digest.to_ascii_lowercase();
        if expected.len() != length || !expected.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("--checksum: {digest:?} is not {length} hex digits"));
        }
        Ok(Self { kind, expected })
    }

    /// The file's digest in lower-case hex, and whether it is the expected one.
    pub(crate) fn verify(&self, path: &Path) -> io::Result<(String, bool)> {
        let mut file = std::fs::File::open(path)?;
        let mut buffer = vec![0; 64 * 1024];
        let mut sha256 = sha2::Sha256::new();
        let mut sha1 = sha1::Sha1::new();
        let mut md5 = md5::Md5::new();
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            let chunk = &buffer[..read];
            match self.kind {
                Kind::Sha256 => sha256.update(chunk),
                Kind::Sha1 => sha1.update(chunk),
                Kind::Md5 => md5.update(chunk),
            }
        }
        let digest = match self.kind {
            Kind::Sha256 => hex(&sha256.finalize()),
            Kind::Sha1 => hex(&sha1.finalize()),
            Kind::Md5 => hex(&md5.finalize()),
        };
        let matches = digest == self.expected;
        Ok((digest, matches))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_verifies_each_kind() {
        let dir =
            std::env::temp_dir().join(format!("towline-aria-checksum-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("abc");
        std::fs::write(&path, b"abc").unwrap();
        for (spec, right) in [
            (
                "sha-256=BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
                true,
            ),
            ("sha-1=a9993e364706816aba3e25717850c26c9cd0d89d", true),
            ("md5=900150983cd24fb0d6963f7d28e17f72", true),
            ("md5=000150983cd24fb0d6963f7d28e17f72", false),
        ] {
            let checksum = Checksum::parse(spec).unwrap();
            assert_eq!(checksum.verify(&path).unwrap().1, right, "{spec}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(Checksum::parse("crc32=00").is_err());
        assert!(Checksum::parse("md5=xyz").is_err());
        assert!(Checksum::parse("sha-1").is_err());
    }
}
