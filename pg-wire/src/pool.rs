//! A bounded pool of connections, for servers and for the ORM's engine.
//!
//! [`Pool`] hands out at most `max_size` connections at a time. A checkout ([`Pool::get`]) waits
//! in line (first come, first served) for a free slot, up to an optional checkout timeout, then
//! reuses an idle connection or opens a new one: connections are opened lazily, as SQLAlchemy's
//! engine does, and [`Pool::new`] opens none.
//!
//! A [`PooledClient`] dereferences to [`Client`] and goes back to the pool when dropped. Dropping
//! it never blocks and spawns nothing; the pool sorts the connection when it comes back:
//!
//! - a closed connection (the server went away, an I/O error, a protocol violation) is discarded;
//! - a connection past its maximum lifetime is closed;
//! - a connection left inside a transaction (open or failed), or with requests whose futures were
//!   dropped before their responses were read, is marked *dirty*. The next checkout that takes it
//!   first reads what is left of those responses, then sends `ROLLBACK` if the transaction status
//!   is not idle, and discards the connection if either fails. Dirty connections are taken before
//!   clean ones, so a forgotten transaction holds its locks only until the next checkout.
//!   `DISCARD ALL` is not sent: prepared statements survive, and so does session state set with
//!   `SET` (reset it yourself, or [`PooledClient::detach`] a connection whose session you changed).
//!
//! There is no background task: idle and lifetime limits are enforced whenever a connection is
//! checked out or returned.
//!
//! ```no_run
//! use std::time::Duration;
//! use pg_wire::{Pool, PoolOptions};
//!
//! # async fn demo() -> Result<(), pg_wire::Error> {
//! let config: pg_wire::Config = "host=/var/run/postgresql user=app dbname=app".parse()?;
//! let pool = Pool::new(
//!     config,
//!     PoolOptions::new()
//!         .max_size(4)
//!         .checkout_timeout(Duration::from_secs(5)),
//! );
//! let client = pool.get().await?;
//! let row = client.query_one("SELECT 1 + 1", &[]).await?;
//! assert_eq!(row.get::<_, i32>(0), 2);
//! drop(client); // back to the pool
//! pool.close().await;
//! # Ok(()) }
//! ```

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::{Client, Config, Error, TransactionStatus};

/// The settings of a [`Pool`], built in the builder style.
///
/// | setting | default |
/// |---|---|
/// | [`max_size`](PoolOptions::max_size) | 10 |
/// | [`checkout_timeout`](PoolOptions::checkout_timeout) | 30 s |
/// | [`max_lifetime`](PoolOptions::max_lifetime) | 30 min |
/// | [`idle_timeout`](PoolOptions::idle_timeout) | none |
/// | [`test_on_checkout`](PoolOptions::test_on_checkout) | on |
/// | [`test_after_idle`](PoolOptions::test_after_idle) | 5 s |
///
/// ```
/// use std::time::Duration;
/// use pg_wire::PoolOptions;
///
/// let options = PoolOptions::new()
///     .max_size(4)
///     .checkout_timeout(Duration::from_secs(2))
///     .idle_timeout(Duration::from_secs(600))
///     .max_lifetime(None);
/// assert_eq!(options.get_max_size(), 4);
/// assert_eq!(options.get_max_lifetime(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    max_size: usize,
    checkout_timeout: Option<Duration>,
    max_lifetime: Option<Duration>,
    idle_timeout: Option<Duration>,
    test_on_checkout: bool,
    test_after_idle: Duration,
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions::new()
    }
}

impl PoolOptions {
    /// The default settings (see the table on [`PoolOptions`]).
    ///
    /// ```
    /// let options = pg_wire::PoolOptions::new();
    /// assert_eq!(options.get_max_size(), 10);
    /// ```
    pub fn new() -> PoolOptions {
        PoolOptions {
            max_size: 10,
            checkout_timeout: Some(Duration::from_secs(30)),
            max_lifetime: Some(Duration::from_secs(30 * 60)),
            idle_timeout: None,
            test_on_checkout: true,
            test_after_idle: Duration::from_secs(5),
        }
    }

