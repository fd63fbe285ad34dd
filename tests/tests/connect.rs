//! Connecting: every authentication method over the Unix socket and over TCP, refusals by
//! `require_auth`, and the errors a user sees for a wrong password, an unknown database, a missing
//! socket and a server that never answers.

use std::time::{Duration, Instant};

use harness::{AuthMethod, TestServer};
use pg_wire::error::report;
use pg_wire::{Client, Config, ErrorKind, SqlState};

/// A role with a password on `server`, unique to the calling test.
async fn role(server: &TestServer, password: &str) -> String {
    let name = TestServer::unique_name("role");
    server.create_role(&name, Some(password)).await.unwrap();
    name
}

fn config(server: &TestServer, user: &str, password: Option<&str>, tcp: bool) -> Config {
    server
        .connection_string(user, password, "postgres", tcp)
        .parse()
        .unwrap()
}

async fn check_login(auth: AuthMethod, password: &str) {
    let server = TestServer::shared(auth);
    let user = role(server, password).await;
    for tcp in [false, true] {
        let client = Client::connect(&config(server, &user, Some(password), tcp))
            .await
            .unwrap_or_else(|e| panic!("{auth:?} tcp={tcp}: {}", report(&e)));
        let row = client
            .query_one("SELECT current_user::text", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, &str>(0), user);
        client.close().await.unwrap();
    }
}

#[tokio::test]
async fn trust_over_socket_and_tcp() {
    let server = TestServer::shared(AuthMethod::Trust);
    let user = role(server, "unused").await;
    for tcp in [false, true] {
        let client = Client::connect(&config(server, &user, None, tcp))
            .await
            .unwrap();
        assert!(client.server_version().is_some());
        assert!(client.process_id().is_some());
        client.close().await.unwrap();
    }
}

#[tokio::test]
async fn cleartext_password_over_socket_and_tcp() {
    check_login(AuthMethod::Password, "s3cret").await;
}

#[tokio::test]
async fn md5_over_socket_and_tcp() {
    check_login(AuthMethod::Md5, "s3cret").await;
}

#[tokio::test]
async fn scram_over_socket_and_tcp() {
    check_login(AuthMethod::ScramSha256, "s3cret").await;
}

#[tokio::test]
async fn non_ascii_passwords_work_as_with_psql() {
    // SASLprep maps U+00A0 to a space and NFKC-normalizes; the server stored the verifier of the
    // prepared password, so the raw bytes would not match.
    check_login(
        AuthMethod::ScramSha256,
        "p\u{e4}ss w\u{f6}rd\u{a0}\u{2168}\u{20ac}",
    )
    .await;
    check_login(AuthMethod::Md5, "p\u{e4}ssw\u{f6}rd\u{20ac}").await;
    check_login(AuthMethod::Password, "p\u{e4}ssw\u{f6}rd\u{20ac}").await;
}

#[tokio::test]
async fn wrong_password_is_28p01_for_every_method() {
    for auth in [
        AuthMethod::Password,
        AuthMethod::Md5,
        AuthMethod::ScramSha256,
    ] {
        let server = TestServer::shared(auth);
        let user = role(server, "right").await;
        for tcp in [false, true] {
            let err = Client::connect(&config(server, &user, Some("wrong"), tcp))
                .await
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Db, "{auth:?}: {}", report(&err));
            assert_eq!(err.code(), Some(&SqlState::INVALID_PASSWORD), "{auth:?}");
        }
    }
}

#[tokio::test]
async fn missing_password_is_a_clear_client_error() {
    let server = TestServer::shared(AuthMethod::ScramSha256);
    let user = role(server, "pw").await;
    let mut config = config(server, &user, None, false);
    // Make sure no password file supplies one.
    config.passfile("/nonexistent/pgpass");
    let err = Client::connect(&config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert!(
        report(&err).contains("no password was supplied"),
        "{}",
        report(&err)
    );
}

#[tokio::test]
async fn unknown_database_is_3d000() {
    let server = TestServer::shared(AuthMethod::Trust);
    let conninfo = server.connection_string(server.superuser(), None, "no_such_database", false);
    let err = Client::connect(&conninfo.parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::INVALID_CATALOG_NAME));
    assert!(err.to_string().contains("no_such_database"), "{err}");
}

