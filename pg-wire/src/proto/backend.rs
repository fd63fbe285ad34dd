//! Backend (server to client) messages of protocol 3.0 and 3.2, decoded from one message body.
//!
//! Follows the "Message Formats" section of the PostgreSQL protocol chapter. Each decoder reads the
//! whole body through the checked [`Reader`] and refuses trailing bytes, so a decoded message has
//! been validated entirely and its accessors cannot fail on bounds.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{EncodeError, ProtocolError};
use super::frontend::{message, put_count16, put_cstr};
use super::reader::Reader;

/// Message type bytes of the backend messages.
pub mod tag {
    /// Authentication request ('R').
    pub const AUTHENTICATION: u8 = b'R';
    /// BackendKeyData ('K').
    pub const BACKEND_KEY_DATA: u8 = b'K';
    /// BindComplete ('2').
    pub const BIND_COMPLETE: u8 = b'2';
    /// CloseComplete ('3').
    pub const CLOSE_COMPLETE: u8 = b'3';
    /// CommandComplete ('C').
    pub const COMMAND_COMPLETE: u8 = b'C';
    /// CopyInResponse ('G').
    pub const COPY_IN_RESPONSE: u8 = b'G';
    /// CopyOutResponse ('H').
    pub const COPY_OUT_RESPONSE: u8 = b'H';
    /// CopyBothResponse ('W').
    pub const COPY_BOTH_RESPONSE: u8 = b'W';
    /// CopyData ('d').
    pub const COPY_DATA: u8 = b'd';
    /// CopyDone ('c').
    pub const COPY_DONE: u8 = b'c';
    /// DataRow ('D').
    pub const DATA_ROW: u8 = b'D';
    /// EmptyQueryResponse ('I').
    pub const EMPTY_QUERY_RESPONSE: u8 = b'I';
    /// ErrorResponse ('E').
    pub const ERROR_RESPONSE: u8 = b'E';
    /// NegotiateProtocolVersion ('v').
    pub const NEGOTIATE_PROTOCOL_VERSION: u8 = b'v';
    /// NoData ('n').
    pub const NO_DATA: u8 = b'n';
    /// NoticeResponse ('N').
    pub const NOTICE_RESPONSE: u8 = b'N';
    /// NotificationResponse ('A').
    pub const NOTIFICATION_RESPONSE: u8 = b'A';
    /// ParameterDescription ('t').
    pub const PARAMETER_DESCRIPTION: u8 = b't';
    /// ParameterStatus ('S').
    pub const PARAMETER_STATUS: u8 = b'S';
    /// ParseComplete ('1').
    pub const PARSE_COMPLETE: u8 = b'1';
    /// PortalSuspended ('s').
    pub const PORTAL_SUSPENDED: u8 = b's';
    /// ReadyForQuery ('Z').
    pub const READY_FOR_QUERY: u8 = b'Z';
    /// RowDescription ('T').
    pub const ROW_DESCRIPTION: u8 = b'T';
}

/// One decoded backend message.
#[derive(Debug, Clone, PartialEq)]
pub enum BackendMessage {
    /// An authentication request or result ('R').
    Authentication(Authentication),
    /// The cancellation key of this session ('K').
    BackendKeyData(BackendKeyData),
    /// Bind succeeded ('2').
    BindComplete,
    /// Close succeeded ('3').
    CloseComplete,
    /// A statement finished ('C').
    CommandComplete(CommandComplete),
    /// The server is ready to receive COPY data ('G').
    CopyInResponse(CopyResponse),
    /// The server is about to send COPY data ('H').
    CopyOutResponse(CopyResponse),
    /// Both directions of a COPY (replication) start ('W').
    CopyBothResponse(CopyResponse),
    /// A chunk of COPY data ('d').
    CopyData(Bytes),
    /// The end of COPY data from the server ('c').
    CopyDone,
    /// One row of a result ('D').
    DataRow(DataRow),
    /// The query string was empty ('I').
    EmptyQueryResponse,
    /// An error; the current request failed ('E').
    ErrorResponse(ErrorFields),
    /// The server supports an older minor protocol version or not all requested options ('v').
    NegotiateProtocolVersion(NegotiateProtocolVersion),
    /// The statement or portal returns no rows ('n').
    NoData,
    /// A warning or informational message ('N').
    NoticeResponse(ErrorFields),
    /// A NOTIFY on a channel this session listens to ('A').
    NotificationResponse(Notification),
    /// The parameter types of a prepared statement ('t').
    ParameterDescription(ParameterDescription),
    /// A run-time parameter's current value ('S').
    ParameterStatus(ParameterStatus),
    /// Parse succeeded ('1').
    ParseComplete,
    /// Execute stopped at its row limit; the portal can be resumed ('s').
    PortalSuspended,
    /// The server is ready for a new query cycle ('Z').
    ReadyForQuery(TransactionStatus),
    /// The columns of the rows that follow ('T').
    RowDescription(RowDescription),
}

