//! The server's counters: read by the `metrics` message, by [`crate::Server::metrics`]
//! and written to the log.

use crate::protocol::MetricsSnapshot;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// Counters shared by every connection of one server.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub(crate) connections_total: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) coalesced: Arc<AtomicU64>,
    pub(crate) lagged: AtomicU64,
    pub(crate) resynced: AtomicU64,
    pub(crate) resent: AtomicU64,
    pub(crate) closed_slow: AtomicU64,
    pub(crate) closed_limit: AtomicU64,
    /// Connections open (past the handshake), watched so tests and shutdown can wait.
    open: watch::Sender<u64>,
    /// Tasks alive: connections (from accept, handshake included) and commands.
    tasks: watch::Sender<u64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            connections_total: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            messages_in: AtomicU64::new(0),
            messages_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            coalesced: Arc::new(AtomicU64::new(0)),
            lagged: AtomicU64::new(0),
            resynced: AtomicU64::new(0),
            resent: AtomicU64::new(0),
            closed_slow: AtomicU64::new(0),
            closed_limit: AtomicU64::new(0),
            open: watch::Sender::new(0),
            tasks: watch::Sender::new(0),
        }
    }
}

/// Adds one to a counter.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl Metrics {
    /// The counters as of now.
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        MetricsSnapshot {
            connections_open: *self.open.borrow(),
            connections_total: get(&self.connections_total),
            refused: get(&self.refused),
            tasks: *self.tasks.borrow(),
            messages_in: get(&self.messages_in),
            messages_out: get(&self.messages_out),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            coalesced: get(&self.coalesced),
            lagged: get(&self.lagged),
            resynced: get(&self.resynced),
            resent: get(&self.resent),
            closed_slow: get(&self.closed_slow),
            closed_limit: get(&self.closed_limit),
        }
    }

    /// Watches the number of open connections.
    pub(crate) fn watch_open(&self) -> watch::Receiver<u64> {
        self.open.subscribe()
    }

    /// Watches the number of live tasks.
    pub(crate) fn watch_tasks(&self) -> watch::Receiver<u64> {
        self.tasks.subscribe()
    }

    /// Counts a task for as long as the returned guard lives.
    pub(crate) fn task(&self) -> Gauge<'_> {
        Gauge::up(&self.tasks)
    }

    /// Counts an open connection for as long as the returned guard lives.
    pub(crate) fn open_connection(&self) -> Gauge<'_> {
        bump(&self.connections_total);
        Gauge::up(&self.open)
    }

    /// Writes the counters to the log.
    pub(crate) fn log(&self, what: &str) {
        let m = self.snapshot();
        tracing::info!(
            connections_open = m.connections_open,
            connections_total = m.connections_total,
            refused = m.refused,
            tasks = m.tasks,
            messages_in = m.messages_in,
            messages_out = m.messages_out,
            bytes_in = m.bytes_in,
            bytes_out = m.bytes_out,
            coalesced = m.coalesced,
            lagged = m.lagged,
            resynced = m.resynced,
            resent = m.resent,
            closed_slow = m.closed_slow,
            closed_limit = m.closed_limit,
            "{what}"
        );
    }
}

/// Holds one unit of a gauge; gives it back when dropped, however the holder ends.
#[derive(Debug)]
pub(crate) struct Gauge<'a>(&'a watch::Sender<u64>);

impl<'a> Gauge<'a> {
    fn up(gauge: &'a watch::Sender<u64>) -> Self {
        gauge.send_modify(|n| *n += 1);
        Self(gauge)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}
