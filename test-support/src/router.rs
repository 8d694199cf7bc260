//! The built-in routes of a [`TestServer`](crate::TestServer) without a handler;
//! the table is documented on [`TestServerBuilder::build`](crate::TestServerBuilder::build).

use std::{convert::Infallible, time::Duration};

use bytes::Bytes;
use futures_util::stream;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::StreamBody;
use serde_json::json;

use crate::{
    ConnectionInfo, RequestTrailers,
    body::{BoxBody, boxed, empty, full, response},
};

const TEXT: &str = "héllo wörld";

pub(crate) async fn route(req: Request<Bytes>) -> Response<BoxBody> {
    let query: Vec<(String, String)> =
        form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let query = Query(query);
    let path = req.uri().path();
    let routed = if path.starts_with("/echo") {
        Ok(echo(&req))
    } else if let Some(status) = path.strip_prefix("/status/") {
        status_only(status)
    } else if let Some(len) = path.strip_prefix("/bytes/") {
        sized_bytes(len)
    } else {
        match path {
            "/chunks" => chunks(&query),
            "/slow-headers" => slow_headers(&query).await,
            "/close" => Ok(with_header(
                response(200, "closing"),
                header::CONNECTION,
                HeaderValue::from_static("close"),
            )),
            "/no-content" => Ok(response(204, "")),
            "/not-modified" => Ok(response(304, "")),
            "/redirect" => redirect(&query),
            "/json" => json_echo(req.body()),
            "/text" => text(&query),
            "/trailers" => Ok(trailers()),
            "/headers" => headers(&query),
            _ => Ok(response(404, format!("no route for {path}"))),
        }
    };
    routed.unwrap_or_else(|message| response(400, message))
}

/// The decoded query string, in order, repeats kept.
struct Query(Vec<(String, String)>);

impl Query {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn number(&self, name: &str, default: u64) -> Result<u64, String> {
        self.get(name).map_or(Ok(default), |value| {
            value
                .parse()
                .map_err(|_| format!("query parameter {name}={value:?} is not a number"))
        })
    }
}

fn echo(req: &Request<Bytes>) -> Response<BoxBody> {
    let info = req.extensions().get::<ConnectionInfo>();
    let body = req.body();
    let report = json!({
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "uri": req.uri().to_string(),
        "headers": header_pairs(req.headers()),
        "trailers": req.extensions().get::<RequestTrailers>().map(|t| header_pairs(&t.0)),
        "body": String::from_utf8_lossy(body),
        "body_len": body.len(),
        "version": format!("{:?}", req.version()),
        "connection_id": info.map(|info| info.id),
        "peer_addr": info.map(|info| info.peer_addr.to_string()),
        "sni": info.and_then(|info| info.sni.as_deref()),
    });
    json_response(report.to_string().into())
}

fn header_pairs(headers: &HeaderMap) -> Vec<[String; 2]> {
    headers
        .iter()
        .map(|(name, value)| {
            [
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ]
        })
        .collect()
}

fn status_only(status: &str) -> Result<Response<BoxBody>, String> {
    let status = status
        .parse::<u16>()
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or_else(|| format!("{status:?} is not a status code"))?;
    let mut res = Response::new(empty());
    *res.status_mut() = status;
    Ok(res)
}

/// `len` bytes of the pattern every byte-producing route uses, starting at
/// offset `start`, so a client can check any slice of a body on its own.
fn pattern(start: usize, len: usize) -> Bytes {
    (start..start + len).map(|i| (i % 251) as u8).collect()
}

fn sized_bytes(len: &str) -> Result<Response<BoxBody>, String> {
    let len: usize = len
        .parse()
        .map_err(|_| format!("{len:?} is not a length"))?;
    Ok(with_header(
        response(200, pattern(0, len)),
        header::CONTENT_LENGTH,
        HeaderValue::from(len),
    ))
}

fn chunks(query: &Query) -> Result<Response<BoxBody>, String> {
    let count = usize::try_from(query.number("n", 3)?).map_err(|e| e.to_string())?;
    let size = usize::try_from(query.number("size", 16)?).map_err(|e| e.to_string())?;
    let delay = Duration::from_millis(query.number("delay_ms", 0)?);
    let frames = stream::unfold(0, move |index| async move {
        if index == count {
            return None;
        }
        if index > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let frame = Frame::data(pattern(index * size, size));
        Some((Ok::<_, Infallible>(frame), index + 1))
    });
    let mut res = Response::new(boxed(StreamBody::new(frames)));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(res)
}

async fn slow_headers(query: &Query) -> Result<Response<BoxBody>, String> {
    let delay = Duration::from_millis(query.number("ms", 0)?);
    tokio::time::sleep(delay).await;
    Ok(response(200, "slow"))
}

fn redirect(query: &Query) -> Result<Response<BoxBody>, String> {
    let to = query.get("to").ok_or("/redirect needs a `to` parameter")?;
    let location =
        HeaderValue::from_str(to).map_err(|_| format!("{to:?} cannot be a Location header"))?;
    let status = query.get("status").unwrap_or("302");
    let mut res = status_only(status)?;
    res.headers_mut().insert(header::LOCATION, location);
    Ok(res)
}

fn json_echo(body: &Bytes) -> Result<Response<BoxBody>, String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .map_err(|error| format!("the request body is not JSON: {error}"))?;
    Ok(json_response(body.clone()))
}

fn json_response(body: Bytes) -> Response<BoxBody> {
    with_header(
        response(200, body),
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    )
}

fn text(query: &Query) -> Result<Response<BoxBody>, String> {
    let charset = query.get("charset").unwrap_or("utf-8");
    let body: Bytes = match charset.to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" => Bytes::from_static(TEXT.as_bytes()),
        "iso-8859-1" | "iso8859-1" | "latin1" | "latin-1" => TEXT
            .chars()
            .map(|c| u8::try_from(u32::from(c)).map_err(|_| format!("{c:?} is not in latin1")))
            .collect::<Result<_, _>>()?,
        _ => return Err(format!("unsupported charset {charset:?}")),
    };
    let content_type = HeaderValue::from_str(&format!("text/plain; charset={charset}"))
        .map_err(|_| format!("{charset:?} cannot go in a header"))?;
    Ok(with_header(
        response(200, body),
        header::CONTENT_TYPE,
        content_type,
    ))
}

fn trailers() -> Response<BoxBody> {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    let frames = stream::iter([
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"hello"))),
        Ok(Frame::trailers(trailers)),
    ]);
    with_header(
        Response::new(boxed(StreamBody::new(frames))),
        header::TRAILER,
        HeaderValue::from_static("x-checksum"),
    )
}

fn headers(query: &Query) -> Result<Response<BoxBody>, String> {
    let mut res = Response::new(full(""));
    for (name, value) in &query.0 {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("{name:?} is not a header name"))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| format!("{value:?} is not a header value"))?;
        res.headers_mut().append(name, value);
    }
    Ok(res)
}

fn with_header(
    mut res: Response<BoxBody>,
    name: HeaderName,
    value: HeaderValue,
) -> Response<BoxBody> {
    res.headers_mut().insert(name, value);
    res
}
