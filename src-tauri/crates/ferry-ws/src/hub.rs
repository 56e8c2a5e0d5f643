//! Turns engine events into numbered server messages and fans them out to every client.
//!
//! The hub keeps its own mirror of the state, built from the same messages it numbers, so
//! the snapshot a new client receives is exactly the state after the message `seq` it
//! carries: nothing is missed or applied twice between the snapshot and the stream.
//! It also keeps the last messages in a bounded ring, to replay them to a client that
//! reconnects, and the last terminal events, to send them again until acknowledged.
//!
//! Progress is batched here, once for every client: the hub holds the latest figure of
//! each job and publishes them together in one `progress` message at most
//! `progress_per_sec` times a second. Each batch is encoded once and shared, so the
//! server's work per second is bounded by the rate times the number of clients, not by
//! the number of jobs or of engine events.

use crate::backend::Backend;
use crate::protocol::{Limits, ServerMessage};
use ferry_core::{EngineEvent, JobId, JobProgress, JobStatus, JobView, QueueTotals, Snapshot};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

/// What kind of message an [`Encoded`] is, so a connection and the replay can handle it
/// without parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A batch of progress figures (the jobs are in [`Encoded::jobs`]). `must` is set when
    /// it holds a stage's last figure (`current == total`), which a replay never leaves out.
    Progress { must: bool },
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
    /// The jobs a progress batch carries figures for (empty for other messages), so a
    /// replay can tell which later messages replace it.
    pub(crate) jobs: Box<[JobId]>,
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
    pub(crate) stream: Follower,
}

/// The live stream every client reads: the last messages in one shared ring, and a
/// signal when a new one is added. One ring for all clients, read under a shared lock,
/// and a wake-up that scales to many waiters, so a message reaches 1,000 clients without
/// 1,000 queue operations behind one mutex.
#[derive(Debug)]
struct Feed {
    ring: RwLock<VecDeque<Arc<Encoded>>>,
    capacity: usize,
    latest: watch::Sender<u64>,
}

/// A client's place in the live stream.
#[derive(Debug)]
pub(crate) struct Follower {
    feed: Arc<Feed>,
    changed: watch::Receiver<u64>,
}

/// The client is further behind than the ring holds: what it missed is gone.
#[derive(Debug)]
pub(crate) struct Lagged;

impl Follower {
    /// Waits until a message is added after the last wait; false once the hub is gone.
    pub(crate) async fn changed(&mut self) -> bool {
        self.changed.changed().await.is_ok()
    }

