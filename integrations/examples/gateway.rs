//! An axum gateway in front of an upstream, forwarding `/api/*` through a towline client.
//!
//! ```text
//! cargo run -p towline-integrations --example gateway -- --listen 127.0.0.1:8080 --upstream http://127.0.0.1:9000/v1
//! ```
//!
//! serves until stopped (Ctrl-C). Without arguments it runs a demonstration on loopback and
//! exits: an in-process upstream, the gateway in front of it, and a client that sends a plain
//! request, a WebSocket conversation and a request to an upstream that is gone through it,
//! checking each answer (a wrong one exits with an error). The gateway's `tracing` events
//! (its client's request spans, the upstream failures it logs) print to stderr.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Message, protocol::Role};
use towline::towline_services::rt::tokio::TokioIo;
use towline_integrations::gateway::{self, GatewayConfig};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .init();
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    match arguments.as_slice() {
        [] => demonstrate().await,
        [listen_flag, listen, upstream_flag, upstream]
            if listen_flag == "--listen" && upstream_flag == "--upstream" =>
        {
            let config = GatewayConfig::new(upstream.parse()?);
            let listener = tokio::net::TcpListener::bind(listen).await?;
            println!(
                "forwarding http://{}/api/* to {upstream}",
                listener.local_addr()?
            );
            tokio::select! {
                served = gateway::serve(listener, gateway::router(&config)?) => Ok(served?),
                _ = tokio::signal::ctrl_c() => Ok(()),
            }
        }
        _ => Err("usage: gateway [--listen ADDR --upstream URL]".into()),
    }
}

async fn demonstrate() -> Result<(), BoxError> {
    let upstream = start_upstream().await?;
    let gateway =
        start_gateway(GatewayConfig::new(format!("http://{upstream}/v1").parse()?)).await?;
    let client = towline::Client::new();

    let response = client
        .get(format!("http://{gateway}/api/greeting?name=towline"))
        .header("connection", "x-private")
        .header("x-private", "stays at the gateway")
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    println!("GET /api/greeting -> {status}: {text}");
    expect(status == StatusCode::OK, "the upstream's 200")?;
    expect(
        text.contains("/v1/greeting?name=towline") && !text.contains("x-private"),
        "the rewritten path, without the hop-by-hop field",
    )?;

    let health = client
        .get(format!("http://{gateway}/healthz"))
        .send()
        .await?;
    println!("GET /healthz -> {}", health.status());
    expect(health.status() == StatusCode::OK, "the gateway's own 200")?;

    let handshake = client
        .websocket(format!("ws://{gateway}/api/chat"))
        .send()
        .await?;
    let mut socket =
        WebSocketStream::from_raw_socket(handshake.into_io(), Role::Client, None).await;
    socket
        .send(Message::text("hello through the gateway"))
        .await?;
    let echoed = socket.next().await.ok_or("the WebSocket closed")??;
    println!("WebSocket /api/chat echoed {:?}", echoed.to_text()?);
    expect(
        echoed.to_text()? == "hello through the gateway",
        "the upstream's echo",
    )?;
    socket.close(None).await?;

    let closed = std::net::TcpListener::bind("127.0.0.1:0")?;
    let gone = closed.local_addr()?;
    drop(closed);
    let to_nowhere = start_gateway(GatewayConfig::new(format!("http://{gone}/").parse()?)).await?;
    let response = client
        .get(format!("http://{to_nowhere}/api/anything"))
        .send()
        .await?;
    let status = response.status();
    let text = response.text().await?;
    println!("GET /api/anything with the upstream gone -> {status}: {text}");
    expect(
        status == StatusCode::BAD_GATEWAY && text == "Bad Gateway",
        "a 502 that names nothing internal",
    )?;
    println!("all answers as expected");
    Ok(())
}

fn expect(condition: bool, what: &str) -> Result<(), BoxError> {
    if condition {
        Ok(())
    } else {
        Err(format!("expected {what}").into())
    }
}

async fn start_gateway(config: GatewayConfig) -> Result<SocketAddr, BoxError> {
    let router = gateway::router(&config)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(gateway::serve(listener, router));
    Ok(addr)
}

/// An upstream that describes each request it receives, and echoes WebSocket messages on
/// `/v1/chat`.
async fn start_upstream() -> Result<SocketAddr, BoxError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(answer);
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades(),
            );
        }
    });
    Ok(addr)
}

async fn answer(mut request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() == "/v1/chat" {
        return Ok(accept_websocket(&mut request));
    }
    let mut description = format!("{} {}\n", request.method(), request.uri());
    for (name, value) in request.headers() {
        description.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|body| body.to_bytes());
    description.push_str(&format!(
        "{} body bytes\n",
        body.map_or(0, |body| body.len())
    ));
    Ok(Response::new(Full::new(Bytes::from(description))))
}

/// Answers a WebSocket handshake and echoes text messages once the connection switches.
fn accept_websocket(request: &mut Request<Incoming>) -> Response<Full<Bytes>> {
    use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
    let Some(key) = request.headers().get("sec-websocket-key") else {
        return status(StatusCode::BAD_REQUEST);
    };
    let accept = derive_accept_key(key.as_bytes());
    let switched = hyper::upgrade::on(request);
    tokio::spawn(async move {
        let Ok(upgraded) = switched.await else { return };
        let mut socket =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        while let Some(Ok(message)) = socket.next().await {
            if message.is_text() && socket.send(message).await.is_err() {
                return;
            }
        }
    });
    let mut response = status(StatusCode::SWITCHING_PROTOCOLS);
    let headers = response.headers_mut();
    headers.insert("connection", http::HeaderValue::from_static("upgrade"));
    headers.insert("upgrade", http::HeaderValue::from_static("websocket"));
    if let Ok(accept) = http::HeaderValue::from_str(&accept) {
        headers.insert("sec-websocket-accept", accept);
    }
    response
}

fn status(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
