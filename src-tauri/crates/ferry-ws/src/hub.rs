//! Turns engine events into numbered server messages and fans them out to every client.
//!
//! The hub keeps its own mirror of the state, built from the same events it numbers, so
//! the snapshot a new client receives is exactly the state after the message `seq` it
//! carries: nothing is missed or applied twice between the snapshot and the stream.
//! It also keeps the last messages in a bounded ring, to replay them to a client that
//! reconnects, and the last terminal events, to send them again until acknowledged.

use crate::backend::Backend;
use crate::protocol::{Limits, ServerMessage};
use ferry_core::{EngineEvent, JobId, JobProgress, JobStatus, JobView, QueueTotals, Snapshot};
use std::collections::HashMap;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

/// What kind of message an [`Encoded`] is, so each client can coalesce without parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Progress of one job. `must` is set for a stage's first and last figures, which
    /// are always delivered; the others may be replaced by a newer one.
    Progress { job: JobId, must: bool },
    /// A job was created or changed state; `terminal` when it reached done, failed or
    /// cancelled (the client must acknowledge it).
    Job { job: JobId, terminal: bool },
    /// A full snapshot, broadcast when the hub itself had to resync with the engine.
    Snapshot,
}

/// A message numbered and encoded once, shared by every client that sends it.
#[derive(Debug)]
pub(crate) struct Encoded {
    /// The message's sequence number.
    pub(crate) seq: u64,
    /// What it is.
    pub(crate) kind: Kind,
    /// The message as JSON text, shared by every client without copying.
    pub(crate) text: Utf8Bytes,
}

/// Where a new client starts.
#[derive(Debug)]
pub(crate) enum Start {
    /// A full snapshot, then the terminal events after the client's `last_seq` that
    /// it never acknowledged (same epoch only).
    Welcome {
        welcome: ServerMessage,
        terminals: Vec<Arc<Encoded>>,
    },
    /// The client's state is recent enough: a `resume` and the messages it missed.
    Resume {
        resume: ServerMessage,
        replay: Vec<Arc<Encoded>>,
    },
}

/// A new client's start and the live stream after it.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) start: Start,
    /// The `seq` the client is at once it has the start.
    pub(crate) cursor: u64,
    pub(crate) stream: broadcast::Receiver<Arc<Encoded>>,
}

struct Mirror {
    seq: u64,
    jobs: BTreeMap<JobId, JobView>,
    totals: QueueTotals,
    ring: VecDeque<Arc<Encoded>>,
    terminals: VecDeque<Arc<Encoded>>,
}

/// Sizes of the hub's buffers and its progress rate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HubSizes {
    /// Progress figures published per second per job at most; 0 publishes every one.
    pub(crate) progress_per_sec: u32,
    /// Messages each client may fall behind before it is resynced.
    pub(crate) client_queue: usize,
    /// Messages kept for replay to reconnecting clients.
    pub(crate) replay: usize,
    /// Terminal events kept to send again until acknowledged.
    pub(crate) terminals: usize,
}

/// Numbers engine events within one epoch and broadcasts them.
#[derive(Clone)]
pub(crate) struct Hub {
    epoch: Arc<str>,
    limits: Limits,
    sizes: HubSizes,
    mirror: Arc<Mutex<Mirror>>,
    sender: broadcast::Sender<Arc<Encoded>>,
}