impl BackendMessage {
    /// Decodes the body (everything after the type byte and length) of a message of type `tag`.
    pub fn decode(tag: u8, body: Bytes) -> Result<BackendMessage, ProtocolError> {
        let message = match tag {
            tag::AUTHENTICATION => BackendMessage::Authentication(Authentication::decode(&body)?),
            tag::BACKEND_KEY_DATA => BackendMessage::BackendKeyData(BackendKeyData::decode(&body)?),
            tag::BIND_COMPLETE => empty(&body, "BindComplete", BackendMessage::BindComplete)?,
            tag::CLOSE_COMPLETE => empty(&body, "CloseComplete", BackendMessage::CloseComplete)?,
            tag::COMMAND_COMPLETE => {
                BackendMessage::CommandComplete(CommandComplete::decode(&body)?)
            }
            tag::COPY_IN_RESPONSE => BackendMessage::CopyInResponse(CopyResponse::decode(&body)?),
            tag::COPY_OUT_RESPONSE => BackendMessage::CopyOutResponse(CopyResponse::decode(&body)?),
            tag::COPY_BOTH_RESPONSE => {
                BackendMessage::CopyBothResponse(CopyResponse::decode(&body)?)
            }
            tag::COPY_DATA => BackendMessage::CopyData(body),
            tag::COPY_DONE => empty(&body, "CopyDone", BackendMessage::CopyDone)?,
            tag::DATA_ROW => BackendMessage::DataRow(DataRow::parse(body)?),
            tag::EMPTY_QUERY_RESPONSE => empty(
                &body,
                "EmptyQueryResponse",
                BackendMessage::EmptyQueryResponse,
            )?,
            tag::ERROR_RESPONSE => {
                BackendMessage::ErrorResponse(ErrorFields::decode(&body, "ErrorResponse")?)
            }
            tag::NEGOTIATE_PROTOCOL_VERSION => {
                BackendMessage::NegotiateProtocolVersion(NegotiateProtocolVersion::decode(&body)?)
            }
            tag::NO_DATA => empty(&body, "NoData", BackendMessage::NoData)?,
            tag::NOTICE_RESPONSE => {
                BackendMessage::NoticeResponse(ErrorFields::decode(&body, "NoticeResponse")?)
            }
            tag::NOTIFICATION_RESPONSE => {
                BackendMessage::NotificationResponse(Notification::decode(&body)?)
            }
            tag::PARAMETER_DESCRIPTION => {
                BackendMessage::ParameterDescription(ParameterDescription::decode(&body)?)
            }
            tag::PARAMETER_STATUS => {
                BackendMessage::ParameterStatus(ParameterStatus::decode(&body)?)
            }
            tag::PARSE_COMPLETE => empty(&body, "ParseComplete", BackendMessage::ParseComplete)?,
            tag::PORTAL_SUSPENDED => {
                empty(&body, "PortalSuspended", BackendMessage::PortalSuspended)?
            }
            tag::READY_FOR_QUERY => {
                BackendMessage::ReadyForQuery(TransactionStatus::decode(&body)?)
            }
            tag::ROW_DESCRIPTION => BackendMessage::RowDescription(RowDescription::decode(&body)?),
            other => return Err(ProtocolError::UnknownMessageType { tag: other }),
        };
        Ok(message)
    }

