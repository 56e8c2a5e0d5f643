//! Turns engine events into numbered server messages and fans them out to every client.
//!
//! The hub keeps its own mirror of the state, built from the same messages it numbers, so
//! the snapshot a new client receives is exactly the state after the message `seq` it
//! carries: nothing is missed or applied twice between the snapshot and the stream.
//! It also keeps the last messages in a bounded ring, to replay them to a client that
//! reconnects, and the last terminal events, to send them again until acknowledged.
//!
//! Progress is paced here, once for every client, job by job: a job's figure goes out at
//! once while the job is within its rate (`progress_per_sec`, see [`Pacer`]); otherwise
//! it waits, replaced by newer ones, until the job's allowance grows back. So each client
//! receives each job's progress at most `progress_per_sec` times a second, with no wait
//! at all for a job that reports no faster than that. Each message is encoded once and
//! shared; a client that falls behind gets the progress messages waiting for it merged
//! into one (see `encoded::merge_progress`), so what it reads is bounded by how fast it
//! reads, not by the number of jobs.
//!
//! The hub also decides when the clients are woken to send what is new (see [`Waker`]):
//! at once for a running stage's figure, otherwise at most `updates_per_sec` times a
//! second, so the stage changes of many short jobs reach each client together.

use crate::backend::Backend;
use crate::encoded::{coalesce_batch, Encoded, Kind};
use crate::protocol::{JobChange, Limits, ServerMessage};
use ferry_core::{EngineEvent, JobId, JobProgress, JobView, QueueTotals, Snapshot};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

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

/// The last messages, in `seq` order, at most `capacity` of them.
///
/// A progress message that a later message replaces for every job it carries (a newer
/// figure, or a job message) leaves the ring as soon as the later one comes, so the
/// capacity counts messages a client needs, not every figure of a busy queue: with
/// figures going out as they come, a ring of plain messages would hold well under a
/// second of them. Messages with a stage's last figure are never left out.
#[derive(Debug)]
struct Ring {
    entries: VecDeque<Arc<Encoded>>,
    capacity: usize,
    /// The newest `seq` dropped to make room: a reader whose cursor is older missed it.
    evicted: u64,
    /// For each job, the ring's newest progress message with a figure of it that a later
    /// message may replace.
    replaceable: HashMap<JobId, u64>,
    /// For each of those messages, how many of its jobs no later message replaced yet.
    unreplaced: HashMap<u64, usize>,
    /// The newest message with the queue's totals (job messages carry none), and whether
    /// the next such message alone replaces it: a totals message, or a progress message
    /// whose every figure is replaced already.
    newest_totals: Option<(u64, bool)>,
}

impl Ring {
    fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            evicted: 0,
            replaceable: HashMap::new(),
            unreplaced: HashMap::new(),
            newest_totals: None,
        }
    }

    fn push(&mut self, message: Arc<Encoded>) {
        if message.kind == Kind::Snapshot {
            // Everything before it is replaced; what is left leaves with its age.
            self.replaceable.clear();
            self.unreplaced.clear();
            self.newest_totals = None;
        }
        for job in message.replaces() {
            let Some(older) = self.replaceable.remove(&job) else {
                continue;
            };
            if let Some(left) = self.unreplaced.get_mut(&older) {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    self.unreplaced.remove(&older);
                    match &mut self.newest_totals {
                        // Its totals are still the newest: it goes with the next ones.
                        Some((seq, replaceable)) if *seq == older => *replaceable = true,
                        _ => self.remove(older),
                    }
                }
            }
        }
        if message.carries_totals() {
            if let Some((older, true)) = self.newest_totals {
                self.remove(older);
            }
            self.newest_totals = Some((message.seq, message.kind == Kind::Totals));
        }
        if message.kind == (Kind::Progress { must: false }) {
            for figure in &*message.figures {
                self.replaceable.insert(figure.job, message.seq);
            }
            self.unreplaced.insert(message.seq, message.figures.len());
        }
        self.entries.push_back(message);
        while self.entries.len() > self.capacity {
            let Some(oldest) = self.entries.pop_front() else {
                break;
            };
            self.evicted = oldest.seq;
            if self.unreplaced.remove(&oldest.seq).is_some() {
                for figure in &*oldest.figures {
                    if self.replaceable.get(&figure.job) == Some(&oldest.seq) {
                        self.replaceable.remove(&figure.job);
                    }
                }
            }
        }
    }

    fn remove(&mut self, seq: u64) {
        let at = self.entries.partition_point(|m| m.seq < seq);
        if self.entries.get(at).is_some_and(|m| m.seq == seq) {
            self.entries.remove(at);
        }
    }

    /// The messages after `seq`, oldest first; `None` when one of them was dropped to
    /// make room.
    fn after(&self, seq: u64) -> Option<std::collections::vec_deque::Iter<'_, Arc<Encoded>>> {
        if seq < self.evicted {
            return None;
        }
        let start = self.entries.partition_point(|m| m.seq <= seq);
        Some(self.entries.range(start..))
    }
}

