//! `sse::SseDecoder`, the event-stream parser, on arbitrary bytes.
//!
//! The first input byte picks where the rest is cut into two chunks. Invariants: no panic;
//! the events (or the error) do not depend on where the stream was cut; no event's data is
//! longer than the configured cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use towline::sse::{SseConfig, SseDecoder};

const CAP: usize = 256;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let config = SseConfig::default().with_max_line(CAP).with_max_event(CAP);
    let whole = SseDecoder::new(config).feed(stream);
    let at = usize::from(cut).min(stream.len());
    let (first, second) = stream.split_at(at);
    let mut decoder = SseDecoder::new(config);
    let split = decoder.feed(first).and_then(|mut events| {
        events.extend(decoder.feed(second)?);
        Ok(events)
    });
    match (&whole, &split) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "cut at {at}"),
        (Err(a), Err(b)) => assert_eq!(a, b, "cut at {at}"),
        _ => panic!("cut at {at} changed the outcome: {whole:?} vs {split:?}"),
    }
    if let Ok(events) = whole {
        assert!(events.iter().all(|event| event.data.len() <= CAP));
    }
});
