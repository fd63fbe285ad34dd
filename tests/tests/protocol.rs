//! Protocol versions against real servers of two majors: PostgreSQL 18, which speaks protocol 3.2
//! (a 32-byte cancel key in BackendKeyData), and PostgreSQL 15, which speaks 3.0 only and answers
//! a request for 3.2 with NegotiateProtocolVersion.
//!
//! The servers come from [`TestServer::shared_version_or_skip`]: PostgreSQL 18 through
//! `PG18_BINDIR` or `bash .ci/install-pg18`, 15 from Debian. The cancel key is not part of the
//! client's API, so the tests that look at it run the startup by hand with the driver's sans-IO
//! core (`pg_wire::proto`) over a blocking Unix socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use harness::{AuthMethod, TestServer};
use pg_wire::error::report;
use pg_wire::proto::FrameDecoder;
use pg_wire::proto::backend::BackendMessage;
use pg_wire::proto::frontend;
use pg_wire::proto::startup::{self, Session, Startup, StartupOptions, Step};
use pg_wire::{Client, Config, ErrorKind};

/// A role with a password, unique to the calling test.
async fn role(server: &TestServer, password: &str) -> String {
    let name = TestServer::unique_name("proto");
    server.create_role(&name, Some(password)).await.unwrap();
    name
}

/// The connection string for `user` with `extra` settings appended (e.g.
/// `max_protocol_version=3.2`).
fn config(server: &TestServer, user: &str, password: &str, tcp: bool, extra: &str) -> Config {
    let password = (server.auth() != AuthMethod::Trust).then_some(password);
    format!(
        "{} {extra}",
        server.connection_string(user, password, "postgres", tcp)
    )
    .parse()
    .unwrap()
}

/// Connects to `server` as a new role, over the socket and over TCP, with `extra` settings; checks
/// the server's major version and that simple and extended queries work; returns the negotiated
/// protocol version of each connection.
async fn connect_and_query(server: &TestServer, major: &str, extra: &str) -> Vec<(i32, i32)> {
    let user = role(server, "pw-proto").await;
    let mut versions = Vec::new();
    for tcp in [false, true] {
        let what = format!("{} server, tcp={tcp}, {extra:?}", server.auth());
        let client = Client::connect(&config(server, &user, "pw-proto", tcp, extra))
            .await
            .unwrap_or_else(|e| panic!("{what}: {}", report(&e)));
        let version = client.server_version().unwrap();
        assert!(
            version.starts_with(&format!("{major}.")),
            "{what}: {version}"
        );
        assert!(client.process_id().is_some(), "{what}: no BackendKeyData");

        let row = client
            .query_one(
                "SELECT current_user::text, $1::int4 + 1, current_setting('server_version_num')",
                &[&41i32],
            )
            .await
            .unwrap_or_else(|e| panic!("{what}: {}", report(&e)));
        assert_eq!(row.get::<_, &str>(0), user, "{what}");
        assert_eq!(row.get::<_, i32>(1), 42, "{what}");
        assert!(row.get::<_, &str>(2).starts_with(major), "{what}");
        client
            .batch_execute(
                "CREATE TEMP TABLE t (n int8); INSERT INTO t SELECT generate_series(1, 3)",
            )
            .await
            .unwrap_or_else(|e| panic!("{what}: {}", report(&e)));
        let rows = client
            .query("SELECT n FROM t ORDER BY n", &[])
            .await
            .unwrap();
        let numbers: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(numbers, [1, 2, 3], "{what}");

        versions.push(client.protocol_version());
        client.close().await.unwrap();
    }
    versions
}

/// What a hand-run startup saw: the names of the messages in order, and the session.
struct RawStartup {
    messages: Vec<&'static str>,
    session: Session,
    stream: UnixStream,
}

