//! A per-connection limit on inbound messages: the generic cell rate algorithm (GCRA),
//! which allows a burst and then a steady rate, with one timestamp of state.

use std::time::Duration;
use tokio::time::Instant;

/// One connection's inbound rate limiter.
#[derive(Debug)]
pub(crate) struct Gcra {
    /// Time one message "costs" at the steady rate.
    emission: Duration,
    /// How far ahead of now the theoretical arrival time may run: the burst.
    tolerance: Duration,
    /// Theoretical arrival time of the next message.
    tat: Option<Instant>,
}

impl Gcra {
    /// `per_sec` messages a second on average, with bursts of up to `burst` at once.
    /// A rate of 0 turns the limit off.
    pub(crate) fn new(per_sec: u32, burst: u32) -> Option<Self> {
        if per_sec == 0 {
            return None;
        }
        let emission = Duration::from_secs(1) / per_sec;
        Some(Self {
            emission,
            tolerance: emission * burst.saturating_sub(1),
            tat: None,
        })
    }

    /// Counts one message arriving at `now`; false when it breaks the limit.
    pub(crate) fn allow(&mut self, now: Instant) -> bool {
        let tat = self.tat.map_or(now, |tat| tat.max(now));
        if tat.saturating_duration_since(now) > self.tolerance {
            return false;
        }
        self.tat = Some(tat + self.emission);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_then_the_steady_rate_holds() {
        let mut limit = Gcra::new(10, 5).unwrap();
        let t0 = Instant::now();
        for n in 0..5 {
            assert!(limit.allow(t0), "message {n} of the burst was refused");
        }
        assert!(!limit.allow(t0), "the sixth message at once passed");
        // One emission interval later there is room for exactly one more.
        let t1 = t0 + Duration::from_millis(100);
        assert!(limit.allow(t1));
        assert!(!limit.allow(t1));
        // After a long pause the whole burst is available again.
        let t2 = t1 + Duration::from_secs(10);
        for _ in 0..5 {
            assert!(limit.allow(t2));
        }
        assert!(!limit.allow(t2));
    }

    #[test]
    fn a_rate_of_zero_means_no_limit() {
        assert!(Gcra::new(0, 10).is_none());
    }
}