    /// The most connections open at once, checked out or idle. At least 1 (0 counts as 1).
    ///
    /// ```
    /// let options = pg_wire::PoolOptions::new().max_size(0);
    /// assert_eq!(options.get_max_size(), 1);
    /// ```
    pub fn max_size(mut self, max_size: usize) -> PoolOptions {
        self.max_size = max_size.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// How long [`Pool::get`] may take in all: waiting for a free slot, then opening or checking
    /// a connection. `None` waits as long as it takes. Running out of time is an error of kind
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = pg_wire::PoolOptions::new().checkout_timeout(Duration::from_millis(500));
    /// assert_eq!(options.get_checkout_timeout(), Some(Duration::from_millis(500)));
    /// ```
    pub fn checkout_timeout(mut self, timeout: impl Into<Option<Duration>>) -> PoolOptions {
        self.checkout_timeout = timeout.into();
        self
    }

    /// How long a connection lives, from the moment it was opened. An older connection is closed
    /// when it comes back to the pool or is found idle, never while checked out. `None` keeps
    /// connections forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = pg_wire::PoolOptions::new().max_lifetime(Duration::from_secs(3600));
    /// assert_eq!(options.get_max_lifetime(), Some(Duration::from_secs(3600)));
    /// ```
    pub fn max_lifetime(mut self, lifetime: impl Into<Option<Duration>>) -> PoolOptions {
        self.max_lifetime = lifetime.into();
        self
    }

    /// How long a connection may sit idle in the pool before it is closed. `None` keeps idle
    /// connections.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = pg_wire::PoolOptions::new().idle_timeout(Duration::from_secs(600));
    /// assert_eq!(options.get_idle_timeout(), Some(Duration::from_secs(600)));
    /// ```
    pub fn idle_timeout(mut self, timeout: impl Into<Option<Duration>>) -> PoolOptions {
        self.idle_timeout = timeout.into();
        self
    }

    /// Whether a connection that sat idle for [`test_after_idle`](PoolOptions::test_after_idle)
    /// or longer is tested with one round trip (an empty query) before it is handed out; one that
    /// fails the test is discarded and the checkout goes on with another. A connection that
    /// was used moments ago is not tested: that costs nothing on a busy pool and still catches
    /// connections a server restart, `idle_session_timeout` or a firewall cut while they sat idle.
    ///
    /// ```
    /// let options = pg_wire::PoolOptions::new().test_on_checkout(false);
    /// assert!(!options.get_test_on_checkout());
    /// ```
    pub fn test_on_checkout(mut self, test: bool) -> PoolOptions {
        self.test_on_checkout = test;
        self
    }

    /// How long a connection must have been idle to be tested on checkout (when
    /// [`test_on_checkout`](PoolOptions::test_on_checkout) is on). `Duration::ZERO` tests every
    /// checkout of an idle connection.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = pg_wire::PoolOptions::new().test_after_idle(Duration::ZERO);
    /// assert_eq!(options.get_test_after_idle(), Duration::ZERO);
    /// ```
    pub fn test_after_idle(mut self, idle: Duration) -> PoolOptions {
        self.test_after_idle = idle;
        self
    }

    /// The most connections open at once.
    ///
    /// ```
    /// assert_eq!(pg_wire::PoolOptions::new().get_max_size(), 10);
    /// ```
    pub fn get_max_size(&self) -> usize {
        self.max_size
    }

    /// The checkout timeout, if any.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = pg_wire::PoolOptions::new();
    /// assert_eq!(options.get_checkout_timeout(), Some(Duration::from_secs(30)));
    /// ```
    pub fn get_checkout_timeout(&self) -> Option<Duration> {
        self.checkout_timeout
    }

    /// The maximum lifetime of a connection, if any.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = pg_wire::PoolOptions::new();
    /// assert_eq!(options.get_max_lifetime(), Some(Duration::from_secs(1800)));
    /// ```
    pub fn get_max_lifetime(&self) -> Option<Duration> {
        self.max_lifetime
    }

    /// The idle timeout, if any.
    ///
    /// ```
    /// assert_eq!(pg_wire::PoolOptions::new().get_idle_timeout(), None);
    /// ```
    pub fn get_idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// Whether long-idle connections are tested on checkout.
    ///
    /// ```
    /// assert!(pg_wire::PoolOptions::new().get_test_on_checkout());
    /// ```
    pub fn get_test_on_checkout(&self) -> bool {
        self.test_on_checkout
    }

    /// How long a connection must have been idle to be tested on checkout.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert_eq!(pg_wire::PoolOptions::new().get_test_after_idle(), Duration::from_secs(5));
    /// ```
    pub fn get_test_after_idle(&self) -> Duration {
        self.test_after_idle
    }
}

/// A snapshot of a pool's connections, from [`Pool::status`].
///
/// ```no_run
/// # fn demo(pool: &pg_wire::Pool) {
/// let status = pool.status();
/// assert_eq!(status.size, status.idle + status.in_use);
/// assert!(status.size <= status.max_size);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStatus {
    /// Open connections that belong to the pool: idle, checked out, or being checked on their
    /// way out. A connection being opened counts once it is open.
    pub size: usize,
    /// Connections waiting in the pool.
    pub idle: usize,
    /// Connections checked out (`size - idle`).
    pub in_use: usize,
    /// The most connections the pool opens at once.
    pub max_size: usize,
}

