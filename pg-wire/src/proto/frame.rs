//! Splitting the backend byte stream into messages.
//!
//! Every backend message is a type byte, an `Int32` length that counts itself but not the type
//! byte, and a body. [`FrameDecoder`] is fed whatever the socket delivered, in arbitrary chunks, and
//! yields whole messages or says it needs more bytes. The declared length is checked (at least 4, at
//! most the limit for the message type) before anything is reserved for the body, and the body is
//! split off the read buffer without copying.

use bytes::{Buf, Bytes, BytesMut};

use super::backend::{BackendMessage, tag};
use super::error::ProtocolError;

/// The type byte and the 4-byte length.
pub const HEADER_LEN: usize = 5;

/// The default largest message accepted: 256 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 256 * 1024 * 1024;

/// The limit for message types that only ever carry a few short fields (authentication requests,
/// CommandComplete, ParameterStatus, BackendKeyData, COPY responses, ...).
pub const SMALL_MESSAGE_LIMIT: usize = 64 * 1024;

/// The limit for ErrorResponse and NoticeResponse: far above any real message (the server's own
/// texts are short; a `RAISE` can be long), well below the general limit, since every field of
/// these messages becomes a string of its own.
pub const ERROR_MESSAGE_LIMIT: usize = 16 * 1024 * 1024;

/// A backend message that has been framed but not decoded: its type byte and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message type byte.
    pub tag: u8,
    /// The body, without type byte and length.
    pub body: Bytes,
}

impl Frame {
    /// Decodes the body.
    pub fn decode(self) -> Result<BackendMessage, ProtocolError> {
        BackendMessage::decode(self.tag, self.body)
    }
}

/// Splits a byte stream into backend messages, enforcing per-type length limits.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_message_size: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_MESSAGE_SIZE)
    }
}

impl FrameDecoder {
    /// A decoder accepting messages of at most `max_message_size` bytes (the declared length,
    /// which includes the 4 length bytes). Values below the small-message limit are raised to it.
    pub fn new(max_message_size: usize) -> Self {
        FrameDecoder {
            max_message_size: max_message_size.max(SMALL_MESSAGE_LIMIT),
        }
    }

    /// The largest declared length accepted for messages of type `tag`; `None` for a type byte that
    /// is not a backend message.
    pub fn limit_for(&self, tag: u8) -> Option<usize> {
        let limit = match tag {
            tag::BIND_COMPLETE
            | tag::CLOSE_COMPLETE
            | tag::COPY_DONE
            | tag::EMPTY_QUERY_RESPONSE
            | tag::NO_DATA
            | tag::PARSE_COMPLETE
            | tag::PORTAL_SUSPENDED => 4,
            tag::READY_FOR_QUERY => 5,
            tag::AUTHENTICATION
            | tag::BACKEND_KEY_DATA
            | tag::COMMAND_COMPLETE
            | tag::COPY_IN_RESPONSE
            | tag::COPY_OUT_RESPONSE
            | tag::COPY_BOTH_RESPONSE
            | tag::NEGOTIATE_PROTOCOL_VERSION
            // A NOTIFY payload is shorter than 8000 bytes, a channel name at most 63.
            | tag::NOTIFICATION_RESPONSE
            | tag::PARAMETER_STATUS => SMALL_MESSAGE_LIMIT,
            tag::ERROR_RESPONSE | tag::NOTICE_RESPONSE => {
                self.max_message_size.min(ERROR_MESSAGE_LIMIT)
            }
            tag::COPY_DATA
            | tag::DATA_ROW
            | tag::PARAMETER_DESCRIPTION
            | tag::ROW_DESCRIPTION => self.max_message_size,
            _ => return None,
        };
        Some(limit)
    }

    /// Checks a header and returns the message's total size (type byte included).
    fn check_header(&self, header: [u8; HEADER_LEN]) -> Result<usize, ProtocolError> {
        let [tag, l0, l1, l2, l3] = header;
        let limit = self
            .limit_for(tag)
            .ok_or(ProtocolError::UnknownMessageType { tag })?;
        let declared = i32::from_be_bytes([l0, l1, l2, l3]);
        let len = usize::try_from(declared)
            .ok()
            .filter(|&len| len >= 4)
            .ok_or(ProtocolError::LengthTooShort { tag, len: declared })?;
        if len > limit {
            return Err(ProtocolError::MessageTooLarge { tag, len, limit });
        }
        Ok(len + 1)
    }

