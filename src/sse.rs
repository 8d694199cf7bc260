//! Server-Sent Events: [`Response::sse`](crate::Response::sse) turns a `text/event-stream`
//! response into a `Stream` of [`Event`]s.
//!
//! The parsing is [`SseDecoder`], a sans-IO decoder (bytes in, events out) that follows the
//! WHATWG EventSource rules: a leading byte-order mark is stripped once; lines end with CR,
//! LF or CRLF (a CR at the end of one chunk and an LF at the start of the next are one line
//! end); lines starting with `:` are comments; `event`, `data`, `id` and `retry` are the
//! fields (an `id` containing NUL and a `retry` that is not all digits are ignored, unknown
//! fields too); a blank line dispatches the event, unless its data is empty; what is pending
//! when the stream ends is dropped. Text is decoded as UTF-8 with invalid sequences replaced,
//! line by line, so a character split across chunks is decoded whole.
//!
//! [`EventSource`] reconnects as a browser does: `retry` honoured, `Last-Event-ID` sent, the
//! wait on the client's timer, a stop on `204` or an answer that is not an event stream.
//!
//! **Bounded**: a line longer than [`SseConfig::max_line`] or an event whose data grows past
//! [`SseConfig::max_event`] (1 MiB each by default) ends the stream with an error at the cap,
//! instead of buffering an endless line.
//!
//! Hand-written: the eventsource crates on crates.io either own the connection (they are
//! clients of their own, on a fixed runtime) or do not bound line and event sizes; the
//! decoder here is a plain state machine over bytes, and the same one serves every body.
//!
//! ```
//! use towline::sse::SseDecoder;
//!
//! let mut decoder = SseDecoder::default();
//! let mut events = decoder.feed(b"event: tick\ndata: 1\ndata: 2\n\n: comment\ndata: x").unwrap();
//! let event = events.remove(0);
//! assert_eq!((event.event.as_str(), event.data.as_str()), ("tick", "1\n2"));
//! assert!(events.is_empty(), "`data: x` waits for its blank line");
//! assert_eq!(decoder.feed(b"\r\n\r\n").unwrap()[0].data, "x");
//! ```

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures_core::Stream;
use http_body::Body;

use crate::error::{BoxError, Error, Result};

/// One event of a stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// The event type: the last `event` field of the block, `message` without one.
    pub event: String,
    /// The `data` lines of the block, joined by `\n`.
    pub data: String,
    /// The last event id in effect when the event was dispatched (ids persist across events,
    /// as `Last-Event-ID` does); empty when none was ever set.
    pub id: String,
    /// The reconnection time a `retry` field in this block set, if any.
    pub retry: Option<Duration>,
}

/// The bounds of an [`SseDecoder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SseConfig {
    /// The longest line, in bytes (1 MiB by default).
    pub max_line: usize,
    /// The most data one event may carry, in bytes (1 MiB by default).
    pub max_event: usize,
}

impl Default for SseConfig {
    fn default() -> Self {
        Self {
            max_line: 1024 * 1024,
            max_event: 1024 * 1024,
        }
    }
}

impl SseConfig {
    /// Sets [`max_line`](Self::max_line).
    pub fn with_max_line(mut self, bytes: usize) -> Self {
        self.max_line = bytes;
        self
    }

    /// Sets [`max_event`](Self::max_event).
    pub fn with_max_event(mut self, bytes: usize) -> Self {
        self.max_event = bytes;
        self
    }
}

/// A stream went past a bound of its [`SseConfig`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SseError {
    /// A line longer than `max_line` bytes.
    LineTooLong {
        /// The bound.
        max: usize,
    },
    /// An event with more than `max_event` bytes of data.
    EventTooLarge {
        /// The bound.
        max: usize,
    },
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LineTooLong { max } => write!(f, "event-stream line longer than {max} bytes"),
            Self::EventTooLarge { max } => {
                write!(f, "event-stream event with more than {max} bytes of data")
            }
        }
    }
}

impl std::error::Error for SseError {}

