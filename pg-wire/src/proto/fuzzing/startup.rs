//! Target `startup`: the startup and authentication state machine fed an arbitrary backend stream.

use bytes::{Buf, BytesMut};

use crate::config::{AuthMethod, RequireAuth};
use crate::proto::backend::{Authentication, BackendMessage, TransactionStatus};
use crate::proto::frame::FrameDecoder;
use crate::proto::startup::{Startup, StartupOptions, Step};

use super::{MAX_ITERATIONS, PASSWORD, SCRAM_NONCE};

/// The methods in the order of the control byte's bits.
const METHODS: [AuthMethod; 6] = [
    AuthMethod::Password,
    AuthMethod::Md5,
    AuthMethod::ScramSha256,
    AuthMethod::Gss,
    AuthMethod::Sspi,
    AuthMethod::None,
];

/// Input: two control bytes, then the backend byte stream from the first byte the server sends.
///
/// Control byte 1: bits 0 to 5 allow password, md5, scram-sha-256, gss, sspi and none
/// (`require_auth`); bit 6 set means no password is known. Control byte 2: bit 0 requests
/// protocol 3.2 instead of 3.0, bit 1 sets `min_protocol_version` to the requested version. The user is `alice`, the
/// password `secret`, the SCRAM nonce [`SCRAM_NONCE`] (the captures replay byte for byte).
///
/// Checks: the machine ends in Ready, an error, or a need for more bytes; after an error it accepts
/// nothing more; a session that became Ready used a method `require_auth`
/// allows, and SCRAM only after the server's signature was verified; a password-based method was
/// used only with a password; the negotiated version lies within the requested range; a 3.0
/// session has a 4-byte cancel key; everything appended to the output is whole frontend messages.
pub fn startup(data: &[u8]) {
    let [methods, protocol, stream @ ..] = data else {
        return;
    };
    let allowed: Vec<AuthMethod> = METHODS
        .iter()
        .enumerate()
        .filter(|(bit, _)| methods & (1 << bit) != 0)
        .map(|(_, m)| *m)
        .collect();
    let require_auth = if allowed.len() == METHODS.len() {
        RequireAuth::any()
    } else {
        RequireAuth::only(&allowed)
    };
    let has_password = methods & 0x40 == 0;
    let requested_minor = if protocol & 1 != 0 { 2 } else { 0 };
    // As the connection derives them from a valid configuration: never above the requested one.
    let min_minor = if protocol & 2 != 0 {
        requested_minor
    } else {
        0
    };
    let mut startup = Startup::new(StartupOptions {
        user: "alice".into(),
        password: has_password.then(|| PASSWORD.to_vec()),
        require_auth,
        max_scram_iterations: MAX_ITERATIONS,
        requested_minor,
        min_minor,
        scram_nonce: SCRAM_NONCE.into(),
    });
    let _ = format!("{startup:?}");

    let decoder = FrameDecoder::default();
    let mut buf = BytesMut::from(stream);
    let mut out = BytesMut::new();
    let mut scram_verified = false;
    let ended = loop {
        let message = match decoder.next_message(&mut buf) {
            Ok(Some(message)) => message,
            // Startup is waiting for more bytes, or the stream is broken: either way it ends here.
            Ok(None) | Err(_) => break false,
        };
        let is_sasl_final = matches!(
            message,
            BackendMessage::Authentication(Authentication::SaslFinal(_))
        );
        match startup.handle(message, &mut out) {
            Ok(Step::Continue) => scram_verified |= is_sasl_final,
            Ok(Step::Notice(fields)) => super::errors::exercise_fields(&fields),
            Ok(Step::DeriveKey(derivation)) => {
                assert!((1..=MAX_ITERATIONS).contains(&derivation.iterations()));
                let salted = match derivation.derive() {
                    Ok(salted) => salted,
                    Err(e) => panic!("key derivation failed: {e}"),
                };
                if let Err(e) = startup.key_derived(&salted, &mut out) {
                    panic!("client-final failed after a valid server-first: {e:?}");
                }
            }
            Ok(Step::Ready) => break true,
            Err(e) => {
                let _ = format!("{e:?}");
                // A failed machine refuses everything that follows.
                let more = BackendMessage::ReadyForQuery(TransactionStatus::Idle);
                assert!(startup.handle(more, &mut out).is_err());
                check_frontend(&out);
                return;
            }
        }
    };
    check_frontend(&out);
    if !ended {
        assert!(startup.finish().is_none(), "finished without ReadyForQuery");
        return;
    }
    let Some(session) = startup.finish() else {
        panic!("Ready but no session");
    };
    assert!(
        require_auth.allows(session.auth_method),
        "{:?} used though require_auth={require_auth}",
        session.auth_method
    );
    if session.auth_method == AuthMethod::ScramSha256 {
        assert!(scram_verified, "SCRAM session without a verified signature");
    }
    if matches!(
        session.auth_method,
        AuthMethod::Password | AuthMethod::Md5 | AuthMethod::ScramSha256
    ) {
        assert!(has_password, "a password method without a password");
    }
    assert!((min_minor..=requested_minor).contains(&session.protocol_minor));
    if let Some(key) = session
        .backend_key
        .as_ref()
        .filter(|_| session.protocol_minor < 2)
    {
        assert_eq!(key.secret_key.len(), 4);
    }
    if let Some(encoding) = session.parameters.get("client_encoding") {
        assert!(encoding.eq_ignore_ascii_case("UTF8"));
    }
}

/// Checks that `out` holds whole frontend messages: a type byte and a length that counts itself
/// and the body that follows.
fn check_frontend(out: &[u8]) {
    let mut rest = out;
    while !rest.is_empty() {
        assert!(
            rest.len() >= 5,
            "a frontend message shorter than its header"
        );
        let tag = rest.get_u8();
        assert!(matches!(tag, b'p'), "unexpected frontend message {tag}");
        let len = rest.get_i32();
        let body = usize::try_from(len).ok().and_then(|len| len.checked_sub(4));
        let Some(body) = body.filter(|&body| body <= rest.len()) else {
            panic!("frontend message length {len} does not match its body");
        };
        rest.advance(body);
    }
}
