//! Watched folders in the app: the stored list (shared with nothing else), one
//! `FolderSync` per folder that is not paused, and the commands behind the Watched
//! folders view. The syncing itself is ferry-sync's.

// Tauri hands command arguments by value.
#![allow(clippy::needless_pass_by_value)]

use crate::destination;
use crate::state::AppState;
use ferry_core::destinations::DestinationRegistry;
use ferry_core::Engine;
use ferry_sync::{
    FolderState, FolderSync, SyncIndex, WatchConfig, WatchStatus, WatchedFolder, WatchedFolderView,
    WatchedFolders, WatchedFoldersView,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tauri::State;
use tokio::sync::Mutex;

/// What keeps the watched folders in sync.
pub(crate) struct Watching {
    /// Where the list of folders is kept.
    config_dir: Option<PathBuf>,
    /// Holds the resume points of tus uploads, for a folder's own destination.
    data_dir: PathBuf,
    index: Option<Arc<SyncIndex>>,
    /// One entry per folder that should be watched: its sync, or why it could not start.
    running: Mutex<HashMap<String, Result<FolderSync, String>>>,
    /// Versions each folder uploaded under syncs that ended (a pause), so the count the
    /// window shows runs on from Ferry's start.
    uploaded_before: std::sync::Mutex<HashMap<String, u64>>,
}

impl Watching {
    /// Starts syncing every stored folder that is not paused. Problems (an unreadable
    /// list, an index that cannot be opened) are logged and leave folder sync off; the
    /// rest of the app works as before.
    pub(crate) async fn start(engine: &Engine, data_dir: &Path) -> Self {
        let config_dir = ferry_core::destinations::config_dir()
            .map_err(|error| tracing::warn!(%error, "no watched folders: no configuration folder"))
            .ok();
        let index = SyncIndex::open(&data_dir.join("sync.sqlite"))
            .map(Arc::new)
            .map_err(|error| tracing::warn!(%error, "no watched folders: the sync index cannot be opened"))
            .ok();
        let watching = Self {
            config_dir,
            data_dir: data_dir.to_path_buf(),
            index,
            running: Mutex::new(HashMap::new()),
            uploaded_before: std::sync::Mutex::new(HashMap::new()),
        };
        match watching.folders() {
            Ok(folders) => {
                for folder in folders.list().iter().filter(|f| !f.paused) {
                    watching.begin(engine, folder).await;
                }
            }
            Err(error) => tracing::warn!(%error, "the watched folders cannot be read"),
        }
        watching
    }

    fn folders(&self) -> Result<WatchedFolders, String> {
        let dir = self.config_dir.as_deref().ok_or(
            "this system has no configuration folder for Ferry, so folders cannot be watched",
        )?;
        WatchedFolders::open(dir).map_err(|e| e.to_string())
    }

    /// Starts syncing `folder`, with its own destination when it names one.
    async fn begin(&self, engine: &Engine, folder: &WatchedFolder) {
        let started = self.sync_for(engine, folder);
        if let Err(error) = &started {
            tracing::warn!(folder = %folder.path, %error, "a watched folder could not start");
        }
        self.running.lock().await.insert(folder.id.clone(), started);
    }

    fn sync_for(&self, engine: &Engine, folder: &WatchedFolder) -> Result<FolderSync, String> {
        let index = self
            .index
            .clone()
            .ok_or("the sync index could not be opened; see the log")?;
        let mut config = WatchConfig::new(PathBuf::from(&folder.path));
        if let Some(id) = &folder.destination_id {
            let registry = DestinationRegistry::open_default().map_err(|e| e.to_string())?;
            let entry = registry.get(id).ok_or(
                "its destination was removed; remove this folder and add it again with another destination",
            )?;
            config.destination = Some(destination::from_entry(&self.data_dir, entry)?.destination);
        }
        Ok(FolderSync::start(engine.clone(), index, config))
    }

    /// Stops syncing folder `id`, if it is synced.
    async fn end(&self, id: &str) {
        let removed = self.running.lock().await.remove(id);
        if let Some(Ok(sync)) = removed {
            let uploaded = *sync.uploaded().borrow();
            *self
                .uploaded_before
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(id.to_owned())
                .or_default() += uploaded;
            sync.stop().await;
        }
    }

    /// Stops every folder's sync (the app is quitting).
    pub(crate) async fn stop(&self) {
        let all: Vec<_> = self.running.lock().await.drain().collect();
        for (_, sync) in all {
            if let Ok(sync) = sync {
                sync.stop().await;
            }
        }
    }

    /// Every folder as the window shows it.
    async fn view(&self, default_label: &str) -> Result<WatchedFoldersView, String> {
        let folders = self.folders()?;
        let registry = DestinationRegistry::open_default().ok();
        let running = self.running.lock().await;
        let before = self
            .uploaded_before
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let views = folders
            .list()
            .iter()
            .map(|folder| {
                let destination = match (&folder.destination_id, &registry) {
                    (None, _) => format!("the default destination, {default_label}"),
                    (Some(id), Some(registry)) => registry.get(id).map_or_else(
                        || "a destination that was removed".to_owned(),
                        |d| format!("{} ({})", d.settings.name, d.place()),
                    ),
                    (Some(id), None) => id.clone(),
                };
                let earlier = before.get(&folder.id).copied().unwrap_or(0);
                let (state, error, uploaded) = match running.get(&folder.id) {
                    _ if folder.paused => (FolderState::Paused, None, earlier),
                    Some(Ok(sync)) => {
                        let uploaded = earlier + *sync.uploaded().borrow();
                        match sync.status().borrow().clone() {
                            WatchStatus::Watching => (FolderState::Watching, None, uploaded),
                            WatchStatus::Scanning => (FolderState::Scanning, None, uploaded),
                            WatchStatus::Error(error) => {
                                (FolderState::Error, Some(error), uploaded)
                            }
                        }
                    }
                    Some(Err(error)) => (FolderState::Error, Some(error.clone()), earlier),
                    None => (
                        FolderState::Error,
                        Some("not watched; pause and resume it to try again".to_owned()),
                        earlier,
                    ),
                };
                WatchedFolderView {
                    id: folder.id.clone(),
                    path: folder.path.clone(),
                    destination_id: folder.destination_id.clone(),
                    destination,
                    state,
                    error,
                    uploaded,
                }
            })
            .collect();
        Ok(WatchedFoldersView { folders: views })
    }
}

/// Every watched folder, with its state.
#[tauri::command]
pub(crate) async fn watched_folders(
    state: State<'_, AppState>,
) -> Result<WatchedFoldersView, String> {
    state.watching.view(&state.destination_label()).await
}

/// Watches `path`, its files going to `destination_id` (`None`: the default).
#[tauri::command]
pub(crate) async fn add_watched_folder(
    state: State<'_, AppState>,
    path: String,
    destination_id: Option<String>,
) -> Result<WatchedFoldersView, String> {
    let watching = &state.watching;
    let mut folders = watching.folders()?;
    let added = folders
        .add(Path::new(&path), destination_id.filter(|id| !id.is_empty()))
        .map_err(|e| e.to_string())?;
    watching.begin(&state.engine, &added).await;
    watching.view(&state.destination_label()).await
}

/// Stops watching folder `id`; what was uploaded stays where it is.
#[tauri::command]
pub(crate) async fn remove_watched_folder(
    state: State<'_, AppState>,
    id: String,
) -> Result<WatchedFoldersView, String> {
    let watching = &state.watching;
    watching.folders()?.remove(&id).map_err(|e| e.to_string())?;
    watching.end(&id).await;
    watching.view(&state.destination_label()).await
}

/// Pauses (stops watching, uploads nothing new) or resumes folder `id`.
#[tauri::command]
pub(crate) async fn set_watched_folder_paused(
    state: State<'_, AppState>,
    id: String,
    paused: bool,
) -> Result<WatchedFoldersView, String> {
    let watching = &state.watching;
    let folder = watching
        .folders()?
        .set_paused(&id, paused)
        .map_err(|e| e.to_string())?;
    watching.end(&id).await;
    if !paused {
        watching.begin(&state.engine, &folder).await;
    }
    watching.view(&state.destination_label()).await
}
