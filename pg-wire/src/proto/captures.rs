//! Tests of the core against real byte streams captured from PostgreSQL 15 and 18 (see
//! `testdata/captures/README.md`): every backend stream decodes in any chunking, the startup
//! machine replays each authentication exchange and produces the very bytes libpq sent, and the
//! encoders reproduce captured frontend messages.

use bytes::BytesMut;

use super::backend::{Authentication, BackendMessage, TransactionStatus};
use super::frame::FrameDecoder;
use super::frontend;
use super::startup::{AuthError, Startup, StartupError, StartupOptions, Step};
use crate::config::{AuthMethod, RequireAuth};

macro_rules! capture {
    ($name:literal) => {
        (
            include_bytes!(concat!("../../testdata/captures/", $name, ".frontend.bin")) as &[u8],
            include_bytes!(concat!("../../testdata/captures/", $name, ".backend.bin")) as &[u8],
        )
    };
}

const ALL: &[(&str, &[u8], &[u8])] = &[
    (
        "trust_startup",
        capture!("trust_startup").0,
        capture!("trust_startup").1,
    ),
    (
        "cleartext_auth",
        capture!("cleartext_auth").0,
        capture!("cleartext_auth").1,
    ),
    ("md5_auth", capture!("md5_auth").0, capture!("md5_auth").1),
    (
        "scram_auth",
        capture!("scram_auth").0,
        capture!("scram_auth").1,
    ),
    (
        "scram_auth_nonascii",
        capture!("scram_auth_nonascii").0,
        capture!("scram_auth_nonascii").1,
    ),
    (
        "wrong_password",
        capture!("wrong_password").0,
        capture!("wrong_password").1,
    ),
    (
        "unknown_database",
        capture!("unknown_database").0,
        capture!("unknown_database").1,
    ),
    (
        "simple_query_multi",
        capture!("simple_query_multi").0,
        capture!("simple_query_multi").1,
    ),
    (
        "simple_query_empty",
        capture!("simple_query_empty").0,
        capture!("simple_query_empty").1,
    ),
    (
        "simple_query_error",
        capture!("simple_query_error").0,
        capture!("simple_query_error").1,
    ),
    (
        "notice_and_notify",
        capture!("notice_and_notify").0,
        capture!("notice_and_notify").1,
    ),
    (
        "unique_violation",
        capture!("unique_violation").0,
        capture!("unique_violation").1,
    ),
    (
        "extended_query_types",
        capture!("extended_query_types").0,
        capture!("extended_query_types").1,
    ),
    ("copy", capture!("copy").0, capture!("copy").1),
    (
        "parameter_status_change",
        capture!("parameter_status_change").0,
        capture!("parameter_status_change").1,
    ),
    (
        "cancel_request_session",
        capture!("cancel_request_session").0,
        capture!("cancel_request_session").1,
    ),
    (
        "terminate",
        capture!("terminate").0,
        capture!("terminate").1,
    ),
    (
        "pg18_protocol_3_2_startup",
        capture!("pg18_protocol_3_2_startup").0,
        capture!("pg18_protocol_3_2_startup").1,
    ),
    (
        "pg18_negotiate",
        capture!("pg18_negotiate").0,
        capture!("pg18_negotiate").1,
    ),
    (
        "pg18_negotiate_minor",
        capture!("pg18_negotiate_minor").0,
        capture!("pg18_negotiate_minor").1,
    ),
];

/// Decodes a whole backend stream fed in chunks of `chunk` bytes.
fn decode_stream(stream: &[u8], chunk: usize) -> Vec<BackendMessage> {
    let decoder = FrameDecoder::default();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in stream.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        while let Some(message) = decoder.next_message(&mut buf).unwrap() {
            out.push(message);
        }
    }
    assert!(buf.is_empty(), "{} byte(s) left over", buf.len());
    out
}

/// Splits a frontend stream into its startup packet and its tagged messages (tag byte included).
fn frontend_messages(stream: &[u8]) -> (&[u8], Vec<&[u8]>) {
    let startup_len = i32::from_be_bytes(stream[..4].try_into().unwrap()) as usize;
    let (startup, mut rest) = stream.split_at(startup_len);
    let mut messages = Vec::new();
    while !rest.is_empty() {
        let len = i32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        let (message, tail) = rest.split_at(1 + len);
        messages.push(message);
        rest = tail;
    }
    (startup, messages)
}

#[test]
fn every_captured_backend_message_re_encodes_to_its_bytes() {
    for (name, _, backend) in ALL {
        let mut encoded = BytesMut::new();
        for message in decode_stream(backend, backend.len()) {
            message.encode(&mut encoded).unwrap();
        }
        assert_eq!(&encoded[..], *backend, "{name}");
    }
}

#[test]
fn every_backend_capture_decodes_in_any_chunking() {
    for (name, _, backend) in ALL {
        let whole = decode_stream(backend, backend.len());
        assert!(!whole.is_empty() || backend.is_empty(), "{name}");
        for chunk in [1, 2, 3, 5, 7, 64, 1000] {
            assert_eq!(
                decode_stream(backend, chunk),
                whole,
                "{name} in chunks of {chunk}"
            );
        }
    }
}