    /// Appends to `out` the messages after `after`, at most `max` of them and about
    /// `max_bytes` (at least one); returns whether more remain.
    pub(crate) fn after(
        &self,
        after: u64,
        max: usize,
        max_bytes: usize,
        out: &mut Vec<Arc<Encoded>>,
    ) -> Result<bool, Lagged> {
        let ring = self
            .feed
            .ring
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(oldest) = ring.front() else {
            return Ok(false);
        };
        if oldest.seq > after + 1 {
            return Err(Lagged);
        }
        let start = ring.partition_point(|m| m.seq <= after);
        let mut bytes = 0;
        let mut end = start;
        while end < ring.len() && end - start < max && (end == start || bytes < max_bytes) {
            bytes += ring[end].text.len();
            end += 1;
        }
        out.extend(ring.range(start..end).cloned());
        Ok(end < ring.len())
    }
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
    /// Progress batches published per second at most; 0 publishes every figure at once.
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
    feed: Arc<Feed>,
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
        let capacity = sizes.client_queue.max(1);
        let feed = Arc::new(Feed {
            ring: RwLock::new(VecDeque::with_capacity(capacity.min(4096))),
            capacity,
            latest: watch::channel(0).0,
        });
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
            feed,
        };
        let follower = hub.clone();
        let mut batcher = Batcher::new(sizes.progress_per_sec, coalesced);
        tokio::spawn(async move {
            let far = || Instant::now() + Duration::from_secs(86_400);
            loop {
                let due = batcher.deadline();
                tokio::select! {
                    biased;
                    () = stop.cancelled() => break,
                    event = events.recv() => match event {
                        Ok(event) => follower.offer(&mut batcher, event, Instant::now()),
                        Err(RecvError::Lagged(missed)) => {
                            tracing::warn!(missed, "progress hub fell behind the engine; resyncing");
                            let (snapshot, fresh) = backend.subscribe_with_snapshot();
                            events = fresh;
                            batcher.clear();
                            follower.reset(snapshot);
                        }
                        Err(RecvError::Closed) => break,
                    },
                    () = tokio::time::sleep_until(due.unwrap_or_else(far)), if due.is_some() => {
                        follower.flush(&mut batcher, Instant::now());
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
        let stream = Follower {
            feed: Arc::clone(&self.feed),
            changed: self.feed.latest.subscribe(),
        };
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

    /// Takes one engine event. A job change goes out at once (numbered now); a progress
    /// figure waits in the batcher for the next batch, replacing an older figure of the
    /// same job and stage. The batcher never lets a figure be lost that must arrive (a
    /// stage's last one) nor one overtake a job message: such cases send the batch first.
    fn offer(&self, batcher: &mut Batcher, event: EngineEvent, now: Instant) {
        match event {
            EngineEvent::Progress { progress, totals } => {
                if batcher.would_replace_another_stage(&progress) {
                    self.flush(batcher, now);
                }
                batcher.hold(progress, totals);
                if batcher.due(now) {
                    self.flush(batcher, now);
                }
            }
            EngineEvent::Job { job, totals } => {
                batcher.totals = totals.clone();
                if batcher.holds_last_figure_of(job.id) {
                    // The stage's 100 % must reach clients before the job moves on.
                    self.flush(batcher, now);
                } else {
                    // The job message carries the job's figures as they are now.
                    batcher.forget(job.id);
                }
                self.publish_job(job, totals);
            }
        }
    }

    /// Publishes the held figures as one batch, if any are held.
    fn flush(&self, batcher: &mut Batcher, now: Instant) {
        let Some((figures, totals)) = batcher.take(now) else {
            return;
        };
        let mut mirror = self.lock();
        mirror.seq += 1;
        let seq = mirror.seq;
        let must = figures.iter().any(|p| p.current >= p.total);
        let jobs: Box<[JobId]> = figures.iter().map(|p| p.job_id).collect();
        for figure in &figures {
            if let Some(view) = mirror.jobs.get_mut(&figure.job_id) {
                // The same rule as every client's, so a welcome equals their state.
                crate::client::apply_figure(view, figure);
            }
        }
        mirror.totals = totals.clone();
        let message = ServerMessage::Progress {
            seq,
            progress: figures,
            totals,
        };
        self.record(&mut mirror, seq, Kind::Progress { must }, jobs, &message);
    }

    fn publish_job(&self, job: JobView, totals: QueueTotals) {
        let mut mirror = self.lock();
        mirror.seq += 1;
        let seq = mirror.seq;
        mirror.jobs.insert(job.id, job.clone());
        mirror.totals = totals.clone();
        let kind = Kind::Job {
            job: job.id,
            terminal: is_terminal(job.status),
        };
        let message = ServerMessage::Job { seq, job, totals };
        self.record(&mut mirror, seq, kind, Box::default(), &message);
    }

    fn reset(&self, snapshot: Snapshot) {
        let mut mirror = self.lock();
        mirror.seq += 1;
        mirror.jobs = snapshot.jobs.into_iter().map(|job| (job.id, job)).collect();
        mirror.totals = snapshot.totals;
        let welcome = self.welcome(&mirror);
        let seq = mirror.seq;
        self.record(&mut mirror, seq, Kind::Snapshot, Box::default(), &welcome);
    }

    fn record(
        &self,
        mirror: &mut Mirror,
        seq: u64,
        kind: Kind,
        jobs: Box<[JobId]>,
        message: &ServerMessage,
    ) {
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
            jobs,
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
        {
            let mut ring = self
                .feed
                .ring
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if ring.len() >= self.feed.capacity {
                ring.pop_front();
            }
            ring.push_back(encoded);
        }
        // Wakes every client; nobody watching is fine. Never waits.
        self.feed.latest.send_replace(seq);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Progress waiting for the next batch: the latest figure of each job, and when the
/// next batch may go.
///
/// Batches follow a leading-edge rate limit: a figure arriving after a quiet period goes
/// out at once; later ones wait until one period has passed since the previous batch.
/// So there is at least one period between two batches, except when a figure that must
/// arrive would otherwise be replaced (a stage's last figure), which sends early.
struct Batcher {
    period: Duration,
    /// Sorted by job, so a batch lists its jobs in order.
    held: BTreeMap<JobId, JobProgress>,
    /// The queue totals of the newest engine event, published with the batch.
    totals: QueueTotals,
    /// When the next batch may go; `None` after a quiet period.
    next: Option<Instant>,
    coalesced: Arc<AtomicU64>,
}

impl Batcher {
    fn new(per_sec: u32, coalesced: Arc<AtomicU64>) -> Self {
        let period = if per_sec == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(1) / per_sec
        };
        Self {
            period,
            held: BTreeMap::new(),
            totals: QueueTotals::default(),
            next: None,
            coalesced,
        }
    }

    /// True when holding `progress` would replace a figure of the same job in another
    /// stage: that figure (the stage's last) must go out first.
    fn would_replace_another_stage(&self, progress: &JobProgress) -> bool {
        self.held
            .get(&progress.job_id)
            .is_some_and(|held| held.status != progress.status)
    }

    /// Holds `progress` for the next batch, replacing an older figure of the job.
    fn hold(&mut self, progress: JobProgress, totals: QueueTotals) {
        self.totals = totals;
        if self.held.insert(progress.job_id, progress).is_some() {
            self.coalesced.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// True when the held figure of `job` is its stage's last (`current == total`).
    fn holds_last_figure_of(&self, job: JobId) -> bool {
        self.held
            .get(&job)
            .is_some_and(|held| held.current >= held.total)
    }

    /// Drops the held figure of `job`: a job message that replaces it is going out.
    fn forget(&mut self, job: JobId) {
        if self.held.remove(&job).is_some() {
            self.coalesced.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// True when figures are held and the rate allows a batch at `now`.
    fn due(&self, now: Instant) -> bool {
        !self.held.is_empty() && self.next.is_none_or(|next| next <= now)
    }

    /// When the held figures may go out, if any are held.
    fn deadline(&self) -> Option<Instant> {
        if self.held.is_empty() {
            return None;
        }
        Some(self.next.unwrap_or_else(Instant::now))
    }

    /// Everything held, in job order, with the latest totals; the next batch may go one
    /// period after `now`.
    fn take(&mut self, now: Instant) -> Option<(Vec<JobProgress>, QueueTotals)> {
        if self.held.is_empty() {
            return None;
        }
        self.next = Some(now + self.period);
        let figures = std::mem::take(&mut self.held).into_values().collect();
        Some((figures, self.totals.clone()))
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

/// Drops the progress batches of a replay whose every job a later message replaces,
/// keeping batches with a stage's last figure and every other message. Applying the
/// result gives the same state as applying the whole replay.
pub(crate) fn coalesce_batch<'a>(
    batch: impl DoubleEndedIterator<Item = &'a Arc<Encoded>>,
) -> Vec<Arc<Encoded>> {
    let mut replaced: HashSet<JobId> = HashSet::new();
    let mut kept: Vec<Arc<Encoded>> = Vec::new();
    for message in batch.rev() {
        match message.kind {
            Kind::Progress { must } => {
                if must || !message.jobs.iter().all(|job| replaced.contains(job)) {
                    kept.push(Arc::clone(message));
                }
                replaced.extend(message.jobs.iter().copied());
            }
            Kind::Job { job, .. } => {
                kept.push(Arc::clone(message));
                replaced.insert(job);
            }
            Kind::Snapshot => kept.push(Arc::clone(message)),
        }
    }
    kept.reverse();
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(job: i64, status: JobStatus, current: u64) -> JobProgress {
        JobProgress {
            job_id: JobId(job),
            status,
            current,
            total: 100,
            speed: 0.0,
            eta_secs: None,
            sent: None,
        }
    }

    fn ids(figures: &[JobProgress]) -> Vec<(i64, u64)> {
        figures.iter().map(|p| (p.job_id.0, p.current)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_holds_the_latest_figure_of_every_job_at_most_once_per_period() {
        let mut b = Batcher::new(20, Arc::new(AtomicU64::new(0)));
        let t0 = Instant::now();
        b.hold(figure(1, JobStatus::Uploading, 1), QueueTotals::default());
        assert!(b.due(t0), "a figure after a quiet period goes out at once");
        assert_eq!(ids(&b.take(t0).unwrap().0), [(1, 1)]);
        for step in 2..=10 {
            for job in 1..=3 {
                b.hold(
                    figure(job, JobStatus::Uploading, step),
                    QueueTotals::default(),
                );
            }
            assert!(!b.due(t0 + Duration::from_millis(step)));
        }
        assert_eq!(b.deadline(), Some(t0 + Duration::from_millis(50)));
        let (batch, _) = b.take(t0 + Duration::from_millis(50)).unwrap();
        assert_eq!(
            ids(&batch),
            [(1, 10), (2, 10), (3, 10)],
            "latest value wins"
        );
        assert_eq!(b.coalesced.load(Ordering::Relaxed), 24);
        assert_eq!(b.deadline(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stage_last_figure_is_never_replaced_nor_dropped_by_a_job_message() {
        let mut b = Batcher::new(20, Arc::new(AtomicU64::new(0)));
        b.hold(figure(1, JobStatus::Hashing, 100), QueueTotals::default());
        assert!(b.would_replace_another_stage(&figure(1, JobStatus::Uploading, 0)));
        assert!(!b.would_replace_another_stage(&figure(2, JobStatus::Uploading, 0)));
        assert!(b.holds_last_figure_of(JobId(1)));
        b.hold(figure(2, JobStatus::Uploading, 40), QueueTotals::default());
        assert!(!b.holds_last_figure_of(JobId(2)));
        b.forget(JobId(2));
        let (batch, _) = b.take(Instant::now()).unwrap();
        assert_eq!(ids(&batch), [(1, 100)]);
    }

    fn encoded(seq: u64, kind: Kind, jobs: &[i64]) -> Arc<Encoded> {
        Arc::new(Encoded {
            seq,
            kind,
            jobs: jobs.iter().map(|j| JobId(*j)).collect(),
            text: Utf8Bytes::from_static(""),
        })
    }

    #[test]
    fn a_replay_leaves_out_only_batches_whose_every_job_is_replaced_later() {
        let replay = [
            encoded(1, Kind::Progress { must: false }, &[1, 2]),
            encoded(2, Kind::Progress { must: false }, &[1]),
            encoded(3, Kind::Progress { must: true }, &[2]),
            encoded(
                4,
                Kind::Job {
                    job: JobId(2),
                    terminal: true,
                },
                &[],
            ),
            encoded(5, Kind::Progress { must: false }, &[1, 3]),
            encoded(6, Kind::Progress { must: false }, &[3]),
        ];
        let kept: Vec<u64> = coalesce_batch(replay.iter())
            .iter()
            .map(|m| m.seq)
            .collect();
        assert_eq!(kept, [3, 4, 5, 6]);
    }
}
