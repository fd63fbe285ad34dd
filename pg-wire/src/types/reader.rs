//! A checked, forward-only reader over one binary value, for the decoders of variable-length types
//! (arrays, `numeric`, `inet`, ...).
//!
//! Every read checks the bytes that remain, so a short or hostile value is an [`InvalidBinary`]
//! error, never a panic; [`Reader::finish`] checks that nothing is left over.

use crate::types::builtin::InvalidBinary;
use crate::types::{BoxError, Type};

/// Reads big-endian integers and byte runs from a value of type `ty`.
pub(crate) struct Reader<'t, 'a> {
    ty: &'t Type,
    rest: &'a [u8],
}

impl<'t, 'a> Reader<'t, 'a> {
    /// A reader over `raw`, a value of type `ty` (named in errors).
    pub(crate) fn new(ty: &'t Type, raw: &'a [u8]) -> Self {
        Reader { ty, rest: raw }
    }

    /// An [`InvalidBinary`] error for this value's type.
    pub(crate) fn error(&self, reason: impl Into<String>) -> BoxError {
        Box::new(InvalidBinary::new(self.ty, reason))
    }

    /// The number of bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], BoxError> {
        match self.rest.split_at_checked(n) {
            Some((taken, rest)) => {
                self.rest = rest;
                Ok(taken)
            }
            None => Err(self.error(format!("needs {n} more bytes, {} left", self.rest.len()))),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BoxError> {
        let bytes = self.take(N)?;
        <[u8; N]>::try_from(bytes).map_err(|_| self.error("short read"))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, BoxError> {
        self.array::<1>().map(|[b]| b)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, BoxError> {
        self.array().map(i16::from_be_bytes)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, BoxError> {
        self.array().map(u16::from_be_bytes)
    }

    pub(crate) fn i32(&mut self) -> Result<i32, BoxError> {
        self.array().map(i32::from_be_bytes)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, BoxError> {
        self.array().map(u32::from_be_bytes)
    }

    pub(crate) fn i64(&mut self) -> Result<i64, BoxError> {
        self.array().map(i64::from_be_bytes)
    }

    /// Fails unless every byte has been read.
    pub(crate) fn finish(self) -> Result<(), BoxError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.error(format!("{} unexpected trailing bytes", self.rest.len())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_checks() {
        let raw = [0, 1, 0xff, 0xfe, 0, 0, 0, 3, 9];
        let mut r = Reader::new(&Type::NUMERIC, &raw);
        assert_eq!(r.u16().unwrap(), 1);
        assert_eq!(r.i16().unwrap(), -2);
        assert_eq!(r.remaining(), 5);
        assert_eq!(r.u32().unwrap(), 3);
        assert!(r.i32().is_err());
        assert_eq!(r.u8().unwrap(), 9);
        assert!(r.u8().is_err());
        r.finish().unwrap();

        let mut r = Reader::new(&Type::NUMERIC, &[1, 2]);
        assert!(r.take(3).is_err());
        assert_eq!(r.take(1).unwrap(), [1]);
        let e = r.finish().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid binary numeric value: 1 unexpected trailing bytes"
        );
        let mut r = Reader::new(&Type::INTERVAL, &[0; 8]);
        assert_eq!(r.i64().unwrap(), 0);
    }
}
