//! The [`DecompressionBody`] response body and the decoding pipeline behind it.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::{
    DecompressionError, Encoding,
    codec::{Decoder, Progress},
    limit::Limits,
};
use crate::BoxError;

pin_project! {
    /// Response body of [`Decompression`](super::Decompression): the inner body decoded, or
    /// passed through untouched when the response was not decoded.
    ///
    /// A decoded body yields frames of at most 32 KiB, decoded as they are read; it ends with a
    /// [`DecompressionError`] frame when the input is corrupt or truncated or a limit is
    /// passed. Trailers of the inner body follow the decoded data. Errors of the inner body
    /// pass through unchanged.
    pub struct DecompressionBody<B> {
        #[pin]
        inner: B,
        pipeline: Option<Box<Pipeline>>,
    }
}

impl<B> DecompressionBody<B> {
    /// A body that passes `inner` through untouched.
    pub(super) fn identity(inner: B) -> Self {
        Self {
            inner,
            pipeline: None,
        }
    }

    /// A body that undoes `plan` (codings in the order they were applied) on `inner`.
    pub(super) fn decoding(inner: B, plan: &[Encoding], limits: Limits) -> Self {
        Self {
            inner,
            pipeline: Some(Box::new(Pipeline::new(plan, limits))),
        }
    }

    /// The codings this body undoes, in the order they were applied; empty when it passes
    /// the inner body through.
    pub fn encodings(&self) -> &[Encoding] {
        self.pipeline
            .as_deref()
            .map_or(&[], |pipeline| pipeline.plan.as_slice())
    }

    /// Returns a reference to the inner body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Returns a mutable reference to the inner body.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// Consumes the body, returning the inner (still encoded) body.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B> Body for DecompressionBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let Some(pipeline) = this.pipeline.as_deref_mut() else {
            return this.inner.poll_frame(cx).map(|frame| {
                frame.map(|frame| {
                    frame
                        .map(|frame| {
                            frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
                        })
                        .map_err(Into::into)
                })
            });
        };
        loop {
            match pipeline.pull() {
                Ok(Pulled::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(Pulled::End) => {
                    return Poll::Ready(pipeline.trailers.take().map(|t| Ok(Frame::trailers(t))));
                }
                Err(err) => return Poll::Ready(Some(Err(err.into()))),
                Ok(Pulled::NeedInput) => {}
            }
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => pipeline.end_input(None),
                Poll::Ready(Some(Err(err))) => {
                    pipeline.fail();
                    return Poll::Ready(Some(Err(err.into())));
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(mut data) => pipeline.push(data.copy_to_bytes(data.remaining())),
                    // A frame that is neither data nor trailers carries nothing to decode.
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            pipeline.end_input(Some(trailers));
                        }
                    }
                },
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.pipeline {
            None => self.inner.is_end_stream(),
            Some(pipeline) => pipeline.is_done(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.pipeline {
            None => self.inner.size_hint(),
            Some(pipeline) if pipeline.is_done() => SizeHint::with_exact(0),
            // The decoded size is unknown until the body has been decoded.
            Some(_) => SizeHint::default(),
        }
    }
}

impl<B: fmt::Debug> fmt::Debug for DecompressionBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecompressionBody")
            .field("inner", &self.inner)
            .field("encodings", &self.encodings())
            .finish()
    }
}

/// What the pipeline's last stage produced.
enum Pulled {
    /// Decoded bytes for the caller.
    Data(Bytes),
    /// The first stage needs more of the inner body.
    NeedInput,
    /// The decoded body is complete.
    End,
}

/// One decoder and its input.
struct Stage {
    decoder: Decoder,
    /// Input not yet decoded: a frame of the inner body (first stage) or a chunk decoded by
    /// the previous stage.
    input: Bytes,
    /// Whether any input arrived at all: an empty body decodes to an empty body.
    fed: bool,
    /// Whether the last step filled its buffer, so output may still be pending.
    drain: bool,
    /// Whether the input ended.
    input_ended: bool,
    /// Bytes this stage has written so far, held to the limits.
    decoded: u64,
    /// Scratch space the next step writes into.
    buffer: BytesMut,
}

/// The decoders of one body, innermost coding first: stage 0 reads the inner body, each
/// later stage reads what the one before decoded, the last stage's output is the body's.
///
/// Each stage holds at most one input frame or chunk and one output chunk, and every step
/// writes at most [`CHUNK`](super::limit::CHUNK) bytes, so memory stays bounded however much
/// a body expands.
struct Pipeline {
    plan: Vec<Encoding>,
    stages: Vec<Stage>,
    /// Why a decoder could not be created: the body yields it as its only frame.
    failed: Option<DecompressionError>,
    limits: Limits,
    /// Bytes of the inner body consumed by the first stage.
    encoded: u64,
    trailers: Option<HeaderMap>,
    done: bool,
}

