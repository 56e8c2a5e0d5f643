//! The engine's errors. Each message says what went wrong and what the user can do
//! about it, because most of them end up verbatim in a job's `error` field or in a
//! command's reply.

use std::path::PathBuf;

use crate::model::{JobId, JobStatus};

/// Everything that can go wrong in the engine, its pipeline or a destination.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The folder that holds the job database could not be created or used.
    #[error(
        "cannot use the data folder {}: {source}. Check that it exists and that Ferry may write to it",
        path.display()
    )]
    DataDir {
        /// The data folder.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// Another engine (another Ferry window, or the `ferry` command) already uses the
    /// data folder.
    #[error(
        "another Ferry is already using the data folder {}; close it first, or give this one its own data folder",
        path.display()
    )]
    DataDirInUse {
        /// The data folder.
        path: PathBuf,
    },

    /// The job database refused a read or a write.
    #[error(
        "the job database {} failed: {message}. If this keeps happening, move that file aside and restart Ferry (the queue then starts empty)",
        path.display()
    )]
    Database {
        /// The database file.
        path: PathBuf,
        /// What `SQLite` said.
        message: String,
    },

    /// A command named a job the engine does not know.
    #[error("there is no {0}; refresh the job list and try again")]
    UnknownJob(JobId),

    /// A command does not apply to the job's current state.
    #[error("{id} is {status}, so it cannot be {action}; {hint}")]
    InvalidState {
        /// The job.
        id: JobId,
        /// Its state when the command arrived.
        status: JobStatus,
        /// What was asked, as a past participle ("paused", "retried").
        action: &'static str,
        /// What to do instead.
        hint: &'static str,
    },

    /// The engine was shut down and takes no more commands.
    #[error("the upload engine has shut down; restart Ferry to continue")]
    ShutDown,

    /// A source file could not be opened or read.
    #[error(
        "cannot read {}: {source}. Check that the file still exists and that Ferry may read it, then retry",
        path.display()
    )]
    SourceRead {
        /// The source file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// A source file changed (size or content) while the pipeline was reading it.
    #[error(
        "{} changed while Ferry was reading it ({detail}); retry once nothing is writing to it any more",
        path.display()
    )]
    SourceChanged {
        /// The source file.
        path: PathBuf,
        /// What changed.
        detail: String,
    },

    /// A source file was deleted or moved while the pipeline was reading it.
    #[error(
        "{} was deleted or moved while Ferry was reading it; put it back and retry, or cancel the job",
        path.display()
    )]
    SourceVanished {
        /// The source file.
        path: PathBuf,
    },

    /// The destination does not accept this file (size or type policy).
    #[error("{0}")]
    Refused(String),

    /// A local I/O operation on the destination side failed.
    #[error("{context}: {source}")]
    Destination {
        /// What the destination was doing, naming the file.
        context: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// A remote destination reported a problem (status, protocol error, quota).
    #[error("{0}")]
    Remote(String),

    /// The destination's copy does not match what was read locally.
    #[error(
        "the copy at {remote} does not match the original ({detail}); it was removed, retry the job to upload it again"
    )]
    VerifyMismatch {
        /// Where the copy was.
        remote: String,
        /// What differed.
        detail: String,
    },

    /// A bug: a task of the engine stopped unexpectedly. The job can be retried.
    #[error("internal error ({0}); retry, and report it if it happens again")]
    Internal(String),

    /// The system keyring cannot be reached: no Secret Service on the session bus (or no
    /// session bus at all), no Keychain or Credential Manager to talk to.
    #[error(
        "cannot {action}: the system keyring is not available ({detail}). On Linux, Ferry keeps secrets in a Secret Service (GNOME Keyring, KWallet) in your desktop session: start or install one, then try again. Destinations without credentials keep working; Ferry never stores a secret anywhere else"
    )]
    KeyringUnavailable {
        /// What Ferry was doing, naming the destination.
        action: String,
        /// What the keyring said (never a secret).
        detail: String,
    },

    /// The keyring is there but locked, or the user refused to unlock it.
    #[error(
        "cannot {action}: the system keyring is locked or access was refused ({detail}). Unlock it (log in to your desktop session, or open your keyring manager) and allow Ferry when asked, then try again"
    )]
    KeyringLocked {
        /// What Ferry was doing, naming the destination.
        action: String,
        /// What the keyring said (never a secret).
        detail: String,
    },

    /// The keyring answered, but not with something usable (an entry it refuses, several
    /// entries for one destination, a value that is not text).
    #[error("cannot {action}: {detail}")]
    Keyring {
        /// What Ferry was doing, naming the destination.
        action: String,
        /// What went wrong and what to do (never a secret).
        detail: String,
    },

    /// The destination registry file cannot be read, parsed or written.
    #[error("the destinations file {}: {detail}", path.display())]
    Registry {
        /// The registry file.
        path: PathBuf,
        /// What is wrong with it, and what to do.
        detail: String,
    },

    /// A destination's settings are not acceptable (a duplicate name, a bad URL); the
    /// message says which and why.
    #[error("{0}")]
    InvalidDestination(String),

    /// A connection test found a problem; `problem` says which kind, the message says
    /// what exactly and what to do.
    #[error("{detail}")]
    ConnectionTest {
        /// What kind of failure it was.
        problem: crate::destination::tus::ConnectionProblem,
        /// The full message for the user.
        detail: String,
    },

    /// The work was stopped on request (pause, cancel or shutdown). Not a failure: the
    /// engine turns it into the state that was asked for.
    #[error("stopped on request")]
    Interrupted,
}

