//! The sidecar state file of an interrupted download: the file's length, its validator and
//! how far each segment got. A few lines of text beside the target (`<file>.towline-state`),
//! replaced atomically (written aside, then renamed).
//!
//! ```text
//! towline-download 1
//! length 104857600
//! etag "5f1e-63a"
//! segment 0 26214400 26214400
//! segment 26214400 52428800 30408704
//! ```

use std::io;
use std::path::{Path, PathBuf};

/// The largest state file read; anything longer is not one of ours.
const MAX_STATE_BYTES: u64 = 64 * 1024;
/// The most segments a state file may list.
pub(super) const MAX_SEGMENTS: usize = 1024;

/// What identifies one version of the file on the server: a strong `ETag` or a
/// `Last-Modified` date, as sent back in `If-Range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Validator {
    ETag(String),
    LastModified(String),
}

impl Validator {
    pub(super) fn value(&self) -> &str {
        match self {
            Self::ETag(value) | Self::LastModified(value) => value,
        }
    }
}

/// One segment: bytes `start..end` of the file, written up to `next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Segment {
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) next: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct State {
    pub(super) length: u64,
    pub(super) validator: Validator,
    pub(super) segments: Vec<Segment>,
}

pub(super) fn sidecar(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(".towline-state");
    PathBuf::from(name)
}

impl State {
    pub(super) fn encode(&self) -> String {
        let mut text = format!("towline-download 1\nlength {}\n", self.length);
        match &self.validator {
            Validator::ETag(tag) => text.push_str(&format!("etag {tag}\n")),
            Validator::LastModified(date) => text.push_str(&format!("last-modified {date}\n")),
        }
        for segment in &self.segments {
            text.push_str(&format!(
                "segment {} {} {}\n",
                segment.start, segment.end, segment.next
            ));
        }
        text
    }

    /// Parses a state file; `None` when it is not a consistent one (segments that do not
    /// tile `0..length` in order, a position outside its segment).
    pub(super) fn decode(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()? != "towline-download 1" {
            return None;
        }
        let length = lines.next()?.strip_prefix("length ")?.parse().ok()?;
        let validator = match lines.next()?.split_once(' ')? {
            ("etag", tag) if !tag.is_empty() => Validator::ETag(tag.to_owned()),
            ("last-modified", date) if !date.is_empty() => Validator::LastModified(date.to_owned()),
            _ => return None,
        };
        let mut segments = Vec::new();
        let mut covered = 0u64;
        for line in lines {
            if segments.len() == MAX_SEGMENTS {
                return None;
            }
            let mut numbers = line.strip_prefix("segment ")?.split(' ');
            let mut number = || numbers.next()?.parse::<u64>().ok();
            let segment = Segment {
                start: number()?,
                end: number()?,
                next: number()?,
            };
            let in_order = segment.start == covered
                && segment.start < segment.end
                && (segment.start..=segment.end).contains(&segment.next);
            if !in_order || numbers.next().is_some() {
                return None;
            }
            covered = segment.end;
            segments.push(segment);
        }
        (covered == length && !segments.is_empty()).then_some(Self {
            length,
            validator,
            segments,
        })
    }
}

/// Reads the state beside `target`: `Ok(None)` when there is none or it is not ours.
pub(super) fn load(target: &Path) -> io::Result<Option<State>> {
    use std::io::Read as _;
    let file = match std::fs::File::open(sidecar(target)) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut text = String::new();
    if file
        .take(MAX_STATE_BYTES + 1)
        .read_to_string(&mut text)
        .is_err()
        || text.len() as u64 > MAX_STATE_BYTES
    {
        return Ok(None);
    }
    Ok(State::decode(&text))
}

/// Replaces the state beside `target` with `state`.
pub(super) fn save(target: &Path, state: &State) -> io::Result<()> {
    let path = sidecar(target);
    let mut aside = path.clone().into_os_string();
    aside.push(".new");
    std::fs::write(&aside, state.encode())?;
    std::fs::rename(&aside, &path)
}

/// Removes the state beside `target`, if there is one.
pub(super) fn remove(target: &Path) -> io::Result<()> {
    match std::fs::remove_file(sidecar(target)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_round_trips_and_inconsistent_ones_are_refused() {
        let state = State {
            length: 10,
            validator: Validator::ETag("\"v1\"".into()),
            segments: vec![
                Segment {
                    start: 0,
                    end: 4,
                    next: 4,
                },
                Segment {
                    start: 4,
                    end: 10,
                    next: 7,
                },
            ],
        };
        assert_eq!(State::decode(&state.encode()), Some(state.clone()));
        let text = state.encode();
        for broken in [
            text.replace("length 10", "length 11"),
            text.replace("segment 4 10 7", "segment 5 10 7"),
            text.replace("segment 4 10 7", "segment 4 10 11"),
            text.replace("segment 4 10 7", "segment 4 10 7 1"),
            text.replace("etag \"v1\"", "etag"),
            text.replace("towline-download 1", "towline-download 2"),
        ] {
            assert_eq!(State::decode(&broken), None, "{broken}");
        }
    }
}