/// The event-stream parser (see the [module docs](self)).
#[derive(Debug, Default)]
pub struct SseDecoder {
    config: SseConfig,
    /// The bytes of the line being read.
    line: Vec<u8>,
    /// Whether the previous byte was a CR, whose LF (if it follows) ends no new line.
    after_cr: bool,
    /// Whether the start of the stream (and its byte-order mark) is behind us.
    started: bool,
    /// BOM bytes seen so far at the start.
    bom_seen: usize,
    event_type: String,
    data: String,
    has_data: bool,
    last_id: String,
    retry: Option<Duration>,
    reconnection_time: Option<Duration>,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseDecoder {
    /// A decoder with the bounds of `config`.
    pub fn new(config: SseConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The last event id, as a reconnection's `Last-Event-ID` should carry it.
    pub fn last_event_id(&self) -> &str {
        &self.last_id
    }

    /// The reconnection time the stream last asked for with `retry`.
    pub fn reconnection_time(&self) -> Option<Duration> {
        self.reconnection_time
    }

    /// Feeds `bytes`; returns the events they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Event>, SseError> {
        let mut events = Vec::new();
        let mut rest = bytes;
        if !self.started {
            // The stream may begin with a byte-order mark, possibly split across chunks.
            while let Some((&byte, tail)) = rest.split_first() {
                if BOM.get(self.bom_seen) == Some(&byte) {
                    self.bom_seen += 1;
                    rest = tail;
                    if self.bom_seen == BOM.len() {
                        self.started = true;
                        break;
                    }
                } else {
                    // Not a BOM after all: what was taken for one is text.
                    let taken = BOM.get(..self.bom_seen).unwrap_or_default().to_vec();
                    self.started = true;
                    self.push_bytes(&taken, &mut events)?;
                    break;
                }
            }
        }
        self.push_bytes(rest, &mut events)?;
        Ok(events)
    }

    fn push_bytes(&mut self, mut bytes: &[u8], events: &mut Vec<Event>) -> Result<(), SseError> {
        while !bytes.is_empty() {
            if self.after_cr && bytes.first() == Some(&b'\n') {
                bytes = bytes.get(1..).unwrap_or_default();
            }
            self.after_cr = false;
            let Some(end) = bytes.iter().position(|&b| b == b'\n' || b == b'\r') else {
                self.extend_line(bytes)?;
                return Ok(());
            };
            self.extend_line(bytes.get(..end).unwrap_or_default())?;
            self.after_cr = bytes.get(end) == Some(&b'\r');
            bytes = bytes.get(end + 1..).unwrap_or_default();
            let line = std::mem::take(&mut self.line);
            if let Some(event) = self.process_line(&line)? {
                events.push(event);
            }
            // Keep the line's allocation for the next one.
            self.line = line;
            self.line.clear();
        }
        Ok(())
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len().saturating_add(bytes.len()) > self.config.max_line {
            return Err(SseError::LineTooLong {
                max: self.config.max_line,
            });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, line: &[u8]) -> Result<Option<Event>, SseError> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line.first() == Some(&b':') {
            return Ok(None);
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = line.get(colon + 1..).unwrap_or_default();
                (
                    line.get(..colon).unwrap_or_default(),
                    value.strip_prefix(b" ").unwrap_or(value),
                )
            }
            None => (line, &[][..]),
        };
        match field {
            b"event" => self.event_type = String::from_utf8_lossy(value).into_owned(),
            b"data" => {
                let added = value.len().saturating_add(1);
                if self.data.len().saturating_add(added) > self.config.max_event {
                    return Err(SseError::EventTooLarge {
                        max: self.config.max_event,
                    });
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
                self.has_data = true;
            }
            b"id" if !value.contains(&0) => {
                self.last_id = String::from_utf8_lossy(value).into_owned();
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // All digits: only an absurd length overflows, and that is ignored too.
                if let Some(millis) = std::str::from_utf8(value)
                    .ok()
                    .and_then(|digits| digits.parse::<u64>().ok())
                {
                    let retry = Duration::from_millis(millis);
                    self.retry = Some(retry);
                    self.reconnection_time = Some(retry);
                }
            }
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<Event> {
        let event_type = std::mem::take(&mut self.event_type);
        let retry = self.retry.take();
        if !self.has_data {
            self.data.clear();
            return None;
        }
        self.has_data = false;
        let mut data = std::mem::take(&mut self.data);
        if data.ends_with('\n') {
            data.pop();
        }
        Some(Event {
            event: if event_type.is_empty() {
                "message".to_owned()
            } else {
                event_type
            },
            data,
            id: self.last_id.clone(),
            retry,
        })
    }
}

/// The events of a response body (see [`Response::sse`](crate::Response::sse)).
pub struct SseStream<B> {
    body: Pin<Box<B>>,
    decoder: SseDecoder,
    ready: std::collections::VecDeque<Event>,
    done: bool,
}

impl<B> fmt::Debug for SseStream<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseStream")
            .field("decoder", &self.decoder)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<B> SseStream<B> {
    /// The events of `body`, within the bounds of `config`.
    pub fn new(body: B, config: SseConfig) -> Self {
        Self {
            body: Box::pin(body),
            decoder: SseDecoder::new(config),
            ready: std::collections::VecDeque::new(),
            done: false,
        }
    }

    /// The decoder, for the last event id and reconnection time so far.
    pub fn decoder(&self) -> &SseDecoder {
        &self.decoder
    }
}

impl<B> Stream for SseStream<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Item = Result<Event>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match std::task::ready!(this.body.as_mut().poll_frame(cx)) {
                None => {
                    this.done = true;
                }
                Some(Err(error)) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(Error::body(error))));
                }
                Some(Ok(frame)) => {
                    let Ok(mut data) = frame.into_data() else {
                        continue;
                    };
                    let chunk = data.copy_to_bytes(data.remaining());
                    match this.decoder.feed(&chunk) {
                        Ok(events) => this.ready.extend(events),
                        Err(error) => {
                            this.done = true;
                            return Poll::Ready(Some(Err(Error::decode(error))));
                        }
                    }
                }
            }
        }
    }
}

