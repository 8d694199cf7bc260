//! The [`CookieLayer`].

use tower_layer::Layer;

use super::{Cookie, CookieJar};

/// Sends the cookies of a [`CookieJar`] with each request and stores the cookies each
/// response sets.
///
/// See the [module documentation](super) for the rules it follows.
#[derive(Debug, Clone, Default)]
pub struct CookieLayer {
    jar: CookieJar,
}

impl CookieLayer {
    /// A layer over `jar`; keep a clone of the jar to look at or change its cookies.
    pub fn new(jar: CookieJar) -> Self {
        Self { jar }
    }

    /// The layer's jar.
    pub fn jar(&self) -> &CookieJar {
        &self.jar
    }
}

impl<S> Layer<S> for CookieLayer {
    type Service = Cookie<S>;

    fn layer(&self, inner: S) -> Cookie<S> {
        Cookie::new(inner, self.jar.clone())
    }
}
