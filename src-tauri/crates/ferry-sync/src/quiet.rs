//! Files still being written are not uploaded half-done: a file is ready only once its
//! size and modification time have stayed the same for a quiet period.

use crate::scan::FileSeen;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Remembers when each file was last seen to change, and lets through those that have
/// been quiet long enough.
#[derive(Debug)]
pub struct QuietGate {
    quiet: Duration,
    /// For each file that is not ready yet: its size and modification time, and when
    /// they were first seen as they are.
    waiting: HashMap<String, (u64, i64, Instant)>,
}

impl QuietGate {
    /// A gate with the given quiet period (Ferry's default is 2 s).
    pub fn new(quiet: Duration) -> Self {
        Self {
            quiet,
            waiting: HashMap::new(),
        }
    }

    /// Splits `files`, as a scan found them at `now` (and at `wall_now_ns`, nanoseconds
    /// since the Unix epoch, for the modification times), into those ready to go and
    /// when to look again at the others (`None` when none waits). A file modified longer
    /// than the quiet period ago is ready at once, so a first scan of an old folder does
    /// not wait; one seen changing waits until it has been quiet for the whole period.
    pub fn settle(
        &mut self,
        files: Vec<FileSeen>,
        now: Instant,
        wall_now_ns: i64,
    ) -> (Vec<FileSeen>, Option<Instant>) {
        let quiet_ns = i64::try_from(self.quiet.as_nanos()).unwrap_or(i64::MAX);
        let mut ready = Vec::new();
        let mut next: Option<Instant> = None;
        for file in files {
            let since = match self.waiting.get(&file.path) {
                Some(&(size, mtime, since)) if size == file.size && mtime == file.mtime_ns => since,
                _ if wall_now_ns.saturating_sub(file.mtime_ns) >= quiet_ns => {
                    self.waiting.remove(&file.path);
                    ready.push(file);
                    continue;
                }
                _ => {
                    self.waiting
                        .insert(file.path.clone(), (file.size, file.mtime_ns, now));
                    now
                }
            };
            let due = since + self.quiet;
            if due <= now {
                self.waiting.remove(&file.path);
                ready.push(file);
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        (ready, next)
    }

    /// Forgets a file (deleted, say) so it does not hold a wait open.
    pub fn forget(&mut self, path: &str) {
        self.waiting.remove(path);
    }

    /// How many files are waiting to be quiet.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }
}
