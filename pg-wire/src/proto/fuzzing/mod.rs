//! The bodies of the cargo-fuzz targets in `fuzz/`, as plain functions.
//!
//! Each target is `fn(&[u8])`: it feeds the bytes to one pure part of pg-wire and panics only when
//! an invariant is broken (a decoded message that does not re-encode to its own bytes, a SCRAM
//! exchange that reports success without a verified signature, ...). A panic from pg-wire itself,
//! an endless loop or an oversized allocation is what the fuzzer looks for; the assertions here are
//! the oracles that turn silent misbehaviour into a crash too.
//!
//! The fuzz targets in `fuzz/fuzz_targets/` are one-line wrappers around these functions, and the
//! test `pg-wire/tests/fuzz_corpus.rs` replays every file of `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` through the same functions on the stable toolchain, so the corpus
//! is checked on every test run even where cargo-fuzz is not installed.
//!
//! Not part of the public API: hidden from the documentation and free to change.

// The oracles panic on purpose when an invariant fails: that is how a fuzzer learns of it.
#![allow(clippy::panic, clippy::manual_assert)]

mod config;
mod errors;
mod scram;
mod startup;
mod stream;
mod values;

pub use config::connection_string;
pub use errors::error_fields;
pub use scram::scram;
pub use startup::startup;
pub use stream::backend_stream;
pub use values::{VALUE_TYPES, values};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its cargo-fuzz binary and corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("backend_stream", backend_stream),
    ("startup", startup),
    ("scram", scram),
    ("connection_string", connection_string),
    ("values", values),
    ("error_fields", error_fields),
];

/// The target with this name.
pub fn target(name: &str) -> Option<Target> {
    TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, target)| *target)
}

/// The SCRAM client nonce every target uses: the one libpq sent in the `scram_auth` capture, so the
/// captured server messages (and the server's signature in them) replay exactly.
pub const SCRAM_NONCE: &str = "L0yWKWqBzgzcb7rP4yFUwdYt";

/// The password of the captures' role `alice`.
pub const PASSWORD: &[u8] = b"secret";

/// The password of the `scram_auth_nonascii` capture.
pub const PASSWORD_NONASCII: &str = "p\u{e4}ssw\u{f6}rd\u{20ac}";

/// The largest SCRAM iteration count the targets accept: the captures' 4096. Larger counts are
/// refused before any key derivation, so no input can make one execution slow.
pub const MAX_ITERATIONS: u32 = 4096;
