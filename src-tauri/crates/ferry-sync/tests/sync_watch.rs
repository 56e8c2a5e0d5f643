//! A watched folder kept in sync through the real engine, with real file system events
//! in temporary folders and a local-folder destination: every version arrives once,
//! nothing is missed, nothing is deleted remotely.

use ferry_core::{Engine, EngineConfig, EngineEvent, JobStatus, LocalFolderDestination};
use ferry_sync::{EntryState, FolderSync, SyncIndex, WatchConfig, WatchStatus};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::Receiver;

/// Longest wait for anything before a test fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

struct Setup {
    _tmp: tempfile::TempDir,
    watched: PathBuf,
    dest: PathBuf,
    data: PathBuf,
    index: Arc<SyncIndex>,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let watched = tmp.path().join("watched");
    let dest = tmp.path().join("dest");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&watched).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let index = Arc::new(SyncIndex::open(&data.join("sync.sqlite")).unwrap());
    Setup {
        _tmp: tmp,
        watched,
        dest,
        data,
        index,
    }
}

impl Setup {
    async fn engine(&self) -> Engine {
        let config = EngineConfig::new(
            self.data.clone(),
            Arc::new(LocalFolderDestination::new(self.dest.clone())),
        );
        Engine::start(config).await.unwrap()
    }

    /// An engine, its events, and the folder's sync once its first scan is done.
    async fn watching(&self) -> (Engine, Receiver<EngineEvent>, FolderSync) {
        let engine = self.engine().await;
        let events = engine.subscribe();
        let sync = FolderSync::start(engine.clone(), Arc::clone(&self.index), self.config());
        sync.status()
            .wait_for(|st| *st == WatchStatus::Watching)
            .await
            .unwrap();
        (engine, events, sync)
    }

    fn config(&self) -> WatchConfig {
        WatchConfig {
            quiet: Duration::from_millis(300),
            debounce: Duration::from_millis(100),
            retry_after: Duration::from_millis(200),
            ..WatchConfig::new(self.watched.clone())
        }
    }

    fn write(&self, path: &str, bytes: &[u8]) {
        let file = self.watched.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, bytes).unwrap();
    }

    /// The destination's files by content: how many copies of each content arrived.
    fn arrived(&self) -> BTreeMap<Vec<u8>, usize> {
        let mut out = BTreeMap::new();
        for entry in std::fs::read_dir(&self.dest).unwrap() {
            let path = entry.unwrap().path();
            *out.entry(std::fs::read(path).unwrap()).or_insert(0) += 1;
        }
        out
    }

    fn entry(&self, path: &str) -> Option<ferry_sync::IndexEntry> {
        self.index
            .get(&self.watched.to_string_lossy(), path)
            .unwrap()
    }
}