    /// The message's name as the protocol documentation spells it, for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            BackendMessage::Authentication(auth) => auth.name(),
            BackendMessage::BackendKeyData(_) => "BackendKeyData",
            BackendMessage::BindComplete => "BindComplete",
            BackendMessage::CloseComplete => "CloseComplete",
            BackendMessage::CommandComplete(_) => "CommandComplete",
            BackendMessage::CopyInResponse(_) => "CopyInResponse",
            BackendMessage::CopyOutResponse(_) => "CopyOutResponse",
            BackendMessage::CopyBothResponse(_) => "CopyBothResponse",
            BackendMessage::CopyData(_) => "CopyData",
            BackendMessage::CopyDone => "CopyDone",
            BackendMessage::DataRow(_) => "DataRow",
            BackendMessage::EmptyQueryResponse => "EmptyQueryResponse",
            BackendMessage::ErrorResponse(_) => "ErrorResponse",
            BackendMessage::NegotiateProtocolVersion(_) => "NegotiateProtocolVersion",
            BackendMessage::NoData => "NoData",
            BackendMessage::NoticeResponse(_) => "NoticeResponse",
            BackendMessage::NotificationResponse(_) => "NotificationResponse",
            BackendMessage::ParameterDescription(_) => "ParameterDescription",
            BackendMessage::ParameterStatus(_) => "ParameterStatus",
            BackendMessage::ParseComplete => "ParseComplete",
            BackendMessage::PortalSuspended => "PortalSuspended",
            BackendMessage::ReadyForQuery(_) => "ReadyForQuery",
            BackendMessage::RowDescription(_) => "RowDescription",
        }
    }

    /// The message's type byte.
    pub fn tag(&self) -> u8 {
        match self {
            BackendMessage::Authentication(_) => tag::AUTHENTICATION,
            BackendMessage::BackendKeyData(_) => tag::BACKEND_KEY_DATA,
            BackendMessage::BindComplete => tag::BIND_COMPLETE,
            BackendMessage::CloseComplete => tag::CLOSE_COMPLETE,
            BackendMessage::CommandComplete(_) => tag::COMMAND_COMPLETE,
            BackendMessage::CopyInResponse(_) => tag::COPY_IN_RESPONSE,
            BackendMessage::CopyOutResponse(_) => tag::COPY_OUT_RESPONSE,
            BackendMessage::CopyBothResponse(_) => tag::COPY_BOTH_RESPONSE,
            BackendMessage::CopyData(_) => tag::COPY_DATA,
            BackendMessage::CopyDone => tag::COPY_DONE,
            BackendMessage::DataRow(_) => tag::DATA_ROW,
            BackendMessage::EmptyQueryResponse => tag::EMPTY_QUERY_RESPONSE,
            BackendMessage::ErrorResponse(_) => tag::ERROR_RESPONSE,
            BackendMessage::NegotiateProtocolVersion(_) => tag::NEGOTIATE_PROTOCOL_VERSION,
            BackendMessage::NoData => tag::NO_DATA,
            BackendMessage::NoticeResponse(_) => tag::NOTICE_RESPONSE,
            BackendMessage::NotificationResponse(_) => tag::NOTIFICATION_RESPONSE,
            BackendMessage::ParameterDescription(_) => tag::PARAMETER_DESCRIPTION,
            BackendMessage::ParameterStatus(_) => tag::PARAMETER_STATUS,
            BackendMessage::ParseComplete => tag::PARSE_COMPLETE,
            BackendMessage::PortalSuspended => tag::PORTAL_SUSPENDED,
            BackendMessage::ReadyForQuery(_) => tag::READY_FOR_QUERY,
            BackendMessage::RowDescription(_) => tag::ROW_DESCRIPTION,
        }
    }

    /// Appends the whole message (type byte, length and body) to `buf`, as a server would send it:
    /// for fake servers in tests and for round-trip checks of the decoders. A field that cannot be
    /// encoded (a string containing NUL, a count above the protocol's limit, a field code of 0 in
    /// an ErrorResponse) is an [`EncodeError`], and `buf` is left as it was.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        message(buf, Some(self.tag()), |buf| self.encode_body(buf))
    }

    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            BackendMessage::Authentication(auth) => auth.encode_body(buf)?,
            BackendMessage::BackendKeyData(key) => {
                buf.put_i32(key.process_id);
                buf.put_slice(&key.secret_key);
            }
            BackendMessage::BindComplete
            | BackendMessage::CloseComplete
            | BackendMessage::CopyDone
            | BackendMessage::EmptyQueryResponse
            | BackendMessage::NoData
            | BackendMessage::ParseComplete
            | BackendMessage::PortalSuspended => {}
            BackendMessage::CommandComplete(complete) => {
                put_cstr(buf, complete.tag.as_bytes(), "CommandComplete tag")?;
            }
            BackendMessage::CopyInResponse(copy)
            | BackendMessage::CopyOutResponse(copy)
            | BackendMessage::CopyBothResponse(copy) => {
                buf.put_i8(copy.format);
                put_count16(buf, copy.column_formats.len(), "COPY column count")?;
                for &format in &copy.column_formats {
                    buf.put_i16(format);
                }
            }
            BackendMessage::CopyData(data) => buf.put_slice(data),
            BackendMessage::DataRow(row) => buf.put_slice(row.body()),
            BackendMessage::ErrorResponse(fields) | BackendMessage::NoticeResponse(fields) => {
                fields.encode_body(buf)?;
            }
            BackendMessage::NegotiateProtocolVersion(negotiate) => {
                buf.put_i32(negotiate.newest_version);
                let count = negotiate.unrecognized_options.len();
                let count = i32::try_from(count).map_err(|_| EncodeError::TooLarge {
                    what: "NegotiateProtocolVersion option count",
                    size: count,
                })?;
                buf.put_i32(count);
                for option in &negotiate.unrecognized_options {
                    put_cstr(buf, option.as_bytes(), "NegotiateProtocolVersion option")?;
                }
            }
            BackendMessage::NotificationResponse(notification) => {
                buf.put_i32(notification.process_id);
                put_cstr(
                    buf,
                    notification.channel.as_bytes(),
                    "NotificationResponse channel",
                )?;
                put_cstr(
                    buf,
                    notification.payload.as_bytes(),
                    "NotificationResponse payload",
                )?;
            }
            BackendMessage::ParameterDescription(description) => {
                put_count16(buf, description.types.len(), "ParameterDescription count")?;
                for &oid in &description.types {
                    buf.put_u32(oid);
                }
            }
            BackendMessage::ParameterStatus(status) => {
                put_cstr(buf, status.name.as_bytes(), "ParameterStatus name")?;
                put_cstr(buf, status.value.as_bytes(), "ParameterStatus value")?;
            }
            BackendMessage::ReadyForQuery(status) => buf.put_u8(status.byte()),
            BackendMessage::RowDescription(description) => {
                put_count16(buf, description.fields.len(), "RowDescription field count")?;
                for field in &description.fields {
                    put_cstr(buf, field.name.as_bytes(), "RowDescription column name")?;
                    buf.put_u32(field.table_oid);
                    buf.put_i16(field.column_id);
                    buf.put_u32(field.type_oid);
                    buf.put_i16(field.type_size);
                    buf.put_i32(field.type_modifier);
                    buf.put_i16(field.format);
                }
            }
        }
        Ok(())
    }
}

/// Checks that a message without fields has an empty body.
fn empty(
    body: &[u8],
    what: &'static str,
    message: BackendMessage,
) -> Result<BackendMessage, ProtocolError> {
    Reader::new(body).finish(what)?;
    Ok(message)
}

/// Decodes a body holding exactly one UTF-8 C string.
fn single_cstr(body: &[u8], what: &'static str) -> Result<String, ProtocolError> {
    let mut r = Reader::new(body);
    let s = r.cstr(what)?.to_owned();
    r.finish(what)?;
    Ok(s)
}

/// An authentication request ('R'), by its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authentication {
    /// Authentication succeeded (code 0).
    Ok,
    /// Kerberos V5 (code 2; no longer supported by servers).
    KerberosV5,
    /// A cleartext password is required (code 3).
    CleartextPassword,
    /// An MD5-hashed password is required, with this salt (code 5).
    Md5Password {
        /// The 4-byte salt.
        salt: [u8; 4],
    },
    /// SCM credentials (code 6; no longer supported by servers).
    ScmCredential,
    /// GSSAPI (code 7).
    Gss,
    /// More GSSAPI or SSPI data (code 8).
    GssContinue(Bytes),
    /// SSPI (code 9).
    Sspi,
    /// SASL, offering these mechanisms in the server's order of preference (code 10).
    Sasl {
        /// Mechanism names, such as `SCRAM-SHA-256`.
        mechanisms: Vec<String>,
    },
    /// A SASL challenge (code 11).
    SaslContinue(Bytes),
    /// The SASL outcome ("additional data with success", code 12).
    SaslFinal(Bytes),
}

