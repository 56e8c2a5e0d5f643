//! Folder sync for Ferry: which files of a watched folder to upload.
//!
//! A watched folder is scanned into a list of files ([`scan::walk`]), leaving out what
//! its `.ferryignore` and the built-in rules exclude ([`rules`]). A file is considered
//! only once it is quiet, its size and modification time unchanged for a while
//! ([`quiet::QuietGate`]), so a file still being written is not uploaded half-done. The
//! [`index::SyncIndex`] remembers every file's size, modification time, content hash
//! and remote location, and [`scan::plan`] compares a scan with it: new and changed
//! files are to be uploaded, unchanged ones (and ones only touched) are skipped, a
//! renamed file already uploaded is recognised by its hash, and a deleted file is
//! marked gone in the index, never deleted remotely.
//!
//! [`watch::FolderSync`] puts it together for one folder: a debounced file watcher and
//! a periodic rescan say when to scan, the engine uploads what the scan picked, and its
//! events say what arrived. No Tauri here: the app and `ferry serve` both use it.

pub mod error;
pub mod folders;
pub mod index;
pub mod quiet;
pub mod rules;
pub mod scan;
pub mod watch;

pub use error::SyncError;
pub use folders::{
    FolderState, WatchedFolder, WatchedFolderView, WatchedFolders, WatchedFoldersView,
};
pub use index::{EntryState, IndexEntry, SyncIndex};
pub use quiet::QuietGate;
pub use rules::Rules;
pub use scan::{plan, walk, FileSeen, Plan, UploadReason, Walk, WantedUpload};
pub use watch::{FolderSync, WatchConfig, WatchStatus};
