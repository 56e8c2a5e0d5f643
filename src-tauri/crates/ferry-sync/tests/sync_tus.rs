//! Folder sync against the real tus server (the Node implementation in a child process),
//! with real file system events: every file version arrives on the server exactly once
//! and nothing is missed.

#[path = "../../ferry-core/tests/support_tus/mod.rs"]
mod support_tus;

use ferry_core::resume::SqliteLedger;
use ferry_core::secrets::MemorySecrets;
use ferry_core::{Engine, EngineConfig, TusConfig, TusDestination};
use ferry_sync::{FolderSync, SyncIndex, WatchConfig};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use support_tus::TusServer;

/// Longest wait for the uploads of one step before the test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(240);

struct Synced {
    tmp: tempfile::TempDir,
    watched: std::path::PathBuf,
    server: TusServer,
    engine: Engine,
    sync: FolderSync,
    quiet: Duration,
}

async fn synced(quiet: Duration) -> Synced {
    let tmp = tempfile::tempdir().unwrap();
    let watched = tmp.path().join("watched");
    std::fs::create_dir_all(&watched).unwrap();
    std::fs::create_dir_all(tmp.path().join("data")).unwrap();
    let server = TusServer::start().await;
    let (engine, sync) = start_syncing(tmp.path(), &server, quiet).await;
    Synced {
        tmp,
        watched,
        server,
        engine,
        sync,
        quiet,
    }
}

/// An engine uploading to `server` with its data in `dir/data`, and the sync of
/// `dir/watched`.
async fn start_syncing(dir: &Path, server: &TusServer, quiet: Duration) -> (Engine, FolderSync) {
    let data = dir.join("data");
    let tus = TusDestination::new(
        TusConfig::new(server.endpoint().parse().unwrap()),
        Arc::new(SqliteLedger::open(&data).unwrap()),
        Arc::new(MemorySecrets::new()),
    )
    .unwrap();
    let engine = Engine::start(EngineConfig::new(data.clone(), Arc::new(tus)))
        .await
        .unwrap();
    let index = Arc::new(SyncIndex::open(&data.join("sync.sqlite")).unwrap());
    let watch = WatchConfig {
        quiet,
        debounce: Duration::from_millis(100),
        retry_after: Duration::from_millis(300),
        ..WatchConfig::new(dir.join("watched"))
    };
    let sync = FolderSync::start(engine.clone(), index, watch);
    (engine, sync)
}

impl Synced {
    /// Stops the sync and the engine as quitting does, runs `meanwhile`, and starts both
    /// again on the same data.
    async fn restarted(self, meanwhile: impl FnOnce(&Path)) -> Self {
        self.sync.stop().await;
        self.engine.shutdown().await;
        meanwhile(&self.watched);
        let (engine, sync) = start_syncing(self.tmp.path(), &self.server, self.quiet).await;
        Self {
            engine,
            sync,
            ..self
        }
    }

    /// Waits until the sync index says every file of the folder is uploaded.
    async fn all_recorded(&self, files: usize) {
        let index = SyncIndex::open(&self.tmp.path().join("data/sync.sqlite")).unwrap();
        let folder = self.watched.to_string_lossy().into_owned();
        let all = || {
            let entries = index.entries(&folder).unwrap();
            entries.len() == files
                && entries
                    .iter()
                    .all(|e| e.state == ferry_sync::EntryState::Uploaded)
        };
        let mut recorded = self.sync.uploaded();
        let done = tokio::time::timeout(PATIENCE, recorded.wait_for(|_| all())).await;
        assert!(done.is_ok(), "not every file was recorded as uploaded");
    }

    fn write(&self, path: &str, bytes: &[u8]) {
        let file = self.watched.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, bytes).unwrap();
    }

    /// Waits until `count` versions in all were recorded as uploaded.
    async fn uploaded(&self, count: u64) {
        let mut uploaded = self.sync.uploaded();
        let reached = tokio::time::timeout(PATIENCE, uploaded.wait_for(|n| *n >= count))
            .await
            .is_ok();
        assert!(
            reached,
            "{} of {count} uploaded",
            *self.sync.uploaded().borrow()
        );
    }

    /// The server's completed uploads by content: how many of each.
    fn on_the_server(&self) -> BTreeMap<Content, usize> {
        let mut out = BTreeMap::new();
        for upload in self.server.uploaded_files() {
            if upload.size == Some(upload.offset) {
                *out.entry(Content(std::fs::read(&upload.data_path).unwrap()))
                    .or_insert(0) += 1;
            }
        }
        out
    }

    /// Uploads the server holds that never completed.
    fn incomplete(&self) -> usize {
        self.server
            .uploaded_files()
            .iter()
            .filter(|u| u.size != Some(u.offset))
            .count()
    }

    async fn stop(self) {
        self.sync.stop().await;
        self.engine.shutdown().await;
    }
}

