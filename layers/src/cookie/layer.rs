//! The [`CookieLayer`].

use tower_layer::Layer;

use super::{Cookie, CookieJar};

/// Sends the cookies of a store (a [`CookieJar`] unless told otherwise) with each request
/// and stores the cookies each response sets.
///
/// See the [module documentation](super) for the rules it follows, and
/// [`CookieStore`](super::CookieStore) for stores of your own.
#[derive(Debug, Clone)]
pub struct CookieLayer<J = CookieJar> {
    jar: J,
}

impl Default for CookieLayer {
    /// A layer over a new, empty [`CookieJar`].
    fn default() -> Self {
        Self::new(CookieJar::new())
    }
}

impl<J> CookieLayer<J> {
    /// A layer over `jar`; keep a clone of the jar to look at or change its cookies.
    pub fn new(jar: J) -> Self {
        Self { jar }
    }

    /// The layer's jar.
    pub fn jar(&self) -> &J {
        &self.jar
    }
}

impl<S, J: Clone> Layer<S> for CookieLayer<J> {
    type Service = Cookie<S, J>;

    fn layer(&self, inner: S) -> Cookie<S, J> {
        Cookie::new(inner, self.jar.clone())
    }
}
