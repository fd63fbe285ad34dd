//! The backend byte stream fed in chunks: frame splitting, every message decoder, and the
//! re-encoding of every decoded message.
//!
//! The body is `pg_wire::proto::fuzzing::backend_stream`, which the stable test suite also runs on every
//! corpus file (`pg-wire/tests/fuzz_corpus.rs`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pg_wire::proto::fuzzing::backend_stream(data));
