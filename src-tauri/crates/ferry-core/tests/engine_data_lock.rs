//! One engine per data folder: a second one is refused while the first runs, and starts
//! once it has stopped.
//!
//! Its own test binary: a test that spawns a child process (as the recovery test does)
//! lets the child inherit open files for an instant before it runs, which can hold the
//! folder's lock just as the first engine lets it go.

use std::path::Path;
use std::sync::Arc;

use ferry_core::{Engine, EngineConfig, LocalFolderDestination};

fn engine_config(root: &Path) -> EngineConfig {
    EngineConfig::new(
        root.join("data"),
        Arc::new(LocalFolderDestination::new(root.join("dest"))),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_engine_on_the_same_data_folder_is_refused_until_the_first_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let first = Engine::start(engine_config(tmp.path())).await.unwrap();
    let err = Engine::start(engine_config(tmp.path())).await.unwrap_err();
    assert!(
        matches!(err, ferry_core::CoreError::DataDirInUse { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("already using"), "{err}");
    first.shutdown().await;
    let second = Engine::start(engine_config(tmp.path())).await.unwrap();
    second.shutdown().await;
}