/// A bounded, lazily filled pool of connections to one server. Cloning is cheap and gives
/// another handle to the same pool; the pool is `Send` and `Sync`.
///
/// ```no_run
/// use pg_wire::{Pool, PoolOptions};
///
/// # async fn demo() -> Result<(), pg_wire::Error> {
/// let pool = Pool::new("host=/var/run/postgresql dbname=app".parse()?, PoolOptions::new());
/// let mut tasks = Vec::new();
/// for i in 0..100i32 {
///     let pool = pool.clone();
///     tasks.push(tokio::spawn(async move {
///         let client = pool.get().await?;
///         client.execute("INSERT INTO events (n) VALUES ($1)", &[&i]).await
///     }));
/// }
/// for task in tasks {
///     task.await.expect("the task panicked")?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

/// What every handle of a pool shares.
struct Shared {
    config: Config,
    options: PoolOptions,
    /// One permit per connection that may be checked out. tokio's semaphore serves waiters in
    /// the order they arrived, which makes checkout fair.
    permits: Arc<Semaphore>,
    /// Held only for bookkeeping, never across an `.await`.
    state: Mutex<State>,
}

struct State {
    /// Idle connections, most recently returned last.
    idle: Vec<Idle>,
    /// Open connections that belong to the pool: idle, checked out, or being checked.
    open: usize,
    closed: bool,
}

/// An open connection and its birth date.
struct Conn {
    client: Client,
    opened: Instant,
}

