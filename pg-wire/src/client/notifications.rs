//! LISTEN notifications as an async stream.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::connection::Connection;
use crate::proto::backend::Notification;

/// The notifications of a connection, in the order the server sent them.
///
/// Notifications that arrive during a query are collected by that query's reader; while the
/// connection is idle, polling this stream reads the socket itself, so they arrive without any
/// query running. The stream ends when the connection closes. It implements
/// [`futures_core::Stream`]; without a stream library, use [`Notifications::next`].
///
/// ```no_run
/// # async fn demo(client: &pg_wire::Client) -> Result<(), pg_wire::Error> {
/// client.listen("jobs").await?;
/// let mut notifications = client.notifications();
/// while let Some(n) = notifications.next().await {
///     println!("{} from {}: {}", n.channel, n.process_id, n.payload);
/// }
/// # Ok(()) }
/// ```
pub struct Notifications<'c> {
    conn: &'c Connection,
}

impl std::fmt::Debug for Notifications<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifications").finish_non_exhaustive()
    }
}

impl<'c> Notifications<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Notifications<'c> {
        Notifications { conn }
    }

    /// The next notification; `None` once the connection is closed.
    pub async fn next(&mut self) -> Option<Notification> {
        std::future::poll_fn(|cx| self.conn.poll_notification(cx)).await
    }
}

impl Stream for Notifications<'_> {
    type Item = Notification;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Notification>> {
        self.conn.poll_notification(cx)
    }
}
