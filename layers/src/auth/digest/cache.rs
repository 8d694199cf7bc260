//! The nonce cache: per protection space, the last challenge answered and the nonce counts
//! of its most recent nonces, for `nc` and preemptive reuse.

use http::Uri;

use super::algorithm::DigestChallenge;
use crate::auth::Origin;

/// The most protection spaces remembered per layer; the least recently used goes first.
pub const MAX_SPACES: usize = 64;
/// The most nonces counted per protection space; the least recently used goes first.
pub const MAX_NONCES: usize = 4;

/// Whose protection space: an origin server's, or the proxy's (`None`).
pub(crate) type Server = Option<Origin>;

struct Space {
    server: Server,
    challenge: DigestChallenge,
    /// Whether an answer to `challenge` succeeded, so it may be sent preemptively.
    confirmed: bool,
    /// `(nonce, last nc sent)`, most recently used last.
    nonces: Vec<(String, u32)>,
    used: u64,
}

#[derive(Default)]
pub(crate) struct NonceCache {
    spaces: Vec<Space>,
    clock: u64,
}

impl NonceCache {
    fn tick(&mut self) -> u64 {
        self.clock = self.clock.wrapping_add(1);
        self.clock
    }

    fn find(&mut self, server: &Server, realm: &str) -> Option<&mut Space> {
        self.spaces
            .iter_mut()
            .find(|s| &s.server == server && s.challenge.realm == realm)
    }

    /// Remembers `challenge` as the one answered for `server`'s protection space, and
    /// returns the `nc` of the answer about to be sent with its nonce; `None` once the
    /// count would overflow (the nonce is used up).
    pub(crate) fn answer(&mut self, server: &Server, challenge: &DigestChallenge) -> Option<u32> {
        let used = self.tick();
        if self.find(server, &challenge.realm).is_none() {
            if self.spaces.len() >= MAX_SPACES
                && let Some(oldest) = (0..self.spaces.len()).min_by_key(|&i| self.spaces[i].used)
            {
                self.spaces.swap_remove(oldest);
            }
            self.spaces.push(Space {
                server: server.clone(),
                challenge: challenge.clone(),
                confirmed: false,
                nonces: Vec::new(),
                used,
            });
        }
        let space = self.find(server, &challenge.realm)?;
        space.used = used;
        if space.challenge != *challenge {
            space.challenge = challenge.clone();
            space.confirmed = false;
        }
        let nc = match space.nonces.iter().position(|(n, _)| *n == challenge.nonce) {
            Some(i) => {
                let (nonce, nc) = space.nonces.remove(i);
                let nc = nc.checked_add(1)?;
                space.nonces.push((nonce, nc));
                nc
            }
            None => {
                if space.nonces.len() >= MAX_NONCES {
                    space.nonces.remove(0);
                }
                space.nonces.push((challenge.nonce.clone(), 1));
                1
            }
        };
        Some(nc)
    }

    /// Marks the answer to `server`'s `realm` as successful.
    pub(crate) fn confirm(&mut self, server: &Server, realm: &str) {
        if let Some(space) = self.find(server, realm) {
            space.confirmed = true;
        }
    }

    /// Forgets `server`'s `realm`, whose preemptive answer was refused.
    pub(crate) fn forget(&mut self, server: &Server, realm: &str) {
        self.spaces
            .retain(|s| !(&s.server == server && s.challenge.realm == realm));
    }

    /// The confirmed challenge whose protection space holds `uri` (for the proxy, any
    /// confirmed proxy space), to answer preemptively.
    pub(crate) fn preemptive(&self, server: &Server, uri: &Uri) -> Option<DigestChallenge> {
        self.spaces
            .iter()
            .filter(|s| s.confirmed && &s.server == server)
            .filter(|s| server.is_none() || in_domain(&s.challenge.domain, uri))
            .max_by_key(|s| s.used)
            .map(|s| s.challenge.clone())
    }

    /// Whether no protection space is remembered.
    pub(crate) fn is_empty(&self) -> bool {
        self.spaces.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.spaces.len()
    }
}

/// Whether `uri` is in a challenge's `domain` list (RFC 7616 §3.3): an empty list covers
/// the whole origin; a path entry covers the paths it prefixes on the same origin, an
/// absolute one those on its own origin.
fn in_domain(domain: &[String], uri: &Uri) -> bool {
    if domain.is_empty() {
        return true;
    }
    let path = uri.path();
    domain.iter().any(|entry| {
        if entry.starts_with('/') {
            return path.starts_with(entry.as_str());
        }
        entry.parse::<Uri>().is_ok_and(|prefix| {
            Origin::of(&prefix).is_some_and(|origin| origin.matches(uri))
                && path.starts_with(prefix.path())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Challenge;

    fn challenge(realm: &str, nonce: &str, domain: &str) -> DigestChallenge {
        let header =
            format!(r#"Digest realm="{realm}", nonce="{nonce}", qop=auth, domain="{domain}""#);
        let parsed: Vec<Challenge> = crate::auth::parse_challenges(header.as_bytes()).unwrap();
        DigestChallenge::from_challenge(&parsed[0]).unwrap()
    }

    fn server(uri: &str) -> Server {
        Origin::of(&uri.parse().unwrap())
    }

    #[test]
    fn nc_counts_per_nonce() {
        let mut cache = NonceCache::default();
        let a = server("http://a.test/");
        assert_eq!(cache.answer(&a, &challenge("r", "n1", "")), Some(1));
        assert_eq!(cache.answer(&a, &challenge("r", "n1", "")), Some(2));
        assert_eq!(cache.answer(&a, &challenge("r", "n2", "")), Some(1));
        assert_eq!(cache.answer(&a, &challenge("r", "n1", "")), Some(3));
        // Another origin, same realm and nonce: its own count.
        assert_eq!(
            cache.answer(&server("http://b.test/"), &challenge("r", "n1", "")),
            Some(1)
        );
    }

    #[test]
    fn nonces_and_spaces_are_bounded() {
        let mut cache = NonceCache::default();
        let a = server("http://a.test/");
        for i in 0..=MAX_NONCES {
            cache.answer(&a, &challenge("r", &format!("n{i}"), ""));
        }
        // n0 was evicted: counting starts over.
        assert_eq!(cache.answer(&a, &challenge("r", "n0", "")), Some(1));
        for i in 0..MAX_SPACES + 5 {
            cache.answer(&a, &challenge(&format!("r{i}"), "n", ""));
        }
        assert_eq!(cache.len(), MAX_SPACES);
    }

    #[test]
    fn preemptive_only_once_confirmed_and_within_the_domain() {
        let mut cache = NonceCache::default();
        let a = server("http://a.test/");
        let uri: Uri = "http://a.test/api/x".parse().unwrap();
        cache.answer(&a, &challenge("r", "n", "/api/ http://a.test/other/"));
        assert!(cache.preemptive(&a, &uri).is_none());
        cache.confirm(&a, "r");
        assert!(cache.preemptive(&a, &uri).is_some());
        assert!(
            cache
                .preemptive(&a, &"http://a.test/other/y".parse().unwrap())
                .is_some()
        );
        assert!(
            cache
                .preemptive(&a, &"http://a.test/else".parse().unwrap())
                .is_none()
        );
        assert!(
            cache
                .preemptive(
                    &server("http://b.test/"),
                    &"http://b.test/api/".parse().unwrap()
                )
                .is_none()
        );
        cache.forget(&a, "r");
        assert!(cache.preemptive(&a, &uri).is_none());
    }
}
