//! The backend byte stream, fed in chunks whose sizes come from the input: frame splitting and every
//! message decoder must return a value or a typed error, never panic or over-allocate.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pg_wire::proto::FrameDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let decoder = FrameDecoder::new(1 << 20);
    let mut buf = BytesMut::new();
    for piece in stream.chunks(usize::from(chunk).max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.next_message(&mut buf) {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
});
