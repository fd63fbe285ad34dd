//! Standard base64 (RFC 4648, with padding), as SCRAM uses for nonces, salts, proofs and
//! signatures. The decoder is strict: wrong length, a character outside the alphabet, misplaced
//! padding, or non-zero bits in the padding (a second spelling of the same bytes) is an error, so
//! every value has exactly one accepted text.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Encodes `input` as padded base64.
pub(crate) fn encode(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for (i, s) in sextets.iter().enumerate() {
            if i <= chunk.len() {
                let idx = usize::try_from(*s).unwrap_or(0);
                out.push(char::from(ALPHABET.get(idx).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The 6-bit value of a base64 character.
fn sextet(c: u8) -> Option<u32> {
    let v = match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decodes padded base64; `None` if `input` is not valid.
pub(crate) fn decode(input: &[u8]) -> Option<Vec<u8>> {
    if input.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let last = input.len() / 4;
    for (i, quad) in input.chunks_exact(4).enumerate() {
        let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != last) {
            return None;
        }
        let mut n = 0u32;
        for &c in quad.get(..4 - pad)? {
            n = (n << 6) | sextet(c)?;
        }
        n <<= 6 * u32::try_from(pad).ok()?;
        let bytes = n.to_be_bytes();
        // The bits below the last whole byte must be zero: "Zh==" is not another spelling of "Zg==".
        if bytes.get(4 - pad..)?.iter().any(|&b| b != 0) {
            return None;
        }
        out.extend_from_slice(bytes.get(1..4 - pad)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        let vectors: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (raw, text) in vectors {
            assert_eq!(encode(raw), text);
            assert_eq!(decode(text.as_bytes()).as_deref(), Some(raw));
        }
    }

    #[test]
    fn rejects_malformed_input() {
        for bad in ["Zg=", "Zg===", "Z===", "Zm9v!g==", "Zg==Zg==", "=Zg="] {
            assert_eq!(decode(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn rejects_non_zero_padding_bits() {
        // Found by the `scram` fuzz target: "rL0yWKr=" decoded to the bytes of "rL0yWKo=".
        assert_eq!(decode(b"rL0yWKr="), None);
        assert_eq!(
            decode(b"rL0yWKo=").map(|b| encode(&b)).as_deref(),
            Some("rL0yWKo=")
        );
        for bad in ["Zh==", "Zm9=", "Zm+=", "Zg=B"] {
            assert_eq!(decode(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn round_trips_all_byte_values() {
        let all: Vec<u8> = (0..=255).collect();
        for n in 0..all.len() {
            assert_eq!(
                decode(encode(&all[..n]).as_bytes()).as_deref(),
                Some(&all[..n])
            );
        }
    }
}
