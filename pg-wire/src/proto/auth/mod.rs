//! Password authentication mechanisms: MD5 and SCRAM-SHA-256 (cleartext needs no computation).

pub(crate) mod base64;
pub mod md5;
pub mod scram;
