//! The SOCKS reply parsers (`towline_services::connect::socks`) on arbitrary bytes: the
//! SOCKS5 method choice, the RFC 1929 auth status, the SOCKS5 CONNECT reply and the SOCKS4
//! reply.
//!
//! Input: byte 0 says whether the greeting offered username/password (bit 0, for the method
//! choice) and the read size of the driven parse (see below, 1-8 bytes); the rest is the
//! proxy's bytes, given to every parser.
//!
//! Invariants, from the module documentation: no panic; `NeedMore(n)` asks for one byte or
//! more and never past the longest reply (`MAX_V5_REPLY`), nor past the end of the reply
//! the bytes turn out to be; `Complete(_, len)` covers at most the input, and the input cut
//! to `len` parses the same; errors come only from bytes present (more bytes never change
//! them) and are refusals, authentication failures or protocol violations, never invalid
//! requests or I/O. And the handshake's way of reading
//! — bytes as they arrive, never more than asked for — reaches the same outcome as the
//! whole input at once, whatever the read size, having read exactly the reply.
#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;
use towline::towline_services::connect::socks::{
    MAX_V5_REPLY, Parsed, SocksError, SocksErrorKind, parse_v4_reply, parse_v5_auth_reply,
    parse_v5_method_choice, parse_v5_reply,
};

/// Where a driven parse ends: a reply of this length, an error, or the input ran out.
#[derive(Debug, PartialEq)]
enum End<T> {
    Complete(T, usize),
    Error(SocksErrorKind),
    OutOfInput,
}

fn check<T: PartialEq + Debug>(
    name: &str,
    data: &[u8],
    read_size: usize,
    parse: impl Fn(&[u8]) -> Result<Parsed<T>, SocksError>,
) {
    let whole = parse(data);
    match &whole {
        Ok(Parsed::NeedMore(more)) => {
            assert!(*more >= 1, "{name}: NeedMore(0)");
            assert!(
                data.len() + more <= MAX_V5_REPLY,
                "{name}: asks for {more} after {} bytes",
                data.len()
            );
        }
        Ok(Parsed::Complete(value, len)) => {
            assert!(
                (1..=data.len().min(MAX_V5_REPLY)).contains(len),
                "{name}: Complete({len}) of {} bytes",
                data.len()
            );
            match parse(&data[..*len]) {
                Ok(Parsed::Complete(again, again_len)) => {
                    assert_eq!((&again, again_len), (value, *len), "{name}: cut to its length");
                }
                other => panic!("{name}: cut to its length {len}: {other:?}"),
            }
            // Every shorter prefix asks for more, and never for more than the reply holds.
            for have in 0..*len {
                match parse(&data[..have]) {
                    Ok(Parsed::NeedMore(more)) => assert!(
                        have + more <= *len,
                        "{name}: asks for {more} after {have} bytes of a {len}-byte reply"
                    ),
                    other => panic!("{name}: {have} bytes of a {len}-byte reply: {other:?}"),
                }
            }
        }
        Err(error) => {
            let kind = error.kind();
            assert!(
                kind.is_refusal() || kind.is_auth() || kind.is_protocol_violation(),
                "{name}: {kind:?} from a reply"
            );
            assert!(!kind.is_invalid_request() && kind != SocksErrorKind::Io, "{name}: {kind:?}");
            assert!(!error.to_string().is_empty());
            for extra in [0x00, 0xff] {
                let longer = [data, &[extra]].concat();
                let again = parse(&longer).map_err(|error| error.kind());
                assert_eq!(again.err(), Some(kind), "{name}: one more byte changed the error");
            }
        }
    }

    // The handshake's reading: parse what arrived, read at most what was asked for.
    let mut filled = 0;
    let driven = loop {
        match parse(&data[..filled]) {
            Err(error) => break End::Error(error.kind()),
            Ok(Parsed::Complete(value, len)) => {
                assert_eq!(filled, len, "{name}: read past the reply's end");
                break End::Complete(value, len);
            }
            Ok(Parsed::NeedMore(more)) => {
                let read = more.min(read_size).min(data.len() - filled);
                if read == 0 {
                    break End::OutOfInput;
                }
                filled += read;
            }
        }
    };
    let expected = match whole {
        Err(error) => End::Error(error.kind()),
        Ok(Parsed::Complete(value, len)) => End::Complete(value, len),
        Ok(Parsed::NeedMore(_)) => End::OutOfInput,
    };
    assert_eq!(driven, expected, "{name}: read {read_size} at a time");
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, reply)) = data.split_first() else {
        return;
    };
    let offered_credentials = first & 1 == 1;
    let read_size = usize::from((first >> 1) % 8) + 1;
    check("method choice", reply, read_size, |buf| {
        parse_v5_method_choice(buf, offered_credentials)
    });
    check("auth reply", reply, read_size, parse_v5_auth_reply);
    check("SOCKS5 reply", reply, read_size, parse_v5_reply);
    check("SOCKS4 reply", reply, read_size, parse_v4_reply);
});
