//! An axum gateway forwarding to upstreams through a towline client.
