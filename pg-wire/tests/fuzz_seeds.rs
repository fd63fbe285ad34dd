//! Writes the seed corpus of the fuzz targets (`fuzz/corpus/<target>/seed-*`) from the real
//! PostgreSQL captures in `testdata/captures/`. Ignored in normal runs; regenerate with
//!
//! ```text
//! cargo test -p pg-wire --test fuzz_seeds -- --ignored
//! ```
//!
//! Seeds are: whole captured backend streams, each captured message on its own, the captured SCRAM
//! exchange (which replays under the targets' fixed nonce), the same exchange re-signed with small
//! iteration counts (so the fuzzer reaches the end of SCRAM cheaply), captured error and notice
//! bodies and DataRow values, and values written by pg-wire's own encoders for the types the
//! captures lack.

use std::collections::HashMap;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use bytes::BytesMut;
use hmac::{Hmac, KeyInit, Mac};
use pg_wire::proto::FrameDecoder;
use pg_wire::proto::backend::{Authentication, BackendMessage};
use pg_wire::proto::fuzzing::{PASSWORD, PASSWORD_NONASCII, SCRAM_NONCE, VALUE_TYPES};
use pg_wire::types::{Array, Cidr, Inet, Interval, Numeric, ToSql, Type};
use sha2::{Digest, Sha256};

fn captures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures")
}

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// The captured backend streams, by capture name, sorted.
fn backend_streams() -> Vec<(String, Vec<u8>)> {
    let mut streams: Vec<(String, Vec<u8>)> = fs::read_dir(captures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p
                .file_name()?
                .to_str()?
                .strip_suffix(".backend.bin")?
                .to_owned();
            Some((name, fs::read(&p).unwrap()))
        })
        .filter(|(_, bytes)| !bytes.is_empty())
        .collect();
    streams.sort();
    streams
}

/// The whole messages (type byte, length, body) of a stream.
fn frames(stream: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut buf = BytesMut::from(stream);
    let mut out = Vec::new();
    while let Some(frame) = FrameDecoder::default().next_frame(&mut buf).unwrap() {
        out.push((frame.tag, frame.body.to_vec()));
    }
    assert!(buf.is_empty());
    out
}

fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    fs::write(corpus(target).join(format!("seed-{name}")), bytes).unwrap();
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// RFC 5802's `Hi()`.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut block = hmac(password, &[salt, &1u32.to_be_bytes()].concat());
    let mut out = block;
    for _ in 1..iterations {
        block = hmac(password, &block);
        for (o, b) in out.iter_mut().zip(block) {
            *o ^= b;
        }
    }
    out
}

/// A server-first message for the fixed client nonce and the server-final message that proves
/// knowledge of `password` (RFC 5802, computed here independently of pg-wire's client).
fn scram_server(
    password: &[u8],
    server_nonce: &str,
    salt: &[u8],
    iterations: u32,
) -> (String, String) {
    let nonce = format!("{SCRAM_NONCE}{server_nonce}");
    let server_first = format!("r={nonce},s={},i={iterations}", base64(salt));
    let auth_message = format!("n=,r={SCRAM_NONCE},{server_first},c=biws,r={nonce}");
    let salted = salted_password(password, salt, iterations);
    let server_key = hmac(&salted, b"Server Key");
    let signature = hmac(&server_key, auth_message.as_bytes());
    // The client key is not needed to sign, only to check the proof.
    let _ = Sha256::digest(hmac(&salted, b"Client Key"));
    (server_first, format!("v={}", base64(&signature)))
}

/// `stream` with its SASLContinue and SASLFinal bodies replaced.
fn resign(stream: &[u8], server_first: &str, server_final: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for (tag, body) in frames(stream) {
        let body = match BackendMessage::decode(tag, body.clone().into()).unwrap() {
            BackendMessage::Authentication(Authentication::SaslContinue(_)) => {
                [&11i32.to_be_bytes()[..], server_first.as_bytes()].concat()
            }
            BackendMessage::Authentication(Authentication::SaslFinal(_)) => {
                [&12i32.to_be_bytes()[..], server_final.as_bytes()].concat()
            }
            _ => body,
        };
        out.extend(message(tag, &body));
    }
    out
}

/// The index of `ty` in the values target's type list.
fn type_byte(ty: &Type) -> Option<u8> {
    VALUE_TYPES.iter().position(|t| t == ty).map(|i| i as u8)
}

fn value_seed(ty: &Type, text: bool, raw: &[u8]) -> Option<Vec<u8>> {
    Some([&[type_byte(ty)?, u8::from(text)][..], raw].concat())
}

fn encoded(value: &dyn ToSql, ty: &Type) -> Vec<u8> {
    let mut buf = BytesMut::new();
    value.to_sql(ty, &mut buf).unwrap();
    buf.to_vec()
}

