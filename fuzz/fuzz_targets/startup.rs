//! The startup and authentication state machine fed an arbitrary backend byte stream, with a fixed
//! nonce and password: it must end in Ready, an error, or a need for more bytes, never a panic.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use pg_wire::config::RequireAuth;
use pg_wire::proto::FrameDecoder;
use pg_wire::proto::startup::{Startup, StartupOptions, Step};

fuzz_target!(|data: &[u8]| {
    let mut startup = Startup::new(StartupOptions {
        user: "alice".into(),
        password: Some(b"secret".to_vec()),
        require_auth: RequireAuth::any(),
        max_scram_iterations: 16,
        requested_minor: 2,
        min_minor: 0,
        scram_nonce: "rOprNGfwEbeRWgbNEkqO".into(),
    });
    let decoder = FrameDecoder::new(1 << 16);
    let mut buf = BytesMut::from(data);
    let mut out = BytesMut::new();
    while let Ok(Some(message)) = decoder.next_message(&mut buf) {
        match startup.handle(message, &mut out) {
            Ok(Step::DeriveKey(derivation)) => {
                let Ok(salted) = derivation.derive() else { return };
                if startup.key_derived(&salted, &mut out).is_err() {
                    return;
                }
            }
            Ok(Step::Ready) | Err(_) => return,
            Ok(_) => {}
        }
    }
});
