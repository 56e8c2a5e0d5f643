//! Tells when a batch of uploads has finished: the queue went from busy to idle.
//! The desktop shell turns that into a notification; a terminal client can print it.

use crate::model::QueueTotals;

/// What one finished batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    /// Files uploaded and verified in this batch.
    pub done: u32,
    /// Files that failed in this batch.
    pub failed: u32,
}

impl BatchSummary {
    /// One sentence for a notification.
    pub fn message(&self) -> String {
        let files = |n: u32| if n == 1 { "file" } else { "files" };
        match self.failed {
            0 => format!("{} {} uploaded and verified.", self.done, files(self.done)),
            failed => format!(
                "{} {} uploaded, {failed} failed. Open Ferry to retry.",
                self.done,
                files(self.done)
            ),
        }
    }
}

/// Follows the queue totals and reports each batch once, when the last of its jobs has
/// settled. A batch is everything that ran between two idle moments.
#[derive(Debug, Clone)]
pub struct BatchWatcher {
    busy: bool,
    at_start: QueueTotals,
}

impl BatchWatcher {
    /// Starts from the totals as they are now (a queue may already be busy at launch).
    pub fn new(now: &QueueTotals) -> Self {
        Self {
            busy: is_busy(now),
            at_start: now.clone(),
        }
    }

    /// Feeds the latest totals; returns the summary when this update ends a batch that
    /// finished or failed at least one file (a batch that was only cancelled says nothing).
    pub fn observe(&mut self, totals: &QueueTotals) -> Option<BatchSummary> {
        let busy = is_busy(totals);
        let ended = self.busy && !busy;
        if busy && !self.busy {
            self.at_start = totals.clone();
        }
        self.busy = busy;
        if !ended {
            return None;
        }
        let summary = BatchSummary {
            done: totals.done.saturating_sub(self.at_start.done),
            failed: totals.failed.saturating_sub(self.at_start.failed),
        };
        self.at_start = totals.clone();
        (summary.done + summary.failed > 0).then_some(summary)
    }
}

fn is_busy(totals: &QueueTotals) -> bool {
    totals.active + totals.queued > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(done: u32, failed: u32, active: u32, queued: u32) -> QueueTotals {
        QueueTotals {
            jobs: done + failed + active + queued,
            done,
            failed,
            active,
            queued,
            ..QueueTotals::default()
        }
    }

    #[test]
    fn a_batch_is_reported_once_when_the_queue_goes_idle() {
        let mut watcher = BatchWatcher::new(&totals(0, 0, 0, 0));
        assert_eq!(watcher.observe(&totals(0, 0, 1, 2)), None);
        assert_eq!(watcher.observe(&totals(1, 0, 1, 1)), None);
        assert_eq!(
            watcher.observe(&totals(2, 1, 0, 0)),
            Some(BatchSummary { done: 2, failed: 1 })
        );
        assert_eq!(watcher.observe(&totals(2, 1, 0, 0)), None, "reported twice");
    }

    #[test]
    fn only_the_files_of_the_new_batch_are_counted() {
        let mut watcher = BatchWatcher::new(&totals(5, 2, 0, 0));
        watcher.observe(&totals(5, 2, 1, 0));
        assert_eq!(
            watcher.observe(&totals(6, 2, 0, 0)),
            Some(BatchSummary { done: 1, failed: 0 })
        );
    }

    #[test]
    fn a_queue_busy_at_launch_reports_what_finished_after_launch() {
        let mut watcher = BatchWatcher::new(&totals(3, 0, 2, 0));
        assert_eq!(
            watcher.observe(&totals(5, 0, 0, 0)),
            Some(BatchSummary { done: 2, failed: 0 })
        );
    }

    #[test]
    fn a_batch_that_was_only_cancelled_says_nothing() {
        let mut watcher = BatchWatcher::new(&totals(0, 0, 0, 0));
        watcher.observe(&totals(0, 0, 1, 0));
        assert_eq!(watcher.observe(&totals(0, 0, 0, 0)), None);
    }

    #[test]
    fn messages_count_files_in_words() {
        assert_eq!(
            BatchSummary { done: 1, failed: 0 }.message(),
            "1 file uploaded and verified."
        );
        assert_eq!(
            BatchSummary { done: 3, failed: 2 }.message(),
            "3 files uploaded, 2 failed. Open Ferry to retry."
        );
    }
}
