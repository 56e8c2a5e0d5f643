//! Progress arithmetic: a smoothed speed, the time left at that speed, and a stage's
//! figures. When they are published is the engine's progress clock's business.
//!
//! The speed is an exponential moving average whose weight depends on the time between
//! samples (`alpha = 1 - e^(-dt/tau)`), so the figure behaves the same whether bytes
//! arrive in many small chunks or a few large ones, and it does not jump with each chunk.
//! The first sampling window only sets a baseline: in it an upload fills socket buffers
//! and the bandwidth cap's allowance far faster than the link runs, and a figure that
//! counted it would overstate the speed for seconds. For its first `tau` after that the
//! figure is the plain average since the baseline, then the average carries on smoothed.

use std::time::{Duration, Instant};

use crate::model::{JobId, JobProgress, JobStatus};

/// How quickly the smoothed speed follows a change in the real rate: after `TAU` it has
/// covered about 63% of the change.
const TAU: Duration = Duration::from_secs(2);

/// Samples closer together than this are merged with the next one: a rate measured over
/// a few microseconds says nothing.
const MIN_WINDOW: Duration = Duration::from_millis(50);

/// Weight of a new rate sample taken `dt` seconds after the previous one.
pub(crate) fn ema_alpha(dt_secs: f64, tau_secs: f64) -> f64 {
    if tau_secs <= 0.0 {
        return 1.0;
    }
    1.0 - (-dt_secs / tau_secs).exp()
}

/// Seconds needed for `remaining` bytes at `speed` bytes/s; `None` while the speed is
/// unknown or zero, `Some(0.0)` once nothing remains.
pub(crate) fn eta_secs(remaining: u64, speed: f64) -> Option<f64> {
    if remaining == 0 {
        Some(0.0)
    } else if speed.is_finite() && speed > 0.0 {
        Some(remaining as f64 / speed)
    } else {
        None
    }
}

/// A smoothed byte rate fed with cumulative byte counts.
#[derive(Debug, Clone)]
pub(crate) struct SpeedMeter {
    tau: f64,
    min_window: Duration,
    started: Instant,
    /// Bytes already counted when the meter started (a resumed upload's offset).
    start_bytes: u64,
    /// When and at what count the first sampling window ended; rates count from there.
    baseline: Option<(Instant, u64)>,
    last_bytes: u64,
    last_at: Instant,
    speed: Option<f64>,
}

impl SpeedMeter {
    /// A meter that starts counting at `now` from zero bytes.
    pub(crate) fn new(tau: Duration, min_window: Duration, now: Instant) -> Self {
        Self {
            tau: tau.as_secs_f64(),
            min_window,
            started: now,
            start_bytes: 0,
            baseline: None,
            last_bytes: 0,
            last_at: now,
            speed: None,
        }
    }

    /// Takes the cumulative byte count at `now` and returns the smoothed speed.
    pub(crate) fn update(&mut self, bytes: u64, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(self.last_at);
        if dt < self.min_window || bytes < self.last_bytes {
            return self.speed();
        }
        let dt_secs = dt.as_secs_f64();
        match (self.baseline, self.speed) {
            (None, _) => self.baseline = Some((now, bytes)),
            (Some((at, counted)), speed) => {
                let elapsed = now.saturating_duration_since(at).as_secs_f64();
                self.speed = Some(match speed {
                    Some(previous) if elapsed >= self.tau => {
                        let rate = (bytes - self.last_bytes) as f64 / dt_secs;
                        previous + ema_alpha(dt_secs, self.tau) * (rate - previous)
                    }
                    _ => bytes.saturating_sub(counted) as f64 / elapsed,
                });
            }
        }
        self.last_bytes = bytes;
        self.last_at = now;
        self.speed()
    }

    /// Settles the figure at the end of a stage: a stage too short for a figure of its
    /// own still gets a speed, its plain average.
    pub(crate) fn settle(&mut self, bytes: u64, now: Instant) -> f64 {
        if self.speed.is_none() {
            let elapsed = now.saturating_duration_since(self.started).as_secs_f64();
            let counted = bytes.saturating_sub(self.start_bytes);
            if elapsed > 0.0 && counted > 0 {
                self.speed = Some(counted as f64 / elapsed);
            }
        }
        self.speed()
    }

    /// The smoothed speed in bytes/s, 0 while unknown.
    pub(crate) fn speed(&self) -> f64 {
        self.speed.unwrap_or(0.0)
    }
}

/// The live figures of one job's current stage.
#[derive(Debug, Clone)]
pub(crate) struct StageMeter {
    job: JobId,
    status: JobStatus,
    total: u64,
    current: u64,
    speed: SpeedMeter,
    /// Bytes handed to the network, ahead of `current` (acknowledged); `None` until a
    /// destination reports it.
    sent: Option<u64>,
}