/// The reconnection time of an [`EventSource`] until the stream sets one with `retry`.
pub const DEFAULT_RECONNECTION_TIME: Duration = Duration::from_secs(3);

type Connecting = Pin<Box<dyn std::future::Future<Output = Result<crate::Response>> + Send>>;

enum SourceState {
    Connecting(Connecting),
    Reading(SseStream<crate::ResponseBody>),
    Waiting(Pin<Box<dyn hyper::rt::Sleep>>),
    Closed,
}

/// An event stream that reconnects, as a browser's `EventSource` does: when the stream ends
/// or breaks it waits the reconnection time (the last `retry`, else
/// [`DEFAULT_RECONNECTION_TIME`]) on the client's timer and sends the request again with
/// `Last-Event-ID`; it stops for good on `204 No Content`, on any other status than `200`,
/// and on an answer that is not `text/event-stream` (each of the last two reported as an
/// error first). Errors of a connection attempt or of a broken stream are yielded, then it
/// reconnects; drop the stream to stop.
///
/// ```no_run
/// # async fn run() -> towline::Result<()> {
/// use futures_util::StreamExt;
/// use towline::sse::EventSource;
///
/// let client = towline::Client::new();
/// let mut events = EventSource::new(&client, client.get("https://example.com/updates"))?;
/// while let Some(event) = events.next().await {
///     println!("{}", event?.data);
/// }
/// # Ok(())
/// # }
/// ```
pub struct EventSource {
    client: crate::Client,
    request: crate::Request,
    config: SseConfig,
    last_event_id: String,
    reconnection_time: Duration,
    state: SourceState,
}

impl fmt::Debug for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSource")
            .field("url", &self.request.url().as_str())
            .field("last_event_id", &self.last_event_id)
            .field("reconnection_time", &self.reconnection_time)
            .finish_non_exhaustive()
    }
}

