//! The startup and authentication state machine fed an arbitrary backend byte stream, with a fixed
//! nonce and password.
//!
//! The body is `pg_wire::proto::fuzzing::startup`, which the stable test suite also runs on every
//! corpus file (`pg-wire/tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_wire::proto::fuzzing::startup(data));
