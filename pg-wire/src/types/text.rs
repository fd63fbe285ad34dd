//! The text form of binary values, as the server's output functions write it, so that `String`
//! still reads the types this module now requests in binary format and that used to arrive as
//! text: `numeric`, `uuid`, `interval`, `inet`, `cidr`, and arrays of every type with a binary
//! decoder except `timestamptz` (whose text depends on the session's `TimeZone`).
//!
//! Scalar `bool`, integer, float, `bytea` and date/time columns were binary before and stay
//! refused by `String` (a type error, as before); their text forms here serve array elements.

use crate::types::array::{decode_binary, format_text_array};
use crate::types::builtin::{fixed, read_i32, read_i64};
use crate::types::datetime::{date_text, time_text, timestamp_text};
use crate::types::interval::interval_text;
use crate::types::net::network_text;
use crate::types::numeric::numeric_text;
use crate::types::uuid_type::uuid_text;
use crate::types::{BoxError, Type};

/// The scalar types whose binary values `String` reads converted to text.
fn is_converted_scalar(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::NUMERIC | Type::UUID | Type::INTERVAL | Type::INET | Type::CIDR
    )
}

/// Further element types of arrays that `String` reads converted to text.
fn is_converted_element(ty: &Type) -> bool {
    matches!(
        *ty,
        Type::BOOL
            | Type::CHAR
            | Type::INT2
            | Type::INT4
            | Type::INT8
            | Type::OID
            | Type::FLOAT4
            | Type::FLOAT8
            | Type::BYTEA
            | Type::DATE
            | Type::TIME
            | Type::TIMESTAMP
    ) || is_converted_scalar(ty)
}

/// Whether `String` reads binary values of `ty` by converting them here: the scalar types above,
/// and arrays whose elements are converted or read as their own bytes (`text_binary`).
pub(crate) fn converts(ty: &Type, text_binary: fn(&Type) -> bool) -> bool {
    if is_converted_scalar(ty) {
        return true;
    }
    ty.array_element()
        .is_some_and(|element| is_converted_element(&element) || text_binary(&element))
}

/// The server's text for the binary value `raw` of a type [`converts`] accepts; `text_binary`
/// reads the text-like element types.
pub(crate) fn to_text(
    ty: &Type,
    raw: &[u8],
    text_binary: fn(&Type, &[u8]) -> Result<String, BoxError>,
) -> Result<String, BoxError> {
    if is_converted_element(ty) {
        return scalar_text(ty, raw);
    }
    let element = ty
        .array_element()
        .ok_or_else(|| format!("no text conversion for binary {ty} values"))?;
    let array = decode_binary(ty, &element, raw)?;
    let texts = array
        .elements
        .into_iter()
        .map(|e| {
            e.map(|bytes| {
                if is_converted_element(&element) {
                    scalar_text(&element, bytes)
                } else {
                    text_binary(&element, bytes)
                }
            })
            .transpose()
        })
        .collect::<Result<Vec<_>, BoxError>>()?;
    let delimiter = if *ty == Type::BOX_ARRAY { b';' } else { b',' };
    Ok(format_text_array(&array.dims, &texts, delimiter))
}

/// The text of one binary value of a type [`is_converted_element`] accepts.
fn scalar_text(ty: &Type, raw: &[u8]) -> Result<String, BoxError> {
    match *ty {
        Type::NUMERIC => numeric_text(ty, raw),
        Type::UUID => uuid_text(ty, raw),
        Type::INTERVAL => interval_text(ty, raw),
        Type::INET | Type::CIDR => network_text(ty, raw),
        Type::BOOL => fixed::<1>(ty, raw).map(|[b]| if b != 0 { "t" } else { "f" }.to_owned()),
        Type::CHAR => fixed::<1>(ty, raw).map(|[b]| char_text(b)),
        Type::INT2 => fixed::<2>(ty, raw).map(|b| i16::from_be_bytes(b).to_string()),
        Type::INT4 => read_i32(ty, raw).map(|v| v.to_string()),
        Type::INT8 => read_i64(ty, raw).map(|v| v.to_string()),
        Type::OID => fixed::<4>(ty, raw).map(|b| u32::from_be_bytes(b).to_string()),
        Type::FLOAT4 => fixed::<4>(ty, raw).map(|b| float4_text(f32::from_be_bytes(b))),
        Type::FLOAT8 => fixed::<8>(ty, raw).map(|b| float8_text(f64::from_be_bytes(b))),
        Type::BYTEA => Ok(bytea_text(raw)),
        Type::DATE => date_text(ty, raw),
        Type::TIME => time_text(ty, raw),
        Type::TIMESTAMP => timestamp_text(ty, raw),
        _ => Err(format!("no text conversion for binary {ty} values").into()),
    }
}