impl Authentication {
    fn decode(body: &Bytes) -> Result<Authentication, ProtocolError> {
        let mut r = Reader::new(body);
        let code = r.i32("authentication request code")?;
        let auth = match code {
            0 => Authentication::Ok,
            2 => Authentication::KerberosV5,
            3 => Authentication::CleartextPassword,
            5 => Authentication::Md5Password {
                salt: r.array("MD5 salt")?,
            },
            6 => Authentication::ScmCredential,
            7 => Authentication::Gss,
            8 => Authentication::GssContinue(body.slice(r.position()..)),
            9 => Authentication::Sspi,
            10 => {
                let mut mechanisms = Vec::new();
                loop {
                    let name = r.cstr("SASL mechanism name")?;
                    if name.is_empty() {
                        break;
                    }
                    mechanisms.push(name.to_owned());
                }
                Authentication::Sasl { mechanisms }
            }
            11 => Authentication::SaslContinue(body.slice(r.position()..)),
            12 => Authentication::SaslFinal(body.slice(r.position()..)),
            other => {
                return Err(ProtocolError::InvalidValue {
                    what: "authentication request code",
                    value: i64::from(other),
                });
            }
        };
        if matches!(
            auth,
            Authentication::GssContinue(_)
                | Authentication::SaslContinue(_)
                | Authentication::SaslFinal(_)
        ) {
            return Ok(auth);
        }
        r.finish(auth.name())?;
        Ok(auth)
    }

    /// The request code and the data that follows it.
    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Authentication::Ok => buf.put_i32(0),
            Authentication::KerberosV5 => buf.put_i32(2),
            Authentication::CleartextPassword => buf.put_i32(3),
            Authentication::Md5Password { salt } => {
                buf.put_i32(5);
                buf.put_slice(salt);
            }
            Authentication::ScmCredential => buf.put_i32(6),
            Authentication::Gss => buf.put_i32(7),
            Authentication::GssContinue(data) => {
                buf.put_i32(8);
                buf.put_slice(data);
            }
            Authentication::Sspi => buf.put_i32(9),
            Authentication::Sasl { mechanisms } => {
                buf.put_i32(10);
                for mechanism in mechanisms {
                    if mechanism.is_empty() {
                        // An empty name would end the list early.
                        return Err(EncodeError::ContainsNul {
                            what: "SASL mechanism name (empty)",
                        });
                    }
                    put_cstr(buf, mechanism.as_bytes(), "SASL mechanism name")?;
                }
                buf.put_u8(0);
            }
            Authentication::SaslContinue(data) => {
                buf.put_i32(11);
                buf.put_slice(data);
            }
            Authentication::SaslFinal(data) => {
                buf.put_i32(12);
                buf.put_slice(data);
            }
        }
        Ok(())
    }

    /// The message's name, for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Authentication::Ok => "AuthenticationOk",
            Authentication::KerberosV5 => "AuthenticationKerberosV5",
            Authentication::CleartextPassword => "AuthenticationCleartextPassword",
            Authentication::Md5Password { .. } => "AuthenticationMD5Password",
            Authentication::ScmCredential => "AuthenticationSCMCredential",
            Authentication::Gss => "AuthenticationGSS",
            Authentication::GssContinue(_) => "AuthenticationGSSContinue",
            Authentication::Sspi => "AuthenticationSSPI",
            Authentication::Sasl { .. } => "AuthenticationSASL",
            Authentication::SaslContinue(_) => "AuthenticationSASLContinue",
            Authentication::SaslFinal(_) => "AuthenticationSASLFinal",
        }
    }
}

/// The longest cancellation key protocol 3.2 allows.
pub const MAX_CANCEL_KEY_LEN: usize = 256;

/// The process id and secret key that a CancelRequest for this session must carry ('K').
///
/// The key is 4 bytes in protocol 3.0 and up to 256 bytes in 3.2.
#[derive(Clone, PartialEq, Eq)]
pub struct BackendKeyData {
    /// The backend's process id.
    pub process_id: i32,
    /// The secret key.
    pub secret_key: Bytes,
}

impl std::fmt::Debug for BackendKeyData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key lets anyone cancel this session's queries: keep it out of logs.
        f.debug_struct("BackendKeyData")
            .field("process_id", &self.process_id)
            .field(
                "secret_key",
                &format_args!("<{} bytes>", self.secret_key.len()),
            )
            .finish()
    }
}

impl BackendKeyData {
    fn decode(body: &Bytes) -> Result<BackendKeyData, ProtocolError> {
        let mut r = Reader::new(body);
        let process_id = r.i32("BackendKeyData process id")?;
        let key_len = r.remaining();
        if !(4..=MAX_CANCEL_KEY_LEN).contains(&key_len) {
            return Err(ProtocolError::InvalidValue {
                what: "BackendKeyData secret key length",
                value: i64::try_from(key_len).unwrap_or(i64::MAX),
            });
        }
        Ok(BackendKeyData {
            process_id,
            secret_key: body.slice(r.position()..),
        })
    }
}

/// The command tag of a finished statement ('C'), such as `INSERT 0 2` or `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandComplete {
    /// The command tag.
    pub tag: String,
}

impl CommandComplete {
    fn decode(body: &[u8]) -> Result<CommandComplete, ProtocolError> {
        Ok(CommandComplete {
            tag: single_cstr(body, "CommandComplete tag")?,
        })
    }

    /// The number of rows the statement affected or returned, when its tag carries one
    /// (`INSERT 0 2` is 2, `SELECT 5` is 5, `CREATE TABLE` has none).
    pub fn rows(&self) -> Option<u64> {
        rows_of_tag(&self.tag)
    }
}

