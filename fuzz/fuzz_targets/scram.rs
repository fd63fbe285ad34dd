//! The SCRAM-SHA-256 client fed arbitrary server-first and server-final messages; base64.
//!
//! The body is `pg_wire::proto::fuzzing::scram`, which the stable test suite also runs on every
//! corpus file (`pg-wire/tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_wire::proto::fuzzing::scram(data));
