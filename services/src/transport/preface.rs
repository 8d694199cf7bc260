//! Watching a new HTTP/2 connection for the server's connection preface.
//!
//! hyper's HTTP/2 handshake only writes our side's preface; it does not wait for the
//! server's. A server that accepts the connection and never speaks HTTP/2 would then pass
//! for connected, and the connect timeout would not cover it. The server's preface is a
//! SETTINGS frame, sent first (RFC 9113 §3.4).
//!
//! The handshake ends once those settings are in effect, not when their frame arrives: a
//! request sent in between would not see them (the server's stream limit, or whether it
//! accepts extended CONNECT, RFC 8441). h2 applies a SETTINGS frame (and queues its ACK)
//! before it reads anything more, so the first read after the frame's last byte is the sign.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_channel::oneshot;
use hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};

const FRAME_HEADER_LEN: usize = 9;
/// Where the frame type sits in a frame header.
const FRAME_TYPE_AT: usize = 3;
const SETTINGS: u8 = 0x4;
/// The size of the buffer a SETTINGS payload passes through (it has no bound of its own
/// below the frame size, so it goes by in pieces).
const PAYLOAD_CHUNK: usize = 64;

/// What the server sent first: `Ok(true)` for a SETTINGS frame, once it is in effect;
/// `Ok(false)` for any other frame; cancelled when the connection ended before.
pub(crate) type PrefaceSeen = oneshot::Receiver<bool>;

/// An IO that reports the first frame it reads.
pub(crate) struct Preface<IO> {
    io: IO,
    watch: Option<Watch>,
}

struct Watch {
    header: [u8; FRAME_HEADER_LEN],
    seen: usize,
    /// The bytes of the SETTINGS payload not yet read, once its header has been.
    payload_left: usize,
    report: oneshot::Sender<bool>,
}

/// Wraps `io`; the receiver learns what the server sent first.
pub(crate) fn watch<IO>(io: IO) -> (Preface<IO>, PrefaceSeen) {
    let (report, seen) = oneshot::channel();
    let watch = Watch {
        header: [0; FRAME_HEADER_LEN],
        seen: 0,
        payload_left: 0,
        report,
    };
    (
        Preface {
            io,
            watch: Some(watch),
        },
        seen,
    )
}

impl<IO: Read + Unpin> Read for Preface<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let Some(watch) = &mut this.watch else {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        };
        let in_header = watch.seen < FRAME_HEADER_LEN;
        if !in_header && watch.payload_left == 0 {
            // The whole SETTINGS frame was read and h2 reads again: the settings are applied.
            if let Some(watch) = this.watch.take() {
                let _ = watch.report.send(true);
            }
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let want = if in_header {
            FRAME_HEADER_LEN - watch.seen
        } else {
            watch.payload_left.min(PAYLOAD_CHUNK)
        }
        .min(buf.remaining());
        if want == 0 {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        // hyper's cursor does not show what was read into it: until the first frame has gone
        // by, reads go through a buffer of our own, a few bytes once per connection.
        let mut scratch = [0; PAYLOAD_CHUNK];
        let mut read = ReadBuf::new(&mut scratch[..want]);
        ready!(Pin::new(&mut this.io).poll_read(cx, read.unfilled()))?;
        let got = read.filled();
        buf.put_slice(got);
        if got.is_empty() {
            // The end of the stream: dropping the watch tells the waiting connect.
            this.watch = None;
            return Poll::Ready(Ok(()));
        }
        if !in_header {
            watch.payload_left -= got.len();
            return Poll::Ready(Ok(()));
        }
        let end = watch.seen + got.len();
        if let Some(header) = watch.header.get_mut(watch.seen..end) {
            header.copy_from_slice(got);
        }
        watch.seen = end;
        if watch.seen == FRAME_HEADER_LEN {
            if watch.header[FRAME_TYPE_AT] == SETTINGS {
                let [a, b, c, ..] = watch.header;
                watch.payload_left = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
            } else if let Some(watch) = this.watch.take() {
                let _ = watch.report.send(false);
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: Write + Unpin> Write for Preface<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}
