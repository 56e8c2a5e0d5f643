//! When to try a failed request again: after 0, 1, 3 and 5 seconds, then exponentially
//! longer with full jitter up to a cap, and never forever.

use std::time::Duration;

/// The retry schedule of a tus destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first delays, in order (0, 1, 3 and 5 s by default).
    pub first_delays: Vec<Duration>,
    /// The longest delay; after the first ones, delays double up to it, each drawn
    /// uniformly between zero and the doubled figure ("full jitter"), so that many
    /// clients cut off together do not come back together.
    pub max_delay: Duration,
    /// Attempts in a row without progress before the job fails. The count starts over
    /// whenever the server acknowledges more bytes.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delays: [0, 1, 3, 5].map(Duration::from_secs).to_vec(),
            max_delay: Duration::from_secs(60),
            max_attempts: 12,
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1 for the first retry). `jitter` is a
    /// number in `[0, 1)`, drawn by the caller so the schedule itself stays testable.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let index = attempt.saturating_sub(1) as usize;
        if let Some(delay) = self.first_delays.get(index) {
            return *delay;
        }
        let base = self
            .first_delays
            .last()
            .copied()
            .unwrap_or(Duration::from_secs(1))
            .max(Duration::from_millis(1));
        let doublings = u32::try_from(index + 1 - self.first_delays.len()).unwrap_or(u32::MAX);
        let ceiling = base
            .checked_mul(2u32.saturating_pow(doublings.min(20)))
            .unwrap_or(self.max_delay)
            .min(self.max_delay);
        ceiling.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// Counts attempts in a row that made no progress.
#[derive(Debug, Default)]
pub(crate) struct Attempts {
    failed: u32,
}

impl Attempts {
    /// Records a failure; returns the retry number (1 for the first retry), or `None`
    /// when the policy's limit is reached.
    pub(crate) fn fail(&mut self, policy: &RetryPolicy) -> Option<u32> {
        self.failed += 1;
        (self.failed <= policy.max_attempts).then_some(self.failed)
    }

    /// True after at least one failure since the last progress.
    pub(crate) fn any(&self) -> bool {
        self.failed > 0
    }

    /// The server acknowledged more bytes: the count starts over.
    pub(crate) fn progressed(&mut self) {
        self.failed = 0;
    }
}

/// Reads a `Retry-After` header given in seconds (the form servers use for 429 and
/// 503). The HTTP-date form is rare for uploads and is ignored.
pub(crate) fn retry_after(value: Option<&str>) -> Option<Duration> {
    let secs: u64 = value?.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_delays_then_exponential_with_full_jitter_up_to_the_cap() {
        let policy = RetryPolicy::default();
        let secs = |attempt, jitter| policy.delay(attempt, jitter).as_secs_f64();
        let first: Vec<Duration> = (1..=4).map(|n| policy.delay(n, 0.9)).collect();
        assert_eq!(first, [0, 1, 3, 5].map(Duration::from_secs));
        // Attempt 5 draws up to 10 s, attempt 6 up to 20 s, then 40 s, then the 60 s cap.
        assert!((secs(5, 0.999) - 9.99).abs() < 1e-9);
        assert!((secs(6, 0.5) - 10.0).abs() < 1e-9);
        assert!((secs(7, 0.999) - 39.96).abs() < 1e-9);
        assert!((secs(8, 0.999) - 59.94).abs() < 1e-9);
        assert!((secs(30, 0.999) - 59.94).abs() < 1e-9);
        assert!(secs(9, 0.0).abs() < f64::EPSILON);
    }

    #[test]
    fn attempts_stop_at_the_limit_and_restart_on_progress() {
        let policy = RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        };
        let mut attempts = Attempts::default();
        assert_eq!(attempts.fail(&policy), Some(1));
        assert_eq!(attempts.fail(&policy), Some(2));
        assert_eq!(attempts.fail(&policy), None);
        attempts.progressed();
        assert_eq!(attempts.fail(&policy), Some(1));
    }

    #[test]
    fn retry_after_reads_seconds_and_caps_them() {
        assert_eq!(retry_after(Some(" 7 ")), Some(Duration::from_secs(7)));
        assert_eq!(retry_after(Some("99999")), Some(Duration::from_secs(3600)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(None), None);
    }
}