    /// How many more bytes `buf` needs before [`FrameDecoder::next_frame`] can yield a message
    /// (0 when one is complete). The header is checked first, so a bad length is an error here.
    pub fn bytes_needed(&self, buf: &[u8]) -> Result<usize, ProtocolError> {
        let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
            return Ok(HEADER_LEN - buf.len());
        };
        let total = self.check_header(*header)?;
        Ok(total.saturating_sub(buf.len()))
    }

    /// Splits the next whole message off the front of `buf`, or returns `None` when more bytes are
    /// needed. Nothing is consumed on `None` or on error.
    pub fn next_frame(&self, buf: &mut BytesMut) -> Result<Option<Frame>, ProtocolError> {
        let Some(header) = buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let [tag, ..] = *header;
        let total = self.check_header(*header)?;
        if buf.len() < total {
            return Ok(None);
        }
        let mut message = buf.split_to(total);
        message.advance(HEADER_LEN);
        Ok(Some(Frame {
            tag,
            body: message.freeze(),
        }))
    }

    /// Splits off and decodes the next whole message, or returns `None` when more bytes are needed.
    pub fn next_message(
        &self,
        buf: &mut BytesMut,
    ) -> Result<Option<BackendMessage>, ProtocolError> {
        match self.next_frame(buf)? {
            Some(frame) => frame.decode().map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::backend::TransactionStatus;

    #[test]
    fn yields_messages_from_arbitrary_chunks() {
        let stream: &[u8] = b"Z\0\0\0\x05IC\0\0\0\x0dSELECT 1\0Z\0\0\0\x05T";
        for chunk in 1..stream.len() {
            let decoder = FrameDecoder::default();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for piece in stream.chunks(chunk) {
                buf.extend_from_slice(piece);
                while let Some(msg) = decoder.next_message(&mut buf).unwrap() {
                    got.push(msg);
                }
            }
            assert_eq!(got.len(), 3, "chunk size {chunk}");
            assert_eq!(
                got[0],
                BackendMessage::ReadyForQuery(TransactionStatus::Idle)
            );
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn length_below_four_and_negative() {
        let decoder = FrameDecoder::default();
        for len in [0i32, 3, -1, i32::MIN] {
            let mut buf = BytesMut::from(&[b'D'][..]);
            buf.extend_from_slice(&len.to_be_bytes());
            assert_eq!(
                decoder.next_frame(&mut buf).unwrap_err(),
                ProtocolError::LengthTooShort { tag: b'D', len }
            );
        }
    }

    #[test]
    fn oversized_messages_are_refused_before_the_body_arrives() {
        let decoder = FrameDecoder::new(1024 * 1024);
        let mut buf = BytesMut::from(&b"D\x40\x00\x00\x00"[..]);
        let err = decoder.next_frame(&mut buf).unwrap_err();
        assert_eq!(
            err,
            ProtocolError::MessageTooLarge {
                tag: b'D',
                len: 0x4000_0000,
                limit: 1024 * 1024
            }
        );
        assert!(err.to_string().contains("1048576"));
        // Short message types have small limits of their own.
        let mut buf = BytesMut::from(&b"Z\0\0\0\x06"[..]);
        assert!(matches!(
            decoder.next_frame(&mut buf).unwrap_err(),
            ProtocolError::MessageTooLarge { limit: 5, .. }
        ));
        let mut buf = BytesMut::from(&b"R\0\x10\0\0"[..]);
        assert!(matches!(
            decoder.next_frame(&mut buf).unwrap_err(),
            ProtocolError::MessageTooLarge {
                limit: SMALL_MESSAGE_LIMIT,
                ..
            }
        ));
    }

    #[test]
    fn unknown_type_is_refused_at_the_header() {
        let mut buf = BytesMut::from(&b"x\0\0\0\x04"[..]);
        assert_eq!(
            FrameDecoder::default().next_frame(&mut buf).unwrap_err(),
            ProtocolError::UnknownMessageType { tag: b'x' }
        );
    }

    #[test]
    fn bytes_needed_counts_down() {
        let decoder = FrameDecoder::default();
        assert_eq!(decoder.bytes_needed(b"").unwrap(), 5);
        assert_eq!(decoder.bytes_needed(b"C\0\0").unwrap(), 2);
        assert_eq!(decoder.bytes_needed(b"C\0\0\0\x0dSEL").unwrap(), 6);
        assert_eq!(decoder.bytes_needed(b"Z\0\0\0\x05I").unwrap(), 0);
    }
}
