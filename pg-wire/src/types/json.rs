//! `json` and `jsonb` as [`serde_json::Value`] (feature `serde_json`).
//!
//! Binary formats follow the server's `json_send` (the text itself) and `jsonb_send` (a version
//! byte, `1`, then the text). Strings (`&str`, `String`) read and write both types without the
//! feature; see the `builtin` mappings.

use bytes::{BufMut, BytesMut};
use serde_json::Value;

use crate::types::builtin::{InvalidBinary, InvalidText, check_type};
use crate::types::{BoxError, FromSql, IsNull, ToSql, Type};

/// The version byte that starts a binary `jsonb` value.
const JSONB_VERSION: u8 = 1;

fn is_json(ty: &Type) -> bool {
    matches!(*ty, Type::JSON | Type::JSONB)
}

/// `json` or `jsonb`, in binary format (the compact JSON text, after the version byte for `jsonb`).
impl ToSql for Value {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        check_type::<Value>(is_json(ty), ty)?;
        if *ty == Type::JSONB {
            out.put_u8(JSONB_VERSION);
        }
        serde_json::to_writer(out.writer(), self)?;
        Ok(IsNull::No)
    }

    fn accepts(&self, ty: &Type) -> bool {
        is_json(ty)
    }
}

/// `json` or `jsonb`, binary or text. (A JSON `null` value is `Value::Null`; SQL NULL is an
/// error unless read as `Option<Value>`.)
impl<'a> FromSql<'a> for Value {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        check_type::<Value>(is_json(ty), ty)?;
        let text = match (ty, raw) {
            (&Type::JSONB, [JSONB_VERSION, rest @ ..]) => rest,
            (&Type::JSONB, [version, ..]) => {
                return Err(Box::new(InvalidBinary::new(
                    ty,
                    format!("unknown jsonb version {version}"),
                )));
            }
            (&Type::JSONB, []) => return Err(Box::new(InvalidBinary::new(ty, "empty value"))),
            _ => raw,
        };
        Ok(serde_json::from_slice(text)?)
    }

    fn accepts(ty: &Type) -> bool {
        is_json(ty)
    }

    fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
        Self::from_sql_text_owned(ty, raw.to_owned())
    }

    fn accepts_text(ty: &Type) -> bool {
        is_json(ty)
    }

    fn from_sql_text_owned(ty: &Type, raw: String) -> Result<Self, BoxError> {
        check_type::<Value>(is_json(ty), ty)?;
        serde_json::from_str(&raw).map_err(|_| Box::new(InvalidText::new(ty, &raw)) as BoxError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn encode(value: &Value, ty: &Type) -> Vec<u8> {
        let mut buf = BytesMut::new();
        assert!(value.accepts(ty));
        value.to_sql(ty, &mut buf).unwrap();
        buf.to_vec()
    }

    #[test]
    fn binary_forms() {
        let value = json!({"a": [1, "x", null, true]});
        assert_eq!(encode(&value, &Type::JSON), br#"{"a":[1,"x",null,true]}"#);
        assert_eq!(
            encode(&value, &Type::JSONB),
            b"\x01{\"a\":[1,\"x\",null,true]}"
        );
        assert_eq!(
            Value::from_sql(&Type::JSON, &encode(&value, &Type::JSON)).unwrap(),
            value
        );
        assert_eq!(
            Value::from_sql(&Type::JSONB, &encode(&value, &Type::JSONB)).unwrap(),
            value
        );
        // The server's jsonb output has spaces after separators.
        assert_eq!(
            Value::from_sql(&Type::JSONB, b"\x01{\"a\": [1, 2]}").unwrap(),
            json!({"a": [1, 2]})
        );
        assert_eq!(Value::from_sql(&Type::JSON, b"null").unwrap(), Value::Null);
        assert_eq!(encode(&Value::Null, &Type::JSONB), b"\x01null");
    }

    #[test]
    fn errors() {
        assert!(
            Value::from_sql(&Type::JSONB, b"")
                .unwrap_err()
                .is::<InvalidBinary>()
        );
        assert!(
            Value::from_sql(&Type::JSONB, b"\x02{}")
                .unwrap_err()
                .is::<InvalidBinary>()
        );
        assert!(Value::from_sql(&Type::JSONB, b"{}").is_err());
        assert!(Value::from_sql(&Type::JSON, b"{").is_err());
        assert!(Value::from_sql(&Type::JSON, b"").is_err());
        assert!(Value::from_sql(&Type::JSON, &[0xff]).is_err());
        assert!(Value::from_sql(&Type::TEXT, b"{}").is_err());
        assert!(!Value::Null.accepts(&Type::TEXT));
        assert!(
            Value::Null
                .to_sql(&Type::TEXT, &mut BytesMut::new())
                .is_err()
        );
        assert!(
            Value::from_sql_text(&Type::JSONB, "{x}")
                .unwrap_err()
                .is::<InvalidText>()
        );
    }

    #[test]
    fn text_form() {
        assert_eq!(
            Value::from_sql_text(&Type::JSONB, r#"{"a": "b\"c"}"#).unwrap(),
            json!({"a": "b\"c"})
        );
        assert!(<Value as FromSql>::accepts_text(&Type::JSON));
        assert!(!<Value as FromSql>::accepts_text(&Type::TEXT));
        assert_eq!(Option::<Value>::from_sql_null(&Type::JSONB).unwrap(), None);
    }
}
