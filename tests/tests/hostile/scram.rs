//! The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL plays it, written for the
//! fake server from the RFCs (not from the driver), so that the driver's client side is checked
//! against an independent computation. Each step is separate, so a test can send a tampered
//! message at any point.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 with padding; `None` for anything else.
pub fn unbase64(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::new();
    for (index, quad) in bytes.chunks(4).enumerate() {
        let last = index == bytes.len() / 4 - 1;
        let padding = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - padding] {
            let value = BASE64.iter().position(|&b| b == c)?;
            n = (n << 6) | value as u32;
        }
        n <<= 6 * padding as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - padding]);
    }
    Some(out)
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `Hi(password, salt, i)` of RFC 5802: PBKDF2 with HMAC-SHA-256, one block.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &first);
    let mut result = u;
    for _ in 1..iterations {
        u = hmac(password, &u);
        for (r, x) in result.iter_mut().zip(u) {
            *r ^= x;
        }
    }
    result
}

/// One server-side exchange: fed the client's messages, it produces the server's.
pub struct ScramServer {
    password: Vec<u8>,
    salt: Vec<u8>,
    iterations: u32,
    client_first_bare: String,
    client_nonce: String,
    server_first: String,
}

impl ScramServer {
    /// An exchange for a user whose password is `password`, stored with `salt` and `iterations`.
    pub fn new(password: &str, salt: &[u8], iterations: u32) -> ScramServer {
        ScramServer {
            password: password.as_bytes().to_vec(),
            salt: salt.to_vec(),
            iterations,
            client_first_bare: String::new(),
            client_nonce: String::new(),
            server_first: String::new(),
        }
    }

    /// Takes the body of the client's SASLInitialResponse: checks the mechanism and the GS2
    /// header (no channel binding) and keeps the client's nonce.
    pub fn client_first(&mut self, initial_response: &[u8]) -> Result<(), String> {
        let nul = initial_response
            .iter()
            .position(|&b| b == 0)
            .ok_or("SASLInitialResponse without a mechanism")?;
        let mechanism = &initial_response[..nul];
        if mechanism != b"SCRAM-SHA-256" {
            return Err(format!(
                "the client chose {:?}",
                String::from_utf8_lossy(mechanism)
            ));
        }
        let rest = &initial_response[nul + 1..];
        let len = i32::from_be_bytes(rest[..4].try_into().map_err(|_| "no length")?);
        let data = &rest[4..];
        if usize::try_from(len).ok() != Some(data.len()) {
            return Err(format!("client-first length {len}, {} bytes", data.len()));
        }
        let text = std::str::from_utf8(data).map_err(|_| "client-first not UTF-8")?;
        let bare = text
            .strip_prefix("n,,")
            .ok_or_else(|| format!("unexpected GS2 header in {text:?}"))?;
        let nonce = bare
            .split(',')
            .find_map(|attribute| attribute.strip_prefix("r="))
            .ok_or_else(|| format!("no nonce in {text:?}"))?;
        if nonce.is_empty() {
            return Err("empty client nonce".into());
        }
        self.client_nonce = nonce.to_owned();
        self.client_first_bare = bare.to_owned();
        Ok(())
    }

    /// The client's nonce.
    pub fn client_nonce(&self) -> &str {
        &self.client_nonce
    }

    /// The honest server-first message: the client's nonce extended, the salt and the count.
    pub fn server_first(&mut self) -> String {
        let nonce = format!("{}fake+server/nonce", self.client_nonce);
        let salt = base64(&self.salt);
        let iterations = self.iterations.to_string();
        self.custom_server_first(&nonce, &salt, &iterations)
    }

    /// A server-first message with the attributes given as they are, for tampering.
    pub fn custom_server_first(&mut self, nonce: &str, salt: &str, iterations: &str) -> String {
        self.server_first = format!("r={nonce},s={salt},i={iterations}");
        self.server_first.clone()
    }

    /// Takes the body of the client's SASLResponse (client-final), checks the channel binding,
    /// the nonce and the proof, and returns the server signature for the server-final message.
    pub fn client_final(&self, response: &[u8]) -> Result<[u8; 32], String> {
        let text = std::str::from_utf8(response).map_err(|_| "client-final not UTF-8")?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or_else(|| format!("no proof in {text:?}"))?;
        let server_nonce = self
            .server_first
            .split(',')
            .find_map(|a| a.strip_prefix("r="))
            .unwrap_or_default();
        if without_proof != format!("c=biws,r={server_nonce}") {
            return Err(format!("unexpected client-final {text:?}"));
        }
        let proof = unbase64(proof).ok_or("proof not base64")?;
        let salted = salted_password(&self.password, &self.salt, self.iterations);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let auth_message = self.auth_message(without_proof);
        let client_signature = hmac(&stored_key, auth_message.as_bytes());
        let expected: Vec<u8> = client_key
            .iter()
            .zip(client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        if proof != expected {
            return Err("the client's proof is wrong".into());
        }
        let server_key = hmac(&salted, b"Server Key");
        Ok(hmac(&server_key, auth_message.as_bytes()))
    }

    /// The server signature a server that stored `password` instead would send for the client's
    /// final message `response` (whose proof is not checked).
    pub fn signature_with_password(&self, password: &str, response: &[u8]) -> [u8; 32] {
        let text = String::from_utf8_lossy(response);
        let without_proof = text.rsplit_once(",p=").map_or(&*text, |(head, _)| head);
        let salted = salted_password(password.as_bytes(), &self.salt, self.iterations);
        let server_key = hmac(&salted, b"Server Key");
        hmac(&server_key, self.auth_message(without_proof).as_bytes())
    }

    /// client-first-bare "," server-first "," client-final-without-proof.
    fn auth_message(&self, client_final_without_proof: &str) -> String {
        format!(
            "{},{},{client_final_without_proof}",
            self.client_first_bare, self.server_first
        )
    }
}

#[test]
fn base64_round_trips_and_refuses_garbage() {
    for input in [&b""[..], b"f", b"fo", b"foo", b"foob", b"fooba", b"foobar"] {
        assert_eq!(unbase64(&base64(input)).as_deref(), Some(input));
    }
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64(b"fo"), "Zm8=");
    for garbage in ["Zm9", "Zm9v*mFy", "Z===", "Zm8=Zm8="] {
        assert_eq!(unbase64(garbage), None, "{garbage}");
    }
}

#[test]
fn rfc7677_example_proof_and_signature() {
    // RFC 7677 section 3: user "user", password "pencil". The server keeps its own copy of the
    // messages, so they are set up as the exchange would.
    let mut server = ScramServer::new(
        "pencil",
        &unbase64("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap(),
        4096,
    );
    server.client_nonce = "rOprNGfwEbeRWgbNEkqO".into();
    server.client_first_bare = "n=user,r=rOprNGfwEbeRWgbNEkqO".into();
    server.custom_server_first(
        "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
        "W22ZaJ0SNY7soEsUEjb6gQ==",
        "4096",
    );
    let signature = server
        .client_final(
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        )
        .unwrap();
    assert_eq!(
        base64(&signature),
        "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    );
    assert!(
        server
            .client_final(
                b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
            )
            .is_err()
    );
}