impl CoreError {
    /// Wraps a source-side I/O error, telling a vanished file apart from other failures
    /// so the message fits what happened.
    pub(crate) fn source_io(path: &std::path::Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            Self::SourceVanished {
                path: path.to_path_buf(),
            }
        } else {
            Self::SourceRead {
                path: path.to_path_buf(),
                source,
            }
        }
    }

    /// Wraps a `SQLite` error with the database path.
    pub(crate) fn database(path: &std::path::Path, err: &rusqlite::Error) -> Self {
        Self::Database {
            path: path.to_path_buf(),
            message: err.to_string(),
        }
    }
}

/// Formats a byte count for people: `512 B`, `1.5 KiB`, `3.0 GiB`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Says how a file's size changed, for an error: in readable units, or in bytes when
/// the two sizes read the same in those units (a file that grew by a few KiB while it
/// was read is "32.0 MiB" both before and after).
pub(crate) fn size_change(from: u64, to: u64) -> String {
    let (before, after) = (human_bytes(from), human_bytes(to));
    if before != after {
        return format!("its size went from {before} to {after}");
    }
    let (difference, direction) = if to > from {
        (to - from, "more")
    } else {
        (from - to, "fewer")
    };
    // No parentheses: the error puts this detail in parentheses of its own.
    format!("its size went from {from} to {to} bytes, {difference} {direction}")
}

#[cfg(test)]
mod tests {
    use super::{human_bytes, size_change};

    #[test]
    fn a_size_change_too_small_for_the_unit_is_told_in_bytes() {
        let mib = 1024 * 1024;
        assert_eq!(
            size_change(32 * mib, 32 * mib + 4096),
            "its size went from 33554432 to 33558528 bytes, 4096 more"
        );
        assert_eq!(
            size_change(32 * mib, 32 * mib - 1),
            "its size went from 33554432 to 33554431 bytes, 1 fewer"
        );
        assert_eq!(
            size_change(32 * mib, 64 * mib),
            "its size went from 32.0 MiB to 64.0 MiB"
        );
        assert_eq!(size_change(100, 0), "its size went from 100 B to 0 B");
    }

    #[test]
    fn human_bytes_picks_a_readable_unit() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(1024 * 1024 * 1024), "1.0 GiB");
    }
}
