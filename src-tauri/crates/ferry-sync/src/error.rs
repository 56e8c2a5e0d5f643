//! The one error type of folder sync.

use std::path::PathBuf;

/// What went wrong while scanning a watched folder or using the sync index.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The sync index (a `SQLite` file in Ferry's data folder) could not be read or written.
    #[error("the sync index at {path} failed: {source}; check that the data folder is writable and not full")]
    Index {
        /// The index file.
        path: PathBuf,
        /// What `SQLite` said.
        #[source]
        source: rusqlite::Error,
    },
    /// A file or folder of the watched folder could not be read.
    #[error("could not read {path}: {source}; check that Ferry may read it")]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A `.ferryignore` file has a line that is not a valid pattern.
    #[error("{path} has a pattern that cannot be read: {message}; fix or remove that line")]
    Rules {
        /// The `.ferryignore` file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The operating system refused to watch the folder.
    #[error("could not watch {folder} for changes: {message}; if the system's limit on watched folders was reached (on Linux, fs.inotify.max_user_watches), raise it. Meanwhile the folder is scanned for changes every few seconds")]
    Watch {
        /// The watched folder.
        folder: PathBuf,
        /// What the watcher said.
        message: String,
    },
    /// The engine refused the files (it is shutting down, say).
    #[error("the upload engine did not take the folder's files: {0}")]
    Engine(String),
    /// A scan's task ended before it finished (the app is stopping).
    #[error("a scan of the folder stopped: {0}")]
    Stopped(String),
    /// The list of watched folders could not be read or written as JSON.
    #[error("the watched folders file {path} cannot be used: {message}; fix or remove it")]
    Settings {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A folder cannot be added to, or found in, the watched folders: the message says
    /// why and what to do.
    #[error("{0}")]
    InvalidFolder(String),
    /// The watched folder is missing or is not a folder.
    #[error(
        "the watched folder {0} is missing or is not a folder; it is watched again once it is back"
    )]
    FolderMissing(PathBuf),
}
