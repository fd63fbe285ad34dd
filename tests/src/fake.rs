//! A scripted fake PostgreSQL server, for tests of what the client does when the server misbehaves.
//!
//! [`FakeServer::bind`] listens on a Unix socket (`.s.PGSQL.<port>` in a fresh temporary
//! directory, so `host=<dir> port=<port>` reaches it as it would reach PostgreSQL) or on a free TCP
//! port of 127.0.0.1. A test accepts the client's connections with [`FakeServer::accept`] and plays
//! its script on the [`FakePeer`]: it reads the client's messages as raw frames and writes whatever
//! bytes it likes, well-formed (built with the functions of [`msg`]) or not.
//!
//! Nothing here knows the driver's internals: the peer speaks the protocol from its documentation,
//! byte by byte, so a script can break it in any chosen way.
//!
//! ```no_run
//! use harness::fake::{FakeServer, Transport, msg};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let server = FakeServer::bind(Transport::Unix);
//! let config = server.config("connect_timeout=5");
//! let script = async {
//!     let mut peer = server.accept().await?;
//!     peer.startup().await?;
//!     peer.send(&msg::header(b'Z', -1)).await
//! };
//! let (client, served) = tokio::join!(pg_wire::Client::connect(&config), script);
//! assert_eq!(client.unwrap_err().kind(), pg_wire::ErrorKind::Protocol);
//! served?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};

/// The largest frontend message the fake server accepts: the client never sends more in these
/// tests, and a larger length means the fake lost track of the stream.
const MAX_FRONTEND_MESSAGE: usize = 1024 * 1024;

/// The protocol code of a StartupMessage for protocol 3.0.
pub const PROTOCOL_3_0: i32 = 3 << 16;
/// The request code of a CancelRequest.
pub const CANCEL_REQUEST_CODE: i32 = 80_877_102;
/// The request code of an SSLRequest.
pub const SSL_REQUEST_CODE: i32 = 80_877_103;
/// The request code of a GSSENCRequest.
pub const GSSENC_REQUEST_CODE: i32 = 80_877_104;

/// The user name in the fake server's connection settings.
pub const USER: &str = "hostile";
/// The database name in the fake server's connection settings.
pub const DBNAME: &str = "hostile";

/// How the client reaches a fake server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A Unix-domain socket in a temporary directory.
    Unix,
    /// TCP on 127.0.0.1.
    Tcp,
}

impl Transport {
    /// Both transports, for running a case over each.
    pub const ALL: [Transport; 2] = [Transport::Unix, Transport::Tcp];
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Unix => "unix",
            Transport::Tcp => "tcp",
        })
    }
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

/// A listening fake server. Dropping it stops listening and removes its socket directory.
pub struct FakeServer {
    transport: Transport,
    listener: Listener,
    /// The socket directory (Unix only).
    dir: Option<PathBuf>,
    port: u16,
}

impl fmt::Debug for FakeServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeServer")
            .field("transport", &self.transport)
            .field("dir", &self.dir)
            .field("port", &self.port)
            .finish()
    }
}

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

