//! The [`HstsLayer`].

use tower_layer::Layer;

use super::{Hsts, HstsStore};

/// Upgrades requests to known HTTPS-only hosts to `https`, and learns those hosts from the
/// `Strict-Transport-Security` headers of HTTPS responses.
///
/// See the [module documentation](super) for the rules it follows.
#[derive(Debug, Clone, Default)]
pub struct HstsLayer {
    store: HstsStore,
}

impl HstsLayer {
    /// A layer over `store`; keep a clone of the store to look at or change it.
    pub fn new(store: HstsStore) -> Self {
        Self { store }
    }

    /// The layer's store.
    pub fn store(&self) -> &HstsStore {
        &self.store
    }
}

impl<S> Layer<S> for HstsLayer {
    type Service = Hsts<S>;

    fn layer(&self, inner: S) -> Hsts<S> {
        Hsts::new(inner, self.store.clone())
    }
}
