use std::time::Duration;

use tokio::{net::TcpStream, time::timeout};

use crate::Blackhole;

#[tokio::test]
async fn connects_to_a_blackhole_hang() {
    let blackhole = Blackhole::bind();
    assert!(
        blackhole
            .url("x")
            .ends_with(&format!(":{}/x", blackhole.addr().port()))
    );
    let attempt = timeout(Duration::from_secs(1), TcpStream::connect(blackhole.addr())).await;
    assert!(attempt.is_err(), "connect finished: {attempt:?}");
}
