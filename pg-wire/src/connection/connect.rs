//! Opening a session: the socket, the startup and authentication exchange driven by the sans-IO
//! state machine, up to the first ReadyForQuery.

use std::io;

use bytes::BytesMut;

use super::reader::Reader;
use super::{Connection, log_notice};
use crate::config::{Config, ProtocolVersion, Target};
use crate::error::{DbError, Error};
use crate::net::{self, WriteHalf};
use crate::proto::frontend;
use crate::proto::startup::{self, Startup, StartupOptions, Step};

/// Opens a session: tries each target in turn (hosts times ports), each attempt bounded by
/// `connect_timeout` from the socket to the first ReadyForQuery.
pub(crate) async fn connect(config: &Config) -> Result<Connection, Error> {
    let ssl_mode = config.get_ssl_mode();
    if ssl_mode.requires_tls() {
        return Err(Error::unsupported_setting(format!(
            "sslmode={ssl_mode} needs TLS, which pg-wire does not support yet; use sslmode=prefer or disable"
        )));
    }
    let targets = config.targets().map_err(Error::config)?;
    let mut last_error = None;
    for target in targets {
        let attempt = connect_target(config, target.clone());
        let result = match config.effective_connect_timeout() {
            Some(limit) => tokio::time::timeout(limit, attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::timeout(format!(
                        "timed out after {} s connecting to {}",
                        limit.as_secs_f64(),
                        target.display_name()
                    )))
                }),
            None => attempt.await,
        };
        match result {
            Ok(connection) => return Ok(connection),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error
        .unwrap_or_else(|| Error::usage("the connection settings name no host to connect to")))
}

async fn connect_target(config: &Config, target: Target) -> Result<Connection, Error> {
    let user = config.effective_user().map_err(Error::config)?;
    let database = config.effective_dbname().map_err(Error::config)?;
    let (read_half, mut write_half) = net::connect(&target).await?;
    let mut reader = Reader::new(read_half, config.get_max_message_size());

    let requested_minor = minor_of(config.get_max_protocol_version());
    let mut params: Vec<(&str, &str)> = vec![
        ("user", &user),
        ("database", &database),
        ("client_encoding", "UTF8"),
    ];
    if let Some(name) = config.effective_application_name() {
        params.push(("application_name", name));
    }
    if let Some(options) = config.get_options() {
        params.push(("options", options));
    }
    let mut out = BytesMut::new();
    frontend::startup_message(&mut out, (3 << 16) | requested_minor, &params)
        .map_err(Error::encode)?;

    let mut startup = Startup::new(StartupOptions {
        user: user.clone(),
        password: config.password_for(&target),
        require_auth: *config.get_require_auth(),
        max_scram_iterations: config.get_max_scram_iterations(),
        requested_minor,
        min_minor: minor_of(config.get_min_protocol_version()),
        scram_nonce: startup::scram_nonce(random_nonce()?),
    });
    let context = format!("connecting to {}", target.display_name());
    loop {
        write_all(&mut write_half, &mut out).await?;
        let frame = reader.next_frame().await.map_err(|e| e.context(&context))?;
        let message = frame
            .decode()
            .map_err(|e| Error::protocol(e).context(&context))?;
        match startup.handle(message, &mut out).map_err(Error::startup)? {
            Step::Continue => {}
            Step::Notice(fields) => log_notice(&DbError::from_fields(fields)),
            Step::DeriveKey(derivation) => {
                // PBKDF2 takes real CPU time: keep it off the runtime's worker threads.
                let salted = tokio::task::spawn_blocking(move || derivation.derive())
                    .await
                    .map_err(|e| {
                        Error::usage(format!("the SCRAM key derivation task failed: {e}"))
                    })?
                    .map_err(|e| Error::startup(e.into()))?;
                startup
                    .key_derived(&salted, &mut out)
                    .map_err(Error::startup)?;
            }
            Step::Ready => break,
        }
    }
    let session = startup
        .finish()
        .ok_or_else(|| Error::usage("startup ended without a session"))?;
    Ok(Connection::new(reader, write_half, session, target))
}

fn minor_of(version: ProtocolVersion) -> i32 {
    match version {
        ProtocolVersion::V3_0 => 0,
        ProtocolVersion::V3_2 => 2,
    }
}

/// 18 bytes from the operating system's random source, for the SCRAM nonce.
fn random_nonce() -> Result<[u8; 18], Error> {
    let mut nonce = [0u8; 18];
    getrandom::fill(&mut nonce).map_err(|e| {
        Error::io(
            "could not get random bytes for the SCRAM nonce",
            io::Error::other(e.to_string()),
        )
    })?;
    Ok(nonce)
}

async fn write_all(half: &mut WriteHalf, buf: &mut BytesMut) -> Result<(), Error> {
    while !buf.is_empty() {
        let n = half
            .write_buf(buf)
            .await
            .map_err(|e| Error::io("could not write to the server", e))?;
        if n == 0 {
            return Err(Error::io(
                "could not write to the server",
                io::Error::new(io::ErrorKind::WriteZero, "the socket accepted no bytes"),
            ));
        }
    }
    Ok(())
}