impl FakeServer {
    /// Starts listening. Must be called within a tokio runtime. Panics if the socket cannot be
    /// created (the test cannot run then).
    pub fn bind(transport: Transport) -> FakeServer {
        match transport {
            Transport::Unix => {
                let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
                let dir = std::env::temp_dir().join(format!("pgw-fake-{}-{n}", std::process::id()));
                // A directory left by a killed earlier process with the same pid goes first.
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir)
                    .unwrap_or_else(|e| panic!("could not create {}: {e}", dir.display()));
                // Any port works: the directory is ours alone. Vary it so the port is really used.
                let port = 40_000 + u16::try_from(n % 20_000).unwrap_or(0);
                let path = dir.join(format!(".s.PGSQL.{port}"));
                let listener = UnixListener::bind(&path)
                    .unwrap_or_else(|e| panic!("could not listen on {}: {e}", path.display()));
                FakeServer {
                    transport,
                    listener: Listener::Unix(listener),
                    dir: Some(dir),
                    port,
                }
            }
            Transport::Tcp => {
                let std_listener = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap_or_else(|e| panic!("could not listen on 127.0.0.1: {e}"));
                std_listener
                    .set_nonblocking(true)
                    .unwrap_or_else(|e| panic!("could not make the listener non-blocking: {e}"));
                let port = std_listener
                    .local_addr()
                    .unwrap_or_else(|e| panic!("no local address: {e}"))
                    .port();
                let listener = TcpListener::from_std(std_listener)
                    .unwrap_or_else(|e| panic!("could not register the listener: {e}"));
                FakeServer {
                    transport,
                    listener: Listener::Tcp(listener),
                    dir: None,
                    port,
                }
            }
        }
    }

    /// The transport this server listens on.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The port (for Unix, the number in the socket's file name).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A libpq connection string reaching this server as [`USER`] on [`DBNAME`]:
    /// `host=<socket dir> port=<port> ...` or `host=127.0.0.1 port=<port> ...`.
    pub fn conninfo(&self) -> String {
        let host = match &self.dir {
            Some(dir) => dir.display().to_string(),
            None => "127.0.0.1".to_owned(),
        };
        format!("host={host} port={} user={USER} dbname={DBNAME}", self.port)
    }

    /// [`FakeServer::conninfo`] with `extra` settings appended, parsed.
    pub fn config(&self, extra: &str) -> pg_wire::Config {
        let conninfo = format!("{} {extra}", self.conninfo());
        conninfo
            .parse()
            .unwrap_or_else(|e| panic!("invalid connection string {conninfo:?}: {e}"))
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<FakePeer> {
        let stream: Box<dyn Stream> = match &self.listener {
            Listener::Unix(listener) => Box::new(listener.accept().await?.0),
            Listener::Tcp(listener) => {
                let (socket, _) = listener.accept().await?;
                socket.set_nodelay(true)?;
                Box::new(socket)
            }
        };
        Ok(FakePeer { stream })
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// The first packet of a connection, which has no type byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstPacket {
    /// A StartupMessage: the protocol version and the parameters.
    Startup {
        /// The requested protocol version (`3 << 16 | minor`).
        version: i32,
        /// The parameters, in order (`user`, `database`, ...).
        params: Vec<(String, String)>,
    },
    /// A CancelRequest.
    Cancel {
        /// The process id it names.
        process_id: i32,
        /// The secret key it carries.
        secret: Vec<u8>,
        /// The whole packet as received, length included.
        raw: Vec<u8>,
    },
}

/// A frontend message: its type byte and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The type byte (`Q`, `P`, `S`, `p`, ...).
    pub tag: u8,
    /// The body, without the type byte and length.
    pub body: Vec<u8>,
}

/// One accepted connection, seen from the server's side.
pub struct FakePeer {
    stream: Box<dyn Stream>,
}

impl fmt::Debug for FakePeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakePeer").finish_non_exhaustive()
    }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads a NUL-terminated string at the front of `bytes`, returning it and the rest.
pub fn split_cstr(bytes: &[u8]) -> io::Result<(String, &[u8])> {
    let nul = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| invalid("a string without its NUL terminator"))?;
    let (text, rest) = bytes.split_at(nul);
    let text = String::from_utf8(text.to_vec()).map_err(|_| invalid("a string not in UTF-8"))?;
    Ok((text, &rest[1..]))
}

fn be_i32(bytes: &[u8]) -> io::Result<i32> {
    let array: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| invalid("a message too short for an Int32"))?;
    Ok(i32::from_be_bytes(array))
}