/// Opens a Unix-socket connection to a trust `server` as the superuser, requesting protocol
/// 3.`minor`, and runs the startup with the driver's sans-IO state machine.
fn raw_startup(server: &TestServer, minor: i32) -> RawStartup {
    assert_eq!(
        server.auth(),
        AuthMethod::Trust,
        "raw_startup sends no password"
    );
    let mut stream = socket(server);
    let mut out = BytesMut::new();
    frontend::startup_message(
        &mut out,
        (3 << 16) | minor,
        &[
            ("user", server.superuser()),
            ("database", "postgres"),
            ("client_encoding", "UTF8"),
        ],
    )
    .unwrap();
    let mut startup = Startup::new(StartupOptions {
        user: server.superuser().to_owned(),
        password: None,
        require_auth: Default::default(),
        max_scram_iterations: 10_000,
        requested_minor: minor,
        min_minor: 0,
        scram_nonce: startup::scram_nonce([0; 18]),
    });
    let mut input = BytesMut::new();
    let mut messages = Vec::new();
    loop {
        stream.write_all(&out).unwrap();
        out.clear();
        let message = read_message(&mut stream, &mut input);
        messages.push(message.name());
        match startup.handle(message, &mut out).unwrap() {
            Step::Continue | Step::Notice(_) => {}
            Step::DeriveKey(_) => panic!("a trust server asked for SCRAM"),
            Step::Ready => break,
        }
    }
    let session = startup.finish().expect("a finished startup has a session");
    RawStartup {
        messages,
        session,
        stream,
    }
}

/// A blocking connection to the server's Unix socket, with a read timeout.
fn socket(server: &TestServer) -> UnixStream {
    let path = server
        .socket_dir()
        .join(format!(".s.PGSQL.{}", server.port()));
    let stream = UnixStream::connect(&path).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
}

