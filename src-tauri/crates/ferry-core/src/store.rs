//! The job database: one `SQLite` file (`ferry.db`, WAL) so the queue survives a crash or
//! a `kill -9`.
//!
//! `SQLite` calls block, so they run on one dedicated thread that owns the connection.
//! The engine hands it whole job rows in the order the changes happened (it sends them
//! while holding its state lock), so the file never ends up with an older state than
//! memory, and a write never waits on an async worker thread.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;

use rusqlite::{params, Connection};

use crate::error::CoreError;
use crate::model::{JobId, JobStatus};

/// The database file's name inside the data folder.
pub(crate) const DB_FILE: &str = "ferry.db";

/// A file in the data folder held locked while an engine uses the folder, so two
/// engines (the app and the CLI, say) never run the same jobs twice.
const LOCK_FILE: &str = "ferry.lock";

/// The schema version this code writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// One job as stored: what is needed to show it and to run it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JobRecord {
    pub(crate) id: JobId,
    pub(crate) path: PathBuf,
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) status: JobStatus,
    pub(crate) mime: Option<String>,
    pub(crate) hash: Option<String>,
    pub(crate) remote: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) created_at_ms: u64,
}

enum Op {
    Save(Vec<JobRecord>),
    Flush(tokio::sync::oneshot::Sender<Result<(), CoreError>>),
    Close,
}

/// Handle to the database thread.
pub(crate) struct Store {
    path: PathBuf,
    tx: mpsc::Sender<Op>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The data folder's lock, released on close.
    lock: Mutex<Option<std::fs::File>>,
}

impl Store {
    /// Opens (or creates) the database in `data_dir` and returns every stored job,
    /// oldest first. Blocking.
    pub(crate) fn open(data_dir: &Path) -> Result<(Self, Vec<JobRecord>), CoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| CoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let lock = lock_data_dir(data_dir)?;
        let (path, conn) = open_connection(data_dir)?;
        let db_err = |e: rusqlite::Error| CoreError::database(&path, &e);
        migrate(&conn).map_err(db_err)?;
        let records = load(&conn).map_err(db_err)?;

        let (tx, rx) = mpsc::channel();
        let thread_path = path.clone();
        let thread = std::thread::Builder::new()
            .name("ferry-store".into())
            .spawn(move || run(&conn, &thread_path, &rx))
            .map_err(|source| CoreError::DataDir {
                path: data_dir.to_path_buf(),
                source,
            })?;
        Ok((
            Self {
                path,
                tx,
                thread: Mutex::new(Some(thread)),
                lock: Mutex::new(Some(lock)),
            },
            records,
        ))
    }

    /// Queues rows to be written (inserted or replaced), in order. Never blocks.
    pub(crate) fn save(&self, records: Vec<JobRecord>) {
        if records.is_empty() {
            return;
        }
        if self.tx.send(Op::Save(records)).is_err() {
            tracing::error!(db = %self.path.display(), "the job database is closed; a change was not saved");
        }
    }

    /// Waits until everything queued so far is written, reporting the first write
    /// error since the previous flush.
    pub(crate) async fn flush(&self) -> Result<(), CoreError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send(Op::Flush(done)).is_err() {
            return Err(self.closed());
        }
        wait.await.map_err(|_| self.closed())?
    }

    /// Writes what is queued, closes the connection and waits for the thread to end.
    pub(crate) async fn close(&self) {
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(thread) = thread else {
            return;
        };
        let _ = self.tx.send(Op::Close);
        if tokio::task::spawn_blocking(move || thread.join())
            .await
            .is_err()
        {
            tracing::error!("the job database thread did not stop cleanly");
        }
        self.lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }

    fn closed(&self) -> CoreError {
        CoreError::Database {
            path: self.path.clone(),
            message: "the database was already closed".into(),
        }
    }
}

/// Takes the data folder's lock, or says who has it.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, CoreError> {
    let path = data_dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| CoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(CoreError::DataDirInUse {
            path: data_dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(CoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        }),
    }
}