#[test]
#[ignore = "writes the seed corpus; run by hand"]
fn write_seed_corpus() {
    let streams = backend_streams();
    let mut seen_tags: HashMap<u8, usize> = HashMap::new();
    let mut values = 0;
    let mut errors = 0;
    for (name, stream) in &streams {
        // backend_stream: the whole stream in 16-byte chunks, and each message type alone (up to
        // three of each).
        write("backend_stream", name, &[&[15u8][..], stream].concat());
        let mut types = HashMap::new();
        for (i, (tag, body)) in frames(stream).into_iter().enumerate() {
            let seen = seen_tags.entry(tag).or_default();
            if *seen < 3 {
                *seen += 1;
                let alone = [&[0x80 | 3][..], &message(tag, &body)[..]].concat();
                write("backend_stream", &format!("{name}-{i}"), &alone);
            }
            match BackendMessage::decode(tag, body.clone().into()).unwrap() {
                BackendMessage::ErrorResponse(_) | BackendMessage::NoticeResponse(_) => {
                    write("error_fields", &format!("{name}-{i}"), &body);
                    errors += 1;
                }
                BackendMessage::RowDescription(description) => {
                    types = description
                        .fields
                        .iter()
                        .enumerate()
                        .map(|(i, f)| (i, (Type::from_oid(f.type_oid), f.format == 0)))
                        .collect();
                }
                BackendMessage::DataRow(row) => {
                    for (column, value) in row.iter().enumerate() {
                        let (Some((ty, text)), Some(value)) = (types.get(&column), value) else {
                            continue;
                        };
                        if let Some(seed) = value_seed(ty, *text, value) {
                            write("values", &format!("{name}-{i}-{column}"), &seed);
                            values += 1;
                        }
                    }
                }
                _ => {}
            }
        }
        // startup: every stream from its first byte, all methods allowed, with a password; the
        // PostgreSQL 18 captures asked for protocol 3.2.
        let protocol = u8::from(name.starts_with("pg18"));
        write("startup", name, &[&[0x3f, protocol][..], stream].concat());
    }
    assert!(
        values > 20 && errors > 5,
        "{values} values, {errors} errors"
    );

    // The captured SCRAM exchange replays byte for byte under the fixed nonce.
    let scram = streams
        .iter()
        .find(|(n, _)| n == "scram_auth")
        .unwrap()
        .1
        .clone();
    let mut sasl = Vec::new();
    for (tag, body) in frames(&scram) {
        if let Ok(BackendMessage::Authentication(
            Authentication::SaslContinue(data) | Authentication::SaslFinal(data),
        )) = BackendMessage::decode(tag, body.into())
        {
            sasl.push(data.to_vec());
        }
    }
    let [captured_first, captured_final] = &sasl[..] else {
        panic!("no SCRAM exchange in scram_auth")
    };
    write(
        "scram",
        "scram_auth",
        &[&[0][..], captured_first, &[0], captured_final].concat(),
    );
    write(
        "scram",
        "scram_auth-first-only",
        &[&[0][..], captured_first].concat(),
    );

    // The same exchange re-signed with 1 and 2 iterations, for each password choice.
    let salt = b"\x39\xc7\x53\x35\xfd\x51\x17\x0a\xb8\x14\x81\x6b\x0c\x49\x60\x5a";
    for (control, password) in [(0u8, PASSWORD), (1, PASSWORD_NONASCII.as_bytes())] {
        for iterations in [1, 2] {
            let (first, last) =
                scram_server(password, "DCneUdZu7a5iqYyhxbCymw+1", salt, iterations);
            let seed = [&[control][..], first.as_bytes(), &[0], last.as_bytes()].concat();
            write("scram", &format!("resigned-{control}-{iterations}"), &seed);
            if control == 0 {
                let stream = resign(&scram, &first, &last);
                write(
                    "startup",
                    &format!("scram_auth-resigned-{iterations}"),
                    &[&[0x3f, 0][..], &stream].concat(),
                );
                write(
                    "startup",
                    &format!("scram_auth-resigned-{iterations}-scram-only"),
                    &[&[0x04, 0][..], &stream].concat(),
                );
            }
        }
    }
    let (first, _) = scram_server(PASSWORD, "x", salt, 1);
    write(
        "scram",
        "server-error",
        format!("\0{first}\0e=invalid-proof").as_bytes(),
    );
    write(
        "scram",
        "bad-signature",
        format!("\0{first}\0v=AAAA").as_bytes(),
    );
    write(
        "scram",
        "extension",
        format!("\0{first},x=ext\0v=").as_bytes(),
    );

    // Connection strings: the captures' psql command line, and both syntaxes with every kind of
    // value; NUL-separated Url parts.
    let strings: &[&str] = &[
        "host=127.0.0.1 port=5432 user=alice dbname=postgres sslmode=disable gssencmode=disable",
        "postgresql://alice:secret@127.0.0.1:5432/postgres?sslmode=disable&application_name=psql",
        "postgres://%2Fvar%2Frun%2Fpostgresql/app?connect_timeout=10",
        "postgresql://[::1]:5433,db2:5434/app?target_session_attrs=any&require_auth=scram-sha-256",
        "postgresql:///app?host=/tmp&port=5433&user=u&options=-c%20x%3Dy",
        "host=db1,db2 hostaddr=10.0.0.1,10.0.0.2 port=5432,5433 require_auth=!password",
        "dbname='my db' password='it\\'s' options='-c search_path=app' connect_timeout=1",
        "min_protocol_version=3.2 max_protocol_version=latest channel_binding=disable",
        "postgresql://u@h/d?ssl=true&keepalives=1&sslrootcert=system",
        "alice\0s3cr:t@/\0db.example.com\x006432\0orders\0application_name\0my app",
        "\0\0/var/run/postgresql\x005432\0app\0sslmode\0disable",
        "u\0p\0::1\0\0d\0require_auth\0md5,password",
    ];
    for (i, s) in strings.iter().enumerate() {
        write("connection_string", &i.to_string(), s.as_bytes());
    }
    write(
        "connection_string",
        "passfile",
        b"# comment\nlocalhost:5432:postgres:alice:s\\:cret\n*:*:*:*:fallback\n",
    );

    // Values the captures lack, written by pg-wire's encoders, and their text forms.
    let numeric: Numeric = "-12345.678900".parse().unwrap();
    let interval = Interval::new(14, -3, 4 * 3_600_000_000 + 5);
    let inet: Inet = "192.168.0.1/24".parse().unwrap();
    let cidr: Cidr = "2001:db8::/32".parse().unwrap();
    let addr: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
    let ints = vec![Some(1i32), None, Some(-3)];
    let nested = Array::from_parts(
        vec![
            pg_wire::types::Dimension::new(2),
            pg_wire::types::Dimension {
                len: 2,
                lower_bound: 0,
            },
        ],
        vec![Some(1i64), Some(2), None, Some(4)],
    )
    .unwrap();
    let binary: Vec<(&Type, Vec<u8>)> = vec![
        (&Type::NUMERIC, encoded(&numeric, &Type::NUMERIC)),
        (
            &Type::NUMERIC,
            encoded(&Numeric::from(0i64), &Type::NUMERIC),
        ),
        (&Type::INTERVAL, encoded(&interval, &Type::INTERVAL)),
        (&Type::INET, encoded(&inet, &Type::INET)),
        (&Type::CIDR, encoded(&cidr, &Type::CIDR)),
        (&Type::INET, encoded(&addr, &Type::INET)),
        (&Type::INT4_ARRAY, encoded(&ints, &Type::INT4_ARRAY)),
        (&Type::INT8_ARRAY, encoded(&nested, &Type::INT8_ARRAY)),
        (
            &Type::NUMERIC_ARRAY,
            encoded(&vec![numeric.clone()], &Type::NUMERIC_ARRAY),
        ),
        (
            &Type::INTERVAL_ARRAY,
            encoded(&vec![interval], &Type::INTERVAL_ARRAY),
        ),
        (&Type::UUID, (0u8..16).collect()),
        (&Type::JSONB, b"\x01{\"a\": [1, null]}".to_vec()),
    ];
    for (i, (ty, raw)) in binary.iter().enumerate() {
        write(
            "values",
            &format!("encoded-{i}"),
            &value_seed(ty, false, raw).unwrap(),
        );
    }
    let text: &[(&Type, &str)] = &[
        (&Type::NUMERIC, "-12345.678900"),
        (&Type::NUMERIC, "NaN"),
        (&Type::INTERVAL, "1 year 2 mons -3 days 04:00:00.000005"),
        (&Type::INET, "192.168.0.1/24"),
        (&Type::CIDR, "2001:db8::/32"),
        (&Type::UUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        (&Type::INT4_ARRAY, "{1,NULL,-3}"),
        (&Type::INT8_ARRAY, "[1:2][0:1]={{1,2},{NULL,4}}"),
        (&Type::TEXT_ARRAY, r#"{"a b",NULL,"c\"d\\"}"#),
        (&Type::TIMESTAMPTZ, "2024-02-29 12:34:56.789+05:30"),
        (&Type::DATE, "0044-03-15 BC"),
        (&Type::from_oid(16_389), "{happy,\"very sad\"}"),
    ];
    for (i, (ty, raw)) in text.iter().enumerate() {
        write(
            "values",
            &format!("text-{i}"),
            &value_seed(ty, true, raw.as_bytes()).unwrap(),
        );
    }
}