/// The row count at the end of a command tag, for the commands whose tags carry one.
pub fn rows_of_tag(tag: &str) -> Option<u64> {
    let mut words = tag.split(' ');
    let command = words.next()?;
    let counted = matches!(
        command,
        "INSERT" | "DELETE" | "UPDATE" | "SELECT" | "MOVE" | "FETCH" | "COPY" | "MERGE"
    );
    if !counted {
        return None;
    }
    tag.rsplit(' ').next()?.parse().ok()
}

/// The format description of a COPY response ('G', 'H' or 'W').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResponse {
    /// 0 for textual COPY (text or CSV), 1 for binary.
    pub format: i8,
    /// Each column's format code.
    pub column_formats: Vec<i16>,
}

impl CopyResponse {
    fn decode(body: &[u8]) -> Result<CopyResponse, ProtocolError> {
        let mut r = Reader::new(body);
        let [format] = r.array::<1>("COPY overall format")?;
        let format = i8::from_be_bytes([format]);
        if !matches!(format, 0 | 1) {
            return Err(ProtocolError::InvalidValue {
                what: "COPY overall format",
                value: i64::from(format),
            });
        }
        let count = r.count16("COPY column count")?;
        r.check_count(count, 2, "COPY column formats")?;
        let mut column_formats = Vec::with_capacity(count);
        for _ in 0..count {
            column_formats.push(r.i16("COPY column format")?);
        }
        r.finish("COPY response")?;
        Ok(CopyResponse {
            format,
            column_formats,
        })
    }
}

/// One row ('D'): the message body plus the checked position of every field in it.
///
/// Field values are slices of the received buffer; nothing is copied per field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRow {
    body: Bytes,
    /// Per field: the offset of its value in `body`, and its length (`-1` for NULL).
    fields: Fields,
}

/// Rows with at most this many fields keep their field positions inline, without an allocation.
const INLINE_FIELDS: usize = 8;

/// The field positions of a row: inline for narrow rows (most rows), on the heap otherwise.
#[derive(Clone, PartialEq, Eq)]
enum Fields {
    Inline {
        len: usize,
        items: [(u32, i32); INLINE_FIELDS],
    },
    Heap(Vec<(u32, i32)>),
}

impl Fields {
    fn with_capacity(count: usize) -> Fields {
        if count <= INLINE_FIELDS {
            Fields::Inline {
                len: 0,
                items: [(0, -1); INLINE_FIELDS],
            }
        } else {
            Fields::Heap(Vec::with_capacity(count))
        }
    }

    fn push(&mut self, field: (u32, i32)) {
        match self {
            Fields::Inline { len, items } => match items.get_mut(*len) {
                Some(slot) => {
                    *slot = field;
                    *len += 1;
                }
                None => {
                    let mut heap = items.to_vec();
                    heap.push(field);
                    *self = Fields::Heap(heap);
                }
            },
            Fields::Heap(fields) => fields.push(field),
        }
    }

    fn as_slice(&self) -> &[(u32, i32)] {
        match self {
            Fields::Inline { len, items } => items.get(..*len).unwrap_or_default(),
            Fields::Heap(fields) => fields,
        }
    }
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl DataRow {
    /// Decodes a DataRow body ('D'), checking every field against the body.
    pub fn parse(body: Bytes) -> Result<DataRow, ProtocolError> {
        let mut r = Reader::new(&body);
        let count = r.count16("DataRow field count")?;
        r.check_count(count, 4, "DataRow fields")?;
        let mut fields = Fields::with_capacity(count);
        for _ in 0..count {
            let len = r.i32("DataRow field length")?;
            let start = u32::try_from(r.position()).map_err(|_| ProtocolError::Truncated {
                what: "DataRow field value",
            })?;
            match len {
                -1 => {}
                0.. => {
                    let n = usize::try_from(len).map_err(|_| ProtocolError::Truncated {
                        what: "DataRow field value",
                    })?;
                    r.take(n, "DataRow field value")?;
                }
                _ => {
                    return Err(ProtocolError::InvalidValue {
                        what: "DataRow field length",
                        value: i64::from(len),
                    });
                }
            }
            fields.push((start, len));
        }
        r.finish("DataRow")?;
        Ok(DataRow { body, fields })
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.fields.as_slice().len()
    }

    /// Whether the row has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.as_slice().is_empty()
    }

    /// Field `index`: `None` past the end, `Some(None)` for NULL, else the value's bytes.
    #[inline]
    pub fn get(&self, index: usize) -> Option<Option<&[u8]>> {
        let &(start, len) = self.fields.as_slice().get(index)?;
        // Offsets and lengths were checked against the body when the row was decoded.
        Some(value_range(start, len).and_then(|range| self.body.get(range)))
    }

    /// Field `index` as a zero-copy [`Bytes`] handle, for values that outlive the row.
    pub fn get_bytes(&self, index: usize) -> Option<Option<Bytes>> {
        let &(start, len) = self.fields.as_slice().get(index)?;
        let range = value_range(start, len).filter(|range| range.end <= self.body.len());
        Some(range.map(|range| self.body.slice(range)))
    }

    /// The values in order (`None` for NULL).
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Option<&[u8]>> + '_ {
        (0..self.len()).map(|i| self.get(i).flatten())
    }

    /// The whole message body, as received.
    pub fn body(&self) -> &Bytes {
        &self.body
    }
}

/// The byte range of a field value from its checked offset and length; `None` for NULL (`-1`).
#[inline]
fn value_range(start: u32, len: i32) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(start).ok()?;
    let len = usize::try_from(len).ok()?;
    Some(start..start.checked_add(len)?)
}