impl Pipeline {
    fn new(plan: &[Encoding], limits: Limits) -> Self {
        let stages = plan
            .iter()
            .rev()
            .map(|&encoding| {
                Decoder::new(encoding).map(|decoder| Stage {
                    decoder,
                    input: Bytes::new(),
                    fed: false,
                    drain: false,
                    input_ended: false,
                    decoded: 0,
                    buffer: BytesMut::new(),
                })
            })
            .collect::<Result<Vec<_>, _>>();
        let (stages, failed) = match stages {
            Ok(stages) => (stages, None),
            Err(err) => (Vec::new(), Some(err)),
        };
        Self {
            plan: plan.to_vec(),
            stages,
            failed,
            limits,
            encoded: 0,
            trailers: None,
            done: false,
        }
    }

    fn is_done(&self) -> bool {
        self.done
    }

    /// Hands the first stage a frame of the inner body.
    fn push(&mut self, data: Bytes) {
        if let Some(first) = self.stages.first_mut()
            && !data.is_empty()
        {
            first.fed = true;
            first.input = data;
        }
    }

    /// The inner body ended, with or without trailers.
    fn end_input(&mut self, trailers: Option<HeaderMap>) {
        self.trailers = trailers;
        if let Some(first) = self.stages.first_mut() {
            first.input_ended = true;
        }
    }

    /// The inner body failed: the body ends with its error.
    fn fail(&mut self) {
        self.finish();
    }

    /// Ends the body and frees the decoders.
    fn finish(&mut self) {
        self.done = true;
        self.stages = Vec::new();
    }

    /// Decodes until the last stage has output, needs input, or ends.
    fn pull(&mut self) -> Result<Pulled, DecompressionError> {
        if self.done {
            return Ok(Pulled::End);
        }
        let result = match (self.failed.take(), self.stages.len().checked_sub(1)) {
            (Some(err), _) => Err(err),
            (None, Some(last)) => pull(&mut self.stages, last, &self.limits, &mut self.encoded),
            (None, None) => Ok(Pulled::End),
        };
        if matches!(result, Ok(Pulled::End) | Err(_)) {
            self.finish();
        }
        result
    }
}

/// Pulls output from stage `index`, pulling its input from the stages before it.
fn pull(
    stages: &mut [Stage],
    index: usize,
    limits: &Limits,
    encoded: &mut u64,
) -> Result<Pulled, DecompressionError> {
    loop {
        let Some((stage, earlier)) = stages
            .get_mut(..=index)
            .and_then(|stages| stages.split_last_mut())
        else {
            return Ok(Pulled::End);
        };
        if !stage.input.is_empty() || stage.drain {
            if let Some(data) = step(stage, limits, index == 0, encoded)? {
                return Ok(Pulled::Data(data));
            }
        } else if stage.input_ended {
            if stage.fed {
                stage.decoder.finish()?;
            }
            return Ok(Pulled::End);
        } else if index == 0 {
            return Ok(Pulled::NeedInput);
        } else {
            match pull(earlier, index - 1, limits, encoded)? {
                Pulled::Data(data) => {
                    stage.fed = true;
                    stage.input = data;
                }
                Pulled::NeedInput => return Ok(Pulled::NeedInput),
                Pulled::End => stage.input_ended = true,
            }
        }
    }
}

/// Runs one decoding step of `stage`; returns the bytes it wrote, if any.
fn step(
    stage: &mut Stage,
    limits: &Limits,
    first: bool,
    encoded: &mut u64,
) -> Result<Option<Bytes>, DecompressionError> {
    let len = limits.step_len(stage.decoded);
    stage.buffer.clear();
    stage.buffer.resize(len, 0);
    let Progress { read, written } = stage.decoder.decode(&stage.input, &mut stage.buffer)?;
    let read = read.min(stage.input.len());
    let written = written.min(len);
    let had_input = !stage.input.is_empty();
    stage.input.advance(read);
    if first {
        *encoded = encoded.saturating_add(read as u64);
    }
    stage.drain = written == len;
    if written == 0 {
        if had_input && read == 0 {
            // A decoder that takes no input and gives no output would loop forever.
            return Err(DecompressionError::corrupt(
                stage.decoder.encoding(),
                "the decoder made no progress",
            ));
        }
        return Ok(None);
    }
    stage.decoded = stage.decoded.saturating_add(written as u64);
    limits.check(stage.decoder.encoding(), stage.decoded, *encoded)?;
    stage.buffer.truncate(written);
    Ok(Some(stage.buffer.split().freeze()))
}
