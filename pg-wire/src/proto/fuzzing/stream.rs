//! Target `backend_stream`: frame splitting and every backend message decoder.

use bytes::{BufMut, BytesMut};

use crate::proto::backend::{BackendMessage, rows_of_tag};
use crate::proto::error::ProtocolError;
use crate::proto::frame::{Frame, FrameDecoder, HEADER_LEN};

/// Input: one control byte, then a backend byte stream.
///
/// The low 7 bits of the control byte pick the size of the chunks the stream is fed in (1 to
/// 128 bytes); the top bit picks the smallest message limit (64 KiB) instead of 1 MiB. Checks:
///
/// - fed in chunks, the decoder yields the same frames and the same error as fed all at once, and
///   [`FrameDecoder::bytes_needed`] agrees with [`FrameDecoder::next_frame`] at every step;
/// - every frame either decodes or gives a typed error; a decoded message re-encodes to exactly
///   the bytes it came from (ErrorResponse and NoticeResponse values that were not UTF-8 are
///   decoded leniently, so for those only the decoded values must survive a second round trip);
/// - every accessor of a decoded message works.
pub fn backend_stream(data: &[u8]) {
    let Some((&control, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(control & 0x7f) + 1;
    let decoder = FrameDecoder::new(if control & 0x80 != 0 { 0 } else { 1 << 20 });

    let (whole, whole_end) = split_whole(&decoder, stream);
    let (chunked, chunked_end) = split_chunked(&decoder, stream, chunk);
    assert_eq!(whole, chunked, "chunk size {chunk} changed the frames");
    assert_eq!(
        whole_end, chunked_end,
        "chunk size {chunk} changed the error"
    );

    for frame in whole {
        check_frame(frame);
    }
}

/// Splits the whole stream at once: the frames, then the error that stopped it (if any).
fn split_whole(decoder: &FrameDecoder, stream: &[u8]) -> (Vec<Frame>, Option<ProtocolError>) {
    let mut buf = BytesMut::from(stream);
    let mut frames = Vec::new();
    loop {
        match decoder.next_frame(&mut buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => {
                assert!(
                    decoder.bytes_needed(&buf).is_ok_and(|n| n > 0),
                    "no frame but no bytes needed"
                );
                return (frames, None);
            }
            Err(e) => return (frames, Some(e)),
        }
    }
}

/// Feeds the stream in `chunk`-byte pieces, checking `bytes_needed` before every split.
fn split_chunked(
    decoder: &FrameDecoder,
    stream: &[u8],
    chunk: usize,
) -> (Vec<Frame>, Option<ProtocolError>) {
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            let needed = decoder.bytes_needed(&buf);
            let before = buf.len();
            match (decoder.next_frame(&mut buf), needed) {
                (Ok(Some(frame)), Ok(0)) => {
                    assert_eq!(
                        before - buf.len(),
                        HEADER_LEN + frame.body.len(),
                        "a frame consumed more or less than itself"
                    );
                    frames.push(frame);
                }
                (Ok(None), Ok(n)) if n > 0 => {
                    assert_eq!(buf.len(), before, "None consumed bytes");
                    break;
                }
                (Err(e), Err(needed_error)) => {
                    assert_eq!(e, needed_error, "bytes_needed and next_frame disagree");
                    assert_eq!(buf.len(), before, "an error consumed bytes");
                    return (frames, Some(e));
                }
                (got, needed) => {
                    panic!("next_frame gave {got:?} but bytes_needed said {needed:?}")
                }
            }
        }
    }
    (frames, None)
}

/// Decodes one frame, re-encodes what decoded, and calls every accessor.
fn check_frame(frame: Frame) {
    let mut original = BytesMut::with_capacity(HEADER_LEN + frame.body.len());
    original.put_u8(frame.tag);
    // The frame decoder checked the length against a limit far below i32::MAX.
    original.put_u32(u32::try_from(frame.body.len() + 4).unwrap_or(u32::MAX));
    original.put_slice(&frame.body);

    let message = match frame.decode() {
        Ok(message) => message,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    exercise(&message);

    let mut encoded = BytesMut::new();
    if let Err(e) = message.encode(&mut encoded) {
        panic!("{} decoded but does not encode: {e}", message.name());
    }
    let lossy = matches!(
        message,
        BackendMessage::ErrorResponse(_) | BackendMessage::NoticeResponse(_)
    ) && encoded != original;
    if !lossy {
        assert_eq!(
            encoded,
            original,
            "{} does not re-encode to its own bytes",
            message.name()
        );
    }
    check_reencoded(&message, encoded);
}

/// Decodes what [`BackendMessage::encode`] wrote and compares it with the message.
pub(super) fn check_reencoded(message: &BackendMessage, mut encoded: BytesMut) {
    match FrameDecoder::default().next_message(&mut encoded) {
        Ok(Some(again)) => assert_eq!(&again, message, "round trip changed the message"),
        other => panic!(
            "the encoding of {} does not decode: {other:?}",
            message.name()
        ),
    }
    assert!(encoded.is_empty(), "the encoding has trailing bytes");
}

/// Calls the accessors of a decoded message; none of them may panic.
fn exercise(message: &BackendMessage) {
    let _ = format!("{message:?}");
    assert!(!message.name().is_empty());
    match message {
        BackendMessage::CommandComplete(complete) => {
            assert_eq!(complete.rows(), rows_of_tag(&complete.tag));
        }
        BackendMessage::DataRow(row) => {
            assert_eq!(row.iter().len(), row.len());
            assert_eq!(row.is_empty(), row.iter().next().is_none());
            let mut value_bytes = 0usize;
            for i in 0..row.len() {
                let value = row.get(i);
                let bytes = row.get_bytes(i);
                assert_eq!(
                    value.map(|v| v.map(<[u8]>::to_vec)),
                    bytes.map(|v| v.map(|b| b.to_vec())),
                    "get and get_bytes disagree"
                );
                value_bytes += value.flatten().map_or(0, <[u8]>::len) + 4;
            }
            assert_eq!(row.get(row.len()), None);
            assert_eq!(
                value_bytes + 2,
                row.body().len(),
                "fields do not cover the row"
            );
        }
        BackendMessage::ErrorResponse(fields) | BackendMessage::NoticeResponse(fields) => {
            super::errors::exercise_fields(fields);
        }
        BackendMessage::NegotiateProtocolVersion(negotiate) => {
            assert_eq!(
                (negotiate.major() << 16) | negotiate.minor(),
                negotiate.newest_version
            );
        }
        _ => {}
    }
}