/// The most fields accepted in one ErrorResponse or NoticeResponse. PostgreSQL sends at most
/// about 18 (one per field code); the cap keeps a hostile message of tiny fields from costing
/// many times its size in memory.
pub const MAX_ERROR_FIELDS: usize = 64;

/// The fields of an ErrorResponse or NoticeResponse, each identified by its one-byte code.
///
/// Values are decoded leniently (invalid UTF-8 becomes U+FFFD): a server may report errors in its
/// own encoding before the startup packet's `client_encoding` takes effect, and the user should
/// still see the error.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorFields {
    fields: Vec<(u8, String)>,
}

impl ErrorFields {
    fn decode(body: &[u8], what: &'static str) -> Result<ErrorFields, ProtocolError> {
        let mut r = Reader::new(body);
        let mut fields = Vec::new();
        loop {
            let code = r.u8(what)?;
            if code == 0 {
                break;
            }
            if fields.len() >= MAX_ERROR_FIELDS {
                return Err(ProtocolError::CountExceedsBody {
                    what,
                    count: fields.len() + 1,
                    remaining: r.remaining(),
                });
            }
            let value = r.cstr_bytes(what)?;
            fields.push((code, String::from_utf8_lossy(value).into_owned()));
        }
        r.finish(what)?;
        Ok(ErrorFields { fields })
    }

    /// Builds fields from (code, value) pairs; for tests and for errors made on the client side.
    pub fn from_pairs<I, S>(pairs: I) -> ErrorFields
    where
        I: IntoIterator<Item = (u8, S)>,
        S: Into<String>,
    {
        ErrorFields {
            fields: pairs.into_iter().map(|(c, v)| (c, v.into())).collect(),
        }
    }

    /// The value of the field with this code (`b'C'` for the SQLSTATE, `b'M'` for the message, ...).
    pub fn get(&self, code: u8) -> Option<&str> {
        self.fields
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_str())
    }

    /// Every field in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &str)> + '_ {
        self.fields.iter().map(|(c, v)| (*c, v.as_str()))
    }

    /// Each field as its code and NUL-terminated value, then the terminating 0.
    fn encode_body(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        for (code, value) in &self.fields {
            if *code == 0 {
                // A code of 0 is the terminator: the fields after it would be lost.
                return Err(EncodeError::ContainsNul {
                    what: "error field code",
                });
            }
            buf.put_u8(*code);
            put_cstr(buf, value.as_bytes(), "error field value")?;
        }
        buf.put_u8(0);
        Ok(())
    }
}

/// The server's answer to a startup packet asking for a newer minor version or unknown options ('v').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiateProtocolVersion {
    /// The newest protocol version the server supports for the requested major version. Servers
    /// send the whole version number (`3 << 16 | minor`), not only the minor part.
    pub newest_version: i32,
    /// The `_pq_.` options the server did not recognise.
    pub unrecognized_options: Vec<String>,
}

impl NegotiateProtocolVersion {
    /// The major part of the offered version.
    pub fn major(&self) -> i32 {
        self.newest_version >> 16
    }

    /// The minor part of the offered version.
    pub fn minor(&self) -> i32 {
        self.newest_version & 0xffff
    }

    fn decode(body: &[u8]) -> Result<NegotiateProtocolVersion, ProtocolError> {
        let mut r = Reader::new(body);
        let newest_version = r.i32("NegotiateProtocolVersion version")?;
        let count = r.count32("NegotiateProtocolVersion option count")?;
        r.check_count(count, 1, "NegotiateProtocolVersion options")?;
        let mut unrecognized_options = Vec::with_capacity(count);
        for _ in 0..count {
            unrecognized_options.push(r.cstr("NegotiateProtocolVersion option")?.to_owned());
        }
        r.finish("NegotiateProtocolVersion")?;
        Ok(NegotiateProtocolVersion {
            newest_version,
            unrecognized_options,
        })
    }
}

/// A NOTIFY delivered to this session ('A').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The notifying backend's process id.
    pub process_id: i32,
    /// The channel name.
    pub channel: String,
    /// The payload (empty when none was given).
    pub payload: String,
}

impl Notification {
    fn decode(body: &[u8]) -> Result<Notification, ProtocolError> {
        let mut r = Reader::new(body);
        let process_id = r.i32("NotificationResponse process id")?;
        let channel = r.cstr("NotificationResponse channel")?.to_owned();
        let payload = r.cstr("NotificationResponse payload")?.to_owned();
        r.finish("NotificationResponse")?;
        Ok(Notification {
            process_id,
            channel,
            payload,
        })
    }
}

/// The parameter type OIDs of a prepared statement ('t').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterDescription {
    /// One type OID per parameter.
    pub types: Vec<u32>,
}

impl ParameterDescription {
    fn decode(body: &[u8]) -> Result<ParameterDescription, ProtocolError> {
        let mut r = Reader::new(body);
        let count = r.count16("ParameterDescription count")?;
        r.check_count(count, 4, "ParameterDescription types")?;
        let mut types = Vec::with_capacity(count);
        for _ in 0..count {
            types.push(r.u32("parameter type OID")?);
        }
        r.finish("ParameterDescription")?;
        Ok(ParameterDescription { types })
    }
}

/// A run-time parameter's value, reported at startup and whenever it changes ('S').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterStatus {
    /// The parameter name, such as `server_version`.
    pub name: String,
    /// Its value.
    pub value: String,
}

impl ParameterStatus {
    fn decode(body: &[u8]) -> Result<ParameterStatus, ProtocolError> {
        let mut r = Reader::new(body);
        let name = r.cstr("ParameterStatus name")?.to_owned();
        let value = r.cstr("ParameterStatus value")?.to_owned();
        r.finish("ParameterStatus")?;
        Ok(ParameterStatus { name, value })
    }
}