impl EventSource {
    /// Connects with `request` (which must be replayable: no streaming body) and reads its
    /// events, within the default bounds.
    pub fn new(client: &crate::Client, request: crate::RequestBuilder) -> Result<Self> {
        Self::with_config(client, request, SseConfig::default())
    }

    /// [`new`](Self::new) with the bounds of `config`.
    pub fn with_config(
        client: &crate::Client,
        request: crate::RequestBuilder,
        config: SseConfig,
    ) -> Result<Self> {
        let request = request.build()?;
        if request.try_clone().is_none() {
            return Err(Error::builder(
                "an event source sends its request again: its body cannot be a stream",
            ));
        }
        let mut source = Self {
            client: client.clone(),
            request,
            config,
            last_event_id: String::new(),
            reconnection_time: DEFAULT_RECONNECTION_TIME,
            state: SourceState::Closed,
        };
        source.state = SourceState::Connecting(source.connect());
        Ok(source)
    }

    /// The last event id received, which the next connection sends as `Last-Event-ID`.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    fn connect(&self) -> Connecting {
        let Some(mut request) = self.request.try_clone() else {
            return Box::pin(std::future::ready(Err(Error::builder(
                "the event source's request cannot be sent again",
            ))));
        };
        let headers = request.headers_mut();
        headers.insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        if !self.last_event_id.is_empty()
            && let Ok(id) = http::HeaderValue::from_str(&self.last_event_id)
        {
            headers.insert("last-event-id", id);
        }
        Box::pin(self.client.execute(request))
    }

    fn wait(&self) -> SourceState {
        SourceState::Waiting(self.client.timer().sleep(self.reconnection_time))
    }

    /// Notes what the decoder learnt before its stream goes away.
    fn remember(&mut self, stream: &SseStream<crate::ResponseBody>) {
        self.last_event_id = stream.decoder().last_event_id().to_owned();
        if let Some(time) = stream.decoder().reconnection_time() {
            self.reconnection_time = time;
        }
    }
}