/// A file's content, compared whole and shown in a failure by its length and start
/// (a 400 kB file printed byte by byte would bury the difference).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Content(Vec<u8>);

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let start = &self.0[..self.0.len().min(24)];
        write!(
            f,
            "{} bytes {:?}",
            self.0.len(),
            String::from_utf8_lossy(start)
        )
    }
}

fn once_each<'a>(contents: impl IntoIterator<Item = &'a [u8]>) -> BTreeMap<Content, usize> {
    contents
        .into_iter()
        .map(|c| (Content(c.to_vec()), 1))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_modify_rename_and_delete_put_each_version_on_the_server_once() {
    let s = synced(Duration::from_millis(300)).await;
    s.write("a.txt", b"a, first");
    s.write("b.txt", b"b, never changes");
    s.uploaded(2).await;
    s.write("sub/c.txt", b"c, new while watched");
    s.uploaded(3).await;
    s.write("a.txt", b"a, second and longer");
    s.uploaded(4).await;
    std::fs::rename(s.watched.join("b.txt"), s.watched.join("b-renamed.txt")).unwrap();
    std::fs::remove_file(s.watched.join("sub/c.txt")).unwrap();
    s.write("notes.txt.swp", b"an editor's swap file");
    s.write("marker.txt", b"written last");
    s.uploaded(5).await;
    assert_eq!(
        s.on_the_server(),
        once_each([
            &b"a, first"[..],
            b"b, never changes",
            b"c, new while watched",
            b"a, second and longer",
            b"written last",
        ])
    );
    assert_eq!(s.incomplete(), 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_10000_small_files_each_arrives_on_the_server_exactly_once() {
    let s = synced(Duration::from_millis(300)).await;
    let files = 10_000;
    let mut written = Vec::with_capacity(files);
    for n in 0..files {
        let mut bytes = format!("file {n} ").into_bytes();
        bytes.resize(1024, b'.');
        s.write(&format!("d{:02}/f{n:05}.bin", n % 100), &bytes);
        written.push(bytes);
    }
    s.uploaded(files as u64).await;
    assert_eq!(
        s.on_the_server(),
        once_each(written.iter().map(Vec::as_slice))
    );
    assert_eq!(s.incomplete(), 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_slowly_over_10_s_arrives_once_and_whole() {
    // The default quiet period: 2 s without a change.
    let s = synced(Duration::from_secs(2)).await;
    let path = s.watched.join("interview.wav");
    let mut whole = Vec::new();
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&path).unwrap();
        // A piece every half second for ten seconds, as a recorder writes.
        for n in 0..20u8 {
            let piece = vec![n; 50_000];
            file.write_all(&piece).unwrap();
            file.flush().unwrap();
            whole.extend_from_slice(&piece);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    s.uploaded(1).await;
    assert_eq!(s.on_the_server(), once_each([whole.as_slice()]));
    assert_eq!(s.engine.snapshot().jobs.len(), 1);
    assert_eq!(s.incomplete(), 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watched_folder_deleted_and_recreated_is_picked_up_again() {
    let s = synced(Duration::from_millis(300)).await;
    s.write("before.txt", b"before the folder went away");
    s.uploaded(1).await;
    std::fs::remove_dir_all(&s.watched).unwrap();
    let mut status = s.sync.status();
    // Only whether it came: a status held on to would keep the sync from changing it.
    let said = tokio::time::timeout(
        PATIENCE,
        status.wait_for(|st| matches!(st, ferry_sync::WatchStatus::Error(_))),
    )
    .await
    .is_ok();
    assert!(said, "no error while the folder was gone");
    s.write("after.txt", b"after it came back");
    s.uploaded(2).await;
    assert_eq!(
        s.on_the_server(),
        once_each([&b"before the folder went away"[..], b"after it came back"])
    );
    assert_eq!(s.incomplete(), 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_files_are_being_added_puts_each_on_the_server_once() {
    let s = synced(Duration::from_millis(300)).await;
    let content = |n: u8| vec![n; 400_000];
    for n in 0..6 {
        s.write(&format!("first-{n}.bin"), &content(n));
    }
    s.uploaded(1).await;
    // Quit while the others are queued or on their way, and add more meanwhile.
    let s = s
        .restarted(|watched| {
            for n in 6..9 {
                std::fs::write(watched.join(format!("while-stopped-{n}.bin")), content(n)).unwrap();
            }
        })
        .await;
    s.all_recorded(9).await;
    let expected: Vec<Vec<u8>> = (0..9).map(content).collect();
    assert_eq!(
        s.on_the_server(),
        once_each(expected.iter().map(Vec::as_slice))
    );
    // An upload cut by the quit is continued after the restart, never sent again
    // beside the cut one.
    assert_eq!(s.incomplete(), 0);
    s.stop().await;
}