#[tokio::test]
async fn missing_socket_names_the_path() {
    let dir = std::env::temp_dir().join(TestServer::unique_name("nosock"));
    let config: Config = format!("host={} port=5999 user=x dbname=x", dir.display())
        .parse()
        .unwrap();
    let err = Client::connect(&config).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    let expected = format!("{}/.s.PGSQL.5999", dir.display());
    assert!(err.to_string().contains(&expected), "{err}");
    assert!(report(&err).contains("No such file"), "{}", report(&err));
}

#[tokio::test]
async fn require_auth_scram_refuses_md5_and_trust_servers() {
    for auth in [AuthMethod::Md5, AuthMethod::Trust, AuthMethod::Password] {
        let server = TestServer::shared(auth);
        let user = role(server, "pw").await;
        for tcp in [false, true] {
            let conninfo = format!(
                "{} require_auth=scram-sha-256",
                server.connection_string(&user, Some("pw"), "postgres", tcp)
            );
            let err = Client::connect(&conninfo.parse().unwrap())
                .await
                .unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::Authentication,
                "{auth:?}: {}",
                report(&err)
            );
            assert!(report(&err).contains("require_auth"), "{}", report(&err));
        }
    }
    // And accepts a SCRAM server.
    let server = TestServer::shared(AuthMethod::ScramSha256);
    let user = role(server, "pw").await;
    let conninfo = format!(
        "{} require_auth=scram-sha-256",
        server.connection_string(&user, Some("pw"), "postgres", true)
    );
    Client::connect(&conninfo.parse().unwrap()).await.unwrap();
}

#[tokio::test]
async fn require_auth_none_accepts_trust_and_negation_works() {
    let server = TestServer::shared(AuthMethod::Trust);
    let conninfo = format!(
        "{} require_auth=none",
        server.connection_string(server.superuser(), None, "postgres", false)
    );
    Client::connect(&conninfo.parse().unwrap()).await.unwrap();

    let server = TestServer::shared(AuthMethod::Password);
    let user = role(server, "pw").await;
    let conninfo = format!(
        "{} require_auth=!password",
        server.connection_string(&user, Some("pw"), "postgres", false)
    );
    let err = Client::connect(&conninfo.parse().unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
}

#[tokio::test]
async fn connect_timeout_bounds_a_server_that_never_answers() {
    // Accepts the TCP connection, then says nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let config: Config = format!("host=127.0.0.1 port={port} user=x dbname=x connect_timeout=2")
        .parse()
        .unwrap();
    let started = Instant::now();
    let err = Client::connect(&config).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(err.is_timeout(), "{}", report(&err));
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    silent.abort();
}

#[tokio::test]
async fn session_parameters_and_status_are_readable() {
    let server = TestServer::shared(AuthMethod::Trust);
    let conninfo = format!(
        "{} application_name=pgwire-test options='-c search_path=pg_catalog'",
        server.connection_string(server.superuser(), None, "postgres", false)
    );
    let client = Client::connect(&conninfo.parse().unwrap()).await.unwrap();
    assert_eq!(client.parameter("client_encoding").as_deref(), Some("UTF8"));
    assert_eq!(
        client.parameter("application_name").as_deref(),
        Some("pgwire-test")
    );
    let row = client.query_one("SHOW search_path", &[]).await.unwrap();
    assert_eq!(row.get::<_, &str>(0), "pg_catalog");
    assert_eq!(
        client.transaction_status(),
        pg_wire::TransactionStatus::Idle
    );
    client.batch_execute("BEGIN").await.unwrap();
    assert_eq!(
        client.transaction_status(),
        pg_wire::TransactionStatus::InTransaction
    );
    assert!(client.batch_execute("SELECT 1/0").await.is_err());
    assert_eq!(
        client.transaction_status(),
        pg_wire::TransactionStatus::Failed
    );
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        client.transaction_status(),
        pg_wire::TransactionStatus::Idle
    );
    // ParameterStatus changes are tracked.
    client
        .batch_execute("SET application_name = 'renamed'")
        .await
        .unwrap();
    assert_eq!(
        client.parameter("application_name").as_deref(),
        Some("renamed")
    );
}

