//! The sans-IO protocol core: bytes in, messages and bytes out.
//!
//! Nothing here does I/O, reads a clock or draws randomness: nonces are arguments, and the async
//! shell in [`crate::connection`] feeds this core with what the socket delivered. Every function is
//! unit-tested with bytes and can be fuzzed.
//!
//! - [`frame`] splits the backend byte stream into messages, with per-type length limits;
//! - [`backend`] decodes each backend message of protocol 3.0 and 3.2;
//! - [`frontend`] encodes every frontend message, with checked lengths;
//! - [`startup`] is the startup and authentication state machine;
//! - [`auth`] holds MD5 and SCRAM-SHA-256.

// Peer bytes must never panic: no indexing, unwrap, expect or panic outside the tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod auth;
pub mod backend;
pub mod error;
pub mod frame;
pub mod frontend;
pub(crate) mod reader;
pub mod startup;

pub use backend::BackendMessage;
pub use error::{EncodeError, ProtocolError};
pub use frame::{Frame, FrameDecoder};

#[cfg(test)]
mod captures;

#[doc(hidden)]
pub mod fuzzing;
