//! Target `error_fields`: ErrorResponse and NoticeResponse bodies, and everything built on them.

use bytes::Bytes;

use crate::error::{DbError, Error, ErrorKind, ErrorPosition, Severity, report};
use crate::proto::backend::{BackendMessage, ErrorFields, tag};

/// Input: the body of an ErrorResponse (also decoded as a NoticeResponse). Checks that the field
/// parser gives fields or a typed error, that a [`DbError`] and an [`Error`] built from the fields
/// answer every accessor and format without panicking, that the accessors agree with the raw
/// fields, and that the fields survive an encode/decode round trip.
pub fn error_fields(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    let error = BackendMessage::decode(tag::ERROR_RESPONSE, body.clone());
    let notice = BackendMessage::decode(tag::NOTICE_RESPONSE, body);
    let fields = match (error, notice) {
        (Ok(BackendMessage::ErrorResponse(e)), Ok(BackendMessage::NoticeResponse(n))) => {
            assert_eq!(e, n, "ErrorResponse and NoticeResponse parse differently");
            e
        }
        (Err(e), Err(_)) => {
            assert!(!e.to_string().is_empty());
            return;
        }
        (e, n) => panic!("ErrorResponse gave {e:?} but NoticeResponse gave {n:?}"),
    };
    exercise_fields(&fields);

    let message = BackendMessage::NoticeResponse(fields.clone());
    let mut encoded = bytes::BytesMut::new();
    if let Err(e) = message.encode(&mut encoded) {
        panic!("decoded error fields do not encode: {e}");
    }
    super::stream::check_reencoded(&message, encoded);

    let error = Error::db(fields);
    assert_eq!(error.kind(), ErrorKind::Db);
    assert!(error.as_db_error().is_some());
    assert_eq!(
        error.code().map(|c| c.code().to_owned()),
        error.as_db_error().map(|db| db.code().code().to_owned())
    );
    let _ = report(&error);
    let _ = format!("{error:?}");
}

/// Builds a [`DbError`] from the fields and calls every accessor.
pub(super) fn exercise_fields(fields: &ErrorFields) {
    for (code, value) in fields.iter() {
        assert_ne!(code, 0, "a field code of 0 is the terminator");
        assert!(!value.contains('\0'), "a field value holds a NUL");
    }
    let db = DbError::from_fields(fields.clone());
    assert_eq!(db.code().code(), fields.get(b'C').unwrap_or(""));
    assert!(db.code().class().len() <= 2);
    assert!(db.code().code().starts_with(db.code().class()));
    assert_eq!(db.severity(), fields.get(b'S').unwrap_or(""));
    assert_eq!(db.message(), fields.get(b'M').unwrap_or(""));
    assert_eq!(db.detail(), fields.get(b'D'));
    assert_eq!(db.hint(), fields.get(b'H'));
    if let Some(severity) = db.parsed_severity() {
        let text = fields.get(b'V').or_else(|| fields.get(b'S'));
        assert_eq!(text.and_then(Severity::parse), Some(severity));
    }
    match db.position() {
        Some(ErrorPosition::Original(p)) => {
            assert_eq!(fields.get(b'P').and_then(|t| t.parse().ok()), Some(p));
        }
        Some(ErrorPosition::Internal { position, query }) => {
            assert_eq!(
                fields.get(b'p').and_then(|t| t.parse().ok()),
                Some(position)
            );
            assert_eq!(query, fields.get(b'q').unwrap_or(""));
        }
        None => {}
    }
    let _ = (
        db.where_(),
        db.schema(),
        db.table(),
        db.column(),
        db.datatype(),
        db.constraint(),
        db.file(),
        db.line(),
        db.routine(),
    );
    let _ = db.to_string();
    let _ = format!("{db:?} {:?}", db.code());
}