/// The live stream every client reads: the last messages in one shared ring, and a
/// signal when new ones are added. One ring for all clients, read under a shared lock,
/// and a wake-up that scales to many waiters, so a message reaches 1,000 clients without
/// 1,000 queue operations behind one mutex.
#[derive(Debug)]
struct Feed {
    ring: RwLock<Ring>,
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
    /// Waits until messages are added after the last wait; false once the hub is gone.
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
        let mut waiting = ring.after(after).ok_or(Lagged)?;
        let mut bytes = 0;
        let mut taken = 0;
        while taken < max && (taken == 0 || bytes < max_bytes) {
            let Some(message) = waiting.next() else {
                return Ok(false);
            };
            bytes += message.text.len();
            taken += 1;
            out.push(Arc::clone(message));
        }
        Ok(waiting.next().is_some())
    }
}

struct Mirror {
    seq: u64,
    jobs: BTreeMap<JobId, JobView>,
    totals: QueueTotals,
    replay: Ring,
    terminals: VecDeque<Arc<Encoded>>,
}

/// Sizes of the hub's buffers and its progress rate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HubSizes {
    /// Figures of one job published per second at most; 0 publishes every figure at once.
    pub(crate) progress_per_sec: u32,
    /// Wake-ups of the clients per second at most, unless a running stage's figure is
    /// published; 0 wakes them for every message.
    pub(crate) updates_per_sec: u32,
    /// Messages each client may fall behind before it is resynced.
    pub(crate) client_queue: usize,
    /// Messages kept for replay to reconnecting clients.
    pub(crate) replay: usize,
    /// Terminal events kept to send again until acknowledged.
    pub(crate) terminals: usize,
}

