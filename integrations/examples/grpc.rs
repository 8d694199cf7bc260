//! A tonic client over towline's channel, end to end: tonic echo servers in this process
//! over h2c and h2 over TLS, a unary call and a server stream through each, and a call that
//! the server first answers `UNAVAILABLE`, retried.
//!
//! ```text
//! cargo run -p towline-integrations --example grpc
//! ```
//!
//! Exits with an error when any answer is not the expected one.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::net::TcpListener;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};
use towline::BoxError;
use towline::towline_layers::retry::{RetryConfig, RetryCount};
use towline::towline_services::connect::tls::{Certificate, TlsConfig};
use towline_integrations::grpc::{
    Channel, Echo, EchoClient, EchoReply, EchoRequest, EchoServer, channel,
};
use towline_test_support::TestPki;

/// Echoes, after answering its first `unavailable_calls` unary calls `UNAVAILABLE`.
struct WarmingUp {
    unary_calls: Arc<AtomicUsize>,
    unavailable_calls: usize,
}

impl Echo for WarmingUp {
    type ReplyStream = Pin<Box<dyn Stream<Item = Result<EchoReply, Status>> + Send>>;

    async fn unary_echo(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<EchoReply>, Status> {
        if self.unary_calls.fetch_add(1, Ordering::SeqCst) < self.unavailable_calls {
            return Err(Status::unavailable("warming up"));
        }
        Ok(Response::new(EchoReply {
            message: request.into_inner().message,
            sequence: 0,
        }))
    }

    async fn server_streaming_echo(
        &self,
        request: Request<EchoRequest>,
    ) -> Result<Response<Self::ReplyStream>, Status> {
        let EchoRequest { message, replies } = request.into_inner();
        let replies = (0..replies).map(move |sequence| {
            Ok(EchoReply {
                message: message.clone(),
                sequence,
            })
        });
        Ok(Response::new(Box::pin(futures_util::stream::iter(replies))))
    }
}

/// Serves a [`WarmingUp`] echo that answers its first `unavailable_calls` unary calls
/// `UNAVAILABLE`, on a port of 127.0.0.1, over TLS with `pki`'s certificate if given;
/// returns the origin to call and the count of unary calls the server has had.
async fn serve(
    unavailable_calls: usize,
    pki: Option<&TestPki>,
) -> Result<(http::Uri, Arc<AtomicUsize>), BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let incoming = futures_util::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    });
    let unary_calls = Arc::new(AtomicUsize::new(0));
    let echo = EchoServer::new(WarmingUp {
        unary_calls: Arc::clone(&unary_calls),
        unavailable_calls,
    });
    let (builder, scheme) = match pki {
        Some(pki) => {
            let (cert, key) = pki.server_identity_pem();
            let tls = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
            (Server::builder().tls_config(tls)?, "https")
        }
        None => (Server::builder(), "http"),
    };
    tokio::spawn(builder.serve_with_incoming(echo, incoming));
    Ok((format!("{scheme}://{addr}").parse()?, unary_calls))
}

fn grpc_channel(tls: &TlsConfig) -> Result<Channel, BoxError> {
    let retry = RetryConfig::new()
        .max_retries(2)
        .initial_backoff(Duration::from_millis(20));
    Ok(channel(tls, Duration::from_secs(10), retry)?)
}

fn request(message: &str, replies: u32) -> EchoRequest {
    EchoRequest {
        message: message.to_owned(),
        replies,
    }
}

/// One unary call and one three-reply stream, checked.
async fn round_trips(name: &str, client: &mut EchoClient<Channel>) -> Result<(), BoxError> {
    let reply = client.unary_echo(request("ping", 0)).await?.into_inner();
    if reply.message != "ping" {
        return Err(format!("{name}: unary echo answered {reply:?}").into());
    }
    println!("{name}: unary echo answered {:?}", reply.message);

    let mut replies = client
        .server_streaming_echo(request("tick", 3))
        .await?
        .into_inner();
    let mut sequences = Vec::new();
    while let Some(reply) = replies.next().await {
        sequences.push(reply?.sequence);
    }
    if sequences != [0, 1, 2] {
        return Err(format!("{name}: the stream sent replies {sequences:?}").into());
    }
    println!("{name}: server stream sent replies {sequences:?}");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // tonic's server TLS takes rustls' process-wide provider.
    let _already_installed = rustls::crypto::ring::default_provider().install_default();
    let pki = TestPki::generate();
    let trust_test_ca = TlsConfig {
        webpki_roots: false,
        extra_roots: vec![Certificate::from_pem(pki.ca_pem().as_bytes())?],
        ..TlsConfig::default()
    };

    let (origin, _) = serve(0, None).await?;
    let mut client = EchoClient::with_origin(grpc_channel(&TlsConfig::default())?, origin);
    round_trips("h2c", &mut client).await?;

    let (origin, _) = serve(0, Some(&pki)).await?;
    let mut client = EchoClient::with_origin(grpc_channel(&trust_test_ca)?, origin);
    round_trips("h2 over TLS", &mut client).await?;

    let (origin, unary_calls) = serve(1, None).await?;
    let mut client = EchoClient::with_origin(grpc_channel(&TlsConfig::default())?, origin);
    let response = client.unary_echo(request("retry me", 0)).await?;
    let retries = response.extensions().get::<RetryCount>().copied();
    let calls = unary_calls.load(Ordering::SeqCst);
    if calls != 2 || retries != Some(RetryCount(1)) {
        return Err(format!("retry: {calls} calls, {retries:?}").into());
    }
    println!(
        "retry: UNAVAILABLE, then {:?} ({calls} calls, 1 retry)",
        response.into_inner().message
    );
    Ok(())
}
