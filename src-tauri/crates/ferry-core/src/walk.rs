//! Turns the paths given to `enqueue` into the list of regular files to upload.
//!
//! Folders are walked recursively in name order. Symbolic links are followed, but each
//! folder is entered once, by its canonical path, so a link back up the tree (a loop)
//! is refused instead of walked forever, and each file is taken once even when links
//! reach it twice. Anything that cannot be read, or is not a regular file, is reported
//! with the reason instead of failing the whole call.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::model::SkippedPath;

/// A regular file found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundFile {
    /// Absolute path as found (links not resolved, so the name is the one the user sees).
    pub(crate) path: PathBuf,
    /// File name shown to the user.
    pub(crate) name: String,
    /// Size in bytes when found.
    pub(crate) size: u64,
}

/// What a walk found.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    pub(crate) files: Vec<FoundFile>,
    pub(crate) skipped: Vec<SkippedPath>,
}

/// Walks `paths` (blocking: run it off the async threads).
pub(crate) fn walk(paths: &[PathBuf]) -> Walk {
    let mut walker = Walker::default();
    for path in paths {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        walker.visit_root(&path);
    }
    walker.out
}

#[derive(Default)]
struct Walker {
    out: Walk,
    dirs_seen: HashSet<PathBuf>,
    /// Canonical path of each file taken -> the path it was found under.
    files_seen: HashMap<PathBuf, PathBuf>,
}

impl Walker {
    fn skip(&mut self, path: &Path, reason: impl Into<String>) {
        let reason = reason.into();
        tracing::info!(path = %path.display(), %reason, "skipped while enqueueing");
        self.out.skipped.push(SkippedPath {
            path: path.to_string_lossy().into_owned(),
            reason,
        });
    }

    fn visit_root(&mut self, path: &Path) {
        let mut stack = vec![path.to_path_buf()];
        while let Some(path) = stack.pop() {
            let meta = match fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) => {
                    let reason = describe_io(&e, &path);
                    self.skip(&path, reason);
                    continue;
                }
            };
            if meta.is_dir() {
                let mut children = self.enter_dir(&path);
                // Reversed so popping yields name order.
                children.reverse();
                stack.extend(children);
            } else if meta.is_file() {
                self.take_file(&path, meta.len());
            } else {
                self.skip(
                    &path,
                    "not a regular file (a device, pipe or socket); only files and folders can be uploaded",
                );
            }
        }
    }

    /// Lists a folder's entries in name order, unless it was already entered.
    fn enter_dir(&mut self, path: &Path) -> Vec<PathBuf> {
        let canonical = match fs::canonicalize(path) {
            Ok(c) => c,
            Err(e) => {
                let reason = describe_io(&e, path);
                self.skip(path, reason);
                return Vec::new();
            }
        };
        if !self.dirs_seen.insert(canonical.clone()) {
            let parent = path.parent().and_then(|p| fs::canonicalize(p).ok());
            let reason = if parent.is_some_and(|p| p.starts_with(&canonical)) {
                format!(
                    "symbolic link loop: this leads back to {}, a folder that contains it",
                    canonical.display()
                )
            } else {
                format!(
                    "the same folder as {}, which is already being added",
                    canonical.display()
                )
            };
            self.skip(path, reason);
            return Vec::new();
        }
        let entries = match fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => {
                let reason = describe_io(&e, path);
                self.skip(path, reason);
                return Vec::new();
            }
        };
        let mut children = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => children.push(entry.path()),
                Err(e) => {
                    let reason = format!("a folder entry could not be read: {e}");
                    self.skip(path, reason);
                }
            }
        }
        children.sort();
        children
    }

    fn take_file(&mut self, path: &Path, size: u64) {
        if let Err(e) = fs::File::open(path) {
            let reason = describe_io(&e, path);
            self.skip(path, reason);
            return;
        }
        let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if let Some(first) = self.files_seen.get(&canonical) {
            let reason = format!(
                "the same file as {}, which is already being added",
                first.display()
            );
            self.skip(path, reason);
            return;
        }
        self.files_seen.insert(canonical, path.to_path_buf());
        let name = path.file_name().map_or_else(
            || path.to_string_lossy().into_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        self.out.files.push(FoundFile {
            path: path.to_path_buf(),
            name,
            size,
        });
    }
}

/// Words for the user about an I/O error on `path`.
fn describe_io(e: &std::io::Error, path: &Path) -> String {
    match e.kind() {
        ErrorKind::NotFound => {
            if fs::symlink_metadata(path).is_ok() {
                "a symbolic link whose target does not exist".to_owned()
            } else {
                "no such file or folder".to_owned()
            }
        }
        ErrorKind::PermissionDenied => {
            "permission denied: Ferry may not read it; change its permissions and add it again"
                .to_owned()
        }
        _ => format!("cannot be read: {e}"),
    }
}
