//! `uuid`: 16 bytes in binary format (the server's `uuid_send`), read as text by `String` in any
//! build, and as [`uuid::Uuid`] with the `uuid` feature.
//!
//! `uuid` columns are always requested in binary format, with or without the feature, so that
//! enabling a feature never changes what goes over the wire: `String` reads the binary value and
//! formats it as the server's `uuid_out` does (lowercase, `8-4-4-4-12`). A `&str` cannot borrow a
//! binary uuid; read it as `String` (or `Uuid`).

use crate::types::builtin::fixed;
use crate::types::{BoxError, Type};

/// The canonical text of a binary `uuid`: 32 lowercase hex digits in groups of 8-4-4-4-12.
pub(crate) fn uuid_text(ty: &Type, raw: &[u8]) -> Result<String, BoxError> {
    let bytes = fixed::<16>(ty, raw)?;
    let mut out = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{byte:02x}"));
    }
    Ok(out)
}

#[cfg(feature = "uuid")]
mod with_crate {
    use bytes::{BufMut, BytesMut};
    use uuid::Uuid;

    use crate::types::builtin::{InvalidText, check_type, fixed};
    use crate::types::{BoxError, FromSql, IsNull, ToSql, Type};

    /// `uuid`: its 16 bytes, in binary format.
    impl ToSql for Uuid {
        fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
            check_type::<Uuid>(*ty == Type::UUID, ty)?;
            out.put_slice(self.as_bytes());
            Ok(IsNull::No)
        }

        fn accepts(&self, ty: &Type) -> bool {
            *ty == Type::UUID
        }
    }

    /// `uuid`: 16 bytes in binary format, or its text form.
    impl<'a> FromSql<'a> for Uuid {
        fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
            check_type::<Uuid>(*ty == Type::UUID, ty)?;
            fixed::<16>(ty, raw).map(Uuid::from_bytes)
        }

        fn accepts(ty: &Type) -> bool {
            *ty == Type::UUID
        }

        fn from_sql_text(ty: &Type, raw: &'a str) -> Result<Self, BoxError> {
            check_type::<Uuid>(*ty == Type::UUID, ty)?;
            Uuid::parse_str(raw).map_err(|_| Box::new(InvalidText::new(ty, raw)) as BoxError)
        }

        fn accepts_text(ty: &Type) -> bool {
            *ty == Type::UUID
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::WrongLength;

    const BYTES: [u8; 16] = [
        0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a,
        0x11,
    ];

    #[test]
    fn text_is_canonical() {
        assert_eq!(
            uuid_text(&Type::UUID, &BYTES).unwrap(),
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        );
        assert_eq!(
            uuid_text(&Type::UUID, &[0; 16]).unwrap(),
            "00000000-0000-0000-0000-000000000000"
        );
        assert_eq!(
            uuid_text(&Type::UUID, &[0xff; 16]).unwrap(),
            "ffffffff-ffff-ffff-ffff-ffffffffffff"
        );
        for len in [0usize, 15, 17] {
            assert!(
                uuid_text(&Type::UUID, &vec![0; len])
                    .unwrap_err()
                    .is::<WrongLength>()
            );
        }
    }

    #[cfg(feature = "uuid")]
    #[test]
    fn uuid_crate() {
        use crate::types::{FromSql, IsNull, ToSql};
        use bytes::BytesMut;
        use uuid::Uuid;

        let id = Uuid::from_bytes(BYTES);
        let mut buf = BytesMut::new();
        assert!(id.accepts(&Type::UUID));
        assert!(!id.accepts(&Type::TEXT));
        assert_eq!(id.to_sql(&Type::UUID, &mut buf).unwrap(), IsNull::No);
        assert_eq!(&buf[..], &BYTES);
        assert_eq!(Uuid::from_sql(&Type::UUID, &buf).unwrap(), id);
        assert!(Uuid::from_sql(&Type::UUID, &BYTES[..15]).is_err());
        assert!(Uuid::from_sql(&Type::TEXT, &BYTES).is_err());
        assert!(id.to_sql(&Type::BYTEA, &mut BytesMut::new()).is_err());
        assert_eq!(
            Uuid::from_sql_text(&Type::UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").unwrap(),
            id
        );
        assert!(Uuid::from_sql_text(&Type::UUID, "not-a-uuid").is_err());
        assert!(<Uuid as FromSql>::accepts_text(&Type::UUID));
        assert_eq!(
            Uuid::nil().to_string(),
            uuid_text(&Type::UUID, &[0; 16]).unwrap()
        );
        assert_eq!(id.to_string(), uuid_text(&Type::UUID, &BYTES).unwrap());
    }
}