/// A connection waiting in the pool.
struct Idle {
    conn: Conn,
    since: Instant,
    /// Left in a transaction or with unread responses: reset before it is handed out again.
    dirty: bool,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("config", &self.shared.config)
            .field("options", &self.shared.options)
            .field("status", &self.status())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Pool {
    /// A pool for the server `config` points to. Nothing is opened yet: connections are opened
    /// by checkouts that find no idle connection, so a wrong setting shows up at the first
    /// [`Pool::get`].
    ///
    /// ```no_run
    /// use pg_wire::{Pool, PoolOptions};
    ///
    /// # fn demo() -> Result<(), pg_wire::Error> {
    /// let config = "postgresql://app@db.example.com/app?application_name=api".parse()?;
    /// let pool = Pool::new(config, PoolOptions::new().max_size(20));
    /// assert_eq!(pool.status().size, 0);
    /// # Ok(()) }
    /// ```
    pub fn new(config: Config, options: PoolOptions) -> Pool {
        Pool {
            shared: Arc::new(Shared {
                permits: Arc::new(Semaphore::new(options.max_size)),
                config,
                options,
                state: Mutex::new(State {
                    idle: Vec::new(),
                    open: 0,
                    closed: false,
                }),
            }),
        }
    }

    /// Checks out a connection: waits in line for a free slot, then takes an idle connection
    /// (the most recently returned one, or one that needs a reset) or opens a new one.
    ///
    /// An idle connection is first checked: one past its lifetime or idle timeout is closed;
    /// one that came back dirty is reset (its leftover responses read, then `ROLLBACK` if it is
    /// still in a transaction); one idle for long is tested (see
    /// [`PoolOptions::test_on_checkout`]). A connection that fails is discarded and the checkout
    /// goes on with the next, or opens a new one.
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) when the checkout timeout runs out:
    ///   all connections stayed in use, or opening or resetting one took too long;
    /// - [`ErrorKind::Closed`](crate::ErrorKind::Closed) when the pool is closed, also while
    ///   waiting;
    /// - the error of [`Client::connect`] when a new connection cannot be opened.
    ///
    /// ```no_run
    /// # async fn demo(pool: pg_wire::Pool) -> Result<(), pg_wire::Error> {
    /// let client = pool.get().await?;
    /// client.batch_execute("UPDATE counters SET n = n + 1").await?;
    /// # Ok(()) }
    /// ```
    pub async fn get(&self) -> Result<PooledClient, Error> {
        let started = Instant::now();
        // A timeout too large to add to the clock is no timeout.
        let deadline = self
            .shared
            .options
            .checkout_timeout
            .and_then(|timeout| started.checked_add(timeout).map(|at| (at, timeout)));
        let permit = match deadline {
            None => self.acquire().await?,
            Some((at, timeout)) => match tokio::time::timeout_at(at, self.acquire()).await {
                Ok(permit) => permit?,
                Err(_) => {
                    return Err(Error::timeout(format!(
                        "the connection pool was exhausted for {} s (max_size = {}, all checked out)",
                        timeout.as_secs_f64(),
                        self.shared.options.max_size
                    )));
                }
            },
        };
        match deadline {
            None => self.checkout(permit).await,
            Some((at, timeout)) => match tokio::time::timeout_at(at, self.checkout(permit)).await {
                Ok(result) => result,
                Err(_) => Err(Error::timeout(format!(
                    "checking out a connection took longer than {} s: opening or resetting it did not finish in time",
                    timeout.as_secs_f64()
                ))),
            },
        }
    }

    /// Waits for a free slot.
    async fn acquire(&self) -> Result<OwnedSemaphorePermit, Error> {
        if self.is_closed() {
            return Err(Error::pool_closed());
        }
        Arc::clone(&self.shared.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::pool_closed())
    }

    /// With a slot held: an idle connection that passes its checks, else a new one.
    async fn checkout(&self, permit: OwnedSemaphorePermit) -> Result<PooledClient, Error> {
        loop {
            let Some(idle) = self.shared.take_idle()? else {
                break;
            };
            let test = idle.dirty
                || (self.shared.options.test_on_checkout
                    && idle.since.elapsed() >= self.shared.options.test_after_idle);
            // Discards the connection if the check fails or this future is dropped during it.
            let candidate = Candidate {
                shared: &self.shared,
                conn: Some(idle.conn),
            };
            // What the server sent while the connection sat idle (a FATAL error and the end of
            // the stream of a terminated backend) is read without waiting: a dead connection is
            // discarded without a round trip.
            if let Some(conn) = &candidate.conn {
                conn.client.connection().read_idle_input();
                if conn.client.is_closed() {
                    continue;
                }
            }
            if test {
                let Some(conn) = &candidate.conn else {
                    continue;
                };
                if check(&conn.client).await.is_err() {
                    continue;
                }
            }
            if let Some(conn) = candidate.keep() {
                return Ok(PooledClient::new(Arc::clone(&self.shared), conn, permit));
            }
        }

        // No lock is held while connecting: other checkouts and returns go on meanwhile.
        let client = Client::connect(&self.shared.config).await?;
        let conn = Conn {
            client,
            opened: Instant::now(),
        };
        {
            let mut state = self.shared.lock();
            if state.closed {
                drop(state);
                drop(conn);
                return Err(Error::pool_closed());
            }
            state.open += 1;
        }
        Ok(PooledClient::new(Arc::clone(&self.shared), conn, permit))
    }

    /// How many connections are open, idle and checked out.
    ///
    /// ```no_run
    /// # async fn demo(pool: pg_wire::Pool) -> Result<(), pg_wire::Error> {
    /// let client = pool.get().await?;
    /// let status = pool.status();
    /// assert!(status.in_use >= 1);
    /// # drop(client);
    /// # Ok(()) }
    /// ```
    pub fn status(&self) -> PoolStatus {
        let state = self.shared.lock();
        let idle = state.idle.len();
        PoolStatus {
            size: state.open,
            idle,
            in_use: state.open.saturating_sub(idle),
            max_size: self.shared.options.max_size,
        }
    }