impl StageMeter {
    /// Starts a stage of `total` bytes at `now`.
    pub(crate) fn new(job: JobId, status: JobStatus, total: u64, now: Instant) -> Self {
        Self {
            job,
            status,
            total,
            current: 0,
            speed: SpeedMeter::new(TAU, MIN_WINDOW, now),
            sent: None,
        }
    }

    /// Starts over from `bytes` (a resumed upload starts at the server's offset; an
    /// upload the server lost starts again at zero). The only way figures go back.
    pub(crate) fn restart_at(&mut self, bytes: u64, now: Instant) {
        self.current = bytes.min(self.total);
        self.speed = SpeedMeter::new(TAU, MIN_WINDOW, now);
        self.speed.start_bytes = self.current;
        self.speed.last_bytes = self.current;
        self.sent = self.sent.map(|_| self.current);
    }

    /// Records bytes handed to the network (acknowledged or not). Never below the
    /// acknowledged figure, never past the total.
    pub(crate) fn advance_sent(&mut self, bytes: u64) {
        self.sent = Some(bytes.clamp(self.current, self.total));
    }

    /// Records `bytes` processed so far. Figures never go backwards and never pass the
    /// total.
    pub(crate) fn advance(&mut self, bytes: u64, now: Instant) {
        let bytes = bytes.min(self.total).max(self.current);
        self.current = bytes;
        if let Some(sent) = self.sent.as_mut() {
            *sent = (*sent).max(bytes);
        }
        self.speed.update(bytes, now);
    }

    /// Ends the stage: a stage shorter than one sampling window still gets a speed.
    pub(crate) fn finish(&mut self, now: Instant) {
        self.speed.settle(self.current, now);
    }

    /// The figures as the model carries them.
    pub(crate) fn progress(&self) -> JobProgress {
        let speed = self.speed.speed();
        JobProgress {
            job_id: self.job,
            status: self.status,
            current: self.current,
            total: self.total,
            speed,
            eta_secs: eta_secs(self.total - self.current, speed),
            sent: self.sent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1.0)
    }

    #[test]
    fn alpha_grows_with_the_time_between_samples() {
        assert!(close(ema_alpha(0.0, 2.0), 0.0));
        assert!(close(ema_alpha(2.0, 2.0), 1.0 - (-1.0f64).exp()));
        assert!(ema_alpha(0.1, 2.0) < ema_alpha(1.0, 2.0));
        assert!(close(ema_alpha(1.0, 0.0), 1.0));
    }

    #[test]
    fn the_first_window_is_a_baseline_and_a_constant_rate_stays_put() {
        let t0 = Instant::now();
        let mut meter = SpeedMeter::new(TAU, MIN_WINDOW, t0);
        assert!(close(meter.speed(), 0.0));
        assert!(close(meter.update(1000, at(t0, 100)), 0.0));
        // 1000 bytes per 100 ms = 10 000 B/s, every sample.
        for i in 2..=40u64 {
            let speed = meter.update(i * 1000, at(t0, i * 100));
            assert!(close(speed, 10_000.0), "sample {i}: {speed}");
        }
    }

    #[test]
    fn a_step_in_the_rate_is_followed_gradually() {
        let t0 = Instant::now();
        let mut meter = SpeedMeter::new(TAU, MIN_WINDOW, t0);
        // 10 000 B/s for 2.5 s, past the plain average of the start.
        for i in 1..=25u64 {
            meter.update(i * 1000, at(t0, i * 100));
        }
        // The rate doubles for one 100 ms sample: the figure moves by alpha only.
        let speed = meter.update(27_000, at(t0, 2600));
        let alpha = ema_alpha(0.1, TAU.as_secs_f64());
        assert!(close(speed, 10_000.0 + alpha * 10_000.0), "{speed}");
        assert!(speed > 10_000.0 && speed < 11_000.0);
        // Keeping the new rate converges to it.
        let mut bytes = 27_000;
        let mut ms = 2600;
        for _ in 0..200 {
            bytes += 2000;
            ms += 100;
            meter.update(bytes, at(t0, ms));
        }
        assert!((meter.speed() - 20_000.0).abs() < 1.0, "{}", meter.speed());
    }

    #[test]
    fn smoothing_does_not_depend_on_how_samples_are_cut() {
        let t0 = Instant::now();
        let mut coarse = SpeedMeter::new(TAU, MIN_WINDOW, t0);
        let mut fine = SpeedMeter::new(TAU, MIN_WINDOW, t0);
        // 10 000 B/s for 3 s, past the plain average of the start.
        for i in 1..=30u64 {
            coarse.update(i * 1000, at(t0, i * 100));
            fine.update(i * 1000, at(t0, i * 100));
        }
        // Same new rate (30 000 B/s) for 400 ms, as one sample or as four.
        coarse.update(42_000, at(t0, 3400));
        for i in 1..=4u64 {
            fine.update(30_000 + i * 3000, at(t0, 3000 + i * 100));
        }
        assert!(
            close(coarse.speed(), fine.speed()),
            "{} vs {}",
            coarse.speed(),
            fine.speed()
        );
    }

