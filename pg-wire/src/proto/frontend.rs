//! Frontend (client to server) messages, encoded into a buffer.
//!
//! Each function appends one whole message to `buf`. Every length and count goes through
//! `try_from`: a value too large for its field is an [`EncodeError`] and the buffer is left exactly
//! as it was, so a half-written message can never reach the wire.

use bytes::{BufMut, BytesMut};

use super::error::EncodeError;

/// The protocol version number of 3.0 in a StartupMessage.
pub const PROTOCOL_3_0: i32 = 3 << 16;
/// The protocol version number of 3.2 in a StartupMessage.
pub const PROTOCOL_3_2: i32 = (3 << 16) | 2;
/// The request code of an SSLRequest.
pub const SSL_REQUEST_CODE: i32 = 80_877_103;
/// The request code of a CancelRequest.
pub const CANCEL_REQUEST_CODE: i32 = 80_877_102;

/// Whether Describe and Close address a prepared statement or a portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A prepared statement ('S').
    Statement,
    /// A portal ('P').
    Portal,
}

impl Target {
    fn byte(self) -> u8 {
        match self {
            Target::Statement => b'S',
            Target::Portal => b'P',
        }
    }
}

/// Writes a message: the type byte (if any), a length placeholder, the body written by `body`,
/// then the checked length. On any error `buf` is truncated back to where it was.
pub(crate) fn message<E, F>(buf: &mut BytesMut, tag: Option<u8>, body: F) -> Result<(), E>
where
    E: From<EncodeError>,
    F: FnOnce(&mut BytesMut) -> Result<(), E>,
{
    let start = buf.len();
    let result = write_framed(buf, tag, body);
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

fn write_framed<E, F>(buf: &mut BytesMut, tag: Option<u8>, body: F) -> Result<(), E>
where
    E: From<EncodeError>,
    F: FnOnce(&mut BytesMut) -> Result<(), E>,
{
    if let Some(tag) = tag {
        buf.put_u8(tag);
    }
    let len_at = buf.len();
    buf.put_i32(0);
    body(buf)?;
    patch_len(buf, len_at, "message length")?;
    Ok(())
}

/// Overwrites the 4-byte placeholder at `len_at` with the number of bytes written after its start
/// (the placeholder included, as message lengths count themselves) minus `exclude`.
fn patch_len_excluding(
    buf: &mut BytesMut,
    len_at: usize,
    exclude: usize,
    what: &'static str,
) -> Result<(), EncodeError> {
    let len = buf.len().saturating_sub(len_at).saturating_sub(exclude);
    let len = i32::try_from(len).map_err(|_| EncodeError::TooLarge { what, size: len })?;
    if let Some(slot) = buf.get_mut(len_at..len_at + 4) {
        slot.copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

/// Patches a message length placeholder (the length counts itself).
fn patch_len(buf: &mut BytesMut, len_at: usize, what: &'static str) -> Result<(), EncodeError> {
    patch_len_excluding(buf, len_at, 0, what)
}

/// Appends a NUL-terminated string, refusing one that contains NUL.
pub(crate) fn put_cstr(
    buf: &mut BytesMut,
    s: &[u8],
    what: &'static str,
) -> Result<(), EncodeError> {
    if s.contains(&0) {
        return Err(EncodeError::ContainsNul { what });
    }
    buf.put_slice(s);
    buf.put_u8(0);
    Ok(())
}

/// Appends an `Int16` count.
pub(crate) fn put_count16(
    buf: &mut BytesMut,
    n: usize,
    what: &'static str,
) -> Result<(), EncodeError> {
    let n = i16::try_from(n).map_err(|_| EncodeError::TooLarge { what, size: n })?;
    buf.put_i16(n);
    Ok(())
}

/// Appends an `Int32` length.
fn put_len32(buf: &mut BytesMut, n: usize, what: &'static str) -> Result<(), EncodeError> {
    let n = i32::try_from(n).map_err(|_| EncodeError::TooLarge { what, size: n })?;
    buf.put_i32(n);
    Ok(())
}

/// StartupMessage: protocol `version` and (name, value) parameters such as `user` and `database`.
pub fn startup_message(
    buf: &mut BytesMut,
    version: i32,
    params: &[(&str, &str)],
) -> Result<(), EncodeError> {
    message(buf, None, |buf| {
        buf.put_i32(version);
        for (name, value) in params {
            put_cstr(buf, name.as_bytes(), "startup parameter name")?;
            put_cstr(buf, value.as_bytes(), "startup parameter value")?;
        }
        buf.put_u8(0);
        Ok(())
    })
}

/// SSLRequest: asks the server whether it will speak TLS on this connection.
pub fn ssl_request(buf: &mut BytesMut) {
    buf.put_i32(8);
    buf.put_i32(SSL_REQUEST_CODE);
}

/// CancelRequest for the session with this process id and secret key (4 bytes in protocol 3.0,
/// up to 256 in 3.2), sent on a new connection.
pub fn cancel_request(
    buf: &mut BytesMut,
    process_id: i32,
    secret_key: &[u8],
) -> Result<(), EncodeError> {
    message(buf, None, |buf| {
        buf.put_i32(CANCEL_REQUEST_CODE);
        buf.put_i32(process_id);
        buf.put_slice(secret_key);
        Ok(())
    })
}

/// PasswordMessage carrying a cleartext or MD5-hashed password.
pub fn password_message(buf: &mut BytesMut, password: &[u8]) -> Result<(), EncodeError> {
    message(buf, Some(b'p'), |buf| put_cstr(buf, password, "password"))
}

/// SASLInitialResponse: the chosen mechanism and the client's first message.
pub fn sasl_initial_response(
    buf: &mut BytesMut,
    mechanism: &str,
    data: &[u8],
) -> Result<(), EncodeError> {
    message(buf, Some(b'p'), |buf| {
        put_cstr(buf, mechanism.as_bytes(), "SASL mechanism")?;
        put_len32(buf, data.len(), "SASL initial response")?;
        buf.put_slice(data);
        Ok(())
    })
}

/// SASLResponse: a further client message of the SASL exchange.
pub fn sasl_response(buf: &mut BytesMut, data: &[u8]) -> Result<(), EncodeError> {
    message(buf, Some(b'p'), |buf| {
        buf.put_slice(data);
        Ok(())
    })
}

/// Query: one or more SQL statements for the simple query protocol.
pub fn query(buf: &mut BytesMut, sql: &str) -> Result<(), EncodeError> {
    message(buf, Some(b'Q'), |buf| {
        put_cstr(buf, sql.as_bytes(), "query string")
    })
}

/// Parse: prepares `sql` as statement `name` (empty for the unnamed statement), with parameter
/// types given by OID (0 lets the server infer).
pub fn parse(
    buf: &mut BytesMut,
    name: &str,
    sql: &str,
    param_types: &[u32],
) -> Result<(), EncodeError> {
    message(buf, Some(b'P'), |buf| {
        put_cstr(buf, name.as_bytes(), "statement name")?;
        put_cstr(buf, sql.as_bytes(), "query string")?;
        put_count16(buf, param_types.len(), "parameter type count")?;
        for &oid in param_types {
            buf.put_u32(oid);
        }
        Ok(())
    })
}

/// Whether a bound parameter value was written or is NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindValue {
    /// A value was written.
    Written,
    /// SQL NULL.
    Null,
}

/// An error while writing a Bind message: the encoding itself, or a parameter's value.
#[derive(Debug)]
pub enum BindError<E> {
    /// A length or count did not fit the protocol.
    Encode(EncodeError),
    /// Writing parameter `index` (0-based) failed.
    Param {
        /// The parameter's position.
        index: usize,
        /// The error from the value writer.
        error: E,
    },
}

impl<E> From<EncodeError> for BindError<E> {
    fn from(e: EncodeError) -> Self {
        BindError::Encode(e)
    }
}

/// Bind: binds `param_count` values to `statement` into `portal`.
///
/// `param_formats` and `result_formats` follow the protocol's rules: empty means all text, one
/// entry applies to all, otherwise one per parameter or column. `write_param(i, buf)` appends the
/// value of parameter `i` and says whether it was NULL; its length is filled in afterwards.
pub fn bind<E, F>(
    buf: &mut BytesMut,
    portal: &str,
    statement: &str,
    param_formats: &[i16],
    param_count: usize,
    mut write_param: F,
    result_formats: &[i16],
) -> Result<(), BindError<E>>
where
    F: FnMut(usize, &mut BytesMut) -> Result<BindValue, E>,
{
    message(buf, Some(b'B'), |buf| {
        put_cstr(buf, portal.as_bytes(), "portal name")?;
        put_cstr(buf, statement.as_bytes(), "statement name")?;
        put_count16(buf, param_formats.len(), "parameter format count")?;
        for &format in param_formats {
            buf.put_i16(format);
        }
        put_count16(buf, param_count, "parameter count")?;
        for index in 0..param_count {
            let len_at = buf.len();
            buf.put_i32(0);
            match write_param(index, buf).map_err(|error| BindError::Param { index, error })? {
                BindValue::Null => {
                    buf.truncate(len_at);
                    buf.put_i32(-1);
                }
                // A value's length does not count the length field itself.
                BindValue::Written => patch_len_excluding(buf, len_at, 4, "parameter value")?,
            }
        }
        put_count16(buf, result_formats.len(), "result format count")?;
        for &format in result_formats {
            buf.put_i16(format);
        }
        Ok(())
    })
}

/// Describe: asks for the parameter and row description of a statement, or the row description of
/// a portal.
pub fn describe(buf: &mut BytesMut, target: Target, name: &str) -> Result<(), EncodeError> {
    message(buf, Some(b'D'), |buf| {
        buf.put_u8(target.byte());
        put_cstr(buf, name.as_bytes(), "statement or portal name")
    })
}

/// Execute: runs `portal`, returning at most `max_rows` rows (0 for all).
pub fn execute(buf: &mut BytesMut, portal: &str, max_rows: u32) -> Result<(), EncodeError> {
    message(buf, Some(b'E'), |buf| {
        put_cstr(buf, portal.as_bytes(), "portal name")?;
        put_len32(
            buf,
            usize::try_from(max_rows).unwrap_or(usize::MAX),
            "row limit",
        )?;
        Ok(())
    })
}

/// Close: releases a prepared statement or a portal.
pub fn close(buf: &mut BytesMut, target: Target, name: &str) -> Result<(), EncodeError> {
    message(buf, Some(b'C'), |buf| {
        buf.put_u8(target.byte());
        put_cstr(buf, name.as_bytes(), "statement or portal name")
    })
}

/// Appends a message that has no body.
fn bodyless(buf: &mut BytesMut, tag: u8) {
    buf.put_u8(tag);
    buf.put_i32(4);
}

/// Sync: ends an extended-query cycle; the server answers with ReadyForQuery.
pub fn sync(buf: &mut BytesMut) {
    bodyless(buf, b'S');
}

/// Flush: asks the server to send what it has produced so far.
pub fn flush(buf: &mut BytesMut) {
    bodyless(buf, b'H');
}

/// Terminate: ends the session.
pub fn terminate(buf: &mut BytesMut) {
    bodyless(buf, b'X');
}

/// CopyData: a chunk of `COPY ... FROM STDIN` data.
pub fn copy_data(buf: &mut BytesMut, data: &[u8]) -> Result<(), EncodeError> {
    message(buf, Some(b'd'), |buf| {
        buf.put_slice(data);
        Ok(())
    })
}

/// The bytes of a CopyData message before its data: the tag and the length.
pub(crate) const COPY_DATA_HEADER: usize = 5;

/// Completes a CopyData message built in place: `buf` holds a [`COPY_DATA_HEADER`]-byte
/// placeholder, then the data. Fails if the data is too large for one message.
pub(crate) fn finish_copy_data(buf: &mut BytesMut) -> Result<(), EncodeError> {
    if let Some(tag) = buf.first_mut() {
        *tag = b'd';
    }
    patch_len(buf, 1, "CopyData message")
}

/// CopyDone: the end of `COPY ... FROM STDIN` data.
pub fn copy_done(buf: &mut BytesMut) {
    bodyless(buf, b'c');
}

/// CopyFail: aborts `COPY ... FROM STDIN` with an error message.
pub fn copy_fail(buf: &mut BytesMut, message_text: &str) -> Result<(), EncodeError> {
    message(buf, Some(b'f'), |buf| {
        put_cstr(buf, message_text.as_bytes(), "CopyFail message")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Catches: a CopyData message built in place differing from one built by `copy_data` (the
    // tag, or a length off by the tag or the length field).
    #[test]
    fn copy_data_built_in_place_equals_copy_data() {
        for data in [&b""[..], b"x", b"PGCOPY\n\xff\r\n\0 and more"] {
            let mut expected = BytesMut::new();
            copy_data(&mut expected, data).unwrap();
            let mut in_place = BytesMut::new();
            in_place.put_bytes(0, COPY_DATA_HEADER);
            in_place.put_slice(data);
            finish_copy_data(&mut in_place).unwrap();
            assert_eq!(in_place, expected);
        }
    }

    #[test]
    fn startup_message_layout() {
        let mut buf = BytesMut::new();
        startup_message(
            &mut buf,
            PROTOCOL_3_0,
            &[("user", "bob"), ("database", "db")],
        )
        .unwrap();
        assert_eq!(&buf[..], b"\0\0\0\x1e\0\x03\0\0user\0bob\0database\0db\0\0");
    }

    #[test]
    fn query_and_sync() {
        let mut buf = BytesMut::new();
        query(&mut buf, "SELECT 1").unwrap();
        sync(&mut buf);
        assert_eq!(&buf[..], b"Q\0\0\0\x0dSELECT 1\0S\0\0\0\x04");
    }

    #[test]
    fn nul_in_a_string_is_refused_and_leaves_the_buffer_untouched() {
        let mut buf = BytesMut::from(&b"prefix"[..]);
        assert_eq!(
            query(&mut buf, "SELECT 1\0; DROP TABLE x").unwrap_err(),
            EncodeError::ContainsNul {
                what: "query string"
            }
        );
        assert_eq!(&buf[..], b"prefix");
        assert!(password_message(&mut buf, b"a\0b").is_err());
        assert_eq!(&buf[..], b"prefix");
    }

    #[test]
    fn too_many_parameter_types() {
        let mut buf = BytesMut::new();
        let types = vec![0u32; 40_000];
        assert_eq!(
            parse(&mut buf, "", "SELECT 1", &types).unwrap_err(),
            EncodeError::TooLarge {
                what: "parameter type count",
                size: 40_000
            }
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn bind_with_values_and_null() {
        let mut buf = BytesMut::new();
        bind::<(), _>(
            &mut buf,
            "",
            "s1",
            &[1],
            2,
            |i, buf| {
                if i == 0 {
                    buf.put_i32(7);
                    Ok(BindValue::Written)
                } else {
                    Ok(BindValue::Null)
                }
            },
            &[1],
        )
        .unwrap();
        let expected: &[u8] =
            b"B\0\0\0\x1e\0s1\0\0\x01\0\x01\0\x02\0\0\0\x04\0\0\0\x07\xff\xff\xff\xff\0\x01\0\x01";
        assert_eq!(&buf[..], expected);
    }

    #[test]
    fn bind_param_error_rolls_back() {
        let mut buf = BytesMut::from(&b"keep"[..]);
        let err = bind(
            &mut buf,
            "",
            "",
            &[],
            3,
            |i, buf| {
                buf.put_slice(b"partial");
                if i == 1 {
                    Err("boom")
                } else {
                    Ok(BindValue::Written)
                }
            },
            &[],
        )
        .unwrap_err();
        assert!(matches!(
            err,
            BindError::Param {
                index: 1,
                error: "boom"
            }
        ));
        assert_eq!(&buf[..], b"keep");
    }

    #[test]
    fn cancel_request_layouts() {
        let mut buf = BytesMut::new();
        cancel_request(&mut buf, 42, b"\x01\x02\x03\x04").unwrap();
        assert_eq!(
            &buf[..],
            b"\0\0\0\x10\x04\xd2\x16\x2e\0\0\0\x2a\x01\x02\x03\x04"
        );
        let mut buf = BytesMut::new();
        cancel_request(&mut buf, 42, &[9u8; 32]).unwrap();
        assert_eq!(buf.len(), 12 + 32);
        assert_eq!(&buf[..4], &44i32.to_be_bytes());
    }

    #[test]
    fn execute_and_describe() {
        let mut buf = BytesMut::new();
        describe(&mut buf, Target::Statement, "s1").unwrap();
        execute(&mut buf, "", 0).unwrap();
        close(&mut buf, Target::Portal, "p").unwrap();
        assert_eq!(
            &buf[..],
            b"D\0\0\0\x08Ss1\0E\0\0\0\x09\0\0\0\0\0C\0\0\0\x07Pp\0"
        );
        let mut buf = BytesMut::new();
        assert!(execute(&mut buf, "", u32::MAX).is_err());
    }
}