impl Stream for EventSource {
    type Item = Result<Event>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                SourceState::Closed => return Poll::Ready(None),
                SourceState::Waiting(sleep) => {
                    std::task::ready!(sleep.as_mut().poll(cx));
                    this.state = SourceState::Connecting(this.connect());
                }
                SourceState::Connecting(connecting) => {
                    match std::task::ready!(connecting.as_mut().poll(cx)) {
                        Err(error) => {
                            this.state = this.wait();
                            return Poll::Ready(Some(Err(error)));
                        }
                        Ok(response) if response.status() == http::StatusCode::NO_CONTENT => {
                            this.state = SourceState::Closed;
                        }
                        Ok(response) if response.status() != http::StatusCode::OK => {
                            this.state = SourceState::Closed;
                            let status = response.status();
                            return Poll::Ready(Some(Err(response
                                .error_for_status()
                                .err()
                                .unwrap_or_else(|| {
                                    Error::decode(format!("event stream answered {status}"))
                                }))));
                        }
                        Ok(response) => match response.sse_with(this.config) {
                            Ok(mut stream) => {
                                // The stream carries on from the ids and delay seen so far.
                                stream.decoder.last_id = this.last_event_id.clone();
                                this.state = SourceState::Reading(stream);
                            }
                            Err(error) => {
                                this.state = SourceState::Closed;
                                return Poll::Ready(Some(Err(error)));
                            }
                        },
                    }
                }
                SourceState::Reading(stream) => {
                    match std::task::ready!(Pin::new(&mut *stream).poll_next(cx)) {
                        Some(Ok(event)) => {
                            if let Some(retry) = event.retry {
                                this.reconnection_time = retry;
                            }
                            this.last_event_id.clone_from(&event.id);
                            return Poll::Ready(Some(Ok(event)));
                        }
                        Some(Err(error)) => {
                            let SourceState::Reading(stream) =
                                std::mem::replace(&mut this.state, SourceState::Closed)
                            else {
                                return Poll::Ready(None);
                            };
                            this.remember(&stream);
                            this.state = this.wait();
                            return Poll::Ready(Some(Err(error)));
                        }
                        None => {
                            let SourceState::Reading(stream) =
                                std::mem::replace(&mut this.state, SourceState::Closed)
                            else {
                                return Poll::Ready(None);
                            };
                            this.remember(&stream);
                            this.state = this.wait();
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(chunks: &[&[u8]]) -> Vec<Event> {
        let mut decoder = SseDecoder::default();
        chunks
            .iter()
            .flat_map(|chunk| decoder.feed(chunk).unwrap())
            .collect()
    }

    fn data(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn line_ends_cr_lf_and_crlf_even_split_across_chunks() {
        for chunks in [
            &[b"data: a\n\ndata: b\n\n".as_slice()][..],
            &[b"data: a\r\rdata: b\r\r"],
            &[b"data: a\r\n\r\ndata: b\r\n\r\n"],
            &[b"data: a\r", b"\n\r", b"\ndata: b\r\n", b"\r\n"],
        ] {
            assert_eq!(data(&all(chunks)), ["a", "b"], "{chunks:?}");
        }
    }

    #[test]
    fn bom_is_stripped_once_even_when_split() {
        assert_eq!(data(&all(&[b"\xEF\xBB\xBFdata: a\n\n"])), ["a"]);
        assert_eq!(data(&all(&[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"])), ["a"]);
        // A second BOM is text: it makes the field name unknown.
        assert!(all(&[b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n"]).is_empty());
    }

    #[test]
    fn fields_comments_multiline_and_empty_events() {
        let events = all(&[
            b": comment\nevent: add\ndata\ndata:x\ndata:  y\nunknown: z\n\n",
            b"data:\n\n",
            b"event: nothing\n\n",
            b"data: after\n\n",
        ]);
        assert_eq!(events[0].event, "add");
        assert_eq!(events[0].data, "\nx\n y");
        assert_eq!(events[1].data, "");
        assert_eq!(events[1].event, "message");
        assert_eq!(
            events[2].event, "message",
            "an event type does not outlive its block"
        );
        assert_eq!(events.len(), 3, "a block without data dispatches nothing");
    }

    #[test]
    fn ids_persist_and_nul_ids_are_ignored() {
        let events = all(&[b"id: 1\ndata: a\n\ndata: b\n\nid: x\x00y\ndata: c\n\nid\ndata: d\n\n"]);
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["1", "1", "1", ""]);
    }

    #[test]
    fn retry_must_be_digits() {
        let mut decoder = SseDecoder::default();
        let events = decoder
            .feed(b"retry: 2500\ndata: a\n\nretry: 1000x\ndata: b\n\nretry:\n\n")
            .unwrap();
        assert_eq!(events[0].retry, Some(Duration::from_millis(2500)));
        assert_eq!(events[1].retry, None);
        assert_eq!(
            decoder.reconnection_time(),
            Some(Duration::from_millis(2500))
        );
    }

    #[test]
    fn multibyte_characters_split_across_chunks_decode_whole() {
        let text = "données: ✓ 🦀";
        let bytes = format!("data: {text}\n\n").into_bytes();
        let mut decoder = SseDecoder::default();
        let mut events = Vec::new();
        for byte in &bytes {
            events.extend(decoder.feed(std::slice::from_ref(byte)).unwrap());
        }
        assert_eq!(data(&events), [text]);
    }

    #[test]
    fn pending_data_at_the_end_is_dropped() {
        assert!(all(&[b"data: never finished"]).is_empty());
    }

    #[test]
    fn endless_lines_and_huge_events_stop_at_the_cap() {
        let mut decoder = SseDecoder::new(SseConfig::default().with_max_line(16));
        assert!(decoder.feed(b"data: 0123456789").is_ok());
        assert_eq!(
            decoder.feed(b"abcdef"),
            Err(SseError::LineTooLong { max: 16 })
        );
        let mut decoder = SseDecoder::new(SseConfig::default().with_max_event(8));
        assert_eq!(
            decoder.feed(b"data: 1234\ndata: 5678\n"),
            Err(SseError::EventTooLarge { max: 8 })
        );
    }
}