/// Most engine events the hub takes in one go before it publishes and wakes the
/// clients, so a flood of events cannot hold the clients back for long.
const DRAIN: usize = 256;

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
        let (snapshot, events) = backend.subscribe_with_snapshot();
        let feed = Arc::new(Feed {
            ring: RwLock::new(Ring::new(sizes.client_queue.max(1))),
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
                replay: Ring::new(sizes.replay),
                terminals: VecDeque::new(),
            })),
            feed,
        };
        let pacer = Pacer::new(sizes.progress_per_sec, coalesced);
        let waker = Waker::new(sizes.updates_per_sec);
        tokio::spawn(hub.clone().follow(backend, events, pacer, waker, stop));
        hub
    }

    /// The hub's loop. It takes every engine event already waiting before it publishes
    /// and wakes the clients, so a burst of events (a stage's 100 % and the next stage's
    /// job message, say) costs each client one wake-up and one write, not one per event.
    async fn follow(
        self,
        backend: Arc<dyn Backend>,
        mut events: broadcast::Receiver<EngineEvent>,
        mut pacer: Pacer,
        mut waker: Waker,
        stop: CancellationToken,
    ) {
        let far = || Instant::now() + Duration::from_secs(86_400);
        loop {
            let due = pacer.deadline();
            let wake_at = waker.held_until;
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                first = events.recv() => {
                    let mut next = Some(first.map_err(Missed::from));
                    let mut taken = 0;
                    while let Some(received) = next.take() {
                        match received {
                            Ok(event) => self.offer(&mut pacer, event, Instant::now()),
                            Err(Missed::Lagged(missed)) => {
                                tracing::warn!(missed, "progress hub fell behind the engine; resyncing");
                                let (snapshot, fresh) = backend.subscribe_with_snapshot();
                                events = fresh;
                                pacer.clear();
                                self.reset(snapshot);
                            }
                            Err(Missed::Closed) => {
                                self.publish_due(&mut pacer, &mut waker, Instant::now());
                                self.wake(&pacer, &mut waker, Instant::now(), false);
                                return;
                            }
                            Err(Missed::Empty) => break,
                        }
                        taken += 1;
                        if taken < DRAIN {
                            next = Some(events.try_recv().map_err(Missed::from));
                        }
                    }
                    self.publish_due(&mut pacer, &mut waker, Instant::now());
                }
                () = tokio::time::sleep_until(due.unwrap_or_else(far)), if due.is_some() => {
                    self.publish_due(&mut pacer, &mut waker, Instant::now());
                }
                () = tokio::time::sleep_until(wake_at.unwrap_or_else(far)), if wake_at.is_some() => {
                    self.wake(&pacer, &mut waker, Instant::now(), false);
                }
            }
        }
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
        let replay = same_epoch
            .filter(|(_, last)| *last <= mirror.seq)
            .and_then(|(_, last)| mirror.replay.after(last));
        let start = match (same_epoch, replay) {
            (Some((_, last)), Some(replay)) => Start::Resume {
                resume: ServerMessage::Resume {
                    seq: mirror.seq,
                    epoch: self.epoch.to_string(),
                    from_seq: last,
                    limits: self.limits.clone(),
                },
                replay: coalesce_batch(replay),
            },
            (Some((_, last)), None) if last <= mirror.seq => Start::Welcome {
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
    /// figure goes out with the others due now, or waits for its job's period to end,
    /// replacing an older figure of the same job and stage. No figure that must arrive (a
    /// stage's last one) is lost, and none overtakes a job message: such a figure goes out
    /// first, early.
    fn offer(&self, pacer: &mut Pacer, event: EngineEvent, now: Instant) {
        match event {
            EngineEvent::Progress { progress, totals } => {
                pacer.totals = totals;
                if pacer.holds_another_stage(&progress) {
                    pacer.release(progress.job_id, now);
                    self.publish_ready(pacer);
                }
                pacer.offer(progress, now);
            }
            EngineEvent::Job { job, totals } => {
                // Job messages carry no totals: these go out with the next update.
                pacer.totals = totals;
                // The stage's 100 %, if it has not gone out yet, goes with the change;
                // any other waiting figure of the job is older than the job message,
                // which carries the job's figures as they are now.
                let ended = pacer.take_last_figure_of(job.id);
                pacer.forget(job.id);
                self.publish_job(job, ended);
            }
        }
    }

    /// Publishes the figures that are due, then wakes the clients if anything was
    /// published since they were last woken and the [`Waker`] says it is time.
    fn publish_due(&self, pacer: &mut Pacer, waker: &mut Waker, now: Instant) {
        pacer.release_due(now);
        let running = self.publish_ready(pacer);
        if waker.published(self.current_seq(), running, now) {
            self.wake(pacer, waker, now, running);
        }
    }

    /// Wakes the clients for everything published, after the queue's totals when job
    /// messages changed them and no progress message carried them since: one totals
    /// message per update instead of totals in every job message.
    fn wake(&self, pacer: &Pacer, waker: &mut Waker, now: Instant, running_figure: bool) {
        self.publish_totals(&pacer.totals);
        let seq = self.current_seq();
        waker.woken(seq, now, running_figure);
        self.wake_clients(seq);
    }

    fn publish_totals(&self, totals: &QueueTotals) {
        let mut mirror = self.lock();
        if mirror.totals == *totals {
            return;
        }
        mirror.seq += 1;
        let seq = mirror.seq;
        mirror.totals.clone_from(totals);
        let message = ServerMessage::Totals {
            seq,
            totals: totals.clone(),
        };
        let encoded = Encoded::message(seq, Kind::Totals, &message);
        self.record(&mut mirror, encoded);
    }

    /// Wakes every client to send what it has not sent up to `seq`; nobody watching is
    /// fine. Never waits.
    fn wake_clients(&self, seq: u64) {
        self.feed.latest.send_if_modified(|latest| {
            let changed = *latest != seq;
            *latest = seq;
            changed
        });
    }

    /// Publishes the figures ready to go as one progress message, if there are any;
    /// true when one of them is a running stage's (not a stage's last).
    fn publish_ready(&self, pacer: &mut Pacer) -> bool {
        let Some((figures, totals)) = pacer.take_ready() else {
            return false;
        };
        let running = figures.iter().any(|figure| figure.current < figure.total);
        let mut mirror = self.lock();
        mirror.seq += 1;
        let seq = mirror.seq;
        for figure in &figures {
            if let Some(view) = mirror.jobs.get_mut(&figure.job_id) {
                // The same rule as every client's, so a welcome equals their state.
                crate::client::apply_figure(view, figure);
            }
        }
        let encoded = Encoded::progress(seq, &figures, &totals);
        mirror.totals = totals;
        self.record(&mut mirror, encoded);
        running
    }

    /// Publishes a job's new state: as a `change` when the clients hold the job and a
    /// change can say what is new (most stage changes), otherwise as the whole job.
    fn publish_job(&self, job: JobView, ended: Option<JobProgress>) {
        let mut mirror = self.lock();
        mirror.seq += 1;
        let seq = mirror.seq;
        let kind = Kind::Job {
            job: job.id,
            terminal: job.status.is_terminal(),
        };
        let change = mirror
            .jobs
            .get(&job.id)
            .and_then(|before| JobChange::between(before, &job));
        let message = match change {
            Some(change) => ServerMessage::Change {
                seq,
                job: change,
                ended,
            },
            None => ServerMessage::Job {
                seq,
                job: job.clone(),
                ended,
            },
        };
        mirror.jobs.insert(job.id, job);
        let encoded = Encoded::message(seq, kind, &message);
        self.record(&mut mirror, encoded);
    }

    fn reset(&self, snapshot: Snapshot) {
        let mut mirror = self.lock();
        mirror.seq += 1;
        mirror.jobs = snapshot.jobs.into_iter().map(|job| (job.id, job)).collect();
        mirror.totals = snapshot.totals;
        let welcome = self.welcome(&mirror);
        let encoded = Encoded::message(mirror.seq, Kind::Snapshot, &welcome);
        self.record(&mut mirror, encoded);
    }

    fn record(&self, mirror: &mut Mirror, encoded: Result<Encoded, serde_json::Error>) {
        let encoded = match encoded {
            Ok(encoded) => Arc::new(encoded),
            Err(error) => {
                tracing::error!(%error, seq = mirror.seq, "could not encode a server message");
                return;
            }
        };
        mirror.replay.push(Arc::clone(&encoded));
        if matches!(encoded.kind, Kind::Job { terminal: true, .. }) && self.sizes.terminals > 0 {
            if mirror.terminals.len() >= self.sizes.terminals {
                mirror.terminals.pop_front();
            }
            mirror.terminals.push_back(Arc::clone(&encoded));
        }
        self.feed
            .ring
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(encoded);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.mirror.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// When the hub wakes the clients: at once for a running stage's figure, and otherwise
/// at most `updates_per_sec` times a second, so that the stage changes of many short
/// jobs reach each client in a few writes instead of one each. The first message after
/// a quiet spell goes at once.
///
/// While jobs run, the engine's progress clock publishes their figures about once per
/// `spacing`: stage changes then wait a little longer (a fifth of a spacing more) for
/// the next of these figures and go out with it, so each client gets one write per tick
/// of the clock rather than one for the figures and one for the changes just before
/// them.
/// The extra wait, as a fraction of the spacing, for stage changes after a wake-up with
/// a running figure: enough for the engine's clock to tick a little late, short enough
/// that the last changes of a queue (with no figure after them) are barely delayed.
const GRACE_DIVISOR: u32 = 5;

#[derive(Debug)]
struct Waker {
    /// The least time between two wake-ups that carry no running figure.
    spacing: Duration,
    /// When the clients were last woken.
    last: Option<Instant>,
    /// Whether that wake-up carried a running stage's figure, so another is expected
    /// about one spacing later.
    last_had_figure: bool,
    /// The `seq` they were last woken for.
    woken_for: u64,
    /// When the messages published since the last wake-up go out, if they wait.
    held_until: Option<Instant>,
}

impl Waker {
    fn new(per_sec: u32) -> Self {
        Self {
            spacing: match per_sec {
                0 => Duration::ZERO,
                n => Duration::from_secs(1) / n,
            },
            last: None,
            last_had_figure: false,
            woken_for: 0,
            held_until: None,
        }
    }

    /// Takes the newest published `seq`, and whether a running stage's figure is among
    /// what was just published: true when the clients are to be woken now (the caller
    /// then calls [`Waker::woken`]); otherwise [`Waker::held_until`] says when.
    fn published(&mut self, seq: u64, running_figure: bool, now: Instant) -> bool {
        if seq == self.woken_for {
            return false;
        }
        let grace = if self.last_had_figure {
            self.spacing / GRACE_DIVISOR
        } else {
            Duration::ZERO
        };
        let slot = self.last.map(|last| last + self.spacing + grace);
        if running_figure || slot.is_none_or(|slot| slot <= now) {
            return true;
        }
        self.held_until = slot;
        false
    }

    /// Notes a wake-up at `now` for the messages up to `seq`, and whether a running
    /// stage's figure was among them.
    fn woken(&mut self, seq: u64, now: Instant, running_figure: bool) {
        self.woken_for = seq;
        self.last = Some(now);
        self.last_had_figure = running_figure;
        self.held_until = None;
    }
}

/// Why the hub's channel gave no event.
enum Missed {
    /// Nothing waiting now.
    Empty,
    /// The hub fell this many events behind the engine.
    Lagged(u64),
    /// The engine is gone.
    Closed,
}

impl From<RecvError> for Missed {
    fn from(error: RecvError) -> Self {
        match error {
            RecvError::Lagged(missed) => Self::Lagged(missed),
            RecvError::Closed => Self::Closed,
        }
    }
}

impl From<TryRecvError> for Missed {
    fn from(error: TryRecvError) -> Self {
        match error {
            TryRecvError::Empty => Self::Empty,
            TryRecvError::Lagged(missed) => Self::Lagged(missed),
            TryRecvError::Closed => Self::Closed,
        }
    }
}

/// Paces progress job by job, with a token bucket per job: a job may send one figure per
/// period (1 / `progress_per_sec`), and may save up one more, so a job that reports no
/// faster than the rate never waits, even when one report comes late and the next on
/// time, or when the hub itself ran a little late. A figure that comes when its job has
/// no allowance left is held, replaced by newer ones of the job, until the allowance
/// grows back. So over any stretch of time a job's figures go out at most once per
/// period, plus the one saved up. Figures due at the same moment go out together.
///
/// (A strict minimum spacing instead of a bucket would never catch up with a job that
/// reports at exactly the rate: every late release would push all its later figures
/// back, until each waited almost a whole period.)
struct Pacer {
    period: Duration,
    /// For each job, when its allowance is full again (the "theoretical arrival time"
    /// of the generic cell rate algorithm): a figure may go at once from one period
    /// before it. A job with none, or one already past, has its full allowance; such
    /// entries are pruned from time to time.
    full_at: HashMap<JobId, Instant>,
    /// Figures waiting for their job's allowance, with when it comes.
    held: HashMap<JobId, (JobProgress, Instant)>,
    /// Figures going out in the next message, in job order. A job is in `held` or in
    /// `ready`, never in both.
    ready: BTreeMap<JobId, JobProgress>,
    /// No held figure is due before this; after a figure leaves early it may be sooner
    /// than the truth, which costs one wake-up that finds nothing due.
    next_due: Option<Instant>,
    /// The queue totals of the newest engine event, published with the figures.
    totals: QueueTotals,
    /// The size of `full_at` after its last pruning.
    pruned_to: usize,
    coalesced: Arc<AtomicU64>,
}

impl Pacer {
    fn new(per_sec: u32, coalesced: Arc<AtomicU64>) -> Self {
        let period = if per_sec == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(1) / per_sec
        };
        Self {
            period,
            full_at: HashMap::new(),
            held: HashMap::new(),
            ready: BTreeMap::new(),
            next_due: None,
            totals: QueueTotals::default(),
            pruned_to: 0,
            coalesced,
        }
    }

    fn waiting(&self, job: JobId) -> Option<&JobProgress> {
        self.ready
            .get(&job)
            .or_else(|| self.held.get(&job).map(|(figure, _)| figure))
    }

    /// True when a figure of `progress`'s job in another stage is waiting: that figure
    /// (the stage's last) must go out first.
    fn holds_another_stage(&self, progress: &JobProgress) -> bool {
        self.waiting(progress.job_id)
            .is_some_and(|waiting| waiting.status != progress.status)
    }

    /// Takes the waiting figure of `job` if it is its stage's last (`current == total`),
    /// to send with the job message that follows it.
    fn take_last_figure_of(&mut self, job: JobId) -> Option<JobProgress> {
        if self
            .waiting(job)
            .is_none_or(|waiting| waiting.current < waiting.total)
        {
            return None;
        }
        self.ready
            .remove(&job)
            .or_else(|| self.held.remove(&job).map(|(figure, _)| figure))
    }

    /// When `job` may send its next figure: at once if that is not after `now`.
    fn allowed_from(&self, job: JobId) -> Option<Instant> {
        self.full_at.get(&job).map(|full| *full - self.period)
    }

    /// Spends one figure of `job`'s allowance at `now`.
    fn spend(&mut self, job: JobId, now: Instant) {
        let full = self.full_at.get(&job).map_or(now, |full| (*full).max(now));
        self.full_at.insert(job, full + self.period);
    }

    /// Takes a figure: ready at once if its job has allowance left, held otherwise.
    fn offer(&mut self, progress: JobProgress, now: Instant) {
        let job = progress.job_id;
        if let Some(ready) = self.ready.get_mut(&job) {
            *ready = progress;
            self.coalesced.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.allowed_from(job) {
            Some(due) if now < due => {
                if self.held.insert(job, (progress, due)).is_some() {
                    self.coalesced.fetch_add(1, Ordering::Relaxed);
                }
                self.next_due = Some(self.next_due.map_or(due, |next| next.min(due)));
            }
            _ => {
                if self.held.remove(&job).is_some() {
                    self.coalesced.fetch_add(1, Ordering::Relaxed);
                }
                self.spend(job, now);
                self.ready.insert(job, progress);
            }
        }
    }

    /// Makes the held figure of `job` ready now, even before its allowance comes: it must
    /// not be replaced, nor be overtaken by a job message.
    fn release(&mut self, job: JobId, now: Instant) {
        if let Some((figure, _)) = self.held.remove(&job) {
            self.spend(job, now);
            self.ready.insert(job, figure);
        }
    }

    /// Drops the waiting figure of `job`: a job message that replaces it is going out.
    fn forget(&mut self, job: JobId) {
        if self.ready.remove(&job).is_some() || self.held.remove(&job).is_some() {
            self.coalesced.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Makes ready every held figure whose allowance has come by `now`.
    fn release_due(&mut self, now: Instant) {
        // Jobs whose allowance is full again need no entry: this keeps one entry per
        // job that reported within the last period or so, not per job ever seen.
        if self.full_at.len() > 2 * self.pruned_to + 64 {
            self.full_at.retain(|_, full| *full > now);
            self.pruned_to = self.full_at.len();
        }
        if self.next_due.is_none_or(|due| due > now) {
            return;
        }
        let mut next_due: Option<Instant> = None;
        let due_now: Vec<JobId> = self
            .held
            .iter()
            .filter_map(|(job, (_, due))| {
                if *due <= now {
                    Some(*job)
                } else {
                    next_due = Some(next_due.map_or(*due, |next| next.min(*due)));
                    None
                }
            })
            .collect();
        for job in due_now {
            self.release(job, now);
        }
        self.next_due = next_due;
    }

    /// When the next held figure falls due, if any is held.
    fn deadline(&self) -> Option<Instant> {
        if self.held.is_empty() {
            return None;
        }
        self.next_due
    }

    /// The figures ready to go, in job order, with the latest totals.
    fn take_ready(&mut self) -> Option<(Vec<JobProgress>, QueueTotals)> {
        if self.ready.is_empty() {
            return None;
        }
        let figures = std::mem::take(&mut self.ready).into_values().collect();
        Some((figures, self.totals.clone()))
    }

    fn clear(&mut self) {
        self.held.clear();
        self.ready.clear();
        self.next_due = None;
    }
}

fn terminals_between(mirror: &Mirror, after: u64, upto: u64) -> Vec<Arc<Encoded>> {
    mirror
        .terminals
        .iter()
        .filter(|m| m.seq > after && m.seq <= upto)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_core::JobStatus;

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

    fn ready(pacer: &mut Pacer, now: Instant) -> Vec<(i64, u64)> {
        pacer.release_due(now);
        pacer
            .take_ready()
            .map(|(figures, _)| ids(&figures))
            .unwrap_or_default()
    }

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test(start_paused = true)]
    async fn a_job_reporting_no_faster_than_the_rate_is_never_held_even_when_a_report_is_late() {
        let mut pacer = Pacer::new(20, Arc::new(AtomicU64::new(0)));
        let t0 = Instant::now();
        // Every 50 ms, but the third report comes 20 ms late and the fourth on time.
        for (step, at) in [0u32, 50, 120, 150, 200, 250, 300].into_iter().enumerate() {
            let now = t0 + at * MS;
            pacer.offer(figure(1, JobStatus::Uploading, step as u64), now);
            assert_eq!(
                ready(&mut pacer, now),
                [(1, step as u64)],
                "held at {at} ms"
            );
        }
        assert_eq!(pacer.deadline(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_job_reporting_faster_gets_one_figure_a_period_after_one_saved_up() {
        let mut pacer = Pacer::new(20, Arc::new(AtomicU64::new(0)));
        let t0 = Instant::now();
        let mut sent = Vec::new();
        // A report every 5 ms for two seconds.
        for step in 0..400u32 {
            let now = t0 + step * 5 * MS;
            pacer.offer(figure(1, JobStatus::Uploading, step.into()), now);
            if !ready(&mut pacer, now).is_empty() {
                sent.push(step * 5);
            }
        }
        assert_eq!(
            &sent[..4],
            [0, 5, 50, 100],
            "one saved up, then one a period"
        );
        assert!(sent.windows(2).skip(2).all(|w| w[1] - w[0] == 50));
        for (n, from) in sent.iter().enumerate() {
            let in_a_second = sent[n..].iter().take_while(|at| **at < from + 1000).count();
            assert!(in_a_second <= 21, "{in_a_second} figures within a second");
        }
        assert_eq!(sent.len(), 41);
    }

    #[tokio::test(start_paused = true)]
    async fn each_job_is_paced_on_its_own_and_the_latest_figure_wins() {
        let mut pacer = Pacer::new(20, Arc::new(AtomicU64::new(0)));
        let t0 = Instant::now();
        pacer.offer(figure(1, JobStatus::Uploading, 1), t0);
        pacer.offer(figure(1, JobStatus::Uploading, 2), t0 + MS);
        assert_eq!(ready(&mut pacer, t0 + MS), [(1, 2)], "latest value wins");
        pacer.offer(figure(1, JobStatus::Uploading, 3), t0 + 2 * MS);
        assert_eq!(ready(&mut pacer, t0 + 2 * MS), [(1, 3)], "the one saved up");
        // Job 1 has spent its allowance; job 2, quiet so far, goes at once.
        pacer.offer(figure(1, JobStatus::Uploading, 4), t0 + 10 * MS);
        pacer.offer(figure(2, JobStatus::Uploading, 1), t0 + 20 * MS);
        assert_eq!(ready(&mut pacer, t0 + 20 * MS), [(2, 1)]);
        pacer.offer(figure(1, JobStatus::Uploading, 5), t0 + 30 * MS);
        assert_eq!(
            pacer.deadline(),
            Some(t0 + 50 * MS),
            "job 1's allowance comes"
        );
        assert!(ready(&mut pacer, t0 + 49 * MS).is_empty());
        assert_eq!(ready(&mut pacer, t0 + 50 * MS), [(1, 5)]);
        assert_eq!(pacer.coalesced.load(Ordering::Relaxed), 2);
        assert_eq!(pacer.deadline(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_forgets_jobs_whose_allowance_is_full_again() {
        let mut pacer = Pacer::new(20, Arc::new(AtomicU64::new(0)));
        let t0 = Instant::now();
        for job in 0..1000 {
            pacer.offer(figure(job, JobStatus::Uploading, 1), t0);
        }
        assert_eq!(ready(&mut pacer, t0).len(), 1000);
        // A second later, other jobs report, one at a time: the thousand, whose
        // allowance is full again, are forgotten.
        let later = t0 + 1000 * MS;
        for job in 1000..4000 {
            pacer.offer(figure(job, JobStatus::Uploading, 1), later);
            ready(&mut pacer, later);
        }
        assert!(!pacer.full_at.contains_key(&JobId(0)));
        assert_eq!(pacer.full_at.len(), 3000);
    }

    #[tokio::test(start_paused = true)]
    async fn figures_due_at_the_same_moment_go_out_together_in_job_order() {
        let mut pacer = Pacer::new(20, Arc::new(AtomicU64::new(0)));
        let t0 = Instant::now();
        // Two rounds spend every job's allowance.
        for step in 1..=2 {
            for job in [3, 1, 2] {
                pacer.offer(figure(job, JobStatus::Hashing, step), t0);
            }
            assert_eq!(ready(&mut pacer, t0), [(1, step), (2, step), (3, step)]);
        }
        for job in [2, 3] {
            pacer.offer(figure(job, JobStatus::Hashing, 4), t0 + 5 * MS);
        }
        assert!(ready(&mut pacer, t0 + 49 * MS).is_empty());
        assert_eq!(ready(&mut pacer, t0 + 50 * MS), [(2, 4), (3, 4)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stage_last_figure_is_never_replaced_nor_dropped_and_goes_with_the_job_message() {
        let mut pacer = Pacer::new(20, Arc::new(AtomicU64::new(0)));
        let t0 = Instant::now();
        for current in [10, 20] {
            pacer.offer(figure(1, JobStatus::Hashing, current), t0);
            pacer.offer(figure(2, JobStatus::Uploading, current), t0);
            assert_eq!(ready(&mut pacer, t0).len(), 2);
        }
        pacer.offer(figure(1, JobStatus::Hashing, 100), t0 + MS);
        pacer.offer(figure(2, JobStatus::Uploading, 40), t0 + MS);
        assert!(ready(&mut pacer, t0 + MS).is_empty(), "both are held");
        assert!(pacer.holds_another_stage(&figure(1, JobStatus::Uploading, 0)));
        assert!(!pacer.holds_another_stage(&figure(2, JobStatus::Uploading, 50)));
        // What the hub does for a job message of each: job 1's 100 % goes with it, job
        // 2's running figure is older than its job message and is dropped.
        assert_eq!(
            pacer.take_last_figure_of(JobId(1)).map(|f| f.current),
            Some(100)
        );
        assert_eq!(pacer.take_last_figure_of(JobId(2)), None);
        pacer.forget(JobId(2));
        assert!(ready(&mut pacer, t0 + 100 * MS).is_empty());
    }

    fn progress(seq: u64, jobs: &[(i64, u64)]) -> Arc<Encoded> {
        let figures: Vec<JobProgress> = jobs
            .iter()
            .map(|(job, current)| figure(*job, JobStatus::Uploading, *current))
            .collect();
        Arc::new(Encoded::progress(seq, &figures, &QueueTotals::default()).unwrap())
    }

    fn job_message(seq: u64, job: i64) -> Arc<Encoded> {
        let kind = Kind::Job {
            job: JobId(job),
            terminal: false,
        };
        let message = ServerMessage::Error {
            seq,
            error: crate::protocol::ProtocolError {
                code: crate::protocol::ErrorCode::InvalidData,
                message: String::new(),
            },
        };
        Arc::new(Encoded::message(seq, kind, &message).unwrap())
    }

    fn totals_message(seq: u64) -> Arc<Encoded> {
        let message = ServerMessage::Totals {
            seq,
            totals: QueueTotals::default(),
        };
        Arc::new(Encoded::message(seq, Kind::Totals, &message).unwrap())
    }

    fn seqs(ring: &Ring, after: u64) -> Option<Vec<u64>> {
        ring.after(after)
            .map(|found| found.map(|m| m.seq).collect())
    }

    #[test]
    fn the_ring_lets_go_of_progress_a_later_message_replaces_and_keeps_the_rest() {
        let mut ring = Ring::new(4);
        ring.push(progress(1, &[(1, 10), (2, 10)]));
        ring.push(progress(2, &[(1, 20)]));
        assert_eq!(
            seqs(&ring, 0),
            Some(vec![1, 2]),
            "job 2's figure is still needed"
        );
        ring.push(job_message(3, 2));
        assert_eq!(seqs(&ring, 0), Some(vec![2, 3]));
        ring.push(progress(4, &[(1, 100)]));
        ring.push(progress(5, &[(1, 100), (3, 5)]));
        assert_eq!(
            seqs(&ring, 0),
            Some(vec![3, 4, 5]),
            "a stage's last figure stays"
        );
        for seq in 6..=9 {
            ring.push(progress(seq, &[(3, seq)]));
        }
        assert_eq!(seqs(&ring, 0), Some(vec![3, 4, 5, 9]));
        ring.push(job_message(10, 4));
        assert_eq!(ring.evicted, 3, "the oldest left for room");
        assert_eq!(seqs(&ring, 2), None, "a reader at 2 missed message 3");
        assert_eq!(seqs(&ring, 3), Some(vec![4, 5, 9, 10]));
        assert_eq!(seqs(&ring, 6), Some(vec![9, 10]), "6 to 8 were replaced");
    }

    #[test]
    fn the_ring_keeps_the_newest_totals_until_newer_ones_come() {
        let mut ring = Ring::new(8);
        ring.push(progress(1, &[(1, 10)]));
        ring.push(job_message(2, 1));
        assert_eq!(
            seqs(&ring, 0),
            Some(vec![1, 2]),
            "job messages carry no totals: the progress message's are still needed"
        );
        ring.push(totals_message(3));
        assert_eq!(seqs(&ring, 0), Some(vec![2, 3]));
        ring.push(totals_message(4));
        assert_eq!(seqs(&ring, 0), Some(vec![2, 4]));
        ring.push(progress(5, &[(2, 10)]));
        assert_eq!(seqs(&ring, 0), Some(vec![2, 5]));
        ring.push(job_message(6, 2));
        ring.push(job_message(7, 3));
        assert_eq!(seqs(&ring, 0), Some(vec![2, 5, 6, 7]));
        ring.push(progress(8, &[(3, 10)]));
        assert_eq!(seqs(&ring, 0), Some(vec![2, 6, 7, 8]));
    }
}
