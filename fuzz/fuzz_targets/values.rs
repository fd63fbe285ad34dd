//! Every binary and text value decoder, arrays included.
//!
//! The body is `pg_wire::proto::fuzzing::values`, which the stable test suite also runs on every
//! corpus file (`pg-wire/tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_wire::proto::fuzzing::values(data));