    /// Closes the pool: idle connections are closed (Terminate is sent), checkouts waiting in
    /// line and all later ones fail with an error of kind
    /// [`ErrorKind::Closed`](crate::ErrorKind::Closed). Connections checked out stay usable and
    /// are closed when they come back.
    ///
    /// ```no_run
    /// # async fn demo(pool: pg_wire::Pool) {
    /// pool.close().await;
    /// assert!(pool.is_closed());
    /// assert!(pool.get().await.unwrap_err().is_closed());
    /// # }
    /// ```
    pub async fn close(&self) {
        let idle = {
            let mut state = self.shared.lock();
            state.closed = true;
            let idle = std::mem::take(&mut state.idle);
            state.open = state.open.saturating_sub(idle.len());
            idle
        };
        self.shared.permits.close();
        for idle in idle {
            // The pool is going away: a connection that cannot say goodbye is closed anyway.
            let _ = idle.conn.client.close().await;
        }
    }

    /// Whether [`Pool::close`] was called.
    ///
    /// ```no_run
    /// # fn demo(pool: pg_wire::Pool) {
    /// assert!(!pool.is_closed());
    /// # }
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }

    /// The settings the pool connects with.
    ///
    /// ```no_run
    /// # fn demo(pool: pg_wire::Pool) {
    /// println!("{:?}", pool.config().get_dbname());
    /// # }
    /// ```
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The pool's settings.
    ///
    /// ```no_run
    /// # fn demo(pool: pg_wire::Pool) {
    /// assert!(pool.options().get_max_size() >= 1);
    /// # }
    /// ```
    pub fn options(&self) -> &PoolOptions {
        &self.shared.options
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The bookkeeping stays consistent at every step (no panic can happen half way through
        // an update), so a poisoned lock is used as it is.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn past_lifetime(&self, conn: &Conn, now: Instant) -> bool {
        self.options
            .max_lifetime
            .is_some_and(|lifetime| now.saturating_duration_since(conn.opened) >= lifetime)
    }

    fn expired(&self, idle: &Idle, now: Instant) -> bool {
        self.past_lifetime(&idle.conn, now)
            || self
                .options
                .idle_timeout
                .is_some_and(|timeout| now.saturating_duration_since(idle.since) >= timeout)
            || idle.conn.client.is_closed()
    }

    /// Removes expired idle connections from `state`; the caller drops them after unlocking.
    fn prune(&self, state: &mut State, now: Instant) -> Vec<Idle> {
        if !state.idle.iter().any(|idle| self.expired(idle, now)) {
            return Vec::new();
        }
        let (expired, keep): (Vec<Idle>, Vec<Idle>) = std::mem::take(&mut state.idle)
            .into_iter()
            .partition(|idle| self.expired(idle, now));
        state.idle = keep;
        state.open = state.open.saturating_sub(expired.len());
        expired
    }

    /// The idle connection to hand out next, after closing expired ones: a dirty one first (so
    /// that a transaction left open does not keep its locks while clean connections are used),
    /// else the most recently returned one.
    ///
    /// Last in, first out keeps the busy set of connections small and warm (their caches, the
    /// server's catalog caches), and lets the connections a burst opened sit idle long enough
    /// for the idle timeout to close them; first in, first out would rotate through all of them
    /// and keep every one alive. The most recently used connection is also the one most likely
    /// to still be alive.
    fn take_idle(&self) -> Result<Option<Idle>, Error> {
        let (taken, expired) = {
            let mut state = self.lock();
            if state.closed {
                return Err(Error::pool_closed());
            }
            let expired = self.prune(&mut state, Instant::now());
            let taken = match state.idle.iter().position(|idle| idle.dirty) {
                Some(index) => Some(state.idle.remove(index)),
                None => state.idle.pop(),
            };
            (taken, expired)
        };
        // Closing (Terminate without waiting) happens outside the lock.
        drop(expired);
        Ok(taken)
    }

    /// Takes a connection back from a [`PooledClient`]. Never blocks.
    fn check_in(&self, conn: Conn) {
        let now = Instant::now();
        let keep = !conn.client.is_closed() && !self.past_lifetime(&conn, now);
        let dirty = conn.client.has_pending_requests()
            || conn.client.transaction_status() != TransactionStatus::Idle;
        let (discarded, expired) = {
            let mut state = self.lock();
            let discarded = if keep && !state.closed {
                state.idle.push(Idle {
                    conn,
                    since: now,
                    dirty,
                });
                None
            } else {
                state.open = state.open.saturating_sub(1);
                Some(conn)
            };
            (discarded, self.prune(&mut state, now))
        };
        drop(discarded);
        drop(expired);
    }

    /// Forgets a connection that leaves the pool for good.
    fn forget_one(&self) {
        let mut state = self.lock();
        state.open = state.open.saturating_sub(1);
    }
}

