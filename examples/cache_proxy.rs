//! A reverse proxy that sends every request through towline's transport with the RFC 9111
//! cache layer on top: the adapter that lets HTTP cache conformance suites (which speak to a
//! server) test the client-side cache.
//!
//! ```sh
//! cargo run --example cache_proxy -- --listen 127.0.0.1:8090 --origin http://127.0.0.1:8000
//! cargo run --example cache_proxy -- --no-cache ...   # the same proxy without the cache
//! ```
//!
//! Each incoming request (method, path and query, header fields, body) is forwarded to the
//! origin; the answer comes back as it is, less the hop-by-hop header fields of either hop.

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::{server::conn::http1, service::service_fn};
use tower::{BoxError, ServiceBuilder, ServiceExt, util::BoxCloneService};
use towline_layers::{
    cache::{CacheLayer, HttpCache},
    exec::SharedExecutor,
};
use towline_services::{
    connect::{HttpConnector, TcpConfig},
    rt::{
        Exec,
        tokio::{TokioIo, TokioRuntime, TokioTimer},
    },
    transport::{Transport, TransportConfig},
};

type ProxyBody = BoxBody<Bytes, BoxError>;
type Client = BoxCloneService<Request<Full<Bytes>>, Response<ProxyBody>, BoxError>;

struct Args {
    listen: SocketAddr,
    origin: Uri,
    cache: bool,
}

fn parse_args() -> Result<Args, BoxError> {
    let mut listen: SocketAddr = "127.0.0.1:8090".parse()?;
    let mut origin: Uri = "http://127.0.0.1:8000".parse()?;
    let mut cache = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs an address")?.parse()?,
            "--origin" => origin = args.next().ok_or("--origin needs a URL")?.parse()?,
            "--no-cache" => cache = false,
            other => {
                return Err(format!(
                    "unknown argument {other}; usage: cache_proxy [--listen ADDR] [--origin URL] [--no-cache]"
                )
                .into());
            }
        }
    }
    if origin.scheme().is_none() || origin.authority().is_none() {
        return Err("--origin must be an absolute URL such as http://127.0.0.1:8000".into());
    }
    Ok(Args {
        listen,
        origin,
        cache,
    })
}

fn client(cache: bool) -> Client {
    let connector = HttpConnector::new(TokioRuntime, TcpConfig::default());
    let transport = Transport::new(connector, TokioRuntime, TransportConfig::default());
    if cache {
        // Background revalidations run on the runtime the transport spawns on.
        let executor: SharedExecutor = Arc::new(Exec(TokioRuntime));
        ServiceBuilder::new()
            .map_response(|response: Response<_>| response.map(BodyExt::boxed))
            .layer(CacheLayer::new(
                HttpCache::new(),
                Arc::new(TokioTimer),
                executor,
            ))
            .service(transport)
            .boxed_clone()
    } else {
        transport
            .map_response(|response| response.map(|body| body.map_err(BoxError::from).boxed()))
            .boxed_clone()
    }
}

/// Header fields that belong to one hop (RFC 9110 §7.6.1), plus those `Connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(name);
    }
}

async fn forward(
    client: Client,
    origin: Uri,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<ProxyBody>, BoxError> {
    let (mut parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let mut target = origin.clone().into_parts();
    target.path_and_query = Some(path.parse()?);
    parts.uri = Uri::from_parts(target)?;
    strip_hop_by_hop(&mut parts.headers);
    // The transport names the origin itself.
    parts.headers.remove(header::HOST);
    let mut response = client
        .oneshot(Request::from_parts(parts, Full::new(body)))
        .await?;
    strip_hop_by_hop(response.headers_mut());
    Ok(response)
}

async fn handle(
    client: Client,
    origin: Uri,
    request: Request<hyper::body::Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    Ok(forward(client, origin, request)
        .await
        .unwrap_or_else(|err| {
            let mut response = Response::new(
                Full::new(Bytes::from(format!("cache_proxy: {err}\n")))
                    .map_err(BoxError::from)
                    .boxed(),
            );
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response
        }))
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args = parse_args()?;
    let client = client(args.cache);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!(
        "cache_proxy listening on http://{} for {} ({})",
        listener.local_addr()?,
        args.origin,
        if args.cache { "cache" } else { "no cache" }
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let client = client.clone();
        let origin = args.origin.clone();
        tokio::spawn(async move {
            let service =
                service_fn(move |request| handle(client.clone(), origin.clone(), request));
            // A client that hangs up mid-exchange is its own business.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
