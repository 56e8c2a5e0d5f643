//! The watched folders a user set up, kept in `watched-folders.json` beside the stored
//! destinations, and what the window shows of each.

use crate::error::SyncError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use ts_rs::TS;

/// The file in the configuration folder that lists the watched folders.
pub const FOLDERS_FILE: &str = "watched-folders.json";

/// A watched folder as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct WatchedFolder {
    /// Stable id, used by the window's commands.
    pub id: String,
    /// The folder, absolute.
    pub path: String,
    /// The stored destination its files go to; `None`: whatever is the default.
    pub destination_id: Option<String>,
    /// Paused by the user: not watched, nothing uploaded, until resumed.
    pub paused: bool,
}

/// Where a watched folder stands, for the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum FolderState {
    /// Up to date; waiting for changes.
    Watching,
    /// Looking through the folder.
    Scanning,
    /// Paused by the user.
    Paused,
    /// Cannot be watched or read; `error` says why and what to do.
    Error,
}

/// One watched folder as the window shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct WatchedFolderView {
    /// See [`WatchedFolder::id`].
    pub id: String,
    /// See [`WatchedFolder::path`].
    pub path: String,
    /// See [`WatchedFolder::destination_id`].
    pub destination_id: Option<String>,
    /// Where its files go, for people (a destination's name and place, or the default's).
    pub destination: String,
    /// Where it stands.
    pub state: FolderState,
    /// What went wrong, when `state` is `error`.
    pub error: Option<String>,
    /// Versions of its files uploaded since Ferry started.
    #[ts(type = "number")]
    pub uploaded: u64,
}

/// Every watched folder, for the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct WatchedFoldersView {
    /// In the order they were added.
    pub folders: Vec<WatchedFolderView>,
}

/// The stored list of watched folders.
#[derive(Debug)]
pub struct WatchedFolders {
    file: PathBuf,
    folders: Vec<WatchedFolder>,
}

impl WatchedFolders {
    /// Reads the list in `dir` (empty when there is no file yet).
    pub fn open(dir: &Path) -> Result<Self, SyncError> {
        let file = dir.join(FOLDERS_FILE);
        let folders = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| SyncError::Settings {
                path: file.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => return Err(SyncError::Read { path: file, source }),
        };
        Ok(Self { file, folders })
    }

    /// Every watched folder, in the order they were added.
    pub fn list(&self) -> &[WatchedFolder] {
        &self.folders
    }

    /// The folder with this id.
    pub fn get(&self, id: &str) -> Option<&WatchedFolder> {
        self.folders.iter().find(|f| f.id == id)
    }

    /// Adds `path` (an existing folder, not already watched, not inside or around one
    /// that is), going to `destination_id` (`None`: the default), and saves.
    pub fn add(
        &mut self,
        path: &Path,
        destination_id: Option<String>,
    ) -> Result<WatchedFolder, SyncError> {
        let invalid = |message: String| SyncError::InvalidFolder(message);
        let path = std::fs::canonicalize(path).map_err(|e| {
            invalid(format!(
                "{} cannot be watched: {e}; choose an existing folder",
                path.display()
            ))
        })?;
        if !path.is_dir() {
            return Err(invalid(format!(
                "{} is a file; choose a folder",
                path.display()
            )));
        }
        for existing in &self.folders {
            let other = Path::new(&existing.path);
            if other == path {
                return Err(invalid(format!("{} is watched already", path.display())));
            }
            if path.starts_with(other) || other.starts_with(&path) {
                return Err(invalid(format!(
                    "{} is inside or around {}, which is watched already; remove that one first or choose another folder",
                    path.display(),
                    other.display()
                )));
            }
        }
        let folder = WatchedFolder {
            id: self.new_id(),
            path: path.to_string_lossy().into_owned(),
            destination_id,
            paused: false,
        };
        self.folders.push(folder.clone());
        self.save()?;
        Ok(folder)
    }

    /// Stops watching the folder `id` (nothing uploaded is removed) and saves.
    pub fn remove(&mut self, id: &str) -> Result<WatchedFolder, SyncError> {
        let at = self
            .folders
            .iter()
            .position(|f| f.id == id)
            .ok_or_else(|| {
                SyncError::InvalidFolder(format!(
                    "there is no watched folder {id}; it may have been removed already"
                ))
            })?;
        let removed = self.folders.remove(at);
        self.save()?;
        Ok(removed)
    }

    /// Pauses or resumes the folder `id` and saves.
    pub fn set_paused(&mut self, id: &str, paused: bool) -> Result<WatchedFolder, SyncError> {
        let folder = self
            .folders
            .iter_mut()
            .find(|f| f.id == id)
            .ok_or_else(|| {
                SyncError::InvalidFolder(format!(
                    "there is no watched folder {id}; it may have been removed"
                ))
            })?;
        folder.paused = paused;
        let changed = folder.clone();
        self.save()?;
        Ok(changed)
    }

    fn new_id(&self) -> String {
        // One more candidate than there are folders: one of them is free.
        (1..=self.folders.len() + 1)
            .map(|n| format!("w{n}"))
            .find(|id| self.get(id).is_none())
            .unwrap_or_default()
    }

    /// Writes the list through a temporary file, so a crash never leaves half of it.
    fn save(&self) -> Result<(), SyncError> {
        let failed = |source| SyncError::Read {
            path: self.file.clone(),
            source,
        };
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir).map_err(failed)?;
        }
        let text = serde_json::to_vec_pretty(&self.folders).map_err(|e| SyncError::Settings {
            path: self.file.clone(),
            message: e.to_string(),
        })?;
        let temporary = self.file.with_extension("json.tmp");
        std::fs::write(&temporary, text).map_err(failed)?;
        std::fs::rename(&temporary, &self.file).map_err(failed)
    }
}