/// An idle connection being checked on its way out; dropped without [`Candidate::keep`], it is
/// discarded (closed, and no longer counted).
struct Candidate<'p> {
    shared: &'p Shared,
    conn: Option<Conn>,
}

impl Candidate<'_> {
    fn keep(mut self) -> Option<Conn> {
        self.conn.take()
    }
}

impl Drop for Candidate<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.shared.forget_one();
            drop(conn);
        }
    }
}

/// Makes an idle connection fit to hand out: reads what dropped requests left, proves the
/// connection alive with a round trip, and rolls back a transaction left open or failed.
async fn check(client: &Client) -> Result<(), Error> {
    if client.is_closed() {
        return Err(Error::closed(None));
    }
    let in_transaction = client.transaction_status() != TransactionStatus::Idle;
    if client.has_pending_requests() || !in_transaction {
        // A Sync round trip drains the responses of dropped requests first, and its
        // ReadyForQuery brings the transaction status up to date.
        client.ping().await?;
    }
    if client.transaction_status() != TransactionStatus::Idle {
        client.batch_execute("ROLLBACK").await?;
        if client.transaction_status() != TransactionStatus::Idle {
            return Err(Error::usage(
                "ROLLBACK left the connection in a transaction",
            ));
        }
    }
    Ok(())
}

/// A connection checked out of a [`Pool`]. It dereferences to [`Client`], and goes back to the
/// pool when dropped (see the [module documentation](crate::pool) for what happens then).
///
/// ```no_run
/// # async fn demo(pool: pg_wire::Pool) -> Result<(), pg_wire::Error> {
/// let client = pool.get().await?;
/// for row in client.query("SELECT id FROM users", &[]).await? {
///     let id: i32 = row.get(0);
///     println!("{id}");
/// }
/// // Dropped here: back to the pool.
/// # Ok(()) }
/// ```
pub struct PooledClient {
    // Invariant: `Some` from construction until `Drop::drop` or `detach`, which both consume the
    // guard, so no `&self` or `&mut self` method ever sees `None`.
    conn: Option<Conn>,
    shared: Arc<Shared>,
    // Released after `drop` has put the connection back (fields drop after `Drop::drop`), so a
    // waiter woken by the permit finds the connection idle.
    _permit: OwnedSemaphorePermit,
}

impl PooledClient {
    fn new(shared: Arc<Shared>, conn: Conn, permit: OwnedSemaphorePermit) -> PooledClient {
        PooledClient {
            conn: Some(conn),
            shared,
            _permit: permit,
        }
    }

    /// Takes the connection out of the pool for good: the pool forgets it and its slot is free
    /// for another connection. Useful for a session whose state was changed (`SET ROLE`, temporary
    /// tables) or that `LISTEN`s.
    ///
    /// ```no_run
    /// # async fn demo(pool: pg_wire::Pool) -> Result<(), pg_wire::Error> {
    /// let client: pg_wire::Client = pool.get().await?.detach();
    /// client.batch_execute("LISTEN jobs").await?;
    /// # Ok(()) }
    /// ```
    #[allow(clippy::expect_used)]
    pub fn detach(mut self) -> Client {
        let conn = self
            .conn
            .take()
            .expect("a PooledClient holds its connection until it is consumed");
        self.shared.forget_one();
        conn.client
    }

