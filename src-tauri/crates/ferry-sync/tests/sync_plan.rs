//! A watched folder's scan against the sync index, with real files in a temporary
//! folder: new, changed, touched, renamed, deleted and ignored files.

use ferry_sync::{
    plan, walk, EntryState, FileSeen, IndexEntry, Rules, SyncIndex, UploadReason, WantedUpload,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

struct Folder {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    index: SyncIndex,
}

fn folder() -> Folder {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("watched");
    std::fs::create_dir_all(&root).unwrap();
    let index = SyncIndex::open(&tmp.path().join("sync.sqlite")).unwrap();
    Folder {
        _tmp: tmp,
        root,
        index,
    }
}

impl Folder {
    fn write(&self, path: &str, bytes: &[u8]) {
        let file = self.root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, bytes).unwrap();
    }

    fn scan(&self) -> Vec<FileSeen> {
        let rules = Rules::load(&self.root).unwrap();
        let found = walk(&self.root, &rules).unwrap();
        assert!(found.problems.is_empty(), "{:?}", found.problems);
        found.files
    }

    /// Scans and plans, then records every upload as done (as the app does once the
    /// engine reports it), returning the plan.
    fn sync(&self) -> ferry_sync::Plan {
        let seen = self.scan();
        let planned = plan(&self.index, &self.root, &seen).unwrap();
        for upload in &planned.uploads {
            self.uploaded(upload);
        }
        planned
    }

    fn uploaded(&self, upload: &WantedUpload) {
        let hash = ferry_sync::scan::hash_file(&self.root.join(&upload.file.path)).unwrap();
        self.index
            .put(&IndexEntry {
                folder: self.root.to_string_lossy().into_owned(),
                path: upload.file.path.clone(),
                size: upload.file.size,
                mtime_ns: upload.file.mtime_ns,
                hash: Some(hash),
                remote: Some(format!("remote/{}", upload.file.path)),
                state: EntryState::Uploaded,
            })
            .unwrap();
    }

    fn entry(&self, path: &str) -> Option<IndexEntry> {
        self.index.get(&self.root.to_string_lossy(), path).unwrap()
    }
}

fn uploads(planned: &ferry_sync::Plan) -> Vec<(&str, UploadReason)> {
    planned
        .uploads
        .iter()
        .map(|u| (u.file.path.as_str(), u.reason))
        .collect()
}

/// Moves a file's modification time, as a save that keeps the content would.
fn touch(path: &Path, later: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() + later).unwrap();
}

#[test]
fn new_files_are_uploaded_once_and_unchanged_ones_skipped() {
    let f = folder();
    f.write("a.txt", b"first");
    f.write("photos/b.jpg", b"second file");
    let first = f.sync();
    assert_eq!(
        uploads(&first),
        vec![
            ("a.txt", UploadReason::New),
            ("photos/b.jpg", UploadReason::New)
        ]
    );
    let again = f.sync();
    assert_eq!(uploads(&again), vec![]);
    assert_eq!(again.unchanged, 2);
}

#[test]
fn a_changed_file_is_uploaded_again_and_a_touched_one_is_not() {
    let f = folder();
    f.write("grows.txt", b"v1");
    f.write("touched.txt", b"same content");
    f.write("edited.txt", b"abc");
    f.sync();

    f.write("grows.txt", b"version two");
    touch(&f.root.join("touched.txt"), Duration::from_secs(5));
    // Same size, other content, new modification time: only the hash tells.
    f.write("edited.txt", b"xyz");
    touch(&f.root.join("edited.txt"), Duration::from_secs(5));

    let planned = f.sync();
    assert_eq!(
        uploads(&planned),
        vec![
            ("edited.txt", UploadReason::Changed),
            ("grows.txt", UploadReason::Changed)
        ]
    );
    assert_eq!(planned.touched, 1);
    let touched = f.entry("touched.txt").unwrap();
    assert_eq!(touched.state, EntryState::Uploaded);
    assert_eq!(f.sync().uploads, vec![]);
}

#[test]
fn a_renamed_file_already_uploaded_is_recognised_by_its_hash() {
    let f = folder();
    f.write("draft.txt", b"the report");
    f.write("other.txt", b"the record"); // Same size, other content.
    f.sync();

    std::fs::create_dir_all(f.root.join("final")).unwrap();
    std::fs::rename(f.root.join("draft.txt"), f.root.join("final/report.txt")).unwrap();
    let planned = f.sync();
    assert_eq!(uploads(&planned), vec![]);
    assert_eq!(
        planned.renamed,
        vec![("draft.txt".to_owned(), "final/report.txt".to_owned())]
    );
    let moved = f.entry("final/report.txt").unwrap();
    assert_eq!(moved.remote.as_deref(), Some("remote/draft.txt"));
    assert_eq!(f.entry("draft.txt"), None);
}

#[test]
fn a_deleted_file_is_marked_gone_and_nothing_else_happens() {
    let f = folder();
    f.write("keep.txt", b"keep");
    f.write("delete-me.txt", b"bye");
    f.sync();

    std::fs::remove_file(f.root.join("delete-me.txt")).unwrap();
    let planned = f.sync();
    assert_eq!(uploads(&planned), vec![]);
    assert_eq!(planned.gone, vec!["delete-me.txt".to_owned()]);
    let gone = f.entry("delete-me.txt").unwrap();
    assert_eq!(gone.state, EntryState::Gone);
    // What was uploaded is still known, so putting the same file back uploads nothing.
    f.write("delete-me.txt", b"bye");
    let back = f.sync();
    assert_eq!(uploads(&back), vec![]);
    assert_eq!(
        f.entry("delete-me.txt").unwrap().state,
        EntryState::Uploaded
    );
}

#[test]
fn ignored_files_are_never_seen_built_in_or_from_the_ferryignore() {
    let f = folder();
    f.write(".ferryignore", b"*.log\nbuild/\n!keep.log\n");
    for path in [
        "notes.txt",
        "keep.log",
        "debug.log",
        "build/out.bin",
        ".DS_Store",
        "Thumbs.db",
        ".notes.txt.swp",
        "~$report.docx",
        "movie.mkv.part",
        "setup.exe.crdownload",
        "sub/.DS_Store",
    ] {
        f.write(path, b"x");
    }
    let seen: Vec<String> = f.scan().into_iter().map(|s| s.path).collect();
    assert_eq!(seen, vec!["keep.log".to_owned(), "notes.txt".to_owned()]);
}

#[test]
fn a_bad_pattern_in_the_ferryignore_is_an_error_naming_the_file() {
    let f = folder();
    // An alternation left open.
    f.write(".ferryignore", b"*.{jpg,png\n");
    let error = Rules::load(&f.root).unwrap_err().to_string();
    assert!(error.contains(".ferryignore"), "{error}");
}

#[test]
fn a_missing_folder_is_an_error_that_says_so() {
    let f = folder();
    let missing = f.root.join("not-there");
    let rules = Rules::load(&f.root).unwrap();
    let error = walk(&missing, &rules).unwrap_err().to_string();
    assert!(error.contains("missing"), "{error}");
}
