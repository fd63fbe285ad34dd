//! PostgreSQL's MD5 password challenge: `"md5" + md5_hex(md5_hex(password + user) + salt)`.

use md5::{Digest, Md5};

/// The hex digest of the concatenated parts.
fn md5_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Md5::new();
    for part in parts {
        hasher.update(part);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The response to AuthenticationMD5Password for `user` with `password` and the server's `salt`.
pub fn md5_password(user: &[u8], password: &[u8], salt: [u8; 4]) -> String {
    let inner = md5_hex(&[password, user]);
    format!("md5{}", md5_hex(&[inner.as_bytes(), &salt]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_server_side_computation() {
        // pg_authid stores md5(password || user): for user "alice", password "secret" that is
        // "md5" || md5("secretalice") = md54a0a68b43b6cd5cf266fa02f196e2371 (computed independently
        // with Python's hashlib).
        assert_eq!(
            md5_hex(&[b"secret", b"alice"]),
            "4a0a68b43b6cd5cf266fa02f196e2371"
        );
        let response = md5_password(b"alice", b"secret", [1, 2, 3, 4]);
        assert_eq!(response.len(), 35);
        assert!(response.starts_with("md5"));
        let again = md5_hex(&[b"4a0a68b43b6cd5cf266fa02f196e2371", &[1, 2, 3, 4]]);
        assert_eq!(response, format!("md5{again}"));
    }
}