/// Waits for `count` jobs to reach Done; returns the paths uploaded.
async fn done(events: &mut Receiver<EngineEvent>, count: usize) -> Vec<String> {
    let mut paths = Vec::new();
    tokio::time::timeout(PATIENCE, async {
        while paths.len() < count {
            if let Ok(EngineEvent::Job { job, .. }) = events.recv().await {
                assert_ne!(job.status, JobStatus::Failed, "{:?}", job.error);
                if job.status == JobStatus::Done {
                    paths.push(
                        Path::new(&job.path)
                            .file_name()
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("only {paths:?} were uploaded within {PATIENCE:?}"));
    paths.sort();
    paths
}

fn contents(list: &[(&[u8], usize)]) -> BTreeMap<Vec<u8>, usize> {
    list.iter().map(|(b, n)| (b.to_vec(), *n)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_modify_rename_delete_and_ignore_each_version_arrives_once() {
    let s = setup();
    s.write("a.txt", b"a, first version");
    s.write("b.txt", b"b stays the same");
    let engine = s.engine().await;
    let mut events = engine.subscribe();
    let sync = FolderSync::start(engine.clone(), Arc::clone(&s.index), s.config());

    // What was there before: uploaded by the first scan.
    assert_eq!(done(&mut events, 2).await, vec!["a.txt", "b.txt"]);
    // Created while watching.
    s.write("docs/c.txt", b"c is new");
    assert_eq!(done(&mut events, 1).await, vec!["c.txt"]);
    // Modified: the new version goes up as well.
    s.write("a.txt", b"a, second version, longer");
    assert_eq!(done(&mut events, 1).await, vec!["a.txt"]);

    // Renamed, deleted, ignored: nothing to upload. The marker written last shows that
    // the scans after them have run.
    std::fs::rename(s.watched.join("b.txt"), s.watched.join("b-renamed.txt")).unwrap();
    std::fs::remove_file(s.watched.join("docs/c.txt")).unwrap();
    s.write(".b-renamed.txt.swp", b"editor swap");
    s.write("marker.txt", b"marker");
    assert_eq!(done(&mut events, 1).await, vec!["marker.txt"]);

    assert_eq!(
        s.arrived(),
        contents(&[
            (b"a, first version", 1),
            (b"a, second version, longer", 1),
            (b"b stays the same", 1),
            (b"c is new", 1),
            (b"marker", 1),
        ])
    );
    let renamed = s.entry("b-renamed.txt").unwrap();
    assert_eq!(renamed.state, EntryState::Uploaded);
    assert!(renamed.remote.unwrap().ends_with("b.txt"));
    assert_eq!(s.entry("docs/c.txt").unwrap().state, EntryState::Gone);
    assert!(s.entry(".b-renamed.txt.swp").is_none());
    assert_eq!(engine.snapshot().jobs.len(), 5);
    sync.stop().await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_slowly_goes_up_once_when_complete() {
    let s = setup();
    let (engine, mut events, sync) = s.watching().await;

    // A writer that adds a piece every 100 ms for 1.5 s, less than the quiet period
    // apart: the file is never quiet until it is complete.
    let path = s.watched.join("recording.wav");
    let mut whole = Vec::new();
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&path).unwrap();
        for n in 0..15u8 {
            let piece = vec![n; 10_000];
            file.write_all(&piece).unwrap();
            file.flush().unwrap();
            whole.extend_from_slice(&piece);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(done(&mut events, 1).await, vec!["recording.wav"]);
    assert_eq!(s.arrived(), contents(&[(&whole, 1)]));
    assert_eq!(engine.snapshot().jobs.len(), 1);
    sync.stop().await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_folder_deleted_and_recreated_says_so_then_recovers_by_itself() {
    let s = setup();
    let (engine, mut events, sync) = s.watching().await;
    let mut status = sync.status();

    std::fs::remove_dir_all(&s.watched).unwrap();
    let error = tokio::time::timeout(
        PATIENCE,
        status.wait_for(|st| matches!(st, WatchStatus::Error(_))),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    let WatchStatus::Error(message) = error else {
        unreachable!()
    };
    assert!(message.contains("missing"), "{message}");

    s.write("back.txt", b"the folder is back");
    assert_eq!(done(&mut events, 1).await, vec!["back.txt"]);
    tokio::time::timeout(PATIENCE, status.wait_for(|st| *st == WatchStatus::Watching))
        .await
        .unwrap()
        .unwrap();
    sync.stop().await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_while_files_are_queued_uploads_each_once() {
    let s = setup();
    for n in 0..6 {
        s.write(&format!("f{n}.bin"), &vec![n; 300_000]);
    }
    let mut config = s.config();
    config.quiet = Duration::from_millis(50);
    {
        let engine = s.engine().await;
        let mut events = engine.subscribe();
        let sync = FolderSync::start(engine.clone(), Arc::clone(&s.index), config.clone());
        // Stop after the first arrives: the others are queued or on their way.
        done(&mut events, 1).await;
        sync.stop().await;
        engine.shutdown().await;
    }
    let engine = s.engine().await;
    let sync = FolderSync::start(engine.clone(), Arc::clone(&s.index), config);
    // Each upload the sync records (those that ended while it was stopped, as it starts)
    // may complete the picture.
    let all_uploaded = || {
        let entries = s.index.entries(&s.watched.to_string_lossy()).unwrap();
        entries.len() == 6 && entries.iter().all(|e| e.state == EntryState::Uploaded)
    };
    let mut recorded = sync.uploaded();
    tokio::time::timeout(PATIENCE, recorded.wait_for(|_| all_uploaded()))
        .await
        .unwrap_or_else(|_| {
            let entries = s.index.entries(&s.watched.to_string_lossy()).unwrap();
            panic!("not every file was recorded as uploaded: {entries:#?}")
        })
        .unwrap();
    let arrived = s.arrived();
    assert_eq!(arrived.len(), 6);
    assert!(arrived.values().all(|copies| *copies == 1), "{arrived:?}");
    sync.stop().await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_folder_is_not_scanned_again_by_the_scan_s_own_reads() {
    let s = setup();
    for n in 0..50 {
        s.write(&format!("d{}/f{n}.txt", n % 5), b"unchanging");
    }
    let (engine, mut events, sync) = s.watching().await;
    done(&mut events, 50).await;
    let mut status = sync.status();
    // The uploads read every file; the scans after them list every folder. None of that
    // is a change: once the folder is quiet, the status stays as it is.
    status
        .wait_for(|st| *st == WatchStatus::Watching)
        .await
        .unwrap();
    status.mark_unchanged();
    let rescanned = tokio::time::timeout(Duration::from_secs(3), status.changed()).await;
    assert!(
        rescanned.is_err(),
        "the folder was scanned again with nothing changed"
    );
    sync.stop().await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_with_a_destination_of_its_own_uploads_there_not_to_the_default() {
    let s = setup();
    let own = s.watched.parent().unwrap().join("own-destination");
    let engine = s.engine().await;
    let mut events = engine.subscribe();
    let config = WatchConfig {
        destination: Some(Arc::new(LocalFolderDestination::new(own.clone()))),
        ..s.config()
    };
    let sync = FolderSync::start(engine.clone(), Arc::clone(&s.index), config);
    s.write("report.pdf", b"for the folder's own destination");
    assert_eq!(done(&mut events, 1).await, vec!["report.pdf"]);
    assert_eq!(
        std::fs::read(own.join("report.pdf")).unwrap(),
        b"for the folder's own destination"
    );
    assert!(!s.dest.join("report.pdf").exists());
    sync.stop().await;
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_during_its_upload_goes_up_again_as_the_new_version() {
    let s = setup();
    let mut config = EngineConfig::new(
        s.data.clone(),
        Arc::new(LocalFolderDestination::new(s.dest.clone())),
    );
    // Slow enough that the change lands while the first version is on its way.
    config.bandwidth_limit = Some(512 * 1024);
    let engine = Engine::start(config).await.unwrap();
    let mut events = engine.subscribe();
    let sync = FolderSync::start(engine.clone(), Arc::clone(&s.index), s.config());
    s.write("draft.doc", &vec![1u8; 1024 * 1024]);

    let second = vec![2u8; 900 * 1024];
    let arrived = tokio::time::timeout(PATIENCE, async {
        let mut changed = false;
        loop {
            let Ok(EngineEvent::Job { job, .. }) = events.recv().await else {
                continue;
            };
            if job.status == JobStatus::Uploading && !changed {
                s.write("draft.doc", &second);
                changed = true;
            }
            if job.status == JobStatus::Done {
                return job;
            }
        }
    })
    .await
    .expect("a version of the file arrived");
    assert!(arrived.path.ends_with("draft.doc"));
    // Only the version that was still there once its upload ended arrived: the first was
    // refused when its source changed, and the new one went up after it.
    assert_eq!(s.arrived(), contents(&[(&second, 1)]));
    sync.stop().await;
    engine.shutdown().await;
}
