//! Scanning a watched folder and deciding, against the sync index, what to upload.

use crate::error::SyncError;
use crate::index::{EntryState, IndexEntry, SyncIndex};
use crate::rules::Rules;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

/// A regular file found in a watched folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSeen {
    /// Its path inside the folder, with `/` between components.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

/// What a scan found: the files, and the parts of the folder it could not read (the
/// scan goes on past them).
#[derive(Debug, Default)]
pub struct Walk {
    /// Every regular file that the rules do not ignore, in path order.
    pub files: Vec<FileSeen>,
    /// Files and folders that could not be read.
    pub problems: Vec<SyncError>,
}

/// Lists the regular files of `folder` that `rules` do not ignore. Symbolic links are
/// not followed (a link could lead out of the folder, or in a circle). A missing
/// folder is an error; an unreadable file or subfolder is a problem reported beside
/// the files.
pub fn walk(folder: &Path, rules: &Rules) -> Result<Walk, SyncError> {
    if !folder.is_dir() {
        return Err(SyncError::FolderMissing(folder.to_path_buf()));
    }
    let mut out = Walk::default();
    let mut pending = vec![folder.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(source) if dir == folder => {
                return Err(SyncError::Read { path: dir, source });
            }
            Err(source) => {
                out.problems.push(SyncError::Read { path: dir, source });
                continue;
            }
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(source) => {
                    out.problems.push(SyncError::Read {
                        path: dir.clone(),
                        source,
                    });
                    continue;
                }
            };
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_symlink() {
                tracing::debug!(path = %path.display(), "not following a symbolic link");
                continue;
            }
            if rules.ignores(&path, kind.is_dir()) {
                continue;
            }
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                match entry.metadata() {
                    Ok(meta) => out.files.push(FileSeen {
                        path: relative(folder, &path),
                        size: meta.len(),
                        mtime_ns: mtime_ns(&meta),
                    }),
                    Err(source) => out.problems.push(SyncError::Read { path, source }),
                }
            }
        }
    }
    out.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// `path` inside `folder`, with `/` between components whatever the platform.
fn relative(folder: &Path, path: &Path) -> String {
    let inner = path.strip_prefix(folder).unwrap_or(path);
    inner
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A file's modification time in nanoseconds since the Unix epoch (0 when unknown).
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Why a file is to be uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadReason {
    /// The index has never seen it (nor its content under another name).
    New,
    /// Its content differs from the version uploaded (or queued) before.
    Changed,
}

/// A file to hand to the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedUpload {
    /// The file as the scan saw it.
    pub file: FileSeen,
    /// Why it goes.
    pub reason: UploadReason,
}

/// What comparing a scan with the index decided. The index already holds the renames,
/// the touched files and the deletions; the uploads are for the caller to queue (and
/// then to record as queued with [`SyncIndex::put`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// New and changed files, in path order.
    pub uploads: Vec<WantedUpload>,
    /// Files whose size and modification time match the index.
    pub unchanged: usize,
    /// Files with a new modification time but the same content (their hash says so).
    pub touched: usize,
    /// Files already uploaded that now have another name: `(from, to)`.
    pub renamed: Vec<(String, String)>,
    /// Files the index had that are no longer in the folder. Nothing is deleted
    /// remotely.
    pub gone: Vec<String>,
}

/// Compares what a scan of `folder` found (`seen`: the whole folder, or what is quiet
/// of it) with the index, and records in the index what needs no upload: a touched
/// file's new modification time, a rename, a deletion. Hashes a file only when its
/// content has to be told apart (a new modification time with the same size, or a new
/// file as large as one that disappeared). Blocking: it reads files.
pub fn plan(index: &SyncIndex, folder: &Path, seen: &[FileSeen]) -> Result<Plan, SyncError> {
    let folder_key = folder.to_string_lossy().into_owned();
    let known: HashMap<String, IndexEntry> = index
        .entries(&folder_key)?
        .into_iter()
        .map(|e| (e.path.clone(), e))
        .collect();
    let present: HashSet<&str> = seen.iter().map(|f| f.path.as_str()).collect();
    // Uploaded content no longer under its name: a new file with its hash is a rename.
    let mut vanished: Vec<&IndexEntry> = known
        .values()
        .filter(|e| e.remote.is_some() && e.hash.is_some())
        .filter(|e| e.state == EntryState::Gone || !present.contains(e.path.as_str()))
        .collect();
    vanished.sort_by(|a, b| a.path.cmp(&b.path));
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = Plan::default();
    let hash = |file: &FileSeen| hash_file(&folder.join(&file.path));

    for file in seen {
        match known.get(&file.path) {
            Some(entry) if entry.state != EntryState::Gone => {
                if entry.size == file.size && entry.mtime_ns == file.mtime_ns {
                    out.unchanged += 1;
                } else if entry.size != file.size || entry.hash.is_none() {
                    out.uploads.push(wanted(file, UploadReason::Changed));
                } else if Some(hash(file)?) == entry.hash {
                    index.put(&IndexEntry {
                        mtime_ns: file.mtime_ns,
                        ..entry.clone()
                    })?;
                    out.touched += 1;
                } else {
                    out.uploads.push(wanted(file, UploadReason::Changed));
                }
            }
            _ => {
                let candidates: Vec<&&IndexEntry> = vanished
                    .iter()
                    .filter(|e| e.size == file.size && !taken.contains(&e.path))
                    .collect();
                if candidates.is_empty() {
                    out.uploads.push(wanted(file, UploadReason::New));
                    continue;
                }
                let content = hash(file)?;
                let Some(from) = candidates
                    .iter()
                    .find(|e| e.hash.as_deref() == Some(content.as_str()))
                else {
                    out.uploads.push(wanted(file, UploadReason::New));
                    continue;
                };
                if from.path != file.path {
                    index.rename(&folder_key, &from.path, &file.path)?;
                    out.renamed.push((from.path.clone(), file.path.clone()));
                }
                taken.insert(from.path.clone());
                index.put(&IndexEntry {
                    folder: folder_key.clone(),
                    path: file.path.clone(),
                    size: file.size,
                    mtime_ns: file.mtime_ns,
                    hash: Some(content),
                    remote: from.remote.clone(),
                    state: EntryState::Uploaded,
                })?;
            }
        }
    }
    for entry in known.values() {
        let moved = out.renamed.iter().any(|(from, _)| *from == entry.path);
        if entry.state != EntryState::Gone && !present.contains(entry.path.as_str()) && !moved {
            index.put(&IndexEntry {
                state: EntryState::Gone,
                ..entry.clone()
            })?;
            out.gone.push(entry.path.clone());
        }
    }
    out.gone.sort();
    Ok(out)
}

fn wanted(file: &FileSeen, reason: UploadReason) -> WantedUpload {
    WantedUpload {
        file: file.clone(),
        reason,
    }
}

/// The BLAKE3 hash (hex) of a file's content, as the engine computes it.
pub fn hash_file(path: &Path) -> Result<String, SyncError> {
    let failed = |source| SyncError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(failed)?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1024 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(failed)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}
