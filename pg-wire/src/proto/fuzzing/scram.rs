//! Target `scram`: the SCRAM-SHA-256 client fed arbitrary server-first and server-final messages,
//! and the base64 codec under it.

use crate::proto::auth::base64;
use crate::proto::auth::scram::{ScramClient, ScramError};

use super::{MAX_ITERATIONS, PASSWORD, PASSWORD_NONASCII, SCRAM_NONCE};

/// Input: one control byte, the server-first message, a NUL byte, the server-final message (no NUL
/// byte: the exchange stops after server-first).
///
/// The low two bits of the control byte pick the password: `secret`, `pässwörd€`, bytes that are
/// not UTF-8, or an empty one. The client nonce is [`SCRAM_NONCE`]. Checks:
///
/// - server-first gives a key derivation with 1 to [`MAX_ITERATIONS`] iterations, or a typed error;
/// - the client-final message is `c=biws,r=<server nonce>,p=<32 bytes in base64>`, and the server
///   nonce extends the client's;
/// - the exchange counts as verified exactly when server-final was accepted, and every step out
///   of order is refused;
/// - base64: whatever decodes re-encodes to the same text (the decoder accepts one spelling per
///   value), and every byte string survives encode then decode.
pub fn scram(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    check_base64(rest);

    let password: &[u8] = match control & 3 {
        0 => PASSWORD,
        1 => PASSWORD_NONASCII.as_bytes(),
        2 => b"\xff\xfe not UTF-8",
        _ => b"",
    };
    let (server_first, server_final) = match rest.iter().position(|&b| b == 0) {
        Some(nul) => (rest.get(..nul).unwrap_or_default(), rest.get(nul + 1..)),
        None => (rest, None),
    };

    let (mut client, first) = ScramClient::new(password, SCRAM_NONCE);
    assert_eq!(first, format!("n,,n=,r={SCRAM_NONCE}").into_bytes());
    assert!(!client.is_verified());
    assert!(
        client
            .verify_server_final(b"v=")
            .is_err_and(is_out_of_order)
    );
    // The failed out-of-order call ended this client: start again.
    let (mut client, _) = ScramClient::new(password, SCRAM_NONCE);

    let derivation = match client.handle_server_first(server_first, MAX_ITERATIONS) {
        Ok(derivation) => derivation,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            assert!(
                client
                    .handle_server_first(server_first, MAX_ITERATIONS)
                    .is_err_and(is_out_of_order)
            );
            return;
        }
    };
    assert!((1..=MAX_ITERATIONS).contains(&derivation.iterations()));
    let _ = format!("{derivation:?} {client:?}");
    let salted = match derivation.derive() {
        Ok(salted) => salted,
        Err(e) => panic!("key derivation failed: {e}"),
    };
    let client_final = match client.client_final(&salted) {
        Ok(message) => message,
        Err(e) => panic!("client-final failed after a valid server-first: {e}"),
    };
    check_client_final(&client_final);
    assert!(!client.is_verified());

    let Some(server_final) = server_final else {
        return;
    };
    match client.verify_server_final(server_final) {
        Ok(()) => assert!(client.is_verified()),
        Err(e) => {
            assert!(!client.is_verified());
            assert!(!e.to_string().is_empty());
        }
    }
    assert!(client.client_final(&salted).is_err_and(is_out_of_order));
}

fn is_out_of_order(e: ScramError) -> bool {
    matches!(e, ScramError::OutOfOrder(_))
}

/// `c=biws,r=<nonce>,p=<proof>`: the nonce extends ours, the proof is 32 bytes.
fn check_client_final(message: &[u8]) {
    let Ok(text) = std::str::from_utf8(message) else {
        panic!("client-final is not UTF-8");
    };
    let Some(rest) = text.strip_prefix("c=biws,r=") else {
        panic!("client-final does not start with c=biws,r=: {text}");
    };
    let Some((nonce, proof)) = rest.split_once(",p=") else {
        panic!("client-final has no proof: {text}");
    };
    assert!(nonce.starts_with(SCRAM_NONCE) && nonce.len() > SCRAM_NONCE.len());
    assert!(!nonce.contains(','));
    assert_eq!(base64::decode(proof.as_bytes()).map(|p| p.len()), Some(32));
}

fn check_base64(data: &[u8]) {
    if let Some(decoded) = base64::decode(data) {
        assert_eq!(
            base64::encode(&decoded).as_bytes(),
            data,
            "base64 accepted a non-canonical spelling"
        );
    }
    let encoded = base64::encode(data);
    assert_eq!(base64::decode(encoded.as_bytes()).as_deref(), Some(data));
}
