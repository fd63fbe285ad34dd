//! ErrorResponse and NoticeResponse fields, and the errors built from them.
//!
//! The body is `pg_wire::proto::fuzzing::error_fields`, which the stable test suite also runs on every
//! corpus file (`pg-wire/tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_wire::proto::fuzzing::error_fields(data));
