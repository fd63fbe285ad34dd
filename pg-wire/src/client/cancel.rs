//! Cancelling the query a connection is running: a CancelRequest on a new socket to the same
//! server, carrying the session's process id and secret key (4 bytes in protocol 3.0, up to 256
//! in 3.2).

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncReadExt;

use crate::config::Target;
use crate::error::Error;
use crate::net;
use crate::proto::backend::BackendKeyData;
use crate::proto::frontend;

/// Cancels the query running on a connection; cheap to clone and usable from any task.
///
/// A cancel is a request, not a guarantee: if the query finishes first, nothing happens. The
/// cancelled query fails with SQLSTATE 57014 (`query_canceled`).
///
/// ```no_run
/// # async fn demo(client: &pg_wire::Client) -> Result<(), pg_wire::Error> {
/// let token = client.cancel_token();
/// tokio::spawn(async move {
///     tokio::time::sleep(std::time::Duration::from_millis(100)).await;
///     let _ = token.cancel().await;
/// });
/// let err = client.batch_execute("SELECT pg_sleep(10)").await.unwrap_err();
/// assert_eq!(err.code(), Some(&pg_wire::SqlState::QUERY_CANCELED));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct CancelToken {
    target: Target,
    key: Option<BackendKeyData>,
    /// Bounds connecting for the cancel request and waiting for the server to close it.
    connect_timeout: Option<Duration>,
}

/// How long [`CancelToken::cancel`] waits for the server to close the cancel connection when no
/// `connect_timeout` is set.
const DEFAULT_CANCEL_WAIT: Duration = Duration::from_secs(10);

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("target", &self.target)
            .field("process_id", &self.key.as_ref().map(|k| k.process_id))
            .finish_non_exhaustive()
    }
}

impl CancelToken {
    pub(crate) fn new(
        target: Target,
        key: Option<BackendKeyData>,
        connect_timeout: Option<Duration>,
    ) -> CancelToken {
        CancelToken {
            target,
            key,
            connect_timeout,
        }
    }

    /// Sends the cancel request and waits until the server has taken it (it closes the socket
    /// once the signal is on its way to the session). Connecting is bounded by the client's
    /// `connect_timeout` (a timeout error); the wait for the server to close by the same limit,
    /// or 10 seconds without one, after which the request counts as sent.
    pub async fn cancel(&self) -> Result<(), Error> {
        let Some(key) = &self.key else {
            return Err(Error::usage(
                "the server sent no cancellation key for this connection",
            ));
        };
        let mut message = BytesMut::new();
        frontend::cancel_request(&mut message, key.process_id, &key.secret_key)
            .map_err(Error::encode)?;
        let connecting = net::connect(&self.target);
        let (mut read_half, mut write_half) = match self.connect_timeout {
            None => connecting.await?,
            Some(limit) => tokio::time::timeout(limit, connecting).await.map_err(|_| {
                Error::timeout(format!(
                    "could not connect to send the cancel request within connect_timeout ({limit:?})"
                ))
            })??,
        };
        while !message.is_empty() {
            let n = write_half
                .write_buf(&mut message)
                .await
                .map_err(|e| Error::io("could not send the cancel request", e))?;
            if n == 0 {
                return Err(Error::io(
                    "could not send the cancel request",
                    io::Error::new(io::ErrorKind::WriteZero, "the socket accepted no bytes"),
                ));
            }
        }
        // The server answers nothing and closes the connection after signalling the session;
        // waiting for that makes the cancel take effect before this returns. A server that
        // keeps it open is given up on after the wait: the request was delivered.
        let mut sink = [0u8; 64];
        let closed = async {
            loop {
                match read_half.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        let wait = self.connect_timeout.unwrap_or(DEFAULT_CANCEL_WAIT);
        let _ = tokio::time::timeout(wait, closed).await;
        Ok(())
    }
}