#[tokio::test]
async fn switching_client_encoding_away_from_utf8_closes_the_connection() {
    let server = TestServer::shared(AuthMethod::Trust);
    let conninfo = server.connection_string(server.superuser(), None, "postgres", false);
    let client = Client::connect(&conninfo.parse().unwrap()).await.unwrap();
    let err = client
        .batch_execute("SET client_encoding = 'LATIN1'")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Protocol, "{}", report(&err));
    assert!(report(&err).contains("client_encoding"), "{}", report(&err));
    assert!(client.is_closed());
    assert!(client.query("SELECT 1", &[]).await.unwrap_err().is_closed());
}

#[tokio::test]
async fn close_sends_terminate_and_drop_does_not_block() {
    let server = TestServer::shared(AuthMethod::Trust);
    let conninfo: Config = server
        .connection_string(server.superuser(), None, "postgres", false)
        .parse()
        .unwrap();
    let watcher = Client::connect(&conninfo).await.unwrap();
    let count = |pid: i32| {
        let watcher = &watcher;
        async move {
            watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
                    &[&pid],
                )
                .await
                .unwrap()
                .get::<_, i64>(0)
        }
    };
    let wait_gone = |pid: i32| async move {
        for _ in 0..100 {
            if count(pid).await == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("backend {pid} is still there");
    };

    let client = Client::connect(&conninfo).await.unwrap();
    let pid = client.process_id().unwrap();
    assert_eq!(count(pid).await, 1);
    client.close().await.unwrap();
    wait_gone(pid).await;

    let client = Client::connect(&conninfo).await.unwrap();
    let pid = client.process_id().unwrap();
    let started = Instant::now();
    drop(client);
    assert!(started.elapsed() < Duration::from_millis(100));
    wait_gone(pid).await;
}

#[tokio::test]
async fn passwords_never_show_in_errors_or_debug() {
    let server = TestServer::shared(AuthMethod::ScramSha256);
    let user = role(server, "right").await;
    let marker = "Marker-Password-93271";
    let config = config(server, &user, Some(marker), true);
    assert!(!format!("{config:?}").contains(marker));
    let err = Client::connect(&config).await.unwrap_err();
    assert!(!report(&err).contains(marker));
    assert!(!format!("{err:?}").contains(marker));
}

/// A scripted server over TCP: answers the startup with AuthenticationOk, client_encoding UTF8,
/// a cancel key and ReadyForQuery, then records every byte the client sends until it closes.
async fn recording_server() -> (u16, tokio::task::JoinHandle<Vec<u8>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut len = [0u8; 4];
        socket.read_exact(&mut len).await.unwrap();
        let mut startup = vec![0u8; u32::from_be_bytes(len) as usize - 4];
        socket.read_exact(&mut startup).await.unwrap();
        let mut reply = Vec::new();
        reply.extend_from_slice(b"R\0\0\0\x08\0\0\0\0");
        reply.extend_from_slice(b"S\0\0\0\x19client_encoding\0UTF8\0");
        reply.extend_from_slice(b"K\0\0\0\x0c\0\0\x30\x39abcd");
        reply.extend_from_slice(b"Z\0\0\0\x05I");
        socket.write_all(&reply).await.unwrap();
        let mut received = Vec::new();
        socket.read_to_end(&mut received).await.unwrap();
        received
    });
    (port, task)
}

#[tokio::test]
async fn close_and_drop_send_terminate_as_their_last_message() {
    for by_drop in [false, true] {
        let (port, server) = recording_server().await;
        let config: Config = format!("host=127.0.0.1 port={port} user=x dbname=x")
            .parse()
            .unwrap();
        let client = Client::connect(&config).await.unwrap();
        assert_eq!(client.process_id(), Some(12345));
        if by_drop {
            drop(client);
        } else {
            client.close().await.unwrap();
        }
        let received = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the client never closed the socket")
            .unwrap();
        assert_eq!(received, b"X\0\0\0\x04", "by_drop={by_drop}");
    }
}
