//! Connection strings (URI and key=value), the password file, and the Url builder.
//!
//! The body is `pg_wire::proto::fuzzing::connection_string`, which the stable test suite also runs on every
//! corpus file (`pg-wire/tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_wire::proto::fuzzing::connection_string(data));