/// The transaction status carried by ReadyForQuery ('Z').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionStatus {
    /// Not in a transaction block ('I').
    Idle,
    /// In a transaction block ('T').
    InTransaction,
    /// In a failed transaction block; queries are rejected until it ends ('E').
    Failed,
}

impl TransactionStatus {
    /// The status byte sent in ReadyForQuery (`I`, `T` or `E`).
    pub fn byte(self) -> u8 {
        match self {
            TransactionStatus::Idle => b'I',
            TransactionStatus::InTransaction => b'T',
            TransactionStatus::Failed => b'E',
        }
    }

    fn decode(body: &[u8]) -> Result<TransactionStatus, ProtocolError> {
        let mut r = Reader::new(body);
        let status = match r.u8("ReadyForQuery status")? {
            b'I' => TransactionStatus::Idle,
            b'T' => TransactionStatus::InTransaction,
            b'E' => TransactionStatus::Failed,
            other => {
                return Err(ProtocolError::InvalidValue {
                    what: "ReadyForQuery status",
                    value: i64::from(other),
                });
            }
        };
        r.finish("ReadyForQuery")?;
        Ok(status)
    }
}

/// One column of a RowDescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDescription {
    /// The column name (or alias).
    pub name: String,
    /// The OID of the table the column comes from, or 0.
    pub table_oid: u32,
    /// The column's attribute number in that table, or 0.
    pub column_id: i16,
    /// The OID of the column's data type.
    pub type_oid: u32,
    /// The data type's size (`pg_type.typlen`); negative for variable-width types.
    pub type_size: i16,
    /// The type modifier (`pg_attribute.atttypmod`), such as a varchar's length.
    pub type_modifier: i32,
    /// The format code: 0 text, 1 binary.
    pub format: i16,
}

/// The columns of the rows that follow ('T').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowDescription {
    /// The columns in order.
    pub fields: Vec<FieldDescription>,
}

impl RowDescription {
    /// The smallest encoding of one field: an empty name (1 byte) and 18 bytes of fixed fields.
    const MIN_FIELD_SIZE: usize = 19;

