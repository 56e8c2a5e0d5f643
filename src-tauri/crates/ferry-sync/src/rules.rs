//! What a watched folder never uploads: the patterns of its `.ferryignore` (gitignore
//! syntax) and built-in ones for files that are never meant to leave the machine.

use crate::error::SyncError;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use std::path::Path;

/// The name of a watched folder's own rules file, at its top.
pub const RULES_FILE: &str = ".ferryignore";

/// Patterns every watched folder ignores: editors' swap, backup and lock files, the
/// folder files macOS and Windows leave behind, partial downloads, and the rules file.
pub const BUILT_IN: &[&str] = &[
    // Editors: Vim swap files, Emacs backups and locks, other backups.
    "*.swp",
    "*.swo",
    "*.swx",
    "*~",
    ".#*",
    "#*#",
    "*.bak",
    "*.tmp",
    // Office lock files.
    "~$*",
    ".~lock.*#",
    // What file managers leave behind.
    ".DS_Store",
    "._*",
    "Thumbs.db",
    "desktop.ini",
    ".Trash-*/",
    // Downloads still in progress.
    "*.part",
    "*.partial",
    "*.crdownload",
    "*.download",
    "*.opdownload",
    RULES_FILE,
];

/// A watched folder's rules.
#[derive(Debug, Clone)]
pub struct Rules {
    matcher: Gitignore,
}

impl Rules {
    /// The built-in rules and those of `folder`'s `.ferryignore`, if it has one. A line
    /// that is not a valid pattern is an error, so that nothing meant to be ignored is
    /// uploaded by mistake.
    pub fn load(folder: &Path) -> Result<Self, SyncError> {
        let mut builder = GitignoreBuilder::new(folder);
        for pattern in BUILT_IN {
            builder
                .add_line(None, pattern)
                .map_err(|e| SyncError::Rules {
                    path: folder.join(RULES_FILE),
                    message: e.to_string(),
                })?;
        }
        let file = folder.join(RULES_FILE);
        if file.is_file() {
            if let Some(error) = builder.add(&file) {
                return Err(SyncError::Rules {
                    path: file,
                    message: error.to_string(),
                });
            }
        }
        let matcher = builder.build().map_err(|e| SyncError::Rules {
            path: file.clone(),
            message: e.to_string(),
        })?;
        Ok(Self { matcher })
    }

    /// Whether `path` (inside the folder) is ignored, by its own name or a folder's.
    pub fn ignores(&self, path: &Path, is_dir: bool) -> bool {
        self.matcher
            .matched_path_or_any_parents(path, is_dir)
            .is_ignore()
    }
}
