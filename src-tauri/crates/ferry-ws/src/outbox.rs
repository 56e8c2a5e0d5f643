//! What one connection is about to send: live progress coalesced to a bounded rate
//! (latest value wins per job), and the terminal events waiting for an acknowledgement.

use crate::hub::{Encoded, Kind};
use ferry_core::JobId;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Progress held back by the rate limit, per connection.
///
/// Invariant: every message handed out has a larger `seq` than any handed out before
/// (held progress always goes out before a newer message), and a progress message is
/// only ever dropped when a newer message of the same job replaces it. So a client's
/// state after the last message it received equals the server's state at that `seq`.
#[derive(Debug)]
pub(crate) struct Coalescer {
    period: Duration,
    held: BTreeMap<u64, Arc<Encoded>>,
    held_by_job: HashMap<JobId, u64>,
    last_flush: Option<Instant>,
    coalesced: u64,
}

impl Coalescer {
    /// At most `per_sec` progress flushes a second; 0 means no coalescing.
    pub(crate) fn new(per_sec: u32) -> Self {
        let period = if per_sec == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(1) / per_sec
        };
        Self {
            period,
            held: BTreeMap::new(),
            held_by_job: HashMap::new(),
            last_flush: None,
            coalesced: 0,
        }
    }

    /// Takes one broadcast message and appends to `out` what must be sent now, in order.
    pub(crate) fn offer(
        &mut self,
        message: Arc<Encoded>,
        now: Instant,
        out: &mut Vec<Arc<Encoded>>,
    ) {
        match message.kind {
            Kind::Progress { job, must: false } => {
                self.replace(job);
                self.held_by_job.insert(job, message.seq);
                self.held.insert(message.seq, message);
                if self.due(now) {
                    self.flush(now, out);
                }
            }
            Kind::Progress { job, must: true } | Kind::Job { job, .. } => {
                self.replace(job);
                self.flush(now, out);
                out.push(message);
            }
            Kind::Snapshot => {
                self.coalesced += self.held.len() as u64;
                self.held.clear();
                self.held_by_job.clear();
                out.push(message);
            }
        }
    }

    /// When the held progress is due, if any is held.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.held.is_empty() {
            return None;
        }
        Some(
            self.last_flush
                .map_or_else(Instant::now, |last| last + self.period),
        )
    }

    /// Hands out everything held, oldest first.
    pub(crate) fn flush(&mut self, now: Instant, out: &mut Vec<Arc<Encoded>>) {
        if self.held.is_empty() {
            return;
        }
        self.held_by_job.clear();
        out.extend(std::mem::take(&mut self.held).into_values());
        self.last_flush = Some(now);
    }

    /// Forgets what is held because a full snapshot replaces it.
    pub(crate) fn clear(&mut self) {
        self.held.clear();
        self.held_by_job.clear();
    }

    /// Progress updates replaced before they were sent, since the last call.
    pub(crate) fn take_coalesced(&mut self) -> u64 {
        std::mem::take(&mut self.coalesced)
    }

    fn due(&self, now: Instant) -> bool {
        self.last_flush
            .is_none_or(|last| now.saturating_duration_since(last) >= self.period)
    }

    fn replace(&mut self, job: JobId) {
        if let Some(seq) = self.held_by_job.remove(&job) {
            self.held.remove(&seq);
            self.coalesced += 1;
        }
    }
}

/// Terminal events sent to one client and not yet acknowledged.
#[derive(Debug)]
pub(crate) struct Unacked {
    timeout: Duration,
    capacity: usize,
    waiting: BTreeMap<u64, (Arc<Encoded>, Instant)>,
}

impl Unacked {
    pub(crate) fn new(timeout: Duration, capacity: usize) -> Self {
        Self {
            timeout,
            capacity: capacity.max(1),
            waiting: BTreeMap::new(),
        }
    }