fn options(
    user: &str,
    password: Option<&str>,
    nonce: &str,
    requested_minor: i32,
) -> StartupOptions {
    StartupOptions {
        user: user.into(),
        password: password.map(|p| p.as_bytes().to_vec()),
        require_auth: RequireAuth::any(),
        max_scram_iterations: 10_000,
        requested_minor,
        min_minor: 0,
        scram_nonce: nonce.into(),
    }
}

/// Runs the startup machine over a captured backend stream; returns what it wrote and how it ended.
fn replay(options: StartupOptions, backend: &[u8]) -> (Vec<u8>, Result<Startup, StartupError>) {
    let mut startup = Startup::new(options);
    let mut out = BytesMut::new();
    for message in decode_stream(backend, backend.len()) {
        let step = match startup.handle(message, &mut out) {
            Ok(step) => step,
            Err(e) => return (out.to_vec(), Err(e)),
        };
        match step {
            Step::Continue | Step::Notice(_) => {}
            Step::DeriveKey(derivation) => {
                let salted = derivation.derive().unwrap();
                startup.key_derived(&salted, &mut out).unwrap();
            }
            Step::Ready => return (out.to_vec(), Ok(startup)),
        }
    }
    panic!("the capture ended before ReadyForQuery")
}

/// The frontend messages a client sends during authentication, as captured.
fn captured_auth_replies(frontend: &[u8]) -> Vec<u8> {
    let (_, messages) = frontend_messages(frontend);
    messages
        .into_iter()
        .take_while(|m| m[0] == b'p')
        .flatten()
        .copied()
        .collect()
}

#[test]
fn trust_startup_replay() {
    let (frontend, backend) = capture!("trust_startup");
    let (out, result) = replay(options("alice", None, "unused", 0), backend);
    assert!(out.is_empty());
    let session = result.unwrap().finish().unwrap();
    assert_eq!(session.auth_method, AuthMethod::None);
    assert_eq!(session.transaction_status, TransactionStatus::Idle);
    assert_eq!(
        session.parameters.get("server_version").map(|v| &v[..2]),
        Some("15")
    );
    assert_eq!(session.backend_key.unwrap().secret_key.len(), 4);
    // Our StartupMessage for the same parameters is byte for byte psql's.
    let (startup, _) = frontend_messages(frontend);
    let mut ours = BytesMut::new();
    frontend::startup_message(
        &mut ours,
        frontend::PROTOCOL_3_0,
        &[
            ("user", "alice"),
            ("database", "postgres"),
            ("application_name", "psql"),
            ("client_encoding", "UTF8"),
        ],
    )
    .unwrap();
    assert_eq!(&ours[..], startup);
}

#[test]
fn cleartext_replay_sends_what_libpq_sent() {
    let (frontend, backend) = capture!("cleartext_auth");
    let (out, result) = replay(options("alice", Some("secret"), "unused", 0), backend);
    result.unwrap();
    assert_eq!(out, captured_auth_replies(frontend));
}

#[test]
fn md5_replay_sends_what_libpq_sent() {
    let (frontend, backend) = capture!("md5_auth");
    let (out, result) = replay(options("alice", Some("secret"), "unused", 0), backend);
    assert_eq!(
        result.unwrap().finish().unwrap().auth_method,
        AuthMethod::Md5
    );
    assert_eq!(out, captured_auth_replies(frontend));
}

#[test]
fn scram_replay_sends_what_libpq_sent_and_verifies_the_server() {
    let (frontend, backend) = capture!("scram_auth");
    let (out, result) = replay(
        options("alice", Some("secret"), "L0yWKWqBzgzcb7rP4yFUwdYt", 0),
        backend,
    );
    assert_eq!(
        result.unwrap().finish().unwrap().auth_method,
        AuthMethod::ScramSha256
    );
    assert_eq!(out, captured_auth_replies(frontend));
}

#[test]
fn scram_replay_with_a_non_ascii_password() {
    let (frontend, backend) = capture!("scram_auth_nonascii");
    let (out, result) = replay(
        options("alice", Some("pässwörd€"), "BEh8aOHQP/RPj6kAo8++yEb/", 0),
        backend,
    );
    result.unwrap();
    assert_eq!(out, captured_auth_replies(frontend));
}

#[test]
fn scram_replay_with_the_wrong_password_fails_with_28p01() {
    let (_, backend) = capture!("wrong_password");
    let nonce = include_str!("../../testdata/captures/wrong_password.txt")
        .lines()
        .find_map(|l| l.trim().strip_prefix("client nonce:"))
        .unwrap()
        .trim()
        .to_owned();
    let (_, result) = replay(options("alice", Some("wrong"), &nonce, 0), backend);
    let Err(StartupError::Server(fields)) = result else {
        panic!("expected a server error")
    };
    assert_eq!(fields.get(b'C'), Some("28P01"));
}