    /// When the connection was opened.
    ///
    /// ```no_run
    /// # async fn demo(pool: pg_wire::Pool) -> Result<(), pg_wire::Error> {
    /// let client = pool.get().await?;
    /// println!("connected {:?} ago", client.opened_at().elapsed());
    /// # Ok(()) }
    /// ```
    #[allow(clippy::expect_used)]
    pub fn opened_at(&self) -> Instant {
        self.conn
            .as_ref()
            .expect("a PooledClient holds its connection until it is consumed")
            .opened
    }
}

impl Deref for PooledClient {
    type Target = Client;

    #[allow(clippy::expect_used)]
    fn deref(&self) -> &Client {
        &self
            .conn
            .as_ref()
            .expect("a PooledClient holds its connection until it is consumed")
            .client
    }
}

impl DerefMut for PooledClient {
    #[allow(clippy::expect_used)]
    fn deref_mut(&mut self) -> &mut Client {
        &mut self
            .conn
            .as_mut()
            .expect("a PooledClient holds its connection until it is consumed")
            .client
    }
}

impl Drop for PooledClient {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.shared.check_in(conn);
        }
    }
}

impl fmt::Debug for PooledClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.conn {
            Some(conn) => f.debug_tuple("PooledClient").field(&conn.client).finish(),
            None => f.write_str("PooledClient(<returned>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let options = PoolOptions::default();
        assert_eq!(options.get_max_size(), 10);
        assert_eq!(
            options.get_checkout_timeout(),
            Some(Duration::from_secs(30))
        );
        assert_eq!(options.get_max_lifetime(), Some(Duration::from_secs(1800)));
        assert_eq!(options.get_idle_timeout(), None);
        assert!(options.get_test_on_checkout());
        assert_eq!(options.get_test_after_idle(), Duration::from_secs(5));
    }

    #[test]
    fn size_is_clamped() {
        assert_eq!(PoolOptions::new().max_size(0).get_max_size(), 1);
        assert_eq!(
            PoolOptions::new().max_size(usize::MAX).get_max_size(),
            Semaphore::MAX_PERMITS
        );
    }

    #[test]
    fn optional_durations_take_both_forms() {
        let options = PoolOptions::new()
            .checkout_timeout(None)
            .idle_timeout(Duration::from_secs(1));
        assert_eq!(options.get_checkout_timeout(), None);
        assert_eq!(options.get_idle_timeout(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn handles_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Pool>();
        assert_send_sync::<PooledClient>();
        assert_send_sync::<PoolStatus>();
    }

    #[tokio::test]
    async fn a_new_pool_opens_nothing_and_a_closed_one_refuses() {
        let config: Config = "host=/nonexistent/socket/dir user=nobody".parse().unwrap();
        let pool = Pool::new(config, PoolOptions::new().max_size(2));
        assert_eq!(
            pool.status(),
            PoolStatus {
                size: 0,
                idle: 0,
                in_use: 0,
                max_size: 2
            }
        );
        // Lazy: the bad host is only found by a checkout, and the slot is given back.
        let error = pool.get().await.unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Io);
        assert_eq!(pool.status().size, 0);
        assert_eq!(pool.shared.permits.available_permits(), 2);

        pool.close().await;
        assert!(pool.is_closed());
        let error = pool.get().await.unwrap_err();
        assert!(error.is_closed());
        assert_eq!(error.to_string(), "the connection pool is closed");
    }

    #[tokio::test]
    async fn an_exhausted_pool_times_out() {
        let config: Config = "host=/nonexistent/socket/dir".parse().unwrap();
        let pool = Pool::new(
            config,
            PoolOptions::new()
                .max_size(1)
                .checkout_timeout(Duration::from_millis(50)),
        );
        // Hold the only slot without a connection.
        let _held = Arc::clone(&pool.shared.permits)
            .acquire_owned()
            .await
            .unwrap();
        let error = pool.get().await.unwrap_err();
        assert!(error.is_timeout());
        assert_eq!(
            error.to_string(),
            "the connection pool was exhausted for 0.05 s (max_size = 1, all checked out)"
        );
    }
}
