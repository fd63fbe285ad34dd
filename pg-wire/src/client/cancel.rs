//! Cancelling the query a connection is running: a CancelRequest on a new socket to the same
//! server, carrying the session's process id and secret key (4 bytes in protocol 3.0, up to 256
//! in 3.2).

use std::io;

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
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("target", &self.target)
            .field("process_id", &self.key.as_ref().map(|k| k.process_id))
            .finish_non_exhaustive()
    }
}

impl CancelToken {
    pub(crate) fn new(target: Target, key: Option<BackendKeyData>) -> CancelToken {
        CancelToken { target, key }
    }

    /// Sends the cancel request and waits until the server has taken it (it closes the socket
    /// once the signal is on its way to the session).
    pub async fn cancel(&self) -> Result<(), Error> {
        let Some(key) = &self.key else {
            return Err(Error::usage(
                "the server sent no cancellation key for this connection",
            ));
        };
        let mut message = BytesMut::new();
        frontend::cancel_request(&mut message, key.process_id, &key.secret_key)
            .map_err(Error::encode)?;
        let (mut read_half, mut write_half) = net::connect(&self.target).await?;
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
        // waiting for that makes the cancel take effect before this returns.
        let mut sink = [0u8; 64];
        loop {
            match read_half.read(&mut sink).await {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => {}
            }
        }
    }
}
