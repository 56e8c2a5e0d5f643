//! Files still being written wait until they have been quiet for the whole period.

use ferry_sync::{FileSeen, QuietGate};
use std::time::{Duration, Instant};

const QUIET: Duration = Duration::from_secs(2);
const SECOND_NS: i64 = 1_000_000_000;

fn file(size: u64, mtime_ns: i64) -> FileSeen {
    FileSeen {
        path: "video.mov".into(),
        size,
        mtime_ns,
    }
}

#[test]
fn a_file_written_slowly_goes_only_once_it_has_been_quiet_for_the_period() {
    let mut gate = QuietGate::new(QUIET);
    let start = Instant::now();
    let wall = 1_000 * SECOND_NS;
    // Written to every second for ten seconds: never quiet for two.
    for s in 0..10i64 {
        let now = start + Duration::from_secs(s as u64);
        let seen = file(1000 * (s as u64 + 1), wall + s * SECOND_NS);
        let (ready, next) = gate.settle(vec![seen], now, wall + s * SECOND_NS);
        assert!(ready.is_empty(), "ready while still growing at {s} s");
        assert_eq!(next, Some(now + QUIET));
    }
    // Then left alone: still waiting one second later, ready two seconds after the last
    // change.
    let last = file(10_000, wall + 9 * SECOND_NS);
    let (ready, _) = gate.settle(
        vec![last.clone()],
        start + Duration::from_secs(10),
        wall + 10 * SECOND_NS,
    );
    assert!(ready.is_empty());
    let (ready, next) = gate.settle(
        vec![last.clone()],
        start + Duration::from_secs(11),
        wall + 11 * SECOND_NS,
    );
    assert_eq!(ready, vec![last]);
    assert_eq!(next, None);
    assert_eq!(gate.waiting(), 0);
}

#[test]
fn a_file_last_modified_long_ago_is_ready_at_once() {
    let mut gate = QuietGate::new(QUIET);
    let wall = 1_000 * SECOND_NS;
    let old = file(5, wall - 60 * SECOND_NS);
    let (ready, next) = gate.settle(vec![old.clone()], Instant::now(), wall);
    assert_eq!(ready, vec![old]);
    assert_eq!(next, None);
}