impl FakePeer {
    /// Reads a length-prefixed packet without type byte; returns the length bytes and the body.
    async fn read_untagged(&mut self) -> io::Result<(Vec<u8>, Vec<u8>)> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await?;
        let declared = i32::from_be_bytes(len);
        let body_len = usize::try_from(declared)
            .ok()
            .and_then(|n| n.checked_sub(4))
            .filter(|&n| n <= MAX_FRONTEND_MESSAGE)
            .ok_or_else(|| invalid(format!("the client sent a packet of length {declared}")))?;
        let mut body = vec![0u8; body_len];
        self.stream.read_exact(&mut body).await?;
        Ok((len.to_vec(), body))
    }

    /// Reads the first packet. An SSLRequest or GSSENCRequest is answered `N` (not supported)
    /// and the packet after it is returned.
    pub async fn first_packet(&mut self) -> io::Result<FirstPacket> {
        loop {
            let (len, body) = self.read_untagged().await?;
            let code = be_i32(&body)?;
            match code {
                SSL_REQUEST_CODE | GSSENC_REQUEST_CODE => self.send(b"N").await?,
                CANCEL_REQUEST_CODE => {
                    let process_id = be_i32(&body[4..])?;
                    let secret = body[8..].to_vec();
                    let mut raw = len;
                    raw.extend_from_slice(&body);
                    return Ok(FirstPacket::Cancel {
                        process_id,
                        secret,
                        raw,
                    });
                }
                version => {
                    let mut params = Vec::new();
                    let mut rest = &body[4..];
                    while rest.first().is_some_and(|&b| b != 0) {
                        let (name, after) = split_cstr(rest)?;
                        let (value, after) = split_cstr(after)?;
                        params.push((name, value));
                        rest = after;
                    }
                    if rest != [0] {
                        return Err(invalid("a StartupMessage without its final NUL"));
                    }
                    return Ok(FirstPacket::Startup { version, params });
                }
            }
        }
    }

    /// Reads the StartupMessage (see [`FakePeer::first_packet`]); anything else is an error.
    pub async fn startup(&mut self) -> io::Result<Vec<(String, String)>> {
        match self.first_packet().await? {
            FirstPacket::Startup { params, .. } => Ok(params),
            FirstPacket::Cancel { .. } => Err(invalid("a CancelRequest instead of a startup")),
        }
    }

    /// Reads the next message; `None` when the client closed the connection between messages.
    pub async fn read_message(&mut self) -> io::Result<Option<Message>> {
        let mut tag = [0u8; 1];
        if self.stream.read(&mut tag).await? == 0 {
            return Ok(None);
        }
        let (_, body) = self.read_untagged().await?;
        Ok(Some(Message { tag: tag[0], body }))
    }

    /// Reads the next message and checks its type; an error if it is another or the stream ended.
    pub async fn expect(&mut self, tag: u8) -> io::Result<Vec<u8>> {
        match self.read_message().await? {
            Some(message) if message.tag == tag => Ok(message.body),
            Some(message) => Err(invalid(format!(
                "expected a '{}' message, the client sent '{}'",
                char::from(tag),
                char::from(message.tag)
            ))),
            None => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "expected a '{}' message, the client closed the connection",
                    char::from(tag)
                ),
            )),
        }
    }

    /// Reads a simple Query message and returns its SQL.
    pub async fn expect_query(&mut self) -> io::Result<String> {
        let body = self.expect(b'Q').await?;
        Ok(split_cstr(&body)?.0)
    }

    /// Reads messages up to and including the next Sync, for the extended query protocol.
    pub async fn read_until_sync(&mut self) -> io::Result<Vec<Message>> {
        let mut messages = Vec::new();
        loop {
            let message = self.read_message().await?.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the client closed the connection before Sync",
                )
            })?;
            let sync = message.tag == b'S';
            messages.push(message);
            if sync {
                return Ok(messages);
            }
        }
    }

    /// Answers the client's prepare round trip (Parse, Describe of the statement, Sync) for a
    /// statement without parameters whose rows have `columns`.
    pub async fn answer_prepare(&mut self, columns: &[(&str, u32)]) -> io::Result<()> {
        let tags: Vec<u8> = self
            .read_until_sync()
            .await?
            .iter()
            .map(|m| m.tag)
            .collect();
        if tags != b"PDS" {
            return Err(invalid(format!(
                "expected Parse, Describe, Sync; the client sent {:?}",
                String::from_utf8_lossy(&tags)
            )));
        }
        let mut reply = msg::parse_complete();
        reply.extend(msg::parameter_description(&[]));
        reply.extend(msg::row_description(columns));
        reply.extend(msg::ready(b'I'));
        self.send(&reply).await
    }

    /// Reads the client's execution of a prepared statement (Bind, Execute, Sync) and answers
    /// BindComplete; the rest of the answer is the script's.
    pub async fn expect_execute(&mut self) -> io::Result<()> {
        let tags: Vec<u8> = self
            .read_until_sync()
            .await?
            .iter()
            .map(|m| m.tag)
            .collect();
        if tags != b"BES" {
            return Err(invalid(format!(
                "expected Bind, Execute, Sync; the client sent {:?}",
                String::from_utf8_lossy(&tags)
            )));
        }
        self.send(&msg::bind_complete()).await
    }

    /// Reads everything until the client closes the connection (a reset counts as the end).
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return received,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Ends the server's side of the stream (the client reads end-of-file) while the client's
    /// side stays readable.
    pub async fn close_write(&mut self) -> io::Result<()> {
        self.stream.shutdown().await
    }

    /// Writes `bytes`.
    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Writes `head`, then zero bytes as fast as the socket takes them, counting every byte
    /// written in `written`, until a write fails (the client closed the connection) or `cap`
    /// bytes were written in all. Returns the write error, or `None` when the cap was reached.
    pub async fn flood(&mut self, head: &[u8], written: &AtomicU64, cap: u64) -> Option<io::Error> {
        if let Err(e) = self.stream.write_all(head).await {
            return Some(e);
        }
        written.fetch_add(head.len() as u64, Ordering::Relaxed);
        let chunk = vec![0u8; 64 * 1024];
        while written.load(Ordering::Relaxed) < cap {
            match self.stream.write(&chunk).await {
                Ok(0) => return Some(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => {
                    written.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) => return Some(e),
            }
        }
        None
    }

    /// Plays a server that needs no password: reads the StartupMessage, then sends
    /// AuthenticationOk, `client_encoding` and `server_version`, BackendKeyData and ReadyForQuery.
    /// Returns the startup parameters.
    pub async fn trust(
        &mut self,
        process_id: i32,
        secret: [u8; 4],
    ) -> io::Result<Vec<(String, String)>> {
        let params = self.startup().await?;
        self.send(&msg::session_start(process_id, secret)).await?;
        Ok(params)
    }
}