    #[test]
    fn a_burst_at_the_start_does_not_hold_the_figure_up() {
        // 1 MiB in the first 50 ms (socket buffers filling), then a link of 8 MiB/s.
        let mib = 1024.0 * 1024.0;
        let t0 = Instant::now();
        let mut meter = SpeedMeter::new(TAU, MIN_WINDOW, t0);
        let mut bytes = 1024 * 1024;
        meter.update(bytes, at(t0, 50));
        let mut ms = 50;
        let mut after_one_second = 0.0;
        while ms < 3000 {
            ms += 50;
            bytes += 8 * 1024 * 1024 / 20;
            let speed = meter.update(bytes, at(t0, ms));
            if ms == 1000 {
                after_one_second = speed;
            }
        }
        // An average seeded with the first window would still say 15.5 MiB/s after a second.
        assert!(
            (after_one_second / mib - 8.0).abs() < 0.1,
            "{}",
            after_one_second / mib
        );
        assert!(
            (meter.speed() / mib - 8.0).abs() < 0.4,
            "{}",
            meter.speed() / mib
        );
    }

    #[test]
    fn samples_inside_the_minimum_window_are_merged() {
        let t0 = Instant::now();
        let mut meter = SpeedMeter::new(TAU, MIN_WINDOW, t0);
        assert!(close(meter.update(500, at(t0, 10)), 0.0));
        assert!(close(meter.update(1000, at(t0, 100)), 0.0));
        assert!(close(meter.update(1500, at(t0, 110)), 0.0));
        assert!(close(meter.update(2000, at(t0, 200)), 10_000.0));
    }

    #[test]
    fn a_short_stage_settles_on_its_average() {
        let t0 = Instant::now();
        let mut meter = SpeedMeter::new(TAU, MIN_WINDOW, t0);
        meter.update(4096, at(t0, 20));
        assert!(close(meter.settle(4096, at(t0, 40)), 4096.0 / 0.04));
    }

    #[test]
    fn eta_is_remaining_over_speed() {
        assert_eq!(eta_secs(0, 0.0), Some(0.0));
        assert_eq!(eta_secs(100, 0.0), None);
        assert_eq!(eta_secs(100, f64::NAN), None);
        assert!(close(eta_secs(1000, 250.0).unwrap(), 4.0));
    }

    #[test]
    fn stage_figures_are_monotonic_and_clamped() {
        let t0 = Instant::now();
        let mut stage = StageMeter::new(JobId(1), JobStatus::Uploading, 1000, t0);
        stage.advance(100, at(t0, 10));
        assert_eq!(stage.progress().current, 100);
        stage.advance(200, at(t0, 60));
        // Going backwards is ignored; passing the total is clamped.
        stage.advance(150, at(t0, 70));
        assert_eq!(stage.progress().current, 200);
        stage.advance(5000, at(t0, 200));
        assert_eq!(stage.progress().current, 1000);
        stage.finish(at(t0, 210));
        let progress = stage.progress();
        assert_eq!(progress.eta_secs, Some(0.0));
        assert!(progress.speed > 0.0);
    }

    #[test]
    fn sent_runs_ahead_of_acknowledged_and_a_restart_is_the_only_way_back() {
        let t0 = Instant::now();
        let mut stage = StageMeter::new(JobId(1), JobStatus::Uploading, 1000, t0);
        stage.advance_sent(400);
        assert_eq!(stage.progress().sent, Some(400));
        assert_eq!(stage.progress().current, 0);
        // Acknowledged passes sent: sent follows.
        stage.advance(500, at(t0, 120));
        assert_eq!(stage.progress().sent, Some(500));
        // A failed request sends less than was acknowledged: clamped.
        stage.advance_sent(100);
        assert_eq!(stage.progress().sent, Some(500));
        // Only an explicit restart goes back.
        stage.restart_at(0, at(t0, 300));
        let progress = stage.progress();
        assert_eq!((progress.current, progress.sent), (0, Some(0)));
    }

    #[test]
    fn an_empty_stage_settles_with_nothing_left() {
        let t0 = Instant::now();
        let mut stage = StageMeter::new(JobId(1), JobStatus::Hashing, 0, t0);
        stage.finish(t0);
        let progress = stage.progress();
        assert_eq!((progress.current, progress.total), (0, 0));
        assert_eq!(progress.eta_secs, Some(0.0));
    }
}
