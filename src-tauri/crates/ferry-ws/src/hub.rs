//! Turns engine events into numbered server messages and fans them out to every client.
//!
//! The hub keeps its own mirror of the state, built from the same events it numbers, so
//! the snapshot a new client receives is exactly the state after the message `seq` it
//! carries: nothing is missed or applied twice between the snapshot and the stream.

use crate::protocol::ServerMessage;
use ferry_core::{Engine, EngineEvent, JobId, JobView, QueueTotals, Snapshot};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

/// A message numbered and encoded once, shared by every client that sends it.
#[derive(Debug)]
pub struct Encoded {
    /// The message's sequence number.
    pub seq: u64,
    /// The message as JSON text.
    pub text: String,
}

/// What a new client starts from.
#[derive(Debug)]
pub struct Subscription {
    /// The welcome message, carrying the snapshot.
    pub welcome: ServerMessage,
    /// Every message after the welcome.
    pub stream: broadcast::Receiver<Arc<Encoded>>,
}

struct Mirror {
    seq: u64,
    jobs: BTreeMap<JobId, JobView>,
    totals: QueueTotals,
}

/// Numbers engine events within one epoch and broadcasts them.
#[derive(Clone)]
pub struct Hub {
    epoch: String,
    mirror: Arc<Mutex<Mirror>>,
    sender: broadcast::Sender<Arc<Encoded>>,
}

/// How many encoded messages a client may fall behind before it is resynced with a
/// fresh snapshot instead of the messages it missed.
const CLIENT_BACKLOG: usize = 1024;

impl Hub {
    /// Starts following `engine`. The returned hub lives as long as the engine publishes.
    pub fn start(engine: &Engine, epoch: String) -> Self {
        let (snapshot, mut events) = engine.subscribe_with_snapshot();
        let (sender, _) = broadcast::channel(CLIENT_BACKLOG);
        let hub = Self {
            epoch,
            mirror: Arc::new(Mutex::new(Mirror {
                seq: 0,
                jobs: snapshot.jobs.into_iter().map(|job| (job.id, job)).collect(),
                totals: snapshot.totals,
            })),
            sender,
        };
        let follower = hub.clone();
        let engine = engine.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(event) => follower.publish(event),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "progress hub fell behind the engine; resyncing");
                        let (snapshot, fresh) = engine.subscribe_with_snapshot();
                        events = fresh;
                        follower.reset(snapshot);
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        });
        hub
    }

    /// The epoch of this server run.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The current sequence number: that of the last message broadcast.
    pub fn current_seq(&self) -> u64 {
        self.lock().seq
    }

    /// A welcome with the current snapshot, and the stream of everything after it.
    pub fn subscribe(&self) -> Subscription {
        let mirror = self.lock();
        Subscription {
            welcome: self.welcome(&mirror),
            stream: self.sender.subscribe(),
        }
    }

    /// A fresh welcome for a client that fell behind, to replace what it missed.
    pub fn resync(&self) -> ServerMessage {
        self.welcome(&self.lock())
    }

    fn welcome(&self, mirror: &Mirror) -> ServerMessage {
        ServerMessage::Welcome {
            seq: mirror.seq,
            epoch: self.epoch.clone(),
            protocol: crate::protocol::PROTOCOL.to_owned(),
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            snapshot: Snapshot {
                jobs: mirror.jobs.values().cloned().collect(),
                totals: mirror.totals.clone(),
            },
        }
    }

    fn publish(&self, event: EngineEvent) {
        let mut mirror = self.lock();
        mirror.seq += 1;
        let seq = mirror.seq;
        let message = match event {
            EngineEvent::Progress { progress, totals } => {
                if let Some(job) = mirror.jobs.get_mut(&progress.job_id) {
                    job.progress = progress.clone();
                }
                mirror.totals = totals.clone();
                ServerMessage::Progress {
                    seq,
                    progress,
                    totals,
                }
            }
            EngineEvent::Job { job, totals } => {
                mirror.jobs.insert(job.id, job.clone());
                mirror.totals = totals.clone();
                ServerMessage::Job { seq, job, totals }
            }
        };
        self.broadcast(seq, &message);
    }

    fn reset(&self, snapshot: Snapshot) {
        let mut mirror = self.lock();
        mirror.seq += 1;
        mirror.jobs = snapshot.jobs.into_iter().map(|job| (job.id, job)).collect();
        mirror.totals = snapshot.totals;
        let welcome = self.welcome(&mirror);
        self.broadcast(mirror.seq, &welcome);
    }

    fn broadcast(&self, seq: u64, message: &ServerMessage) {
        match serde_json::to_string(message) {
            // No receivers is fine: nobody is watching right now.
            Ok(text) => drop(self.sender.send(Arc::new(Encoded { seq, text }))),
            Err(error) => tracing::error!(%error, seq, "could not encode a server message"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