impl Hub {
    /// Starts following `backend` until `stop` turns true or the backend stops publishing.
    pub(crate) fn start(
        backend: Arc<dyn Backend>,
        epoch: String,
        limits: Limits,
        sizes: HubSizes,
        stop: CancellationToken,
        coalesced: Arc<AtomicU64>,
    ) -> Self {
        let (snapshot, mut events) = backend.subscribe_with_snapshot();
        let (sender, _) = broadcast::channel(sizes.client_queue.max(1));
        let hub = Self {
            epoch: epoch.into(),
            limits,
            sizes,
            mirror: Arc::new(Mutex::new(Mirror {
                seq: 0,
                jobs: snapshot.jobs.into_iter().map(|job| (job.id, job)).collect(),
                totals: snapshot.totals,
                ring: VecDeque::with_capacity(sizes.replay.min(4096)),
                terminals: VecDeque::new(),
            })),
            sender,
        };
        let follower = hub.clone();
        let mut gate = Gate::new(sizes.progress_per_sec, coalesced);
        tokio::spawn(async move {
            loop {
                let due = gate.deadline();
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    event = events.recv() => match event {
                        Ok(event) => follower.offer(&mut gate, event),
                        Err(RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "progress hub fell behind the engine; resyncing");
                            let (snapshot, fresh) = backend.subscribe_with_snapshot();
                            events = fresh;
                            gate.clear();
                            follower.reset(snapshot);
                        }
                        Err(RecvError::Closed) => break,
                    },
                    () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                        let totals = gate.totals.clone().unwrap_or_default();
                        for progress in gate.due(Instant::now()) {
                            follower.publish(EngineEvent::Progress { progress, totals: totals.clone() });
                        }
                    }
                }
            }
        });
        hub
    }

    /// The current sequence number: that of the last message broadcast.
    pub(crate) fn current_seq(&self) -> u64 {
        self.lock().seq
    }

    /// Where a client that says it holds `resume` (epoch and last seq) starts, and the
    /// stream after it, taken under one lock so nothing falls in between.
    pub(crate) fn subscribe(&self, resume: Option<(&str, u64)>) -> Subscription {
        let mirror = self.lock();
        let stream = self.sender.subscribe();
        let cursor = mirror.seq;
        let same_epoch = resume.filter(|(epoch, _)| *epoch == &*self.epoch);
        let start = match same_epoch {
            Some((_, last)) if Self::can_replay(&mirror, last) => Start::Resume {
                resume: ServerMessage::Resume {
                    seq: mirror.seq,
                    epoch: self.epoch.to_string(),
                    from_seq: last,
                    limits: self.limits.clone(),
                },
                replay: coalesce_batch(mirror.ring.iter().filter(|m| m.seq > last)),
            },
            Some((_, last)) if last <= mirror.seq => Start::Welcome {
                welcome: self.welcome(&mirror),
                terminals: terminals_between(&mirror, last, mirror.seq),
            },
            _ => Start::Welcome {
                welcome: self.welcome(&mirror),
                terminals: Vec::new(),
            },
        };
        Subscription {
            start,
            cursor,
            stream,
        }
    }

    fn can_replay(mirror: &Mirror, last: u64) -> bool {
        if last > mirror.seq {
            return false;
        }
        if last == mirror.seq {
            return true;
        }
        mirror
            .ring
            .front()
            .is_some_and(|oldest| oldest.seq <= last + 1)
    }

    /// A fresh welcome for a client that fell behind after `sent` (the last `seq` it
    /// was sent), and the terminal events it missed meanwhile.
    pub(crate) fn resync(&self, sent: u64) -> (ServerMessage, Vec<Arc<Encoded>>, u64) {
        let mirror = self.lock();
        (
            self.welcome(&mirror),
            terminals_between(&mirror, sent, mirror.seq),
            mirror.seq,
        )
    }

    fn welcome(&self, mirror: &Mirror) -> ServerMessage {
        ServerMessage::Welcome {
            seq: mirror.seq,
            epoch: self.epoch.to_string(),
            protocol: crate::protocol::PROTOCOL.to_owned(),
            server_version: env!("CARGO_PKG_VERSION").to_owned(),
            snapshot: Snapshot {
                jobs: mirror.jobs.values().cloned().collect(),
                totals: mirror.totals.clone(),
            },
            limits: self.limits.clone(),
        }
    }

    /// Takes one engine event: job changes, each stage's first and last figures, and
    /// progress of a job not published for a period go out at once (numbered now);
    /// other progress waits in the gate, replaced by newer figures of the same job.
    fn offer(&self, gate: &mut Gate, event: EngineEvent) {
        let now = Instant::now();
        match event {
            EngineEvent::Progress { progress, totals } => {
                gate.totals = Some(totals);
                let must = {
                    let mirror = self.lock();
                    let previous = mirror.jobs.get(&progress.job_id).map(|v| v.progress.status);
                    previous != Some(progress.status)
                        || progress.current >= progress.total
                        || progress.current == 0
                };
                if let Some(progress) = gate.offer(progress, must, now) {
                    let totals = gate.totals.clone().unwrap_or_default();
                    self.publish(EngineEvent::Progress { progress, totals });
                }
            }
            EngineEvent::Job { job, totals } => {
                gate.superseded(job.id);
                gate.totals = Some(totals.clone());
                self.publish(EngineEvent::Job { job, totals });
            }
        }
    }

    fn publish(&self, event: EngineEvent) {
        let mut mirror = self.lock();
        mirror.seq += 1;
        let seq = mirror.seq;
        let (message, kind) = match event {
            EngineEvent::Progress { progress, totals } => {
                let job = progress.job_id;
                let previous = mirror.jobs.get(&job).map(|view| view.progress.status);
                let must = previous != Some(progress.status)
                    || progress.current >= progress.total
                    || progress.current == 0;
                if let Some(view) = mirror.jobs.get_mut(&job) {
                    view.progress = progress.clone();
                }
                mirror.totals = totals.clone();
                (
                    ServerMessage::Progress {
                        seq,
                        progress,
                        totals,
                    },
                    Kind::Progress { job, must },
                )
            }
            EngineEvent::Job { job, totals } => {
                mirror.jobs.insert(job.id, job.clone());
                mirror.totals = totals.clone();
                let kind = Kind::Job {
                    job: job.id,
                    terminal: is_terminal(job.status),
                };
                (ServerMessage::Job { seq, job, totals }, kind)
            }
        };
        self.record(&mut mirror, seq, kind, &message);
    }

    fn reset(&self, snapshot: Snapshot) {
        let mut mirror = self.lock();
        mirror.seq += 1;
        mirror.jobs = snapshot.jobs.into_iter().map(|job| (job.id, job)).collect();
        mirror.totals = snapshot.totals;
        let welcome = self.welcome(&mirror);
        let seq = mirror.seq;
        self.record(&mut mirror, seq, Kind::Snapshot, &welcome);
    }

    fn record(&self, mirror: &mut Mirror, seq: u64, kind: Kind, message: &ServerMessage) {
        let text = match serde_json::to_string(message) {
            Ok(text) => text,
            Err(error) => {
                tracing::error!(%error, seq, "could not encode a server message");
                return;
            }
        };
        let encoded = Arc::new(Encoded {
            seq,
            kind,
            text: text.into(),
        });
        if self.sizes.replay > 0 {
            if mirror.ring.len() >= self.sizes.replay {
                mirror.ring.pop_front();
            }
            mirror.ring.push_back(Arc::clone(&encoded));
        }
        if matches!(kind, Kind::Job { terminal: true, .. }) && self.sizes.terminals > 0 {
            if mirror.terminals.len() >= self.sizes.terminals {
                mirror.terminals.pop_front();
            }
            mirror.terminals.push_back(Arc::clone(&encoded));
        }
        // No receivers is fine: nobody is watching right now. Sending never waits.
        drop(self.sender.send(encoded));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Progress waiting to be published, at most one figure per job.
struct Gate {
    period: Duration,
    held: HashMap<JobId, JobProgress>,
    /// Theoretical arrival time of each job's next figure.
    last: HashMap<JobId, Instant>,
    /// The queue totals of the newest engine event, published with held figures.
    totals: Option<QueueTotals>,
    coalesced: Arc<AtomicU64>,
}

impl Gate {
    fn new(per_sec: u32, coalesced: Arc<AtomicU64>) -> Self {
        let period = if per_sec == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(1) / per_sec
        };
        Self {
            period,
            held: HashMap::new(),
            last: HashMap::new(),
            totals: None,
            coalesced,
        }
    }

    /// The figure to publish now, if any; otherwise it is held. Each job's figures
    /// follow the generic cell rate algorithm with a burst of two, so a job reporting at
    /// exactly the allowed rate is never held back by scheduling jitter.
    fn offer(&mut self, progress: JobProgress, must: bool, now: Instant) -> Option<JobProgress> {
        let job = progress.job_id;
        if must || self.conforms(job, now) {
            if self.held.remove(&job).is_some() {
                self.coalesced.fetch_add(1, Ordering::Relaxed);
            }
            self.spend(job, now);
            return Some(progress);
        }
        if self.held.insert(job, progress).is_some() {
            self.coalesced.fetch_add(1, Ordering::Relaxed);
        }
        None
    }

    fn conforms(&self, job: JobId, now: Instant) -> bool {
        self.last
            .get(&job)
            .is_none_or(|tat| tat.checked_sub(self.period).is_none_or(|at| at <= now))
    }

    fn spend(&mut self, job: JobId, now: Instant) {
        let tat = self.last.get(&job).map_or(now, |tat| (*tat).max(now));
        self.last.insert(job, tat + self.period);
    }

    /// A job message replaces any held figure of the job.
    fn superseded(&mut self, job: JobId) {
        if self.held.remove(&job).is_some() {
            self.coalesced.fetch_add(1, Ordering::Relaxed);
        }
        if self.last.len() > 4 * self.held.len() + 1024 {
            // Forget jobs not heard of for a while, so the map stays small.
            let held = &self.held;
            self.last.retain(|id, _| held.contains_key(id));
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.held
            .keys()
            .filter_map(|job| self.last.get(job).map(|tat| *tat - self.period))
            .min()
    }

    /// The held figures that conform now, by job; their cells are spent.
    fn due(&mut self, now: Instant) -> Vec<JobProgress> {
        let mut ready: Vec<JobId> = self
            .held
            .keys()
            .filter(|job| self.conforms(**job, now))
            .copied()
            .collect();
        ready.sort();
        ready
            .into_iter()
            .filter_map(|job| {
                self.spend(job, now);
                self.held.remove(&job)
            })
            .collect()
    }

    fn clear(&mut self) {
        self.held.clear();
    }
}

fn is_terminal(status: JobStatus) -> bool {
    status.is_terminal()
}

fn terminals_between(mirror: &Mirror, after: u64, upto: u64) -> Vec<Arc<Encoded>> {
    mirror
        .terminals
        .iter()
        .filter(|m| m.seq > after && m.seq <= upto)
        .cloned()
        .collect()
}

/// Drops the progress messages of a batch that a later message of the same job
/// replaces, keeping every stage's first and last figures and every other message.
/// Applying the result gives the same state as applying the whole batch.
pub(crate) fn coalesce_batch<'a>(
    batch: impl Iterator<Item = &'a Arc<Encoded>>,
) -> Vec<Arc<Encoded>> {
    let batch: Vec<&Arc<Encoded>> = batch.collect();
    let mut superseded_after: BTreeMap<JobId, usize> = BTreeMap::new();
    for (index, message) in batch.iter().enumerate() {
        match message.kind {
            Kind::Progress { job, .. } | Kind::Job { job, .. } => {
                superseded_after.insert(job, index);
            }
            Kind::Snapshot => {}
        }
    }
    batch
        .iter()
        .enumerate()
        .filter(|(index, message)| match message.kind {
            Kind::Progress { job, must } => must || superseded_after.get(&job) == Some(index),
            _ => true,
        })
        .map(|(_, message)| Arc::clone(message))
        .collect()
}