/// The database thread: applies operations in order until told to close or until
/// every handle is gone.
fn run(conn: &Connection, path: &Path, rx: &mpsc::Receiver<Op>) {
    let mut first_error: Option<CoreError> = None;
    while let Ok(op) = rx.recv() {
        match op {
            Op::Save(records) => {
                if let Err(e) = save(conn, &records) {
                    tracing::error!(db = %path.display(), error = %e, "saving jobs failed");
                    first_error.get_or_insert(CoreError::database(path, &e));
                }
            }
            Op::Flush(done) => {
                let _ = done.send(first_error.take().map_or(Ok(()), Err));
            }
            Op::Close => break,
        }
    }
}

/// Opens `ferry.db` in `data_dir` (created if missing) as every part of the engine uses
/// it: WAL, so readers never block the writer; NORMAL synchronisation, which survives a
/// crash or a kill of the process without an fsync per commit; a busy timeout for the
/// moments two connections write at once.
pub(crate) fn open_connection(data_dir: &Path) -> Result<(PathBuf, Connection), CoreError> {
    std::fs::create_dir_all(data_dir).map_err(|source| CoreError::DataDir {
        path: data_dir.to_path_buf(),
        source,
    })?;
    let path = data_dir.join(DB_FILE);
    let db_err = |e: rusqlite::Error| CoreError::database(&path, &e);
    let conn = Connection::open(&path).map_err(db_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db_err)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(db_err)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(db_err)?;
    Ok((path, conn))
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version < SCHEMA_VERSION {
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS jobs (
                id            INTEGER PRIMARY KEY,
                path          BLOB    NOT NULL,
                name          TEXT    NOT NULL,
                size          INTEGER NOT NULL,
                status        TEXT    NOT NULL,
                mime          TEXT,
                hash          TEXT,
                remote        TEXT,
                error         TEXT,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL
            );",
        )?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    Ok(())
}

fn load(conn: &Connection) -> rusqlite::Result<Vec<JobRecord>> {
    let mut stmt = conn.prepare(
        "SELECT id, path, name, size, status, mime, hash, remote, error, created_at_ms
         FROM jobs ORDER BY id",
    )?;
    let rows = stmt.query_map([], |row| {
        let status: String = row.get(4)?;
        let status = status.parse().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unknown stored job state; the job will run again");
            JobStatus::Queued
        });
        let size: i64 = row.get(3)?;
        let created: i64 = row.get(9)?;
        Ok(JobRecord {
            id: JobId(row.get(0)?),
            path: path_from_bytes(row.get(1)?),
            name: row.get(2)?,
            size: u64::try_from(size).unwrap_or(0),
            status,
            mime: row.get(5)?,
            hash: row.get(6)?,
            remote: row.get(7)?,
            error: row.get(8)?,
            created_at_ms: u64::try_from(created).unwrap_or(0),
        })
    })?;
    rows.collect()
}

fn save(conn: &Connection, records: &[JobRecord]) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO jobs (id, path, name, size, status, mime, hash, remote, error, created_at_ms, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(id) DO UPDATE SET
                path = excluded.path, name = excluded.name, size = excluded.size,
                status = excluded.status, mime = excluded.mime, hash = excluded.hash,
                remote = excluded.remote, error = excluded.error,
                updated_at_ms = excluded.updated_at_ms",
        )?;
        let now = i64::try_from(crate::engine::now_ms()).unwrap_or(i64::MAX);
        for r in records {
            stmt.execute(params![
                r.id.0,
                path_to_bytes(&r.path),
                r.name,
                i64::try_from(r.size).unwrap_or(i64::MAX),
                r.status.as_str(),
                r.mime,
                r.hash,
                r.remote,
                r.error,
                i64::try_from(r.created_at_ms).unwrap_or(i64::MAX),
                now,
            ])?;
        }
    }
    tx.commit()
}

/// Paths are stored as raw bytes so names that are not valid UTF-8 survive.
#[cfg(unix)]
fn path_to_bytes(path: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    path.as_os_str().as_bytes().to_vec()
}

#[cfg(unix)]
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

#[cfg(not(unix))]
fn path_to_bytes(path: &Path) -> Vec<u8> {
    path.to_string_lossy().into_owned().into_bytes()
}

#[cfg(not(unix))]
fn path_from_bytes(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
}
