//! The sync index: what Ferry knows about every file of every watched folder, in a
//! `SQLite` file, so that a restart or a missed watcher event never uploads a version
//! twice and never misses one.

use crate::error::SyncError;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// Where a file of a watched folder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// Handed to the engine; not uploaded yet.
    Queued,
    /// This version (size, modification time and hash below) is at `remote`.
    Uploaded,
    /// The file was deleted (or moved out of the folder) locally. Its copy stays where
    /// it was uploaded: deleting locally never deletes remotely.
    Gone,
}

impl EntryState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Uploaded => "uploaded",
            Self::Gone => "gone",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "uploaded" => Self::Uploaded,
            "gone" => Self::Gone,
            _ => Self::Queued,
        }
    }
}

/// One file of a watched folder as the index has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The watched folder (its absolute path), so one index serves every folder.
    pub folder: String,
    /// The file's path inside the folder, with `/` between components.
    pub path: String,
    /// Size in bytes of the version recorded.
    pub size: u64,
    /// Modification time of that version, in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// BLAKE3 hash (hex) of that version, once known.
    pub hash: Option<String>,
    /// Where that version was uploaded (a path or URL), once it was.
    pub remote: Option<String>,
    /// Where it stands.
    pub state: EntryState,
}

/// The sync index, one `SQLite` file for every watched folder.
#[derive(Debug)]
pub struct SyncIndex {
    path: PathBuf,
    /// One connection, used briefly by each call.
    conn: Mutex<Connection>,
}

impl SyncIndex {
    /// Opens (or creates) the index at `path`.
    pub fn open(path: &Path) -> Result<Self, SyncError> {
        let failed = |source| SyncError::Index {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(failed)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS files (
                 folder TEXT NOT NULL,
                 path TEXT NOT NULL,
                 size INTEGER NOT NULL,
                 mtime_ns INTEGER NOT NULL,
                 hash TEXT,
                 remote TEXT,
                 state TEXT NOT NULL,
                 PRIMARY KEY (folder, path)
             );
             CREATE INDEX IF NOT EXISTS files_by_hash ON files (folder, hash);",
        )
        .map_err(failed)?;
        Ok(Self {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    fn error(&self, source: rusqlite::Error) -> SyncError {
        SyncError::Index {
            path: self.path.clone(),
            source,
        }
    }

    /// The entry of `path` in `folder`, if the index has one.
    pub fn get(&self, folder: &str, path: &str) -> Result<Option<IndexEntry>, SyncError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.query_row(
            "SELECT folder, path, size, mtime_ns, hash, remote, state FROM files
             WHERE folder = ?1 AND path = ?2",
            params![folder, path],
            row_to_entry,
        )
        .optional()
        .map_err(|e| self.error(e))
    }

    /// Every entry of `folder`, in path order.
    pub fn entries(&self, folder: &str) -> Result<Vec<IndexEntry>, SyncError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut statement = conn
            .prepare(
                "SELECT folder, path, size, mtime_ns, hash, remote, state FROM files
                 WHERE folder = ?1 ORDER BY path",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(params![folder], row_to_entry)
            .map_err(|e| self.error(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.error(e))
    }

    /// Writes `entry`, replacing what the index had for its path.
    pub fn put(&self, entry: &IndexEntry) -> Result<(), SyncError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.execute(
            "INSERT INTO files (folder, path, size, mtime_ns, hash, remote, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (folder, path) DO UPDATE SET size = ?3, mtime_ns = ?4, hash = ?5,
                 remote = ?6, state = ?7",
            params![
                entry.folder,
                entry.path,
                i64::try_from(entry.size).unwrap_or(i64::MAX),
                entry.mtime_ns,
                entry.hash,
                entry.remote,
                entry.state.as_str(),
            ],
        )
        .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Forgets `path` in `folder`: the next scan treats it as new.
    pub fn forget(&self, folder: &str, path: &str) -> Result<(), SyncError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.execute(
            "DELETE FROM files WHERE folder = ?1 AND path = ?2",
            params![folder, path],
        )
        .map_err(|e| self.error(e))?;
        Ok(())
    }

    /// Moves the entry of `from` to `to` (a rename), keeping what it says.
    pub fn rename(&self, folder: &str, from: &str, to: &str) -> Result<(), SyncError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.execute(
            "DELETE FROM files WHERE folder = ?1 AND path = ?2",
            params![folder, to],
        )
        .map_err(|e| self.error(e))?;
        conn.execute(
            "UPDATE files SET path = ?3 WHERE folder = ?1 AND path = ?2",
            params![folder, from, to],
        )
        .map_err(|e| self.error(e))?;
        Ok(())
    }
}

fn row_to_entry(row: &rusqlite::Row<'_>) -> rusqlite::Result<IndexEntry> {
    let size: i64 = row.get(2)?;
    let state: String = row.get(6)?;
    Ok(IndexEntry {
        folder: row.get(0)?,
        path: row.get(1)?,
        size: u64::try_from(size).unwrap_or(0),
        mtime_ns: row.get(3)?,
        hash: row.get(4)?,
        remote: row.get(5)?,
        state: EntryState::parse(&state),
    })
}