/// `"char"` as `charout` writes it: the character, nothing for the zero byte, `\ooo` for a byte
/// with the high bit set.
fn char_text(byte: u8) -> String {
    match byte {
        0 => String::new(),
        0x80.. => format!("\\{byte:03o}"),
        _ => char::from(byte).to_string(),
    }
}

/// `bytea` as `byteaout` writes it with the default `bytea_output = hex`.
fn bytea_text(raw: &[u8]) -> String {
    let mut out = String::with_capacity(2 + 2 * raw.len());
    out.push_str("\\x");
    for byte in raw {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// A float as the server writes it with the default `extra_float_digits = 1` (its Ryu-based
/// shortest round-trip output): fixed notation when the decimal exponent is in
/// `-4..max_fixed_exponent`, else `d.ddde±XX` with at least two exponent digits.
fn float_text(
    is_nan: bool,
    is_infinite: bool,
    negative: bool,
    exp_form: String,
    max_fixed: i32,
) -> String {
    if is_nan {
        return "NaN".to_owned();
    }
    let sign = if negative { "-" } else { "" };
    if is_infinite {
        return format!("{sign}Infinity");
    }
    // `exp_form` is Rust's shortest round-trip scientific form of the magnitude: `1.5e-7`.
    let (mantissa, exponent) = exp_form.split_once('e').unwrap_or((&exp_form, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if digits == "0" {
        return format!("{sign}0");
    }
    if (-4..max_fixed).contains(&exponent) {
        let text = match usize::try_from(exponent) {
            Ok(point) => {
                let point = point + 1;
                if digits.len() <= point {
                    format!("{digits}{}", "0".repeat(point - digits.len()))
                } else {
                    let (int, frac) = digits.split_at(point);
                    format!("{int}.{frac}")
                }
            }
            Err(_) => {
                let zeros = usize::try_from(-exponent - 1).unwrap_or(0);
                format!("0.{}{digits}", "0".repeat(zeros))
            }
        };
        return format!("{sign}{text}");
    }
    let exp_sign = if exponent < 0 { '-' } else { '+' };
    format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.unsigned_abs())
}

/// `float4` as `float4out` writes it (fixed notation for exponents -4 to 5).
fn float4_text(v: f32) -> String {
    float_text(
        v.is_nan(),
        v.is_infinite(),
        v.is_sign_negative(),
        format!("{:e}", v.abs()),
        6,
    )
}

/// `float8` as `float8out` writes it (fixed notation for exponents -4 to 14).
fn float8_text(v: f64) -> String {
    float_text(
        v.is_nan(),
        v.is_infinite(),
        v.is_sign_negative(),
        format!("{:e}", v.abs()),
        15,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_match_float_out() {
        // Outputs of `SELECT x::float8` (PostgreSQL 12 and later, extra_float_digits = 1).
        for (value, text) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (0.1, "0.1"),
            (100.0, "100"),
            (1e14, "100000000000000"),
            (1e15, "1e+15"),
            (123_456_789_012_345_680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00012, "0.00012"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
            (123.456, "123.456"),
            (99_999_999_999_999.9, "99999999999999.9"),
        ] {
            assert_eq!(float8_text(value), text, "{value:e}");
        }
        for (value, text) in [
            (0.1f32, "0.1"),
            (100_000.0, "100000"),
            (1e6, "1e+06"),
            (1.5e-5, "1.5e-05"),
            (f32::MAX, "3.4028235e+38"),
            (f32::MIN_POSITIVE, "1.1754944e-38"),
            (-1.25, "-1.25"),
            (f32::NAN, "NaN"),
        ] {
            assert_eq!(float4_text(value), text, "{value:e}");
        }
        // The text always reads back as the same float.
        for bits in [
            1u64,
            0x3ff0_0000_0000_0001,
            0x4340_0000_0000_0001,
            0x7fef_ffff_ffff_fffe,
        ] {
            let v = f64::from_bits(bits);
            assert_eq!(float8_text(v).parse::<f64>().unwrap(), v);
        }
    }

    use crate::types::{FromSql, Interval, Numeric, ToSql};
    use bytes::BytesMut;

    fn encode<T: ToSql + ?Sized>(value: &T, ty: &Type) -> Vec<u8> {
        let mut buf = BytesMut::new();
        value.to_sql(ty, &mut buf).unwrap();
        buf.to_vec()
    }

    fn read_string(ty: &Type, raw: &[u8]) -> Result<String, BoxError> {
        assert!(<String as FromSql>::accepts(ty), "{ty}");
        String::from_sql(ty, raw)
    }

    #[test]
    fn string_reads_types_that_moved_to_binary() {
        let n: Numeric = "-12.500".parse().unwrap();
        assert_eq!(
            read_string(&Type::NUMERIC, &encode(&n, &Type::NUMERIC)).unwrap(),
            "-12.500"
        );
        let uuid = [0x12u8; 16];
        assert_eq!(
            read_string(&Type::UUID, &uuid).unwrap(),
            "12121212-1212-1212-1212-121212121212"
        );
        let i = Interval::new(1, -2, 3_000_000);
        assert_eq!(
            read_string(&Type::INTERVAL, &encode(&i, &Type::INTERVAL)).unwrap(),
            "1 mon -2 days +00:00:03"
        );
        assert_eq!(
            read_string(&Type::INET, &[2, 24, 0, 4, 10, 0, 0, 1]).unwrap(),
            "10.0.0.1/24"
        );
        assert_eq!(
            read_string(&Type::CIDR, &[2, 32, 1, 4, 10, 0, 0, 1]).unwrap(),
            "10.0.0.1/32"
        );
        // Borrowing cannot convert.
        assert!(!<&str as FromSql>::accepts(&Type::NUMERIC));
        assert!(<&str>::from_sql(&Type::NUMERIC, &[0; 8]).is_err());
        // Malformed values are errors, not panics.
        assert!(read_string(&Type::NUMERIC, &[0; 7]).is_err());
        assert!(read_string(&Type::UUID, &[0; 15]).is_err());
        assert!(read_string(&Type::INET, &[9; 8]).is_err());
        // Scalars that were binary before stay refused.
        for ty in [
            Type::INT4,
            Type::BOOL,
            Type::BYTEA,
            Type::DATE,
            Type::FLOAT8,
        ] {
            assert!(!<String as FromSql>::accepts(&ty), "{ty}");
        }
    }

    #[test]
    fn string_reads_binary_arrays_as_array_out_text() {
        let cases: Vec<(Type, Vec<u8>, &str)> = vec![
            (
                Type::INT4_ARRAY,
                encode(&vec![Some(1i32), None, Some(-3)], &Type::INT4_ARRAY),
                "{1,NULL,-3}",
            ),
            (
                Type::INT8_ARRAY,
                encode(&Vec::<i64>::new(), &Type::INT8_ARRAY),
                "{}",
            ),
            (
                Type::BOOL_ARRAY,
                encode(&vec![true, false], &Type::BOOL_ARRAY),
                "{t,f}",
            ),
            (
                Type::FLOAT8_ARRAY,
                encode(&vec![1.5f64, 1e20, f64::NAN], &Type::FLOAT8_ARRAY),
                "{1.5,1e+20,NaN}",
            ),
            (
                Type::FLOAT4_ARRAY,
                encode(&vec![0.1f32], &Type::FLOAT4_ARRAY),
                "{0.1}",
            ),
            (
                Type::BYTEA_ARRAY,
                encode(&vec![vec![1u8, 0xff]], &Type::BYTEA_ARRAY),
                r#"{"\\x01ff"}"#,
            ),
            (
                Type::CHAR_ARRAY,
                encode(&vec![b'a' as i8, b'"' as i8, 0], &Type::CHAR_ARRAY),
                r#"{a,"\"",""}"#,
            ),
            (
                Type::OID_ARRAY,
                encode(&vec![u32::MAX], &Type::OID_ARRAY),
                "{4294967295}",
            ),
            (
                Type::NUMERIC_ARRAY,
                encode(
                    &vec!["1.50".parse::<Numeric>().unwrap(), Numeric::NAN],
                    &Type::NUMERIC_ARRAY,
                ),
                "{1.50,NaN}",
            ),
            (
                Type::INTERVAL_ARRAY,
                encode(&vec![Interval::new(0, 1, 0)], &Type::INTERVAL_ARRAY),
                r#"{"1 day"}"#,
            ),
            (
                Type::DATE_ARRAY,
                [
                    vec![
                        0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 0x3a, 0, 0, 0, 1, 0, 0, 0, 1,
                    ],
                    vec![0, 0, 0, 4, 0, 0, 0, 0],
                ]
                .concat(),
                "{2000-01-01}",
            ),
        ];
        for (ty, raw, text) in cases {
            assert_eq!(read_string(&ty, &raw).unwrap(), text, "{ty}");
        }
        // Text-like elements are quoted as array_out quotes them.
        let strings = crate::types::Array::from(vec![
            Some("a b".to_owned()),
            None,
            Some("NULL".to_owned()),
            Some("x\"y".to_owned()),
            Some(String::new()),
        ]);
        let mut raw = Vec::new();
        raw.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 25, 0, 0, 0, 5, 0, 0, 0, 1]);
        for e in strings.iter() {
            match e {
                Some(s) => {
                    raw.extend_from_slice(&i32::try_from(s.len()).unwrap().to_be_bytes());
                    raw.extend_from_slice(s.as_bytes());
                }
                None => raw.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        assert_eq!(
            read_string(&Type::TEXT_ARRAY, &raw).unwrap(),
            r#"{"a b",NULL,"NULL","x\"y",""}"#
        );
        assert_eq!(
            Vec::<Option<String>>::from_sql(&Type::TEXT_ARRAY, &raw).unwrap(),
            strings.into_elements()
        );
        // jsonb elements lose their version byte.
        let mut raw = vec![
            0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x0e, 0xda, 0, 0, 0, 1, 0, 0, 0, 1,
        ];
        raw.extend_from_slice(&[0, 0, 0, 3, 1, b'{', b'}']);
        assert_eq!(read_string(&Type::JSONB_ARRAY, &raw).unwrap(), r#"{"{}"}"#);
        // Two dimensions with bounds.
        let a = crate::types::Array::from_parts(
            vec![
                crate::types::Dimension {
                    len: 2,
                    lower_bound: 0,
                },
                crate::types::Dimension::new(1),
            ],
            vec![1i16, 2],
        )
        .unwrap();
        assert_eq!(
            read_string(&Type::INT2_ARRAY, &encode(&a, &Type::INT2_ARRAY)).unwrap(),
            "[0:1][1:1]={{1},{2}}"
        );
        // timestamptz[] has no session-independent text: refused.
        assert!(!<String as FromSql>::accepts(&Type::TIMESTAMPTZ_ARRAY));
        // Malformed arrays are errors.
        assert!(read_string(&Type::INT4_ARRAY, &[0, 0, 0, 1]).is_err());
        assert!(
            read_string(
                &Type::INT4_ARRAY,
                &encode(&Vec::<i64>::new(), &Type::INT8_ARRAY)
            )
            .is_err()
        );
    }

    #[test]
    fn scalars() {
        assert_eq!(char_text(0), "");
        assert_eq!(char_text(b'r'), "r");
        assert_eq!(char_text(0xff), "\\377");
        assert_eq!(char_text(0x80), "\\200");
        assert_eq!(bytea_text(&[]), "\\x");
        assert_eq!(bytea_text(&[0, 0xab, 0x10]), "\\x00ab10");
        assert_eq!(scalar_text(&Type::BOOL, &[1]).unwrap(), "t");
        assert_eq!(scalar_text(&Type::BOOL, &[0]).unwrap(), "f");
        assert_eq!(scalar_text(&Type::INT2, &[0xff, 0xff]).unwrap(), "-1");
        assert_eq!(scalar_text(&Type::OID, &[0xff; 4]).unwrap(), "4294967295");
        assert!(scalar_text(&Type::INT4, &[0; 3]).is_err());
        assert!(scalar_text(&Type::BOOL, &[]).is_err());
        assert!(scalar_text(&Type::TIMESTAMPTZ, &[0; 8]).is_err());
        assert!(scalar_text(&Type::TEXT, b"x").is_err());
    }
}