/// Builders of backend messages, as raw bytes.
pub mod msg {
    /// A message: type byte, length (the body's plus 4), body.
    pub fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let len = i32::try_from(body.len() + 4).expect("message too large for the protocol");
        let mut out = header(tag, len);
        out.extend_from_slice(body);
        out
    }

    /// A type byte and a length as given, with no body: for lengths that lie.
    pub fn header(tag: u8, len: i32) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend_from_slice(&len.to_be_bytes());
        out
    }

    fn cstr(out: &mut Vec<u8>, text: &[u8]) {
        out.extend_from_slice(text);
        out.push(0);
    }

    /// An authentication message: its code and what follows it.
    pub fn authentication(code: i32, rest: &[u8]) -> Vec<u8> {
        let mut body = code.to_be_bytes().to_vec();
        body.extend_from_slice(rest);
        message(b'R', &body)
    }

    /// AuthenticationOk.
    pub fn auth_ok() -> Vec<u8> {
        authentication(0, &[])
    }

    /// AuthenticationCleartextPassword.
    pub fn auth_cleartext() -> Vec<u8> {
        authentication(3, &[])
    }

    /// AuthenticationMD5Password with `salt`.
    pub fn auth_md5(salt: [u8; 4]) -> Vec<u8> {
        authentication(5, &salt)
    }

    /// AuthenticationSASL offering `mechanisms`.
    pub fn auth_sasl(mechanisms: &[&str]) -> Vec<u8> {
        let mut rest = Vec::new();
        for mechanism in mechanisms {
            cstr(&mut rest, mechanism.as_bytes());
        }
        rest.push(0);
        authentication(10, &rest)
    }

    /// AuthenticationSASLContinue carrying `data` (the SCRAM server-first message).
    pub fn auth_sasl_continue(data: &[u8]) -> Vec<u8> {
        authentication(11, data)
    }

    /// AuthenticationSASLFinal carrying `data` (the SCRAM server-final message).
    pub fn auth_sasl_final(data: &[u8]) -> Vec<u8> {
        authentication(12, data)
    }

    /// ParameterStatus; the value is raw bytes so that it can be invalid UTF-8.
    pub fn parameter_status(name: &str, value: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        cstr(&mut body, name.as_bytes());
        cstr(&mut body, value);
        message(b'S', &body)
    }

    /// BackendKeyData with a protocol 3.0 (4-byte) secret.
    pub fn backend_key_data(process_id: i32, secret: [u8; 4]) -> Vec<u8> {
        let mut body = process_id.to_be_bytes().to_vec();
        body.extend_from_slice(&secret);
        message(b'K', &body)
    }

    /// ReadyForQuery with the status byte given (`I`, `T`, `E`, or anything).
    pub fn ready(status: u8) -> Vec<u8> {
        message(b'Z', &[status])
    }

    /// What a server sends once authentication succeeded: AuthenticationOk, `client_encoding`,
    /// `server_version`, BackendKeyData and ReadyForQuery (idle).
    pub fn session_start(process_id: i32, secret: [u8; 4]) -> Vec<u8> {
        let mut out = auth_ok();
        out.extend(after_auth(process_id, secret));
        out
    }

    /// [`session_start`] without its AuthenticationOk.
    pub fn after_auth(process_id: i32, secret: [u8; 4]) -> Vec<u8> {
        let mut out = parameter_status("client_encoding", b"UTF8");
        out.extend(parameter_status("server_version", b"16.0 (fake)"));
        out.extend(backend_key_data(process_id, secret));
        out.extend(ready(b'I'));
        out
    }

    /// RowDescription of text-format columns: name and type OID each.
    pub fn row_description(columns: &[(&str, u32)]) -> Vec<u8> {
        let count = u16::try_from(columns.len()).expect("too many columns");
        let mut body = count.to_be_bytes().to_vec();
        for (name, oid) in columns {
            cstr(&mut body, name.as_bytes());
            body.extend_from_slice(&0u32.to_be_bytes()); // table OID
            body.extend_from_slice(&0i16.to_be_bytes()); // column number
            body.extend_from_slice(&oid.to_be_bytes());
            body.extend_from_slice(&(-1i16).to_be_bytes()); // type size
            body.extend_from_slice(&(-1i32).to_be_bytes()); // type modifier
            body.extend_from_slice(&0i16.to_be_bytes()); // format: text
        }
        message(b'T', &body)
    }

    /// A DataRow: `None` is NULL.
    pub fn data_row(fields: &[Option<&[u8]>]) -> Vec<u8> {
        let count = u16::try_from(fields.len()).expect("too many fields");
        let mut body = count.to_be_bytes().to_vec();
        for field in fields {
            match field {
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(value) => {
                    let len = i32::try_from(value.len()).expect("field too large");
                    body.extend_from_slice(&len.to_be_bytes());
                    body.extend_from_slice(value);
                }
            }
        }
        message(b'D', &body)
    }

    /// CommandComplete with `tag` (`SELECT 3`).
    pub fn command_complete(tag: &str) -> Vec<u8> {
        let mut body = Vec::new();
        cstr(&mut body, tag.as_bytes());
        message(b'C', &body)
    }

    /// The fields of an ErrorResponse or NoticeResponse, with the final terminator.
    pub fn fields(fields: &[(u8, &str)]) -> Vec<u8> {
        let mut body = Vec::new();
        for (code, value) in fields {
            body.push(*code);
            cstr(&mut body, value.as_bytes());
        }
        body.push(0);
        body
    }

    /// An ErrorResponse.
    pub fn error_response(fields: &[(u8, &str)]) -> Vec<u8> {
        message(b'E', &self::fields(fields))
    }

    /// A NoticeResponse.
    pub fn notice_response(fields: &[(u8, &str)]) -> Vec<u8> {
        message(b'N', &self::fields(fields))
    }

    /// A NotificationResponse.
    pub fn notification(process_id: i32, channel: &str, payload: &str) -> Vec<u8> {
        let mut body = process_id.to_be_bytes().to_vec();
        cstr(&mut body, channel.as_bytes());
        cstr(&mut body, payload.as_bytes());
        message(b'A', &body)
    }

    /// ParseComplete.
    pub fn parse_complete() -> Vec<u8> {
        message(b'1', &[])
    }

    /// BindComplete.
    pub fn bind_complete() -> Vec<u8> {
        message(b'2', &[])
    }

    /// ParameterDescription of the given type OIDs.
    pub fn parameter_description(oids: &[u32]) -> Vec<u8> {
        let count = u16::try_from(oids.len()).expect("too many parameters");
        let mut body = count.to_be_bytes().to_vec();
        for oid in oids {
            body.extend_from_slice(&oid.to_be_bytes());
        }
        message(b't', &body)
    }
}
