//! The transports: Unix-domain sockets and TCP, behind one pair of read and write halves that a TLS
//! transport can join later.
//!
//! A host starting with `/` is a socket directory: the socket is `<dir>/.s.PGSQL.<port>`, as libpq
//! names it. Each half is owned separately so a request can write while another reads.

use std::io;
use std::net::{IpAddr, SocketAddr};

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream, tcp, unix};

use crate::config::{Host, Target};
use crate::error::Error;

/// The reading half of a connection's socket.
#[derive(Debug)]
pub(crate) enum ReadHalf {
    Tcp(tcp::OwnedReadHalf),
    Unix(unix::OwnedReadHalf),
}

/// The writing half of a connection's socket.
#[derive(Debug)]
pub(crate) enum WriteHalf {
    Tcp(tcp::OwnedWriteHalf),
    Unix(unix::OwnedWriteHalf),
}

impl AsyncRead for ReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadHalf::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            ReadHalf::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl ReadHalf {
    /// Reads what the socket holds right now, without waiting and without consulting tokio's
    /// cached readiness (which a short read clears): `WouldBlock` when nothing is there.
    ///
    /// After a request is written to a server on the same machine, its answer is often already
    /// there; reading it at once saves the wait on the event loop that the readiness would cost.
    pub(crate) fn read_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::Read;
        let socket = match self {
            ReadHalf::Tcp(s) => socket2::SockRef::from(s.as_ref()),
            ReadHalf::Unix(s) => socket2::SockRef::from(s.as_ref()),
        };
        (&*socket).read(buf)
    }
}

impl tokio::io::AsyncWrite for WriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteHalf::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            WriteHalf::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(s) => Pin::new(s).poll_flush(cx),
            WriteHalf::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteHalf::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            WriteHalf::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

impl WriteHalf {
    /// Writes from the front of `buf`, advancing it by what was written. Cancel safe: bytes not
    /// yet written stay in `buf`.
    pub(crate) async fn write_buf(&mut self, buf: &mut bytes::BytesMut) -> io::Result<usize> {
        match self {
            WriteHalf::Tcp(s) => s.write_buf(buf).await,
            WriteHalf::Unix(s) => s.write_buf(buf).await,
        }
    }

    /// Writes what the socket takes right now without waiting; for `Drop`, which cannot await.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            WriteHalf::Tcp(s) => s.try_write(buf),
            WriteHalf::Unix(s) => s.try_write(buf),
        }
    }

    /// Shuts the write direction down, telling the server no more data comes.
    pub(crate) async fn shutdown(&mut self) -> io::Result<()> {
        match self {
            WriteHalf::Tcp(s) => s.shutdown().await,
            WriteHalf::Unix(s) => s.shutdown().await,
        }
    }
}

/// Opens a socket to `target`; errors name the socket path or host and port.
pub(crate) async fn connect(target: &Target) -> Result<(ReadHalf, WriteHalf), Error> {
    match &target.host {
        Host::Unix(_) => {
            let path = target.socket_path().unwrap_or_default();
            let stream = UnixStream::connect(&path).await.map_err(|e| {
                Error::io(
                    format!(
                        "could not connect to server on socket \"{}\"",
                        path.display()
                    ),
                    e,
                )
            })?;
            let (read, write) = stream.into_split();
            Ok((ReadHalf::Unix(read), WriteHalf::Unix(write)))
        }
        Host::Tcp(host) => {
            let stream = match target.hostaddr {
                Some(addr) => connect_addr(SocketAddr::new(addr, target.port), host).await?,
                None => connect_host(host, target.port).await?,
            };
            // Requests are small and latency-bound: do not let Nagle hold them back.
            stream
                .set_nodelay(true)
                .map_err(|e| Error::io(format!("could not configure the socket to {host}"), e))?;
            let (read, write) = stream.into_split();
            Ok((ReadHalf::Tcp(read), WriteHalf::Tcp(write)))
        }
    }
}

async fn connect_addr(addr: SocketAddr, host: &str) -> Result<TcpStream, Error> {
    TcpStream::connect(addr).await.map_err(|e| {
        Error::io(
            format!("could not connect to server at \"{host}\" ({addr})"),
            e,
        )
    })
}

/// Resolves `host` and tries each address in turn, as libpq does.
async fn connect_host(host: &str, port: u16) -> Result<TcpStream, Error> {
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| Error::io(format!("could not resolve host name \"{host}\""), e))?
            .collect(),
    };
    let mut last = None;
    for addr in addrs {
        match connect_addr(addr, host).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::io(
            format!("could not resolve host name \"{host}\""),
            io::Error::new(io::ErrorKind::NotFound, "no addresses found"),
        )
    }))
}