#[test]
fn scram_replay_with_a_different_password_refuses_the_server() {
    // Feeding the server's real final message to a client that used another password: the
    // signature cannot match, and the client must stop before AuthenticationOk.
    let (_, backend) = capture!("scram_auth");
    let (_, result) = replay(
        options("alice", Some("not-secret"), "L0yWKWqBzgzcb7rP4yFUwdYt", 0),
        backend,
    );
    assert!(matches!(
        result,
        Err(StartupError::Auth(AuthError::Scram(
            super::auth::scram::ScramError::SignatureMismatch
        )))
    ));
}

#[test]
fn require_auth_refuses_a_captured_cleartext_request() {
    let (_, backend) = capture!("cleartext_auth");
    let mut opts = options("alice", Some("secret"), "unused", 0);
    opts.require_auth = RequireAuth::only(&[AuthMethod::ScramSha256]);
    let (out, result) = replay(opts, backend);
    assert!(out.is_empty(), "the password must not be sent");
    assert!(matches!(
        result,
        Err(StartupError::Auth(AuthError::MethodNotAllowed {
            method: "password",
            ..
        }))
    ));
}

#[test]
fn unknown_database_is_3d000() {
    let (_, backend) = capture!("unknown_database");
    let (_, result) = replay(options("alice", None, "unused", 0), backend);
    let Err(StartupError::Server(fields)) = result else {
        panic!("expected a server error")
    };
    assert_eq!(fields.get(b'C'), Some("3D000"));
    assert_eq!(fields.get(b'V'), Some("FATAL"));
}

#[test]
fn protocol_3_2_startup_with_a_long_cancel_key() {
    let (_, backend) = capture!("pg18_protocol_3_2_startup");
    let (_, result) = replay(options("alice", None, "unused", 2), backend);
    let session = result.unwrap().finish().unwrap();
    assert_eq!(session.protocol_minor, 2);
    assert_eq!(session.backend_key.unwrap().secret_key.len(), 32);
    // The same key is refused in a 3.0 session.
    let (_, result) = replay(options("alice", None, "unused", 0), backend);
    assert!(matches!(result, Err(StartupError::Protocol(_))));
}

#[test]
fn negotiate_protocol_version_from_pg18() {
    // Unknown `_pq_` option: the server keeps 3.2 and lists the option.
    let (_, backend) = capture!("pg18_negotiate");
    let (_, result) = replay(options("alice", None, "unused", 2), backend);
    assert_eq!(result.unwrap().finish().unwrap().protocol_minor, 2);
    // Version 3.9 requested: the server offers 3.2.
    let (_, backend) = capture!("pg18_negotiate_minor");
    let messages = decode_stream(backend, backend.len());
    let Some(BackendMessage::NegotiateProtocolVersion(negotiate)) = messages.first() else {
        panic!("expected NegotiateProtocolVersion first")
    };
    assert_eq!((negotiate.major(), negotiate.minor()), (3, 2));
    let (_, result) = replay(options("alice", None, "unused", 9), backend);
    assert_eq!(result.unwrap().finish().unwrap().protocol_minor, 2);
}

#[test]
fn simple_query_and_terminate_encoders_match_captures() {
    let (frontend, _) = capture!("trust_startup");
    let (_, messages) = frontend_messages(frontend);
    let mut ours = BytesMut::new();
    frontend::query(&mut ours, "SELECT 1").unwrap();
    assert_eq!(&ours[..], messages[0]);
    let mut ours = BytesMut::new();
    frontend::terminate(&mut ours);
    assert_eq!(&ours[..], *messages.last().unwrap());
}

#[test]
fn server_error_fields_from_a_real_unique_violation() {
    let (_, backend) = capture!("unique_violation");
    let fields = decode_stream(backend, 3)
        .into_iter()
        .find_map(|m| match m {
            BackendMessage::ErrorResponse(fields) => Some(fields),
            _ => None,
        })
        .unwrap();
    assert_eq!(fields.get(b'C'), Some("23505"));
    assert_eq!(fields.get(b'n'), Some("users_email_key"));
    assert_eq!(fields.get(b't'), Some("users"));
    assert_eq!(fields.get(b's'), Some("app"));
    assert!(fields.get(b'D').unwrap().starts_with("Key (email)="));
}

#[test]
fn notices_and_notifications_from_a_real_session() {
    let (_, backend) = capture!("notice_and_notify");
    let messages = decode_stream(backend, 1);
    assert!(messages.iter().any(|m| matches!(m,
        BackendMessage::NotificationResponse(n) if n.channel == "ch" && n.payload == "payload")));
    assert!(messages.iter().any(|m| matches!(m,
        BackendMessage::NoticeResponse(f) if f.get(b'M') == Some("hello 42"))));
}

#[test]
fn a_captured_authentication_request_is_the_expected_kind() {
    let (_, backend) = capture!("md5_auth");
    let messages = decode_stream(backend, backend.len());
    assert!(matches!(
        messages.first(),
        Some(BackendMessage::Authentication(
            Authentication::Md5Password { .. }
        ))
    ));
}