/// Reads until one whole backend message is buffered, and decodes it.
fn read_message(stream: &mut UnixStream, input: &mut BytesMut) -> BackendMessage {
    let decoder = FrameDecoder::default();
    loop {
        if let Some(message) = decoder.next_message(input).unwrap() {
            return message;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the server closed the connection");
        input.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn pg18_trust_and_scram_over_socket_and_tcp() {
    for auth in [AuthMethod::Trust, AuthMethod::ScramSha256] {
        let Some(server) = TestServer::shared_version_or_skip(auth, 18) else {
            return;
        };
        assert_eq!(server.server_version(), "18");
        // Without max_protocol_version the client asks for 3.0, as libpq does.
        assert_eq!(connect_and_query(server, "18", "").await, [(3, 0), (3, 0)]);
    }
}

#[tokio::test]
async fn pg18_negotiates_protocol_3_2() {
    for auth in [AuthMethod::Trust, AuthMethod::ScramSha256] {
        let Some(server) = TestServer::shared_version_or_skip(auth, 18) else {
            return;
        };
        for extra in [
            "max_protocol_version=3.2",
            "max_protocol_version=latest",
            "min_protocol_version=3.2",
        ] {
            assert_eq!(
                connect_and_query(server, "18", extra).await,
                [(3, 2), (3, 2)],
                "{auth} server, {extra}"
            );
        }
    }
}

#[test]
fn pg18_hands_a_32_byte_cancel_key_in_3_2_and_4_bytes_in_3_0() {
    let Some(server) = TestServer::shared_version_or_skip(AuthMethod::Trust, 18) else {
        return;
    };
    let v32 = raw_startup(server, 2);
    assert_eq!(v32.session.protocol_minor, 2);
    assert!(!v32.messages.contains(&"NegotiateProtocolVersion"));
    let key = v32.session.backend_key.as_ref().expect("BackendKeyData");
    assert_eq!(key.secret_key.len(), 32);

    let v30 = raw_startup(server, 0);
    assert_eq!(v30.session.protocol_minor, 0);
    let key = v30.session.backend_key.as_ref().expect("BackendKeyData");
    assert_eq!(key.secret_key.len(), 4);
}

#[tokio::test]
async fn pg18_cancels_with_the_32_byte_key() {
    let Some(server) = TestServer::shared_version_or_skip(AuthMethod::Trust, 18) else {
        return;
    };
    let RawStartup {
        session,
        mut stream,
        ..
    } = tokio::task::spawn_blocking(move || raw_startup(server, 2))
        .await
        .unwrap();
    let key = session.backend_key.expect("BackendKeyData");
    assert_eq!(key.secret_key.len(), 32);

    let mut out = BytesMut::new();
    frontend::query(&mut out, "SELECT pg_sleep(60)").unwrap();
    stream.write_all(&out).unwrap();

    // Cancel only once the backend is sleeping: a cancel that arrives while it waits for a command
    // is dropped.
    let watcher = Client::connect(&config(server, server.superuser(), "", false, ""))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let sleeping = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event = 'PgSleep'",
                &[&key.process_id],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        if sleeping == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the query never started sleeping"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watcher.close().await.unwrap();

    let mut cancel = socket(server);
    out.clear();
    frontend::cancel_request(&mut out, key.process_id, &key.secret_key).unwrap();
    cancel.write_all(&out).unwrap();
    drop(cancel);

    let started = Instant::now();
    let code = tokio::task::spawn_blocking(move || {
        let mut input = BytesMut::new();
        loop {
            match read_message(&mut stream, &mut input) {
                BackendMessage::ErrorResponse(fields) => {
                    return fields.get(b'C').map(str::to_owned);
                }
                BackendMessage::ReadyForQuery(_) => return None,
                _ => {}
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(code.as_deref(), Some("57014"), "query_canceled expected");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn pg15_answers_3_2_with_negotiate_protocol_version_and_the_client_falls_back() {
    for auth in [AuthMethod::Trust, AuthMethod::ScramSha256] {
        let Some(server) = TestServer::shared_version_or_skip(auth, 15) else {
            return;
        };
        assert_eq!(server.server_version(), "15");
        assert_eq!(connect_and_query(server, "15", "").await, [(3, 0), (3, 0)]);
        assert_eq!(
            connect_and_query(server, "15", "max_protocol_version=3.2").await,
            [(3, 0), (3, 0)],
            "{auth} server"
        );
    }

    // By hand: the fallback really came from NegotiateProtocolVersion, and the key is 3.0's.
    let Some(server) = TestServer::shared_version_or_skip(AuthMethod::Trust, 15) else {
        return;
    };
    let raw = tokio::task::spawn_blocking(move || raw_startup(server, 2))
        .await
        .unwrap();
    assert_eq!(raw.messages.first(), Some(&"NegotiateProtocolVersion"));
    assert_eq!(raw.session.protocol_minor, 0);
    assert_eq!(raw.session.backend_key.unwrap().secret_key.len(), 4);
}

#[tokio::test]
async fn pg15_is_refused_when_3_2_is_the_minimum() {
    for auth in [AuthMethod::Trust, AuthMethod::ScramSha256] {
        let Some(server) = TestServer::shared_version_or_skip(auth, 15) else {
            return;
        };
        let user = role(server, "pw-proto").await;
        for tcp in [false, true] {
            let err = Client::connect(&config(
                server,
                &user,
                "pw-proto",
                tcp,
                "min_protocol_version=3.2",
            ))
            .await
            .err()
            .unwrap_or_else(|| panic!("{auth} server, tcp={tcp}: connected to a 3.0 server"));
            let text = report(&err);
            assert!(
                text.contains("3.0") && text.contains("min_protocol_version 3.2"),
                "{auth} server, tcp={tcp}: {text}"
            );
            // Refused by the client, not by the server: no SQLSTATE.
            assert!(err.code().is_none(), "{text}");
        }
    }
}

#[tokio::test]
async fn pg15_refusal_for_min_protocol_version_does_not_blame_the_server() {
    let Some(server) = TestServer::shared_version_or_skip(AuthMethod::Trust, 15) else {
        return;
    };
    let user = role(server, "unused").await;
    let err = Client::connect(&config(
        server,
        &user,
        "unused",
        false,
        "min_protocol_version=3.2",
    ))
    .await
    .expect_err("connected to a 3.0 server with min_protocol_version=3.2");
    let text = report(&err);
    assert_ne!(err.kind(), ErrorKind::Protocol, "{text}");
    assert!(!text.contains("protocol violation"), "{text}");
}
