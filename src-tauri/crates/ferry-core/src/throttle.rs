//! Bandwidth caps shared by every upload that draws on them.
//!
//! One [`Throttle`] can cap a single destination or the whole engine: each upload asks
//! it for permission before sending a chunk, and the throttle spaces the permissions so
//! that, together, the uploads never exceed the rate. It is a virtual-clock (GCRA)
//! scheduler: no background task, no timer per byte.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::CoreError;

/// How far ahead of the rate a burst may run, so small chunks after an idle period do
/// not wait for nothing.
const BURST: Duration = Duration::from_millis(250);

/// A bandwidth cap in bytes per second, shared by whoever holds it.
#[derive(Debug)]
pub struct Throttle {
    rate: u64,
    /// When the bytes already granted will have drained at `rate`.
    drained_at: Mutex<Option<Instant>>,
}

impl Throttle {
    /// A cap of `rate` bytes per second (at least 1).
    pub fn new(rate: u64) -> Self {
        Self {
            rate: rate.max(1),
            drained_at: Mutex::new(None),
        }
    }

    /// The cap in bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }

    /// Waits until `bytes` more may be sent. `cancel` ends the wait with
    /// [`CoreError::Interrupted`].
    pub async fn acquire(&self, bytes: u64, cancel: &CancellationToken) -> Result<(), CoreError> {
        let start_at = {
            let mut drained = self
                .drained_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let from = drained.map_or(now, |at| at.max(now));
            let cost = Duration::from_secs_f64(bytes as f64 / self.rate as f64);
            *drained = Some(from + cost);
            // The chunk may go once the backlog ahead of it is within the burst.
            from.checked_sub(BURST).unwrap_or(now)
        };
        if start_at > Instant::now() {
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Err(CoreError::Interrupted),
                () = tokio::time::sleep_until(start_at) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn grants_are_spaced_to_the_rate_across_holders() {
        let throttle = std::sync::Arc::new(Throttle::new(1000));
        let cancel = CancellationToken::new();
        let start = Instant::now();
        // Two holders take 5 000 bytes in 500-byte steps: 10 000 bytes at 1 000 B/s.
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let throttle = std::sync::Arc::clone(&throttle);
            let cancel = cancel.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..10 {
                    throttle.acquire(500, &cancel).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = start.elapsed();
        // The last grant waits for 9 500 bytes ahead of it, minus the burst.
        assert_eq!(elapsed + BURST, Duration::from_millis(9500));
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_ends_a_wait() {
        let throttle = Throttle::new(10);
        let cancel = CancellationToken::new();
        throttle.acquire(1000, &cancel).await.unwrap();
        let waiting = throttle.acquire(10, &cancel);
        cancel.cancel();
        assert!(matches!(waiting.await, Err(CoreError::Interrupted)));
    }
}