    /// Notes that `message` went out at `now` if it needs an acknowledgement.
    pub(crate) fn sent(&mut self, message: &Arc<Encoded>, now: Instant) {
        if matches!(message.kind, Kind::Job { terminal: true, .. }) {
            if self.waiting.len() >= self.capacity {
                if let Some((seq, _)) = self.waiting.pop_first() {
                    tracing::warn!(
                        seq,
                        "a client acknowledges nothing; forgetting its oldest terminal event"
                    );
                }
            }
            self.waiting.insert(message.seq, (Arc::clone(message), now));
        }
    }

    /// The client acknowledged `seq`.
    pub(crate) fn ack(&mut self, seq: u64) {
        self.waiting.remove(&seq);
    }

    /// When the oldest unacknowledged event is due again.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.waiting
            .values()
            .map(|(_, at)| *at + self.timeout)
            .min()
    }

    /// The events due again at `now`, oldest first; their clocks restart.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<Arc<Encoded>> {
        let mut due = Vec::new();
        for (message, at) in self.waiting.values_mut() {
            if *at + self.timeout <= now {
                *at = now;
                due.push(Arc::clone(message));
            }
        }
        due
    }

    /// How many are waiting.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::Utf8Bytes;

    fn progress(seq: u64, job: i64, must: bool) -> Arc<Encoded> {
        Arc::new(Encoded {
            seq,
            kind: Kind::Progress {
                job: JobId(job),
                must,
            },
            text: Utf8Bytes::from_static(""),
        })
    }

    fn job(seq: u64, job: i64, terminal: bool) -> Arc<Encoded> {
        Arc::new(Encoded {
            seq,
            kind: Kind::Job {
                job: JobId(job),
                terminal,
            },
            text: Utf8Bytes::from_static(""),
        })
    }

    fn seqs(out: &[Arc<Encoded>]) -> Vec<u64> {
        out.iter().map(|m| m.seq).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn progress_is_latest_value_wins_at_the_configured_rate() {
        let mut c = Coalescer::new(20);
        let mut out = Vec::new();
        let t0 = Instant::now();
        c.offer(progress(1, 1, false), t0, &mut out);
        assert_eq!(seqs(&out), [1], "the first figure goes out at once");
        out.clear();
        for seq in 2..=10 {
            c.offer(
                progress(seq, 1, false),
                t0 + Duration::from_millis(seq),
                &mut out,
            );
        }
        assert!(out.is_empty(), "figures within the period are held");
        assert_eq!(c.deadline(), Some(t0 + Duration::from_millis(50)));
        c.flush(t0 + Duration::from_millis(50), &mut out);
        assert_eq!(seqs(&out), [10], "only the latest figure survives");
        assert_eq!(c.take_coalesced(), 8);
    }

    #[tokio::test(start_paused = true)]
    async fn stage_changes_final_figures_and_job_messages_flush_in_seq_order() {
        let mut c = Coalescer::new(20);
        let mut out = Vec::new();
        let t0 = Instant::now();
        c.offer(progress(1, 1, false), t0, &mut out);
        c.offer(progress(2, 2, false), t0, &mut out);
        c.offer(progress(3, 1, false), t0, &mut out);
        c.offer(progress(4, 1, true), t0, &mut out);
        assert_eq!(
            seqs(&out),
            [1, 2, 4],
            "job 1's held figure is replaced by its final one"
        );
        out.clear();
        c.offer(progress(5, 2, false), t0, &mut out);
        c.offer(job(6, 3, true), t0, &mut out);
        assert_eq!(seqs(&out), [5, 6]);
    }

    #[tokio::test(start_paused = true)]
    async fn unacknowledged_terminal_events_come_due_after_the_timeout() {
        let mut u = Unacked::new(Duration::from_secs(10), 8);
        let t0 = Instant::now();
        u.sent(&job(1, 1, true), t0);
        u.sent(&job(2, 2, false), t0);
        u.sent(&progress(3, 2, true), t0);
        assert_eq!(u.len(), 1, "only terminal events wait for an ack");
        assert!(u.due(t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(seqs(&u.due(t0 + Duration::from_secs(10))), [1]);
        u.ack(1);
        assert_eq!(u.deadline(), None);
    }
}
