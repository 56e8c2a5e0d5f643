//! What one connection keeps beyond the shared stream: the terminal events it sent and
//! that its client has not acknowledged yet. (Progress is batched once for every client,
//! in the hub.)

use crate::encoded::{Encoded, Kind};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

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
    use ferry_core::{JobId, JobProgress, JobStatus, QueueTotals};
    use tokio_tungstenite::tungstenite::Utf8Bytes;

    fn progress(seq: u64, job: i64, must: bool) -> Arc<Encoded> {
        let figure = JobProgress {
            job_id: JobId(job),
            status: JobStatus::Uploading,
            current: if must { 10 } else { 5 },
            total: 10,
            speed: 0.0,
            eta_secs: None,
            sent: None,
        };
        Arc::new(Encoded::progress(seq, &[figure], &QueueTotals::default()).unwrap())
    }

    fn job(seq: u64, job: i64, terminal: bool) -> Arc<Encoded> {
        Arc::new(Encoded {
            seq,
            kind: Kind::Job {
                job: JobId(job),
                terminal,
            },
            figures: Box::default(),
            totals: 0..0,
            text: Utf8Bytes::from_static(""),
        })
    }

    fn seqs(out: &[Arc<Encoded>]) -> Vec<u64> {
        out.iter().map(|m| m.seq).collect()
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