    fn decode(body: &[u8]) -> Result<RowDescription, ProtocolError> {
        let mut r = Reader::new(body);
        let count = r.count16("RowDescription field count")?;
        r.check_count(count, Self::MIN_FIELD_SIZE, "RowDescription fields")?;
        let mut fields = Vec::with_capacity(count);
        for _ in 0..count {
            let name = r.cstr("RowDescription column name")?.to_owned();
            let table_oid = r.u32("RowDescription table OID")?;
            let column_id = r.i16("RowDescription column number")?;
            let type_oid = r.u32("RowDescription type OID")?;
            let type_size = r.i16("RowDescription type size")?;
            let type_modifier = r.i32("RowDescription type modifier")?;
            let format = r.i16("RowDescription format code")?;
            if !matches!(format, 0 | 1) {
                return Err(ProtocolError::InvalidValue {
                    what: "RowDescription format code",
                    value: i64::from(format),
                });
            }
            fields.push(FieldDescription {
                name,
                table_oid,
                column_id,
                type_oid,
                type_size,
                type_modifier,
                format,
            });
        }
        r.finish("RowDescription")?;
        Ok(RowDescription { fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(tag: u8, body: &[u8]) -> Result<BackendMessage, ProtocolError> {
        BackendMessage::decode(tag, Bytes::copy_from_slice(body))
    }

    #[test]
    fn data_row_fields_are_slices() {
        // Two fields: "1" and NULL.
        let msg = decode(b'D', b"\x00\x02\x00\x00\x00\x011\xff\xff\xff\xff").unwrap();
        let BackendMessage::DataRow(row) = msg else {
            panic!("not a DataRow")
        };
        assert_eq!(row.len(), 2);
        assert_eq!(row.get(0), Some(Some(&b"1"[..])));
        assert_eq!(row.get(1), Some(None));
        assert_eq!(row.get(2), None);
        assert_eq!(row.get_bytes(0), Some(Some(Bytes::from_static(b"1"))));
        // The value points into the message body: no copy.
        let value = row.get(0).flatten().unwrap();
        assert!(std::ptr::eq(value.as_ptr(), row.body()[6..].as_ptr()));
    }

    #[test]
    fn wide_rows_keep_their_fields_on_the_heap() {
        let mut body = vec![0u8, 20];
        for i in 0..20u8 {
            body.extend_from_slice(&[0, 0, 0, 1, i]);
        }
        let row = DataRow::parse(Bytes::from(body)).unwrap();
        assert_eq!(row.len(), 20);
        assert_eq!(row.get(19), Some(Some(&[19u8][..])));
        assert_eq!(row.get(20), None);
    }

    #[test]
    fn data_row_rejects_bad_lengths() {
        // Field length past the end of the message.
        assert_eq!(
            decode(b'D', b"\x00\x01\x00\x00\x00\x10ab").unwrap_err(),
            ProtocolError::Truncated {
                what: "DataRow field value"
            }
        );
        // Field length -2.
        assert!(matches!(
            decode(b'D', b"\x00\x01\xff\xff\xff\xfe").unwrap_err(),
            ProtocolError::InvalidValue { value: -2, .. }
        ));
        // Field count that cannot fit.
        assert!(matches!(
            decode(b'D', b"\x7f\xff\x00\x00\x00\x00").unwrap_err(),
            ProtocolError::CountExceedsBody { count: 32767, .. }
        ));
        // Trailing bytes.
        assert!(matches!(
            decode(b'D', b"\x00\x00\x01").unwrap_err(),
            ProtocolError::TrailingBytes { .. }
        ));
    }

    #[test]
    fn row_description_claiming_many_fields_with_short_body() {
        assert!(matches!(
            decode(b'T', b"\xff\xff\0").unwrap_err(),
            ProtocolError::InvalidValue { value: -1, .. }
        ));
        assert!(matches!(
            decode(b'T', b"\x7f\xff\0\0\0\0").unwrap_err(),
            ProtocolError::CountExceedsBody { .. }
        ));
    }

    #[test]
    fn error_fields_need_the_terminator() {
        assert_eq!(
            decode(b'E', b"SERROR\0C42P01\0").unwrap_err(),
            ProtocolError::Truncated {
                what: "ErrorResponse"
            }
        );
        assert_eq!(
            decode(b'N', b"SNOTICE\0Mhi").unwrap_err(),
            ProtocolError::MissingNul {
                what: "NoticeResponse"
            }
        );
        let BackendMessage::ErrorResponse(fields) =
            decode(b'E', b"SERROR\0C42P01\0Mno table\0\0").unwrap()
        else {
            panic!("not an error")
        };
        assert_eq!(fields.get(b'C'), Some("42P01"));
        assert_eq!(fields.get(b'M'), Some("no table"));
        assert_eq!(fields.get(b'D'), None);
    }

    #[test]
    fn error_fields_are_capped() {
        let mut body = Vec::new();
        for _ in 0..MAX_ERROR_FIELDS {
            body.extend_from_slice(b"Mx\0");
        }
        body.push(0);
        assert!(decode(b'E', &body).is_ok());
        body.pop();
        body.extend_from_slice(b"Mx\0\0");
        assert!(matches!(
            decode(b'E', &body).unwrap_err(),
            ProtocolError::CountExceedsBody { .. }
        ));
    }

    #[test]
    fn parameter_status_requires_utf8() {
        assert_eq!(
            decode(b'S', b"name\0\xff\0").unwrap_err(),
            ProtocolError::InvalidUtf8 {
                what: "ParameterStatus value"
            }
        );
    }

    #[test]
    fn ready_for_query_status() {
        assert_eq!(
            decode(b'Z', b"T").unwrap(),
            BackendMessage::ReadyForQuery(TransactionStatus::InTransaction)
        );
        assert!(matches!(
            decode(b'Z', b"X").unwrap_err(),
            ProtocolError::InvalidValue { value: 88, .. }
        ));
        assert!(matches!(
            decode(b'Z', b"").unwrap_err(),
            ProtocolError::Truncated { .. }
        ));
    }

    #[test]
    fn backend_key_data_lengths() {
        let BackendMessage::BackendKeyData(key) = decode(b'K', b"\0\0\x01\x00abcd").unwrap() else {
            panic!("not a key")
        };
        assert_eq!(key.process_id, 256);
        assert_eq!(&key.secret_key[..], b"abcd");
        // Protocol 3.2 keys may be up to 256 bytes.
        let mut long = vec![0, 0, 0, 1];
        long.extend([7u8; 256]);
        assert!(decode(b'K', &long).is_ok());
        long.push(7);
        assert!(decode(b'K', &long).is_err());
        assert!(decode(b'K', b"\0\0\0\x01abc").is_err());
        assert!(!format!("{key:?}").contains("abcd"));
    }

    #[test]
    fn authentication_requests() {
        assert_eq!(
            decode(b'R', b"\0\0\0\x05salt").unwrap(),
            BackendMessage::Authentication(Authentication::Md5Password { salt: *b"salt" })
        );
        assert_eq!(
            decode(b'R', b"\0\0\0\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0").unwrap(),
            BackendMessage::Authentication(Authentication::Sasl {
                mechanisms: vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()]
            })
        );
        assert!(decode(b'R', b"\0\0\0\x0aSCRAM-SHA-256\0").is_err());
        assert!(decode(b'R', b"\0\0\0\x63").is_err());
        assert!(decode(b'R', b"\0\0\0\0x").is_err());
    }

    #[test]
    fn command_tags() {
        assert_eq!(rows_of_tag("INSERT 0 2"), Some(2));
        assert_eq!(rows_of_tag("SELECT 5"), Some(5));
        assert_eq!(rows_of_tag("UPDATE 0"), Some(0));
        assert_eq!(rows_of_tag("CREATE TABLE"), None);
        assert_eq!(rows_of_tag("SELECT"), None);
    }

    #[test]
    fn encoding_refuses_what_would_not_decode_back() {
        let mut buf = BytesMut::from(&b"keep"[..]);
        let nul = BackendMessage::ParameterStatus(ParameterStatus {
            name: "a\0b".into(),
            value: String::new(),
        });
        assert!(nul.encode(&mut buf).is_err());
        let zero_code = BackendMessage::ErrorResponse(ErrorFields::from_pairs([(0, "x")]));
        assert!(zero_code.encode(&mut buf).is_err());
        let empty_mechanism = BackendMessage::Authentication(Authentication::Sasl {
            mechanisms: vec![String::new()],
        });
        assert!(empty_mechanism.encode(&mut buf).is_err());
        let too_many = BackendMessage::ParameterDescription(ParameterDescription {
            types: vec![0; 40_000],
        });
        assert!(too_many.encode(&mut buf).is_err());
        // Nothing half-written is left behind.
        assert_eq!(&buf[..], b"keep");
        BackendMessage::ReadyForQuery(TransactionStatus::Failed)
            .encode(&mut buf)
            .unwrap();
        assert_eq!(&buf[..], b"keepZ\0\0\0\x05E");
    }

    #[test]
    fn unknown_tag() {
        assert_eq!(
            decode(b'?', b"").unwrap_err(),
            ProtocolError::UnknownMessageType { tag: b'?' }
        );
    }
}
