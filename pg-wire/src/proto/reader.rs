//! A checked cursor over a message body.
//!
//! Every read says what it reads (`what`), so a short or malformed body turns into a
//! [`ProtocolError`] that names the field, never a panic or an out-of-bounds slice.

use super::error::ProtocolError;

/// Reads big-endian integers, C strings and byte runs from a message body, checking every bound.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A cursor at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The offset of the next unread byte.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Takes the next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ProtocolError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.buf.len())
            .ok_or(ProtocolError::Truncated { what })?;
        let out = self
            .buf
            .get(self.pos..end)
            .ok_or(ProtocolError::Truncated { what })?;
        self.pos = end;
        Ok(out)
    }

    /// Takes the next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], ProtocolError> {
        let bytes = self.take(N, what)?;
        <[u8; N]>::try_from(bytes).map_err(|_| ProtocolError::Truncated { what })
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, ProtocolError> {
        let [byte] = self.array::<1>(what)?;
        Ok(byte)
    }

    /// Reads a big-endian `Int16`.
    pub(crate) fn i16(&mut self, what: &'static str) -> Result<i16, ProtocolError> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `Int16` that the protocol defines as a count (never negative).
    pub(crate) fn count16(&mut self, what: &'static str) -> Result<usize, ProtocolError> {
        let n = self.i16(what)?;
        usize::try_from(n).map_err(|_| ProtocolError::InvalidValue {
            what,
            value: i64::from(n),
        })
    }

    /// Reads a big-endian `Int32`.
    pub(crate) fn i32(&mut self, what: &'static str) -> Result<i32, ProtocolError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    /// Reads a big-endian `Int32` that the protocol defines as a count (never negative).
    pub(crate) fn count32(&mut self, what: &'static str) -> Result<usize, ProtocolError> {
        let n = self.i32(what)?;
        usize::try_from(n).map_err(|_| ProtocolError::InvalidValue {
            what,
            value: i64::from(n),
        })
    }

    /// Reads a big-endian unsigned 32-bit integer (an OID).
    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, ProtocolError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    /// Reads a NUL-terminated byte string (without the NUL).
    pub(crate) fn cstr_bytes(&mut self, what: &'static str) -> Result<&'a [u8], ProtocolError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(ProtocolError::MissingNul { what })?;
        let out = rest.get(..len).ok_or(ProtocolError::MissingNul { what })?;
        self.pos += len + 1;
        Ok(out)
    }

    /// Reads a NUL-terminated string that must be valid UTF-8.
    pub(crate) fn cstr(&mut self, what: &'static str) -> Result<&'a str, ProtocolError> {
        let bytes = self.cstr_bytes(what)?;
        std::str::from_utf8(bytes).map_err(|_| ProtocolError::InvalidUtf8 { what })
    }

    /// Checks that the whole body was read.
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), ProtocolError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(ProtocolError::TrailingBytes { what, extra }),
        }
    }

    /// Checks that `count` items of at least `min_size` bytes each can fit in what is left, so a
    /// count from the peer never sizes an allocation larger than the message itself.
    pub(crate) fn check_count(
        &self,
        count: usize,
        min_size: usize,
        what: &'static str,
    ) -> Result<(), ProtocolError> {
        match count.checked_mul(min_size) {
            Some(needed) if needed <= self.remaining() => Ok(()),
            _ => Err(ProtocolError::CountExceedsBody {
                what,
                count,
                remaining: self.remaining(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_integers_and_strings() {
        let mut r = Reader::new(b"\x00\x01\xff\xff\xff\xfeabc\0\x07");
        assert_eq!(r.i16("a").unwrap(), 1);
        assert_eq!(r.i32("b").unwrap(), -2);
        assert_eq!(r.cstr("c").unwrap(), "abc");
        assert_eq!(r.u8("d").unwrap(), 7);
        r.finish("msg").unwrap();
    }

    #[test]
    fn short_reads_are_errors() {
        let mut r = Reader::new(b"\x00\x01\x02");
        assert_eq!(
            r.i32("field").unwrap_err(),
            ProtocolError::Truncated { what: "field" }
        );
        // A failed read consumes nothing.
        assert_eq!(r.remaining(), 3);
        assert!(matches!(
            r.take(usize::MAX, "x"),
            Err(ProtocolError::Truncated { .. })
        ));
    }

    #[test]
    fn missing_nul_and_bad_utf8() {
        assert_eq!(
            Reader::new(b"abc").cstr("name").unwrap_err(),
            ProtocolError::MissingNul { what: "name" }
        );
        assert_eq!(
            Reader::new(b"\xff\xfe\0").cstr("name").unwrap_err(),
            ProtocolError::InvalidUtf8 { what: "name" }
        );
    }

    #[test]
    fn negative_counts_and_oversized_counts() {
        assert!(matches!(
            Reader::new(b"\xff\xff").count16("n"),
            Err(ProtocolError::InvalidValue { value: -1, .. })
        ));
        let r = Reader::new(&[0u8; 10]);
        assert!(r.check_count(2, 5, "fields").is_ok());
        assert!(r.check_count(3, 5, "fields").is_err());
        assert!(r.check_count(usize::MAX, 2, "fields").is_err());
    }

    #[test]
    fn trailing_bytes_are_reported() {
        let mut r = Reader::new(b"\x00\x00\x00\x01\x09");
        r.i32("x").unwrap();
        assert_eq!(
            r.finish("ReadyForQuery").unwrap_err(),
            ProtocolError::TrailingBytes {
                what: "ReadyForQuery",
                extra: 1
            }
        );
    }
}
