//! Where resumable uploads stand, kept so an interrupted upload continues after a
//! retry, a pause or a restart of Ferry instead of starting over.
//!
//! An upload is found again by the content hash and the destination, not by the job or
//! the path: renaming or touching a file keeps its upload, and a file whose content
//! changed never continues an upload of the old content.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::CoreError;

/// Identifies one resumable upload: the same content to the same destination.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResumeKey {
    /// The destination's identity (for tus, its endpoint URL).
    pub destination: String,
    /// BLAKE3 of the content (hex).
    pub blake3: String,
    /// Length of the content in bytes.
    pub size: u64,
}

/// How far one upload got, as last acknowledged by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumePoint {
    /// The upload's URL at the server.
    pub upload_url: String,
    /// Bytes the server acknowledged.
    pub offset: u64,
    /// When the server will forget the upload (its `Upload-Expires`, as sent), if said.
    pub expires: Option<String>,
}

/// Stores resume points. Implementations must make [`ResumeLedger::save`] durable
/// before returning: the caller sends more data only after it.
#[async_trait::async_trait]
pub trait ResumeLedger: Send + Sync + std::fmt::Debug {
    /// The saved point for `key`, if any.
    async fn load(&self, key: &ResumeKey) -> Result<Option<ResumePoint>, CoreError>;
    /// Saves (or replaces) the point for `key`.
    async fn save(&self, key: &ResumeKey, point: &ResumePoint) -> Result<(), CoreError>;
    /// Forgets `key` (the upload finished, was cancelled, or is gone).
    async fn forget(&self, key: &ResumeKey) -> Result<(), CoreError>;
    /// Whether any upload of `size` bytes to `destination` waits to be continued: when
    /// none does, a new file cannot match one, and its upload may start before its
    /// content hash is known.
    async fn holds_size(&self, destination: &str, size: u64) -> Result<bool, CoreError>;
}

/// Resume points in the data folder's `SQLite` database (`ferry.db`, table
/// `resumable_uploads`), beside the job queue.
#[derive(Debug, Clone)]
pub struct SqliteLedger {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl SqliteLedger {
    /// Opens (or creates) the ledger in `data_dir`. Blocking; call it at start-up.
    pub fn open(data_dir: &Path) -> Result<Self, CoreError> {
        // The queue's database file, opened the same way (no fsync per acknowledged
        // chunk: the server's offset, asked with HEAD, is the truth after a power cut).
        let (path, conn) = crate::store::open_connection(data_dir)?;
        let db_err = |e: rusqlite::Error| CoreError::database(&path, &e);
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS resumable_uploads (
                destination   TEXT    NOT NULL,
                blake3        TEXT    NOT NULL,
                size          INTEGER NOT NULL,
                upload_url    TEXT    NOT NULL,
                upload_offset INTEGER NOT NULL,
                expires       TEXT,
                updated_at_ms INTEGER NOT NULL,
                PRIMARY KEY (destination, blake3, size)
            );",
        )
        .map_err(db_err)?;
        Ok(Self {
            path,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection off the async worker threads.
    async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, CoreError> {
        let conn = Arc::clone(&self.conn);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&conn).map_err(|e| CoreError::database(&path, &e))
        })
        .await
        .map_err(|e| CoreError::Internal(format!("a resume-ledger task ended: {e}")))?
    }
}

fn size_i64(size: u64) -> i64 {
    i64::try_from(size).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl ResumeLedger for SqliteLedger {
    async fn load(&self, key: &ResumeKey) -> Result<Option<ResumePoint>, CoreError> {
        let key = key.clone();
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT upload_url, upload_offset, expires FROM resumable_uploads
                 WHERE destination = ?1 AND blake3 = ?2 AND size = ?3",
                params![key.destination, key.blake3, size_i64(key.size)],
                |row| {
                    let offset: i64 = row.get(1)?;
                    Ok(ResumePoint {
                        upload_url: row.get(0)?,
                        offset: u64::try_from(offset).unwrap_or(0),
                        expires: row.get(2)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn save(&self, key: &ResumeKey, point: &ResumePoint) -> Result<(), CoreError> {
        let key = key.clone();
        let point = point.clone();
        self.with_conn(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO resumable_uploads
                 (destination, blake3, size, upload_url, upload_offset, expires, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    key.destination,
                    key.blake3,
                    size_i64(key.size),
                    point.upload_url,
                    size_i64(point.offset),
                    point.expires,
                    size_i64(crate::engine::now_ms()),
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn forget(&self, key: &ResumeKey) -> Result<(), CoreError> {
        let key = key.clone();
        self.with_conn(move |conn| {
            conn.execute(
                "DELETE FROM resumable_uploads WHERE destination = ?1 AND blake3 = ?2 AND size = ?3",
                params![key.destination, key.blake3, size_i64(key.size)],
            )
            .map(drop)
        })
        .await
    }

    async fn holds_size(&self, destination: &str, size: u64) -> Result<bool, CoreError> {
        let destination = destination.to_owned();
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM resumable_uploads WHERE destination = ?1 AND size = ?2)",
                params![destination, size_i64(size)],
                |row| row.get(0),
            )
        })
        .await
    }
}

/// Resume points in memory, for tests and one-off uploads that need no restart.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    points: Mutex<std::collections::HashMap<ResumeKey, ResumePoint>>,
}

#[async_trait::async_trait]
impl ResumeLedger for MemoryLedger {
    async fn load(&self, key: &ResumeKey) -> Result<Option<ResumePoint>, CoreError> {
        Ok(self
            .points
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned())
    }

    async fn save(&self, key: &ResumeKey, point: &ResumePoint) -> Result<(), CoreError> {
        self.points
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone(), point.clone());
        Ok(())
    }

    async fn forget(&self, key: &ResumeKey) -> Result<(), CoreError> {
        self.points
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
        Ok(())
    }

    async fn holds_size(&self, destination: &str, size: u64) -> Result<bool, CoreError> {
        Ok(self
            .points
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .any(|key| key.destination == destination && key.size == size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hash: &str) -> ResumeKey {
        ResumeKey {
            destination: "http://127.0.0.1:1/files/".into(),
            blake3: hash.into(),
            size: 10,
        }
    }

    #[tokio::test]
    async fn sqlite_points_survive_reopening_and_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let point = ResumePoint {
            upload_url: "http://127.0.0.1:1/files/abc".into(),
            offset: 4,
            expires: Some("Wed, 25 Nov 2026 10:00:00 GMT".into()),
        };
        {
            let ledger = SqliteLedger::open(dir.path()).unwrap();
            ledger.save(&key("aa"), &point).await.unwrap();
            let moved = ResumePoint {
                offset: 8,
                ..point.clone()
            };
            ledger.save(&key("aa"), &moved).await.unwrap();
        }
        let ledger = SqliteLedger::open(dir.path()).unwrap();
        let loaded = ledger.load(&key("aa")).await.unwrap().unwrap();
        assert_eq!(loaded.offset, 8);
        assert_eq!(loaded.expires, point.expires);
        assert_eq!(ledger.load(&key("bb")).await.unwrap(), None);
        assert!(ledger.holds_size(&key("aa").destination, 10).await.unwrap());
        assert!(!ledger.holds_size(&key("aa").destination, 11).await.unwrap());
        assert!(!ledger
            .holds_size("http://127.0.0.1:2/files/", 10)
            .await
            .unwrap());
        ledger.forget(&key("aa")).await.unwrap();
        assert_eq!(ledger.load(&key("aa")).await.unwrap(), None);
        assert!(!ledger.holds_size(&key("aa").destination, 10).await.unwrap());
    }
}
